using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace GenRec.Experiments;

/// <summary>An arm of an experiment and its share of the experiment's traffic.</summary>
/// <param name="Name">The arm's name, e.g. "dlrm" or "gen-recall-blend".</param>
/// <param name="Weight">Relative traffic share within the experiment; positive.</param>
public sealed record ArmAllocation(string Name, double Weight);

/// <summary>An experiment: arms with weights, one of them the control, and a salt that makes its split its own.</summary>
/// <param name="Name">The experiment's name.</param>
/// <param name="Arms">The arms; at least one, distinct names, positive weights.</param>
/// <param name="Control">The control arm's name.</param>
/// <param name="TrafficShare">The share of its layer's traffic the experiment takes; in (0, 1].</param>
public sealed record ExperimentDefinition(string Name, IReadOnlyList<ArmAllocation> Arms, string Control, double TrafficShare = 1.0);

/// <summary>Where a user landed: an experiment and an arm, or the holdout, or no experiment of the layer.</summary>
/// <param name="Experiment">The experiment, or <see langword="null"/>.</param>
/// <param name="Arm">The arm, or <see langword="null"/> (holdout or unassigned).</param>
/// <param name="InHoldout">Whether the user is in the layer's holdout (kept out of every experiment of the layer).</param>
public readonly record struct ArmAssignment(string? Experiment, string? Arm, bool InHoldout);

/// <summary>
/// A layer of mutually exclusive experiments. A user's bucket in the layer (a salted SHA-256 of the layer name and the
/// user id, 10,000 buckets) picks the holdout or an experiment's range; a second hash salted with the experiment's
/// name picks the arm, so changing one experiment's arms never moves another's users, and experiments in different
/// layers are independent. The same user always lands in the same place.
/// </summary>
public sealed class ExperimentLayer
{
    /// <summary>Buckets a layer's traffic is cut into.</summary>
    public const int Buckets = 10_000;

    private readonly (ExperimentDefinition Experiment, int From, int To)[] _ranges;
    private readonly int _holdoutBuckets;

    /// <summary>Creates a layer.</summary>
    /// <param name="name">The layer's name; also its hash salt.</param>
    /// <param name="experiments">Its experiments; their traffic shares plus the holdout must not exceed 1.</param>
    /// <param name="holdout">The share of the layer kept out of every experiment; in [0, 1). Default: 0.</param>
    /// <exception cref="ArgumentException">Shares out of range, duplicate names, or no control among the arms.</exception>
    public ExperimentLayer(string name, IEnumerable<ExperimentDefinition> experiments, double holdout = 0)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(experiments);
        if (holdout is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(holdout), holdout, "holdout must lie in [0, 1).");
        }

        Name = name;
        _holdoutBuckets = (int)Math.Round(holdout * Buckets);
        var ranges = new List<(ExperimentDefinition, int, int)>();
        var next = _holdoutBuckets;
        foreach (var e in experiments)
        {
            Validate(e);
            var size = (int)Math.Round(e.TrafficShare * Buckets);
            if (next + size > Buckets)
            {
                throw new ArgumentException($"Layer '{name}': the holdout and the experiments' traffic shares add up to more than 1 (at experiment '{e.Name}').", nameof(experiments));
            }

            ranges.Add((e, next, next + size));
            next += size;
        }

        if (ranges.Select(r => r.Item1.Name).Distinct().Count() != ranges.Count)
        {
            throw new ArgumentException($"Layer '{name}' has two experiments of the same name.", nameof(experiments));
        }

        _ranges = [.. ranges];
    }

    /// <summary>The layer's name.</summary>
    public string Name { get; }

    /// <summary>Where <paramref name="user"/> lands in this layer.</summary>
    /// <param name="user">The user.</param>
    /// <returns>The assignment.</returns>
    public ArmAssignment Assign(UserId user)
    {
        var bucket = Bucket(Name, user, Buckets);
        if (bucket < _holdoutBuckets)
        {
            return new ArmAssignment(null, null, InHoldout: true);
        }

        foreach (var (experiment, from, to) in _ranges)
        {
            if (bucket >= from && bucket < to)
            {
                var total = experiment.Arms.Sum(a => a.Weight);
                var point = Bucket(Name + "/" + experiment.Name, user, Buckets) / (double)Buckets * total;
                foreach (var arm in experiment.Arms)
                {
                    if (point < arm.Weight)
                    {
                        return new ArmAssignment(experiment.Name, arm.Name, false);
                    }

                    point -= arm.Weight;
                }

                return new ArmAssignment(experiment.Name, experiment.Arms[^1].Name, false);
            }
        }

        return new ArmAssignment(null, null, false);
    }

    /// <summary>A stable bucket in [0, <paramref name="buckets"/>) for a user under a salt: SHA-256 of "salt:user".</summary>
    /// <param name="salt">The salt.</param>
    /// <param name="user">The user.</param>
    /// <param name="buckets">The number of buckets; positive.</param>
    /// <returns>The bucket.</returns>
    public static int Bucket(string salt, UserId user, int buckets)
    {
        ArgumentNullException.ThrowIfNull(salt);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(buckets);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{salt}:{user.Value}"), hash);
        return (int)(BinaryPrimitives.ReadUInt64LittleEndian(hash) % (ulong)buckets);
    }

    private static void Validate(ExperimentDefinition e)
    {
        if (e.Arms.Count == 0 || e.Arms.Any(a => !(a.Weight > 0)) || e.Arms.Select(a => a.Name).Distinct().Count() != e.Arms.Count)
        {
            throw new ArgumentException($"Experiment '{e.Name}' needs at least one arm, distinct arm names and positive weights.", nameof(e));
        }

        if (e.Arms.All(a => a.Name != e.Control))
        {
            throw new ArgumentException($"Experiment '{e.Name}' names control '{e.Control}', which is none of its arms.", nameof(e));
        }

        if (e.TrafficShare is <= 0 or > 1)
        {
            throw new ArgumentException($"Experiment '{e.Name}' has traffic share {e.TrafficShare}; it must lie in (0, 1].", nameof(e));
        }
    }
}

using System.Diagnostics;
using GenRec.Data;
using GenRec.Generative;
using GenRec.SemanticIds;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>Progress of a <see cref="PreferenceAligner"/>: after each round.</summary>
/// <param name="Round">The round just finished.</param>
/// <param name="Rounds">Rounds in the run.</param>
/// <param name="Statistics">What the round saw and did.</param>
/// <param name="Elapsed">Time since alignment started.</param>
public readonly record struct AlignmentProgress(int Round, int Rounds, AlignmentRound Statistics, TimeSpan Elapsed);

/// <summary>One round of preference alignment.</summary>
/// <param name="Round">The round (1-based).</param>
/// <param name="Users">Users whose generated lists gave pairs.</param>
/// <param name="Pairs">Chosen/rejected pairs learned from.</param>
/// <param name="ListReward">Mean reward of the items the model generated this round (its top <see cref="PreferenceAligner.Options.Candidates"/>, before the round's updates).</param>
/// <param name="ChosenReward">Mean reward of the chosen items.</param>
/// <param name="RejectedReward">Mean reward of the rejected items.</param>
/// <param name="Loss">Mean DPO loss of the round's steps.</param>
/// <param name="PreferenceAccuracy">Share of the round's pairs whose implicit reward margin was positive when they were learned from.</param>
/// <param name="LogRatio">Mean log π(item)/π_ref(item) over the round's generated items, before its updates: how far the model has drifted from the reference where it generates.</param>
public sealed record AlignmentRound(int Round, int Users, int Pairs, double ListReward, double ChosenReward, double RejectedReward, double Loss, double PreferenceAccuracy, double LogRatio);

/// <summary>What a <see cref="PreferenceAligner"/> did.</summary>
/// <param name="Reward">The reward model's name.</param>
/// <param name="Beta">The KL anchor's strength (DPO's β).</param>
/// <param name="DataWeight">Weight of the next-item loss on the users' real train items.</param>
/// <param name="Rounds">Per round, in order.</param>
/// <param name="Seconds">Wall-clock time.</param>
public sealed record AlignmentReport(string Reward, double Beta, double DataWeight, IReadOnlyList<AlignmentRound> Rounds, double Seconds);

/// <summary>
/// Stage 3 of end-to-end generation: aligns a trained generative model to a reward model by direct preference
/// optimisation (DPO), iterated as in OneRec. Each round, the current model generates a list for a sample of train
/// users (trie-constrained beam search after their whole train history, history excluded), the reward model scores
/// the list, and the best and worst items by reward become chosen/rejected pairs; the model then learns
/// <c>−log σ(β·[(log π(chosen) − log π_ref(chosen)) − (log π(rejected) − log π_ref(rejected))])</c>, where π_ref is the
/// model it started from (the KL anchor: a larger β keeps the aligned model closer to it), plus
/// <see cref="Options.DataWeight"/> × the next-item loss of each sampled user's real last train item (so what the data
/// says is not forgotten). Log-probabilities are those of whole items (the sum over their semantic ID's codes), as the
/// beam search ranks by. Reads the train part only; choose β, rounds and weights on the validation target. Seeded;
/// CUDA when the model is there.
/// </summary>
public sealed class PreferenceAligner
{
    private readonly Options _options;

    /// <summary>Creates an aligner.</summary>
    /// <param name="options">The options; defaults when <see langword="null"/>.</param>
    public PreferenceAligner(Options? options = null)
    {
        _options = options ?? new Options();
        _options.Validate();
    }

    /// <summary>Aligns a copy of <paramref name="model"/>; the model itself is left as it was (it is the reference).</summary>
    /// <param name="model">The stage-1 model.</param>
    /// <param name="split">The split whose train part gives the users and their histories.</param>
    /// <param name="index">The semantic-ID index the model was trained on.</param>
    /// <param name="reward">The reward model.</param>
    /// <param name="cancellationToken">Cancels alignment.</param>
    /// <returns>The aligned model (same shape, same index), with its <see cref="TigerModelArtifact.Alignment"/> report.</returns>
    /// <exception cref="InvalidOperationException">The index is not the model's.</exception>
    /// <exception cref="ArgumentException">No train user has two items the index knows.</exception>
    public TigerModelArtifact Align(TigerModelArtifact model, DataSplit split, SemanticIdIndex index, IRewardModel reward, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(split);
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(reward);
        model.EnsureIndex(index);
        var clock = Stopwatch.StartNew();
        var device = model.TorchDevice;
        var users = split.Train
            .Select(s => (Sequence: s, Ids: model.Model.Sequence(s.Interactions, index)))
            .Where(u => u.Ids.Length >= 2)
            .ToArray();
        if (users.Length == 0)
        {
            throw new ArgumentException("No user has two train items the index knows; there is nothing to align on.", nameof(split));
        }

        torch.random.manual_seed(_options.Seed);
        var random = new Random(_options.Seed);
        var reference = model.Model;
        var policy = TigerNetwork.Create(model.Config, reference.Items);
        policy.to(device);
        using (torch.no_grad())
        {
            var source = reference.state_dict();
            foreach (var (name, parameter) in policy.state_dict())
            {
                parameter.copy_(source[name]);
            }
        }

        // Dropout stays off: the policy's and the reference's log-probabilities must differ by the weights alone.
        policy.eval();
        reference.eval();
        var generator = new TigerModelArtifact(policy, device, model.IndexFingerprint, model.IndexVersion, model.Report);
        using var optimizer = new AdamWOptimizer(policy.parameters(), _options.LearningRate);
        var rounds = new List<AlignmentRound>();
        var maxHistory = model.Config.MaxHistoryItems;
        for (var round = 1; round <= _options.Rounds; round++)
        {
            var sample = users.OrderBy(_ => random.Next()).Take(_options.UsersPerRound ?? users.Length).ToArray();
            var pairs = new List<Pair>();
            var data = new List<ArraySegment<SequenceItem>>();
            double listReward = 0, chosenReward = 0, rejectedReward = 0, logRatio = 0;
            long listItems = 0, ratioItems = 0;
            var rewards = new double[_options.Candidates];
            var pairsFrom = 0;
            foreach (var (sequence, ids) in sample)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var history = ids[Math.Max(0, ids.Length - maxHistory)..];
                var generated = Generate(generator, index, sequence);
                if (generated.Count < 2)
                {
                    continue;
                }

                var request = new RecommendationRequest(sequence.User, [.. sequence.Interactions.Select(i => i.ToEvent())], generated.Count, sequence.Interactions[^1].Time.AddSeconds(1));
                reward.Score(request, [.. generated.Select(g => g.Item)], rewards);
                var scored = Enumerable.Range(0, generated.Count).Where(i => double.IsFinite(rewards[i])).OrderByDescending(i => rewards[i]).ToArray();
                foreach (var i in scored)
                {
                    listReward += rewards[i];
                    listItems++;
                }

                var before = pairs.Count;
                for (var k = 0; k < _options.PairsPerUser && k < scored.Length / 2; k++)
                {
                    var (best, worst) = (scored[k], scored[^(k + 1)]);
                    if (rewards[best] > rewards[worst])
                    {
                        pairs.Add(new Pair(history, Target(policy, generated[best]), Target(policy, generated[worst])));
                        chosenReward += rewards[best];
                        rejectedReward += rewards[worst];
                    }
                }

                if (pairs.Count > before)
                {
                    pairsFrom++;
                    data.Add(ids[Math.Max(0, ids.Length - maxHistory - 1)..]);
                }

                if (round > 1)
                {
                    // Drift from the reference where the model generates: log π − log π_ref of this list's items.
                    var examples = generated.Select(g => Example(history, Target(policy, g))).ToArray();
                    using var noGrad = torch.no_grad();
                    using var scope = torch.NewDisposeScope();
                    var ratio = policy.TargetLogProbabilities(examples, device) - reference.TargetLogProbabilities(examples, device);
                    logRatio += ratio.sum().item<float>();
                    ratioItems += examples.Length;
                }
            }

            var (loss, accuracy) = pairs.Count > 0 ? Learn(policy, reference, optimizer, pairs, data, device, random, cancellationToken) : (double.NaN, double.NaN);
            var statistics = new AlignmentRound(
                round,
                pairsFrom,
                pairs.Count,
                listItems > 0 ? listReward / listItems : double.NaN,
                pairs.Count > 0 ? chosenReward / pairs.Count : double.NaN,
                pairs.Count > 0 ? rejectedReward / pairs.Count : double.NaN,
                loss,
                accuracy,
                round == 1 ? 0 : ratioItems > 0 ? logRatio / ratioItems : double.NaN);
            rounds.Add(statistics);
            _options.Progress?.Report(new AlignmentProgress(round, _options.Rounds, statistics, clock.Elapsed));
        }

        policy.eval();
        return new TigerModelArtifact(policy, device, model.IndexFingerprint, model.IndexVersion, model.Report, new AlignmentReport(reward.Name, _options.Beta, _options.DataWeight, rounds, clock.Elapsed.TotalSeconds));
    }

    /// <summary>The model's list for a user after their whole train history: trie-constrained, history excluded.</summary>
    private IReadOnlyList<(ItemId Item, SemanticId Id)> Generate(TigerModelArtifact model, SemanticIdIndex index, UserSequence sequence)
    {
        var tokens = model.EncodeHistory([.. sequence.Interactions.Select(i => i.ToEvent())], index);
        using var session = model.Start(tokens);
        var excluded = sequence.Interactions.Select(i => index.TryGetSemanticId(i.Item, out var id) ? id : default).Where(id => id.Length > 0);
        var decoded = ConstrainedBeamSearch.Search(session, index.Trie, index.Length, _options.Candidates, excluded);
        return [.. decoded.Select(d => (index[d.Id], d.Id))];
    }

    /// <summary>One pass over the round's pairs in batches; returns the mean loss and the share of pairs ranked right.</summary>
    private (double Loss, double Accuracy) Learn(TigerNetwork policy, TigerNetwork reference, AdamWOptimizer optimizer, List<Pair> pairs, List<ArraySegment<SequenceItem>> data, Device device, Random random, CancellationToken cancellationToken)
    {
        var order = Enumerable.Range(0, pairs.Count).OrderBy(_ => random.Next()).ToArray();
        var dataOrder = Enumerable.Range(0, data.Count).OrderBy(_ => random.Next()).ToArray();
        var batches = (pairs.Count + _options.BatchSize - 1) / _options.BatchSize;
        double lossSum = 0;
        var right = 0;
        for (var b = 0; b < batches; b++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            var batch = order.Skip(b * _options.BatchSize).Take(_options.BatchSize).Select(i => pairs[i]).ToArray();
            var chosen = batch.Select(p => Example(p.History, p.Chosen)).ToArray();
            var rejected = batch.Select(p => Example(p.History, p.Rejected)).ToArray();
            Tensor referenceMargin;
            using (torch.no_grad())
            {
                referenceMargin = reference.TargetLogProbabilities(chosen, device) - reference.TargetLogProbabilities(rejected, device);
            }

            var margin = policy.TargetLogProbabilities(chosen, device) - policy.TargetLogProbabilities(rejected, device) - referenceMargin;
            var loss = -nn.functional.logsigmoid(margin.Times(_options.Beta)).mean();
            right += (int)margin.Greater(0).sum().item<long>();
            lossSum += loss.item<float>() * batch.Length;
            if (_options.DataWeight > 0 && data.Count > 0)
            {
                // The same share of the round's real next items rides along with each batch of pairs.
                var from = b * data.Count / batches;
                var to = (b + 1) * data.Count / batches;
                if (to > from)
                {
                    var real = dataOrder[from..to].Select(i => data[i]).ToArray();
                    loss = loss - policy.TargetLogProbabilities(real, device).mean().Times(_options.DataWeight);
                }
            }

            optimizer.ZeroGrad();
            loss.backward();
            nn.utils.clip_grad_norm_(policy.parameters(), _options.GradientClip);
            optimizer.Step();
        }

        return (lossSum / pairs.Count, (double)right / pairs.Count);
    }

    private static ArraySegment<SequenceItem> Example(SequenceItem[] history, SequenceItem target) => new([.. history, target]);

    /// <summary>A generated item as a target: its codes are what is scored (its row, action and time are not read).</summary>
    private static SequenceItem Target(TigerNetwork network, (ItemId Item, SemanticId Id) generated) => new(generated.Id, network.Row(generated.Item), 0, 0);

    private sealed record Pair(SequenceItem[] History, SequenceItem Chosen, SequenceItem Rejected);

    /// <summary>Options of a <see cref="PreferenceAligner"/>.</summary>
    public sealed class Options
    {
        /// <summary>Rounds: each regenerates the lists with the model as aligned so far (OneRec's iterative alignment). Default: 3.</summary>
        public int Rounds { get; set; } = 3;

        /// <summary>Train users sampled per round; <see langword="null"/> for all. Default: 512.</summary>
        public int? UsersPerRound { get; set; } = 512;

        /// <summary>Items generated per user (the beam width), among which pairs are chosen; at least 2. Default: 20.</summary>
        public int Candidates { get; set; } = 20;

        /// <summary>Pairs per user: the best against the worst, then the second best against the second worst, and so on. Default: 1.</summary>
        public int PairsPerUser { get; set; } = 1;

        /// <summary>The KL anchor's strength (DPO's β), positive: larger keeps the aligned model closer to the one it started from. Default: 0.1.</summary>
        public double Beta { get; set; } = 0.1;

        /// <summary>Weight of the next-item loss on the sampled users' real last train items (mean log-probability per item); 0 or more. Default: 1.</summary>
        public double DataWeight { get; set; } = 1;

        /// <summary>AdamW learning rate. Default: 1e-4.</summary>
        public double LearningRate { get; set; } = 1e-4;

        /// <summary>Pairs per step. Default: 32.</summary>
        public int BatchSize { get; set; } = 32;

        /// <summary>Gradient norm clip. Default: 1.</summary>
        public double GradientClip { get; set; } = 1;

        /// <summary>Random seed (user sampling, batch order). Default: 42.</summary>
        public int Seed { get; set; } = 42;

        /// <summary>Receives progress after each round.</summary>
        public IProgress<AlignmentProgress>? Progress { get; set; }

        internal void Validate()
        {
            if (Rounds < 1 || UsersPerRound is < 1 || Candidates < 2 || PairsPerUser < 1 || BatchSize < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(Options), $"Rounds, UsersPerRound, PairsPerUser and BatchSize must be 1 or more and Candidates 2 or more; got {Rounds}, {UsersPerRound}, {PairsPerUser}, {BatchSize}, {Candidates}.");
            }

            if (!(Beta > 0) || !double.IsFinite(Beta) || !(DataWeight >= 0) || !double.IsFinite(DataWeight) || !(LearningRate > 0) || !(GradientClip > 0))
            {
                throw new ArgumentOutOfRangeException(nameof(Options), $"Beta, LearningRate and GradientClip must be positive and DataWeight 0 or more, all finite; got {Beta}, {LearningRate}, {GradientClip}, {DataWeight}.");
            }
        }
    }
}

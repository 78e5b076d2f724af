using System.CommandLine;
using GenRec.Baselines;
using GenRec.Cascade;
using GenRec.Data;
using GenRec.Generative;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary>What the fused cascade reads from generative models (the <c>--fuse-*</c> options).</summary>
/// <param name="Features">Generative feature sources for LambdaRank: any of "hstu", "tiger".</param>
/// <param name="Channel">A generative recall channel the ranker is trained with: "none", "hstu" or "tiger".</param>
/// <param name="Quota">Candidates of that channel.</param>
/// <param name="TigerPath">A TIGER folder from <c>genrec train tiger --hold-out-last 3</c> (for "tiger").</param>
/// <param name="HstuEpochs">Epochs of the HSTU trained here on the held-out train part.</param>
/// <param name="TigerBeam">Beams for the <c>tiger_beam_rank</c> feature (0: none).</param>
/// <param name="Drop">Feature names left out (the ablation).</param>
/// <param name="HstuCache">A folder where the held-out HSTU is saved, and read back by later runs with the same data, seed and epochs.</param>
internal sealed record FusionArguments(
    IReadOnlyList<string> Features,
    string Channel = "none",
    int Quota = 100,
    string? TigerPath = null,
    int HstuEpochs = FusionOptions.DefaultHstuEpochs,
    int TigerBeam = 100,
    IReadOnlyList<string>? Drop = null,
    string? HstuCache = null);

/// <summary>
/// The DLRM cascade with generative signals fused in, composed from SDK parts as a team would: generative models
/// fitted on the train part with the ranker's pseudo-targets held out (<see cref="DataSplit.HoldOutLastTrain"/>),
/// their per-candidate scores as LambdaRank features and, optionally, one of them as a recall channel the ranker is
/// trained with.
/// </summary>
internal static class FusedCascade
{
    /// <param name="arguments">The seed, the LambdaRank grid and the HSTU shape (--hstu-dim, --hstu-max-history) for the HSTU trained here.</param>
    public static DlrmCascadeModel Fit(DataSplit split, ModelArguments arguments, FusionArguments a, bool keepQueries = false, CancellationToken cancellationToken = default)
    {
        var seed = arguments.Seed;
        var shape = arguments.Hstu;
        var options = arguments.Dlrm(keepQueries);
        var heldOut = split.HoldOutLastTrain(options.QueriesPerUser);
        var features = new List<ICandidateFeatures>();
        var channels = new List<RecallChannel>();
        HstuModel? hstu = null;
        if (a.Features.Contains("hstu") || a.Channel == "hstu")
        {
            // Keyed by what the model depends on: the split (its name and size), the epochs and the seed.
            var cache = a.HstuCache is null ? null : Path.Combine(a.HstuCache, $"hstu-{split.Name.Replace(' ', '_').Replace(',', '_')}-{split.TrainInteractions.Count}-e{a.HstuEpochs}-s{seed}-d{shape.Dimension}-h{shape.MaxHistory}");
            if (cache is not null && File.Exists(Path.Combine(cache, "manifest.json")))
            {
                hstu = HstuModel.Load(cache);
                ConsoleProgress.Status($"fused: HSTU read from {cache}");
            }
            else
            {
                ConsoleProgress.Status($"fused: HSTU on the train part without each user's last {options.QueriesPerUser} (the ranker's pseudo-targets), {a.HstuEpochs} epochs");
                var progress = new SyncProgress<HstuTrainingProgress>(p => ConsoleProgress.Status(
                    $"fused: hstu epoch {p.Epoch}/{p.Epochs}, step {p.Step}/{p.Steps}: sequence loss {p.SequenceLoss:0.0000}, ranking loss {p.RankingLoss:0.0000} ({p.Elapsed.TotalSeconds:0}s)"));
                hstu = new HstuTrainer(new HstuArguments { Epochs = a.HstuEpochs, Dimension = shape.Dimension, MaxHistory = shape.MaxHistory, Seed = seed, Progress = progress }.ToOptions()).Fit(heldOut, cancellationToken: cancellationToken);
                ConsoleProgress.Status($"fused: HSTU trained in {hstu.Report.Seconds:0} s");
                if (cache is not null)
                {
                    hstu.Save(cache);
                    ConsoleProgress.Status($"fused: HSTU saved to {cache}");
                }
            }
        }

        GenerativeRecall? tigerRecall = null;
        if (a.Features.Contains("tiger") || a.Channel == "tiger")
        {
            var path = a.TigerPath ?? throw new UsageException("the fused cascade's tiger features need --fuse-tiger (a folder from genrec train tiger --hold-out-last 3).");
            var tiger = TigerModelArtifact.Load(path);
            var index = SemanticIdIndex.Load(ModelFolderLayout.IndexPath(path));
            tiger.EnsureIndex(index);
            if (a.Features.Contains("tiger"))
            {
                features.Add(new GenerativeCandidateFeatures(tiger, index, new GenerativeCandidateFeaturesOptions { Prefix = "tiger", BeamWidth = a.TigerBeam }));
            }

            tigerRecall = new GenerativeRecall(tiger, index, new GenerativeRecallOptions { Name = "tiger", BeamWidth = a.Quota });
        }

        if (hstu is not null && a.Features.Contains("hstu"))
        {
            features.Add(hstu.AsCandidateFeatures());
        }

        switch (a.Channel)
        {
            case "hstu":
                channels.Add(new RecallChannel(hstu!.AsRecall("hstu"), a.Quota));
                break;
            case "tiger":
                channels.Add(new RecallChannel(tigerRecall!, a.Quota));
                break;
        }

        if (a.Drop is { Count: > 0 } drop)
        {
            var unknown = drop.Except(features.SelectMany(f => f.Names)).ToArray();
            if (unknown.Length > 0)
            {
                throw new UsageException($"--fuse-drop names {string.Join(", ", unknown)}, which no fused feature source computes; they compute {string.Join(", ", features.SelectMany(f => f.Names))}.");
            }

            features = [.. features.Select(f => (ICandidateFeatures)new SelectedFeatures(f, f.Names.Except(drop).ToArray()))];
        }

        options.Features = features;
        options.ExtraChannels = channels;
        var model = new DlrmCascadeTrainer(options).Fit(split, cancellationToken);
        ConsoleProgress.Status(
            $"fused: features {string.Join(", ", features.SelectMany(f => f.Names))}; channel {a.Channel}{(channels.Count > 0 ? $" ({a.Quota})" : string.Empty)}; " +
            $"chosen {model.Chosen.Settings} (validation NDCG@10 {model.Chosen.ValidationNdcg10:0.0000}); validation recall@{model.RankingDepth} {model.ValidationQueries.RecallRate:P1}");
        foreach (var g in model.Grid)
        {
            ConsoleProgress.Status($"fused: grid {g.Settings}: validation NDCG@10 {g.ValidationNdcg10:0.0000}");
        }

        return model;
    }

    /// <summary>Some of a source's features (an ablation leaves the others out).</summary>
    private sealed class SelectedFeatures(ICandidateFeatures source, string[] keep) : ICandidateFeatures
    {
        private readonly int[] _columns = [.. keep.Select(n => source.Names.ToList().IndexOf(n))];

        public IReadOnlyList<string> Names => keep;

        public void Compute(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination)
        {
            if (keep.Length == 0)
            {
                return;
            }

            var width = source.Names.Count;
            var all = new float[candidates.Count * width];
            source.Compute(request, candidates, all);
            for (var i = 0; i < candidates.Count; i++)
            {
                for (var k = 0; k < _columns.Length; k++)
                {
                    destination[(i * keep.Length) + k] = all[(i * width) + _columns[k]];
                }
            }
        }
    }
}

/// <summary>The <c>--fuse-*</c> options of <c>genrec eval --model dlrm-fused</c> and <c>genrec ab</c>.</summary>
internal sealed class FusionOptions
{
    /// <summary>The better of 5 and 20 on validation NDCG@10 (0.0940 vs 0.1009, docs/benchmarks.md).</summary>
    public const int DefaultHstuEpochs = 20;

    public Option<string> Features { get; } = new("--fuse-features") { Description = "dlrm-fused: generative feature sources of LambdaRank, comma-separated: hstu, tiger (needs --fuse-tiger), or none.", DefaultValueFactory = _ => "hstu" };

    public Option<string> Channel { get; } = new("--fuse-channel") { Description = "dlrm-fused: a generative recall channel the ranker is trained with: none (the better on validation), hstu or tiger.", DefaultValueFactory = _ => "none" };

    public Option<int> Quota { get; } = new("--fuse-quota") { Description = "dlrm-fused: candidates of the generative channel.", DefaultValueFactory = _ => 100 };

    public Option<string?> TigerPath { get; } = new("--fuse-tiger") { Description = "dlrm-fused: a TIGER folder trained with genrec train tiger --hold-out-last 3." };

    public Option<int> HstuEpochs { get; } = new("--fuse-hstu-epochs") { Description = "dlrm-fused: epochs of the HSTU trained on the held-out train part.", DefaultValueFactory = _ => DefaultHstuEpochs };

    public Option<int> TigerBeam { get; } = new("--fuse-tiger-beam") { Description = "dlrm-fused: beams for the tiger_beam_rank feature (0: leave it out).", DefaultValueFactory = _ => 100 };

    public Option<string?> Drop { get; } = new("--fuse-drop") { Description = "dlrm-fused: comma-separated feature names to leave out (ablation)." };

    public Option<string?> HstuCache { get; } = new("--fuse-hstu-cache") { Description = "dlrm-fused: a folder where the held-out HSTU is saved and read back by later runs (same data, seed, epochs)." };

    public IEnumerable<Option> All => [Features, Channel, Quota, TigerPath, HstuEpochs, TigerBeam, Drop, HstuCache];

    public FusionArguments Read(ParseResult parse)
    {
        static string[] List(string? value) => value?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        var features = List(parse.GetValue(Features)).Where(f => f != "none").ToArray();
        var unknown = features.Except(["hstu", "tiger"]).ToArray();
        if (unknown.Length > 0)
        {
            throw new UsageException($"--fuse-features names {string.Join(", ", unknown)}; known: hstu, tiger, none.");
        }

        var channel = parse.GetValue(Channel)!;
        if (channel is not ("none" or "hstu" or "tiger"))
        {
            throw new UsageException($"--fuse-channel is '{channel}'; it must be none, hstu or tiger.");
        }

        CommonOptions.RequirePositive(parse.GetValue(Quota), "--fuse-quota");
        CommonOptions.RequirePositive(parse.GetValue(HstuEpochs), "--fuse-hstu-epochs");
        if (parse.GetValue(TigerBeam) < 0)
        {
            throw new UsageException("--fuse-tiger-beam must be 0 or more.");
        }

        return new FusionArguments(features, channel, parse.GetValue(Quota), parse.GetValue(TigerPath), parse.GetValue(HstuEpochs), parse.GetValue(TigerBeam), List(parse.GetValue(Drop)), parse.GetValue(HstuCache));
    }
}

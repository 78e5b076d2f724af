using System.Diagnostics;
using GenRec.Models;
using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>The shape of a neural DLRM.</summary>
/// <param name="Items">Item rows (row 0: unknown or none).</param>
/// <param name="Dense">Dense features per candidate.</param>
/// <param name="Channels">Source-channel rows (row 0: unknown).</param>
/// <param name="Dimension">Embedding width, also the bottom MLP's output.</param>
/// <param name="Hidden">Width of the bottom and top MLPs' hidden layers.</param>
internal sealed record NeuralDlrmConfig(int Items, int Dense, int Channels = NeuralDlrmConfig.DefaultChannels, int Dimension = 16, int Hidden = 64)
{
    public const int DefaultChannels = NeuralDlrmGraphContract.ChannelRows;

    /// <summary>Vectors whose pairwise dot products the top MLP reads: bottom MLP, candidate, last history item, channel.</summary>
    public const int Vectors = 4;

    public const int Pairs = Vectors * (Vectors - 1) / 2;
}

/// <summary>
/// Meta's DLRM over a cascade's candidates: a bottom MLP over the standardised dense features; embeddings of the
/// sparse features (the candidate item, the user's last item from the same table, the recall channel); the pairwise
/// dot products of those four vectors beside the bottom MLP's output feed a top MLP that scores the candidate.
/// </summary>
internal sealed class NeuralDlrmNetwork : nn.Module<Tensor, Tensor, Tensor, Tensor, Tensor>
{
    private readonly Linear bottom1;
    private readonly Linear bottom2;
    private readonly Embedding items;
    private readonly Embedding channels;
    private readonly Linear top1;
    private readonly Linear top2;
    private readonly Tensor mean;
    private readonly Tensor scale;

    public NeuralDlrmNetwork(NeuralDlrmConfig config)
        : base(nameof(NeuralDlrmNetwork))
    {
        Config = config;
        bottom1 = nn.Linear(config.Dense, config.Hidden);
        bottom2 = nn.Linear(config.Hidden, config.Dimension);
        items = nn.Embedding(config.Items, config.Dimension);
        channels = nn.Embedding(config.Channels, config.Dimension);
        top1 = nn.Linear(config.Dimension + NeuralDlrmConfig.Pairs, config.Hidden);
        top2 = nn.Linear(config.Hidden, 1);
        using (torch.no_grad())
        {
            items.weight!.normal_(0, 0.05);
            channels.weight!.normal_(0, 0.05);
        }

        mean = torch.zeros(config.Dense);
        scale = torch.ones(config.Dense);
        register_buffer(nameof(mean), mean);
        register_buffer(nameof(scale), scale);
        RegisterComponents();
    }

    public NeuralDlrmConfig Config { get; }

    /// <summary>Sets the dense features' standardisation (from the training rows).</summary>
    public void SetStandardisation(float[] featureMean, float[] featureScale)
    {
        using var noGrad = torch.no_grad();
        mean.copy_(torch.tensor(featureMean));
        scale.copy_(torch.tensor(featureScale));
    }

    /// <summary>Scores candidates: dense [N, F] (NaN: missing, read as the mean), items, last items and channels [N] → [N].</summary>
    public override Tensor forward(Tensor dense, Tensor item, Tensor last, Tensor channel)
    {
        var z = (dense - mean) * scale;
        z = torch.where(dense.isnan(), torch.zeros_like(z), z);
        var b = nn.functional.relu(bottom2.forward(nn.functional.relu(bottom1.forward(z))));
        var vectors = torch.stack([b, items.forward(item), items.forward(last), channels.forward(channel)], 1); // [N, 4, d]
        var dots = torch.bmm(vectors, vectors.transpose(1, 2)).reshape(-1, NeuralDlrmConfig.Vectors * NeuralDlrmConfig.Vectors);
        var upper = dots.index_select(1, torch.tensor(UpperTriangle, device: dense.device));
        return top2.forward(nn.functional.relu(top1.forward(torch.cat([b, upper], 1)))).squeeze(1);
    }

    /// <summary>The flat indices of the pairs i &lt; j in the 4 × 4 dot-product matrix.</summary>
    internal static readonly long[] UpperTriangle =
        [.. Enumerable.Range(0, NeuralDlrmConfig.Vectors).SelectMany(i => Enumerable.Range(i + 1, NeuralDlrmConfig.Vectors - i - 1).Select(j => (long)((i * NeuralDlrmConfig.Vectors) + j)))];
}

/// <summary>How a neural DLRM was trained.</summary>
/// <param name="Epochs">Epochs run.</param>
/// <param name="Seconds">Training wall time.</param>
/// <param name="Parameters">Trainable parameters.</param>
/// <param name="Queries">Ranking queries learned from (those whose target the recall found).</param>
public sealed record NeuralDlrmTrainingReport(int Epochs, double Seconds, long Parameters, int Queries);

/// <summary>
/// Trains a neural DLRM (Meta's DLRM: sparse embeddings, bottom MLP, pairwise dot interactions, top MLP) on a
/// cascade's ranking queries and features — the ones its LambdaRank learns from (<c>DlrmCascadeModel.RankingQueries</c>)
/// — with a listwise softmax over each query's taken item and sampled candidates. A second classical control beside
/// LambdaRank: what teams that run neural rankers compare against. TorchSharp, on CUDA when present; served by ONNX
/// Runtime after <c>NeuralDlrmOnnxExporter</c>.
/// </summary>
public sealed class NeuralDlrmTrainer
{
    private readonly Options _options;

    /// <summary>Creates the trainer.</summary>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public NeuralDlrmTrainer(Options? options = null)
    {
        _options = options ?? new Options();
        var o = _options;
        if (o.Epochs < 1 || o.Dimension < 1 || o.Hidden < 1 || o.Negatives < 1 || o.BatchSize < 1 || !(o.LearningRate > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Neural DLRM options must be positive.");
        }
    }

    /// <summary>Trains on ranking queries.</summary>
    /// <param name="queries">The queries (request, recalled candidates, the taken one, their features).</param>
    /// <param name="featureNames">The names of the queries' features; "source_channel", when present, is also read as a sparse feature.</param>
    /// <param name="catalogue">The items the model knows.</param>
    /// <param name="cancellationToken">Cancels training.</param>
    /// <returns>The trained model.</returns>
    /// <exception cref="ArgumentException">No query has its target among its candidates, or the features do not match the names.</exception>
    public NeuralDlrmModel Fit(IReadOnlyList<RankingQuery> queries, IReadOnlyList<string> featureNames, IReadOnlyList<ItemId> catalogue, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(featureNames);
        ArgumentNullException.ThrowIfNull(catalogue);
        var o = _options;
        var f = featureNames.Count;
        var rows = catalogue.Select((item, i) => (item, row: (long)i + 1)).ToDictionary(p => p.item, p => p.row);
        var channel = IndexOf(featureNames, NeuralDlrmModel.ChannelFeature);
        var random = new Random(o.Seed);
        torch.manual_seed(o.Seed);
        var device = TorchDevices.Resolve(o.Device);

        // Each usable query: the taken item first, then sampled other candidates.
        var groups = new List<(float[] Dense, long[] Items, long Last, long[] Channels)>();
        foreach (var q in queries)
        {
            if (q.Features.Length != q.Candidates.Count * f)
            {
                throw new ArgumentException($"A query holds {q.Features.Length} feature values for {q.Candidates.Count} candidates; {f} features each need {q.Candidates.Count * f}.", nameof(queries));
            }

            if (q.Target < 0)
            {
                continue;
            }

            int[] chosen = [q.Target, .. Enumerable.Range(0, q.Candidates.Count).Where(i => i != q.Target).OrderBy(_ => random.Next()).Take(o.Negatives)];
            var dense = new float[chosen.Length * f];
            for (var c = 0; c < chosen.Length; c++)
            {
                q.Features.AsSpan(chosen[c] * f, f).CopyTo(dense.AsSpan(c * f, f));
            }

            groups.Add((dense, [.. chosen.Select(c => rows.GetValueOrDefault(q.Candidates[c].Item))], LastRow(q.Request, rows), [.. chosen.Select(c => channel < 0 ? 0 : NeuralDlrmGraphContract.ChannelRow(q.Features[(c * f) + channel]))]));
        }

        if (groups.Count == 0)
        {
            throw new ArgumentException("No ranking query has its target among its candidates; there is nothing to learn.", nameof(queries));
        }

        var config = new NeuralDlrmConfig(catalogue.Count + 1, f, Dimension: o.Dimension, Hidden: o.Hidden);
        var network = new NeuralDlrmNetwork(config);
        try
        {
            var (mean, scale) = FeatureStandardisation.Of(groups.Select(g => g.Dense), f);
            network.SetStandardisation(mean, scale);
            network.to(device);
            var clock = Stopwatch.StartNew();
            using var optimizer = new AdamWOptimizer(network.parameters(), o.LearningRate, o.WeightDecay);
            for (var epoch = 1; epoch <= o.Epochs; epoch++)
            {
                network.train();
                double lossSum = 0;
                var steps = 0;
                foreach (var batch in groups.OrderBy(_ => random.Next()).Chunk(o.BatchSize))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    using var scope = torch.NewDisposeScope();
                    var m = 1 + o.Negatives;
                    var n = batch.Length * m;
                    var dense = new float[n * f];
                    var items = new long[n];
                    var last = new long[n];
                    var channels = new long[n];
                    var padding = new bool[n];
                    for (var b = 0; b < batch.Length; b++)
                    {
                        var g = batch[b];
                        var count = g.Items.Length;
                        g.Dense.CopyTo(dense, b * m * f);
                        g.Items.CopyTo(items, b * m);
                        g.Channels.CopyTo(channels, b * m);
                        last.AsSpan(b * m, m).Fill(g.Last);
                        padding.AsSpan((b * m) + count, m - count).Fill(true);
                    }

                    var scores = network.forward(
                        torch.tensor(dense, [n, f], device: device),
                        torch.tensor(items, device: device),
                        torch.tensor(last, device: device),
                        torch.tensor(channels, device: device)).reshape(batch.Length, m);
                    scores = scores.FilledWhere(torch.tensor(padding, [batch.Length, m], device: device), double.NegativeInfinity);
                    var loss = nn.functional.cross_entropy(scores, torch.zeros(batch.Length, dtype: ScalarType.Int64, device: device));
                    optimizer.ZeroGrad();
                    loss.backward();
                    nn.utils.clip_grad_norm_(network.parameters(), 1.0);
                    optimizer.Step();
                    var value = loss.item<float>();
                    if (!float.IsFinite(value))
                    {
                        throw new InvalidOperationException($"Neural DLRM training diverged at epoch {epoch} (loss {value}); lower the learning rate.");
                    }

                    (lossSum, steps) = (lossSum + value, steps + 1);
                }

                o.Progress?.Report(new NeuralDlrmTrainingProgress(epoch, o.Epochs, lossSum / Math.Max(1, steps), clock.Elapsed));
            }

            network.eval();
            var parameters = network.parameters().Sum(p => p.numel());
            return new NeuralDlrmModel(network, [.. catalogue], [.. featureNames], device, new NeuralDlrmTrainingReport(o.Epochs, clock.Elapsed.TotalSeconds, parameters, groups.Count));
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    internal static long LastRow(RecommendationRequest request, IReadOnlyDictionary<ItemId, long> rows) =>
        request.History.Count == 0 ? 0 : rows.GetValueOrDefault(request.History[^1].Item);

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (var i = 0; i < names.Count; i++)
        {
            if (names[i] == name)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Options of a <see cref="NeuralDlrmTrainer"/>.</summary>
    public sealed record Options
    {
        /// <summary>Epochs. Default: 10.</summary>
        public int Epochs { get; init; } = 10;

        /// <summary>Embedding width (and the bottom MLP's output). Default: 16.</summary>
        public int Dimension { get; init; } = 16;

        /// <summary>Hidden width of the bottom and top MLPs. Default: 64.</summary>
        public int Hidden { get; init; } = 64;

        /// <summary>Candidates besides the taken item per query and step. Default: 63.</summary>
        public int Negatives { get; init; } = 63;

        /// <summary>Queries per step. Default: 64.</summary>
        public int BatchSize { get; init; } = 64;

        /// <summary>AdamW learning rate. Default: 3e-3.</summary>
        public double LearningRate { get; init; } = 3e-3;

        /// <summary>AdamW weight decay. Default: 1e-4.</summary>
        public double WeightDecay { get; init; } = 1e-4;

        /// <summary>Seed. Default: 42.</summary>
        public int Seed { get; init; } = 42;

        /// <summary>Where to train. Default: <see cref="ComputeDevice.Auto"/>.</summary>
        public ComputeDevice Device { get; init; } = ComputeDevice.Auto;

        /// <summary>Receives progress per epoch. Default: none.</summary>
        public IProgress<NeuralDlrmTrainingProgress>? Progress { get; init; }
    }
}

/// <summary>Progress of neural DLRM training.</summary>
/// <param name="Epoch">The epoch just finished (1-based).</param>
/// <param name="Epochs">Epochs in all.</param>
/// <param name="Loss">Mean listwise loss of the epoch.</param>
/// <param name="Elapsed">Time since training started.</param>
public readonly record struct NeuralDlrmTrainingProgress(int Epoch, int Epochs, double Loss, TimeSpan Elapsed);

/// <summary>
/// A trained neural DLRM: ranks a cascade's candidates by the features it was trained on. TorchSharp eager (on CUDA
/// when present); <c>NeuralDlrmOnnxExporter</c> exports it for ONNX Runtime. Thread-safe for scoring.
/// </summary>
public sealed class NeuralDlrmModel : IDisposable
{
    /// <summary>The dense feature also read as the sparse source-channel feature.</summary>
    public const string ChannelFeature = NeuralDlrmGraphContract.ChannelFeature;

    private readonly Dictionary<ItemId, long> _rows;
    private readonly Device _device;
    private readonly int _channel;

    internal NeuralDlrmModel(NeuralDlrmNetwork network, ItemId[] items, string[] featureNames, Device device, NeuralDlrmTrainingReport report)
    {
        Network = network;
        Items = items;
        FeatureNames = featureNames;
        _device = device;
        Report = report;
        _rows = items.Select((item, i) => (item, row: (long)i + 1)).ToDictionary(p => p.item, p => p.row);
        _channel = Array.IndexOf(featureNames, ChannelFeature);
    }

    /// <summary>The items the model knows, by row − 1.</summary>
    public IReadOnlyList<ItemId> Items { get; }

    /// <summary>The features it reads per candidate, in order.</summary>
    public IReadOnlyList<string> FeatureNames { get; }

    /// <summary>How it was trained.</summary>
    public NeuralDlrmTrainingReport Report { get; }

    internal NeuralDlrmNetwork Network { get; }


    /// <summary>The model as a ranking stage over <paramref name="features"/> (the source it was trained on, by name).</summary>
    /// <param name="features">The cascade's features.</param>
    /// <param name="name">The stage's name. Default: "neural-dlrm".</param>
    /// <returns>The ranking stage.</returns>
    /// <exception cref="ArgumentException">The features are not the ones the model was trained on.</exception>
    public IRankingStage AsRanker(ICandidateFeatures features, string name = "neural-dlrm")
    {
        HstuGraphContract.EnsureFeatures(FeatureNames, features);
        return RankingStage.From(name, (request, candidates, ct) =>
        {
            ct.ThrowIfCancellationRequested();
            return ValueTask.FromResult(RankingStage.Order(candidates, Score(request, candidates, features)));
        });
    }

    /// <summary>Scores candidates; unknown items get −∞ (kept, last).</summary>
    /// <param name="request">The request.</param>
    /// <param name="candidates">The candidates.</param>
    /// <param name="features">The features the model was trained on.</param>
    /// <returns>One score per candidate.</returns>
    public double[] Score(RecommendationRequest request, IReadOnlyList<Candidate> candidates, ICandidateFeatures features)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        HstuGraphContract.EnsureFeatures(FeatureNames, features);
        var scores = new double[candidates.Count];
        if (candidates.Count == 0)
        {
            return scores;
        }

        var (dense, items, last, channels) = Inputs(request, candidates, features);
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var n = candidates.Count;
        var output = Network.forward(
            torch.tensor(dense, [n, FeatureNames.Count], device: _device),
            torch.tensor(items, device: _device),
            torch.tensor(last, device: _device),
            torch.tensor(channels, device: _device)).cpu().data<float>().ToArray();
        for (var i = 0; i < n; i++)
        {
            scores[i] = items[i] == 0 ? double.NegativeInfinity : output[i];
        }

        return scores;
    }

    /// <summary>The graph's inputs for a request: dense features [N × F], item rows, last-item rows, channel rows.</summary>
    internal (float[] Dense, long[] Items, long[] Last, long[] Channels) Inputs(RecommendationRequest request, IReadOnlyList<Candidate> candidates, ICandidateFeatures features)
    {
        var f = FeatureNames.Count;
        var n = candidates.Count;
        var dense = new float[n * f];
        features.Compute(request, candidates, dense);
        var items = candidates.Select(c => _rows.GetValueOrDefault(c.Item)).ToArray();
        var last = new long[n];
        Array.Fill(last, NeuralDlrmTrainer.LastRow(request, _rows));
        var channels = Enumerable.Range(0, n).Select(i => _channel < 0 ? 0 : NeuralDlrmGraphContract.ChannelRow(dense[(i * f) + _channel])).ToArray();
        return (dense, items, last, channels);
    }

    /// <inheritdoc />
    public void Dispose() => Network.Dispose();

}

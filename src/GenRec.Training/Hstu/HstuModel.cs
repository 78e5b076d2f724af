using GenRec.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>How an HSTU model was trained.</summary>
/// <param name="Epochs">Epochs run.</param>
/// <param name="Seconds">Training wall time.</param>
/// <param name="Parameters">Trainable parameters.</param>
/// <param name="RankingQueries">Ranking queries learned from.</param>
/// <param name="CascadeQueries">Whether those were a cascade's queries (else sampled from the train part).</param>
public sealed record HstuTrainingReport(int Epochs, double Seconds, long Parameters, int RankingQueries, bool CascadeQueries);

/// <summary>
/// A trained HSTU: a ranking stage (target-aware scoring of the candidates, M-FALCON, with the cascade's cross
/// features when it was trained on them) and a recall stage (next item over the whole catalogue). TorchSharp eager,
/// on CUDA when present; HstuOnnxExporter exports it for ONNX Runtime. Thread-safe for scoring (calls are serialised; ONNX Runtime serves concurrently).
/// </summary>
public sealed class HstuModel : IDisposable
{
    /// <summary>The folder format written by <see cref="Save"/>.</summary>
    public const string Format = "genrec-hstu";

    /// <summary>The folder format version.</summary>
    public const int FormatVersion = 1;

    internal const int YearBuckets = 26;
    internal const int PopularityBuckets = 16;

    private readonly Dictionary<ItemId, long> _rows;
    private readonly Device _device;
    private readonly Lazy<Tensor> _itemTable;
    private readonly Lock _gate = new();

    internal HstuModel(HstuNetwork network, ItemId[] items, string[] crossFeatureNames, Device device, double ratingWeight, HstuTrainingReport report)
    {
        Network = network;
        Items = items;
        _rows = items.Select((item, i) => (item, row: (long)i + 1)).ToDictionary(p => p.item, p => p.row);
        CrossFeatureNames = crossFeatureNames;
        _device = device;
        RatingWeight = ratingWeight;
        Report = report;

        // The weights no longer change: every request reads the same item table (ids + side features), computed once.
        _itemTable = new Lazy<Tensor>(() =>
        {
            using var noGrad = torch.no_grad();
            return Network.ItemTable().detach().DetachFromDisposeScope();
        });
    }

    /// <summary>The items the model knows, by row − 1.</summary>
    public IReadOnlyList<ItemId> Items { get; }

    /// <summary>The cross features the model reads per candidate (empty: none).</summary>
    public IReadOnlyList<string> CrossFeatureNames { get; }

    /// <summary>Whether items carry side features (genres, release year, popularity).</summary>
    public bool SideFeatures => Network.Config.SideFeatures;

    /// <summary>History events read.</summary>
    public int MaxHistory => Network.Config.MaxHistory;

    /// <summary>Ranking score = logit(interacts) + this × logit(rates ≥ 4).</summary>
    public double RatingWeight { get; }

    /// <summary>How it was trained.</summary>
    public HstuTrainingReport Report { get; }

    /// <summary>Where it runs.</summary>
    public string Device => _device.ToString();

    internal HstuNetwork Network { get; }

    /// <summary>Every item row's representation (id embedding + side features), computed once: [Items, d].</summary>
    internal Tensor ItemTable => _itemTable.Value;

    /// <summary>The item's row (0 when unknown).</summary>
    internal long Row(ItemId item) => _rows.GetValueOrDefault(item);

    /// <summary>The model as a ranking stage.</summary>
    /// <param name="features">The cascade's cross features; required when <see cref="CrossFeatureNames"/> is not empty, with the same names.</param>
    /// <param name="name">The stage's name. Default: "hstu".</param>
    /// <returns>The ranking stage.</returns>
    /// <exception cref="ArgumentException">The features are missing or are not the ones the model was trained on.</exception>
    public IRankingStage AsRanker(ICandidateFeatures? features = null, string name = "hstu")
    {
        HstuGraphContract.EnsureFeatures(CrossFeatureNames, features);
        return new Ranker(this, features, name);
    }

    /// <summary>The model as a recall stage: the next item over the whole catalogue, excluded items skipped.</summary>
    /// <param name="name">The stage's name. Default: "hstu".</param>
    /// <returns>The recall stage.</returns>
    public IRecallStage AsRecall(string name = "hstu") => new Recall(this, name);

    /// <summary>
    /// Scores candidates for a request: the history is encoded once and all candidates scored after it in one pass.
    /// Returns ranking scores aligned with <paramref name="candidates"/>; unknown items get −∞.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="candidates">The candidates.</param>
    /// <param name="features">The cascade's cross features when the model reads some.</param>
    /// <returns>One score per candidate.</returns>
    public double[] Score(RecommendationRequest request, IReadOnlyList<Candidate> candidates, ICandidateFeatures? features = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        HstuGraphContract.EnsureFeatures(CrossFeatureNames, features);
        var scores = new double[candidates.Count];
        Array.Fill(scores, double.NegativeInfinity);
        var (interacts, rates, _) = Evaluate(request, candidates, features, nextItem: false);
        for (var i = 0; i < candidates.Count; i++)
        {
            if (!float.IsNaN(interacts[i]))
            {
                // In single precision, as the exported graph computes it.
                scores[i] = interacts[i] + ((float)RatingWeight * rates[i]);
            }
        }

        return scores;
    }

    /// <summary>
    /// HSTU's view of each candidate as ranking features for another ranker (e.g. the DLRM cascade's LambdaRank):
    /// <c>{prefix}_next_logprob</c> (log-softmax of the next-item head over the catalogue), <c>{prefix}_next_log_rank</c>
    /// (log of its rank in that distribution), <c>{prefix}_interacts</c> and <c>{prefix}_rates</c> (the ranking heads'
    /// logits, candidates scored after the history in one pass). Unknown items get NaN. Thread-safe.
    /// </summary>
    /// <param name="crossFeatures">The cascade's cross features, when this model reads some (see <see cref="AsRanker"/>).</param>
    /// <param name="prefix">Prefix of the feature names. Default: "hstu".</param>
    /// <returns>The feature source.</returns>
    /// <exception cref="ArgumentException">The cross features are missing or are not the ones the model was trained on.</exception>
    public ICandidateFeatures AsCandidateFeatures(ICandidateFeatures? crossFeatures = null, string prefix = "hstu")
    {
        HstuGraphContract.EnsureFeatures(CrossFeatureNames, crossFeatures);
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        return new Features(this, crossFeatures, prefix);
    }

    /// <summary>
    /// The model as a reward (<see cref="IRewardModel"/>, stage 2 of end-to-end generation): for each item after the
    /// user's history, <c>ratingWeight × P(rates ≥ 4) + engagementWeight × σ(logit(interacts))</c> from the two
    /// ranking heads (all items scored after the history in one pass). The first is a probability (the head is
    /// trained with a binary loss on the train part's ratings); the second orders items by how likely the user takes
    /// them (the head is trained listwise, so its sigmoid is a score in (0, 1), not a calibrated probability).
    /// Unknown items get NaN. Models trained on the cascade's cross features cannot serve: a reward reads the history
    /// and the items alone.
    /// </summary>
    /// <param name="ratingWeight">Weight of the good-rating probability; 0 or more. Default: 1.</param>
    /// <param name="engagementWeight">Weight of the engagement score; 0 or more. Default: 1.</param>
    /// <param name="name">The reward's name. Default: "hstu-reward".</param>
    /// <returns>The reward model.</returns>
    /// <exception cref="ArgumentException">The model reads cross features, or both weights are 0.</exception>
    public IRewardModel AsReward(double ratingWeight = 1, double engagementWeight = 1, string name = "hstu-reward")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (CrossFeatureNames.Count > 0)
        {
            throw new ArgumentException($"This HSTU reads the cascade's cross features ({string.Join(", ", CrossFeatureNames)}); a reward model scores items from the history alone. Train one without them (`genrec train hstu --hstu-no-cross`).");
        }

        if (!(ratingWeight >= 0 && engagementWeight >= 0 && ratingWeight + engagementWeight > 0) || !double.IsFinite(ratingWeight + engagementWeight))
        {
            throw new ArgumentException($"The reward's weights must be finite, 0 or more, and not both 0; got {ratingWeight} and {engagementWeight}.");
        }

        return new Reward(this, ratingWeight, engagementWeight, name);
    }

    /// <summary>
    /// Encodes the history once and scores the candidates (the two ranking heads' logits, NaN for unknown items) and,
    /// when asked, the next item over the catalogue (logits by row − 1).
    /// </summary>
    private (float[] Interacts, float[] Rates, float[]? NextItem) Evaluate(RecommendationRequest request, IReadOnlyList<Candidate> candidates, ICandidateFeatures? features, bool nextItem)
    {
        // One request at a time (its intra-op threads still use every core; ONNX Runtime serves concurrently). Calls
        // that failed inside TorchSharp's operators ("argument alpha must not be a floating point number" on an int64
        // addition, "Expected false to be true" in Scalar::toFloat) were a garbage collection started by another
        // thread finalising a temporary Scalar while libtorch read it (TorchSharp 0.107 keeps no reference through the
        // native call), which no lock prevents: the network passes only scalars it holds (TorchOps; the compiler
        // refuses the other forms, build/BannedSymbols.TorchSharp.txt).
        lock (_gate)
        {
            return EvaluateOne(request, candidates, features, nextItem);
        }
    }

    private (float[] Interacts, float[] Rates, float[]? NextItem) EvaluateOne(RecommendationRequest request, IReadOnlyList<Candidate> candidates, ICandidateFeatures? features, bool nextItem)
    {
        var interacts = new float[candidates.Count];
        var rates = new float[candidates.Count];
        Array.Fill(interacts, float.NaN);
        Array.Fill(rates, float.NaN);
        var known = Enumerable.Range(0, candidates.Count).Where(i => Row(candidates[i].Item) > 0).ToArray();
        if (known.Length == 0 && !nextItem)
        {
            return (interacts, rates, null);
        }

        var f = CrossFeatureNames.Count;
        float[]? values = null;
        if (f > 0 && known.Length > 0)
        {
            values = new float[known.Length * f];
            features!.Compute(request, [.. known.Select(i => candidates[i])], values);
        }

        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var (items, actions, times) = HstuTrainer.Tokens([request.History], MaxHistory, Row);
        var table = ItemTable;
        var history = Network.Encode(items.to(_device), actions.to(_device), times.to(_device), table);
        if (known.Length > 0)
        {
            var logits = Network.ScoreCandidates(
                history,
                torch.tensor(known.Select(i => Row(candidates[i].Item)).ToArray(), [1, known.Length], device: _device),
                values is null ? null : torch.tensor(values, [1, known.Length, f], device: _device),
                torch.tensor(new[] { request.RequestTime.ToUnixTimeSeconds() }, device: _device),
                table);
            var heads = logits[0].cpu().data<float>().ToArray();
            for (var j = 0; j < known.Length; j++)
            {
                interacts[known[j]] = heads[2 * j];
                rates[known[j]] = heads[(2 * j) + 1];
            }
        }

        var next = nextItem ? Network.Retrieve(history, table)[0, 1..].cpu().data<float>().ToArray() : null;
        return (interacts, rates, next);
    }

    /// <summary>Next-item logits for a request over every item (by row − 1, as <see cref="Items"/>).</summary>
    /// <param name="request">The request.</param>
    /// <returns>One logit per item.</returns>
    public float[] NextItemLogits(RecommendationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        lock (_gate)
        {
            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            var (items, actions, times) = HstuTrainer.Tokens([request.History], MaxHistory, Row);
            var table = ItemTable;
            var logits = Network.Retrieve(Network.Encode(items.to(_device), actions.to(_device), times.to(_device), table), table);
            return logits[0, 1..].cpu().data<float>().ToArray();
        }
    }

    /// <summary>Saves the model folder (manifest + weights).</summary>
    /// <param name="directory">The folder; created if missing.</param>
    public void Save(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var c = Network.Config;
        var manifest = new Manifest(
            Format, FormatVersion, c.Dimension, c.Layers, c.Heads, c.MaxHistory, c.TimeBuckets, c.Dropout, c.Genres, c.YearBuckets, c.PopularityBuckets,
            [.. CrossFeatureNames], [.. Items.Select(i => i.Value)], RatingWeight, Report);
        TorchModelFolder.Save(directory, Network, manifest);
    }

    /// <summary>Loads a model folder.</summary>
    /// <param name="directory">The folder <see cref="Save"/> wrote.</param>
    /// <param name="device">Where to run it. Default: <see cref="ComputeDevice.Auto"/>.</param>
    /// <returns>The model.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">The manifest or weights are missing, damaged, or of another format.</exception>
    public static HstuModel Load(string directory, ComputeDevice device = ComputeDevice.Auto)
    {
        var (m, manifestPath, weightsPath) = TorchModelFolder.Read<Manifest>(directory, "an HSTU model", m => (m.Format, m.FormatVersion), Format, FormatVersion);
        if (m.Items is null || m.Items.Length == 0 || m.Items.Distinct().Count() != m.Items.Length || m.CrossFeatures is null || m.Report is null)
        {
            throw new InvalidDataException($"'{manifestPath}' lists no items, repeats one, or lacks its feature list or report.");
        }

        HstuConfig config;
        try
        {
            config = new HstuConfig(m.Items.Length + 1, m.Dimension, m.Layers, m.Heads, m.MaxHistory, m.TimeBuckets, m.Dropout, m.Genres, m.YearBuckets, m.PopularityBuckets, m.CrossFeatures.Length);
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"'{manifestPath}' describes an invalid shape: {e.Message}", e);
        }

        var network = new HstuNetwork(config);
        TorchModelFolder.LoadWeights(network, weightsPath);

        var target = TorchDevices.Resolve(device);
        network.to(target);
        network.eval();
        return new HstuModel(network, [.. m.Items.Select(i => new ItemId(i))], m.CrossFeatures, target, m.RatingWeight, m.Report);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_itemTable.IsValueCreated)
        {
            _itemTable.Value.Dispose();
        }

        Network.Dispose();
    }

    internal static long YearBucket(DateTimeOffset? published) =>
        published is { } p ? 1 + Math.Clamp((p.Year - 1900) / 5, 0, YearBuckets - 2) : 0;

    internal static long PopularityBucket(int count) =>
        count == 0 ? 0 : 1 + Math.Min(PopularityBuckets - 2, (int)Math.Log2(count));

    private sealed record Manifest(
        string Format, int FormatVersion, int Dimension, int Layers, int Heads, int MaxHistory, int TimeBuckets, double Dropout, int Genres, int YearBuckets, int PopularityBuckets,
        string[] CrossFeatures, long[] Items, double RatingWeight, HstuTrainingReport Report);

    private sealed class Ranker(HstuModel model, ICandidateFeatures? features, string name) : IRankingStage
    {
        public string Name => name;

        public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return ValueTask.FromResult(RankingStage.Order(candidates, model.Score(request, candidates, features)));
        }
    }

    private sealed class Features(HstuModel model, ICandidateFeatures? cross, string prefix) : ICandidateFeatures
    {
        public IReadOnlyList<string> Names { get; } = [$"{prefix}_next_logprob", $"{prefix}_next_log_rank", $"{prefix}_interacts", $"{prefix}_rates"];

        public void Compute(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination)
        {
            ArgumentNullException.ThrowIfNull(request);
            ArgumentNullException.ThrowIfNull(candidates);
            const int N = 4;
            if (destination.Length < candidates.Count * N)
            {
                throw new ArgumentException($"The destination holds {destination.Length} values; {candidates.Count} candidates × {N} features need {candidates.Count * N}.", nameof(destination));
            }

            var (interacts, rates, nextItem) = model.Evaluate(request, candidates, cross, nextItem: true);
            var next = nextItem!;
            var max = next.Max();
            var logSum = max + Math.Log(next.Sum(v => Math.Exp(v - max)));
            var sorted = next.ToArray();
            Array.Sort(sorted);
            for (var i = 0; i < candidates.Count; i++)
            {
                var row = destination.Slice(i * N, N);
                var r = model.Row(candidates[i].Item);
                if (r == 0)
                {
                    row.Fill(float.NaN);
                    continue;
                }

                var logit = next[r - 1];
                var above = sorted.Length - UpperBound(sorted, logit);
                row[0] = (float)(logit - logSum);
                row[1] = MathF.Log(1 + above);
                row[2] = interacts[i];
                row[3] = rates[i];
            }
        }

        /// <summary>The first index whose value is greater than <paramref name="value"/>.</summary>
        private static int UpperBound(float[] sorted, float value)
        {
            int lo = 0, hi = sorted.Length;
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                if (sorted[mid] <= value)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }

            return lo;
        }
    }

    private sealed class Reward(HstuModel model, double ratingWeight, double engagementWeight, string name) : IRewardModel
    {
        public string Name => name;

        public void Score(RecommendationRequest request, IReadOnlyList<ItemId> items, Span<double> destination)
        {
            ArgumentNullException.ThrowIfNull(request);
            ArgumentNullException.ThrowIfNull(items);
            if (destination.Length < items.Count)
            {
                throw new ArgumentException($"The destination holds {destination.Length} values; {items.Count} items need {items.Count}.", nameof(destination));
            }

            var (interacts, rates, _) = model.Evaluate(request, [.. items.Select(i => new Candidate(i, 0, name))], null, nextItem: false);
            for (var i = 0; i < items.Count; i++)
            {
                destination[i] = float.IsNaN(interacts[i])
                    ? double.NaN
                    : (ratingWeight * Sigmoid(rates[i])) + (engagementWeight * Sigmoid(interacts[i]));
            }
        }

        private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));
    }

    private sealed class Recall(HstuModel model, string name) : IRecallStage
    {
        public string Name => name;

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
            cancellationToken.ThrowIfCancellationRequested();
            var logits = model.NextItemLogits(request);
            var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]);
            var result = new List<Candidate>(count);
            foreach (var i in order)
            {
                if (!request.IsExcluded(model.Items[i]))
                {
                    result.Add(new Candidate(model.Items[i], logits[i], name));
                    if (result.Count == count)
                    {
                        break;
                    }
                }
            }

            return ValueTask.FromResult<IReadOnlyList<Candidate>>(result);
        }
    }
}

using System.Diagnostics;
using GenRec.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>Progress of HSTU training.</summary>
/// <param name="Epoch">The epoch just finished (1-based).</param>
/// <param name="Epochs">Epochs in all.</param>
/// <param name="Loss">Mean training loss of the epoch.</param>
/// <param name="Elapsed">Time since training started.</param>
public readonly record struct HstuTrainingProgress(int Epoch, int Epochs, double Loss, TimeSpan Elapsed);

/// <summary>
/// Trains HSTU ("Actions Speak Louder than Words") as a ranker: for sampled positions of each user's train
/// sequence, the history before it is read causally, and the next item plus sampled negatives are scored in one
/// pass (M-FALCON) by two heads, "interacts" (binary cross-entropy over the candidates: the next item against
/// negatives drawn by popularity and uniformly) and "rates ≥ 4" (on the
/// true next item). Runs on CUDA when present. The first step of issue #8: ranking with TorchSharp eager; sparse
/// features, ONNX export and serving come next.
/// </summary>
public sealed class HstuTrainer
{
    private readonly Options _options;

    /// <summary>Creates the trainer.</summary>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    public HstuTrainer(Options? options = null)
    {
        _options = options ?? new Options();
        if (_options.UniformNegatives is < 0 or > 1 || _options.Dimension < 1 || _options.Layers < 1 || _options.Heads < 1 || _options.Dimension % _options.Heads != 0 || _options.MaxHistory < 1 || _options.Epochs < 1 || _options.Negatives < 1 || _options.TargetsPerUser < 1 || _options.BatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "HSTU options must be positive, with Heads dividing Dimension.");
        }
    }

    /// <summary>Trains on the split's train part.</summary>
    /// <param name="split">The split.</param>
    /// <param name="cancellationToken">Cancels training.</param>
    /// <returns>The ranker.</returns>
    public HstuRanker Fit(DataSplit split, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(split);
        var o = _options;
        torch.manual_seed(o.Seed);
        var random = new Random(o.Seed);
        var device = TorchDevices.Resolve(o.Device);
        var rows = split.Dataset.Catalogue.Select((item, i) => (item, row: (long)i + 1)).ToDictionary(p => p.item, p => p.row);
        var popularity = split.TrainInteractions.Select(i => rows[i.Item]).ToArray(); // sampling negatives by popularity
        var network = new HstuNetwork(new HstuConfig(rows.Count + 1, HstuRanker.ActionCount, o.Dimension, o.Layers, o.Heads, o.MaxHistory, Dropout: o.Dropout));
        network.to(device);
        using var optimizer = torch.optim.AdamW(network.parameters(), lr: o.LearningRate, weight_decay: 0.01);
        var sequences = split.Train.Where(s => s.Interactions.Count >= 2).ToArray();
        var clock = Stopwatch.StartNew();
        for (var epoch = 1; epoch <= o.Epochs; epoch++)
        {
            network.train();
            var examples = sequences.SelectMany(s => Enumerable.Range(0, o.TargetsPerUser).Select(_ => (s, at: random.Next(1, s.Interactions.Count)))).OrderBy(_ => random.Next()).ToArray();
            double total = 0;
            var batches = 0;
            foreach (var batch in examples.Chunk(o.BatchSize))
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                var b = batch.Length;
                var m = 1 + o.Negatives;
                var (items, actions, times) = HstuRanker.Encode(batch.Select(e => e.s.Interactions.Take(e.at)).ToArray(), o.MaxHistory, rows);
                var candidates = new long[b * m];
                var rate = new float[b];
                var requests = new long[b];
                for (var i = 0; i < b; i++)
                {
                    var target = batch[i].s.Interactions[batch[i].at];
                    candidates[i * m] = rows[target.Item];
                    rate[i] = target.Rating >= 4 ? 1 : 0;
                    requests[i] = target.Timestamp;
                    for (var j = 1; j < m; j++)
                    {
                        candidates[(i * m) + j] = random.NextDouble() < o.UniformNegatives ? 1 + random.Next(rows.Count) : popularity[random.Next(popularity.Length)];
                    }
                }

                var logits = network.Score(items.to(device), actions.to(device), times.to(device), torch.tensor(candidates, [b, m], device: device), torch.tensor(requests, device: device));
                var labels = torch.zeros(b, m, device: device);
                labels[.., 0] = torch.ones(b, device: device);
                var interacts = nn.functional.binary_cross_entropy_with_logits(logits[.., .., 0], labels);
                var rates = nn.functional.binary_cross_entropy_with_logits(logits[.., 0, 1], torch.tensor(rate, device: device));
                var loss = interacts + (o.RatingWeight * rates);
                optimizer.zero_grad();
                loss.backward();
                nn.utils.clip_grad_norm_(network.parameters(), 1.0);
                optimizer.step();
                total += loss.item<float>();
                batches++;
            }

            o.Progress?.Report(new HstuTrainingProgress(epoch, o.Epochs, total / Math.Max(1, batches), clock.Elapsed));
        }

        network.eval();
        return new HstuRanker(network, rows, device, o.RatingWeight);
    }

    /// <summary>Options of an <see cref="HstuTrainer"/>.</summary>
    public sealed class Options
    {
        /// <summary>Model width. Default: 64.</summary>
        public int Dimension { get; set; } = 64;

        /// <summary>HSTU layers. Default: 2.</summary>
        public int Layers { get; set; } = 2;

        /// <summary>Attention heads. Default: 2.</summary>
        public int Heads { get; set; } = 2;

        /// <summary>History events read. Default: 50.</summary>
        public int MaxHistory { get; set; } = 50;

        /// <summary>Epochs. Default: 10.</summary>
        public int Epochs { get; set; } = 10;

        /// <summary>Positions sampled per user and epoch. Default: 16.</summary>
        public int TargetsPerUser { get; set; } = 16;

        /// <summary>Popularity-sampled negatives per positive. Default: 32.</summary>
        public int Negatives { get; set; } = 32;

        /// <summary>
        /// Share of negatives drawn uniformly from the catalogue rather than by popularity, in [0, 1]: popularity
        /// negatives alone teach the model to push popular items down. Default: 0.5.
        /// </summary>
        public double UniformNegatives { get; set; } = 0.5;

        /// <summary>Examples per step. Default: 64.</summary>
        public int BatchSize { get; set; } = 64;

        /// <summary>AdamW learning rate. Default: 1e-3.</summary>
        public double LearningRate { get; set; } = 1e-3;

        /// <summary>Dropout. Default: 0.1.</summary>
        public double Dropout { get; set; } = 0.1;

        /// <summary>Weight of the "rates ≥ 4" head in the loss and in the ranking score. Default: 0.5.</summary>
        public double RatingWeight { get; set; } = 0.5;

        /// <summary>Seed. Default: 42.</summary>
        public int Seed { get; set; } = 42;

        /// <summary>Where to train. Default: <see cref="ComputeDevice.Auto"/>.</summary>
        public ComputeDevice Device { get; set; } = ComputeDevice.Auto;

        /// <summary>Receives progress per epoch. Default: none.</summary>
        public IProgress<HstuTrainingProgress>? Progress { get; set; }
    }
}

/// <summary>
/// A trained HSTU as a ranking stage: the request's history (item and rating) read once with all candidates in one
/// pass (M-FALCON); score = logit(interacts) + w · logit(rates ≥ 4). Items the network does not know keep their order
/// after the known ones. TorchSharp eager (CUDA when present).
/// </summary>
public sealed class HstuRanker : IRankingStage, IDisposable
{
    /// <summary>Action tokens: padding (0), ratings 0.5–5 in half stars (1–10), a rating-less event (12), the candidate marker (13).</summary>
    internal const int ActionCount = 14;

    private readonly HstuNetwork _network;
    private readonly Dictionary<ItemId, long> _rows;
    private readonly Device _device;
    private readonly double _ratingWeight;

    internal HstuRanker(HstuNetwork network, Dictionary<ItemId, long> rows, Device device, double ratingWeight)
    {
        _network = network;
        _rows = rows;
        _device = device;
        _ratingWeight = ratingWeight;
    }

    /// <inheritdoc />
    public string Name => "hstu";

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        cancellationToken.ThrowIfCancellationRequested();
        var known = Enumerable.Range(0, candidates.Count).Where(i => _rows.ContainsKey(candidates[i].Item)).ToArray();
        var scores = new double[candidates.Count];
        Array.Fill(scores, double.NegativeInfinity);
        if (known.Length > 0)
        {
            var history = request.History.Where(e => _rows.ContainsKey(e.Item)).Select(e => new Interaction(e.User, e.Item, e.Value ?? float.NaN, e.Timestamp.ToUnixTimeSeconds(), 0));
            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            var (items, actions, times) = Encode([history], _network.Config.MaxHistory, _rows);
            var ids = torch.tensor(known.Select(i => _rows[candidates[i].Item]).ToArray(), [1, known.Length], device: _device);
            var logits = _network.Score(items.to(_device), actions.to(_device), times.to(_device), ids, torch.tensor(new[] { request.RequestTime.ToUnixTimeSeconds() }, device: _device));
            var combined = (logits[0, .., 0] + (_ratingWeight * logits[0, .., 1])).cpu().data<float>().ToArray();
            for (var j = 0; j < known.Length; j++)
            {
                scores[known[j]] = combined[j];
            }
        }

        return ValueTask.FromResult(RankingStage.Order(candidates, scores));
    }

    /// <inheritdoc />
    public void Dispose() => _network.Dispose();

    /// <summary>Left-padded [B, maxHistory] item rows, action tokens and times of the last events of each history.</summary>
    internal static (Tensor Items, Tensor Actions, Tensor Times) Encode(IReadOnlyList<IEnumerable<Interaction>> histories, int maxHistory, Dictionary<ItemId, long> rows)
    {
        var b = histories.Count;
        var items = new long[b * maxHistory];
        var actions = new long[b * maxHistory];
        var times = new long[b * maxHistory];
        for (var i = 0; i < b; i++)
        {
            var h = histories[i].TakeLast(maxHistory).ToArray();
            var at = (i * maxHistory) + maxHistory - h.Length;
            foreach (var e in h)
            {
                items[at] = rows[e.Item];
                actions[at] = float.IsNaN(e.Rating) ? 12 : 1 + Math.Clamp((int)Math.Round(e.Rating * 2) - 1, 0, 9);
                times[at] = e.Timestamp;
                at++;
            }
        }

        return (torch.tensor(items, [b, maxHistory]), torch.tensor(actions, [b, maxHistory]), torch.tensor(times, [b, maxHistory]));
    }
}

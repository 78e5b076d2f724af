using System.Diagnostics;
using GenRec.Data;
using GenRec.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>Progress of HSTU training: reported during an epoch (about every 2 seconds) and at its end.</summary>
/// <param name="Epoch">The epoch (1-based); finished when <paramref name="Step"/> equals <paramref name="Steps"/>.</param>
/// <param name="Epochs">Epochs in all.</param>
/// <param name="SequenceLoss">Mean next-item + rating loss of the epoch's sequence steps so far.</param>
/// <param name="RankingLoss">Mean listwise loss of the epoch's ranking steps so far.</param>
/// <param name="Elapsed">Time since training started.</param>
/// <param name="Step">Steps of the epoch done.</param>
/// <param name="Steps">Steps in the epoch.</param>
public readonly record struct HstuTrainingProgress(int Epoch, int Epochs, double SequenceLoss, double RankingLoss, TimeSpan Elapsed, int Step = 0, int Steps = 0);

/// <summary>
/// Trains HSTU ("Actions Speak Louder than Words") on a split's train part, for retrieval and ranking at once:
/// <list type="bullet">
/// <item><b>sequence steps</b>: windows of each user's interleaved (item, action) tokens; every action token predicts
/// the next item over the whole catalogue (softmax), every item token predicts "rates ≥ 4";</item>
/// <item><b>ranking steps</b>: ranking queries (a past request, its recalled candidates, the item taken) scored with
/// M-FALCON — all candidates after the history in one pass — with a listwise softmax loss on "interacts". With the
/// DLRM cascade's queries (<see cref="RankingQuery"/>) the candidates are the cascade's own and carry its cross
/// features (MTGR); without them, each user's last train events are the targets and sampled items the negatives.</item>
/// </list>
/// Runs on CUDA when present.
/// </summary>
public sealed class HstuTrainer
{
    private readonly Options _options;

    /// <summary>Creates the trainer.</summary>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public HstuTrainer(Options? options = null)
    {
        _options = options ?? new Options();
        var o = _options;
        if (o.Dimension < 1 || o.Layers < 1 || o.Heads < 1 || o.Dimension % o.Heads != 0 || o.MaxHistory < 2 || o.Epochs < 1 || o.Negatives < 1
            || o.WindowsPerUser < 1 || o.BatchSize < 1 || !(o.LearningRate > 0) || o.Dropout is < 0 or >= 1 || o.RatingWeight < 0 || o.QueriesPerUser < 1 || o.SampledNegatives < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "HSTU options must be positive (dropout in [0, 1), sampled negatives 0 or more), with Heads dividing Dimension and MaxHistory at least 2.");
        }
    }

    /// <summary>Trains on the split's train part.</summary>
    /// <param name="split">The split.</param>
    /// <param name="queries">
    /// Ranking queries whose candidates and cross features the ranker learns from (e.g.
    /// <c>DlrmCascadeModel.RankingQueries</c>); <see langword="null"/> samples queries from the train part instead.
    /// </param>
    /// <param name="crossFeatureNames">Names of the queries' cross features; <see langword="null"/> or empty to ignore them.</param>
    /// <param name="cancellationToken">Cancels training.</param>
    /// <returns>The trained model.</returns>
    /// <exception cref="ArgumentException">The queries' features do not match the names, or hold non-finite values.</exception>
    public HstuModel Fit(DataSplit split, IReadOnlyList<RankingQuery>? queries = null, IReadOnlyList<string>? crossFeatureNames = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(split);
        var o = _options;
        var names = crossFeatureNames?.ToArray() ?? [];
        var f = names.Length;
        var random = new Random(o.Seed);
        torch.manual_seed(o.Seed);
        var device = TorchDevices.Resolve(o.Device);
        var catalogue = split.Dataset.Catalogue.ToArray();
        var rows = catalogue.Select((item, i) => (item, row: (long)i + 1)).ToDictionary(p => p.item, p => p.row);
        long Row(ItemId item) => rows.GetValueOrDefault(item);

        // Item side features: genres, release-year bucket, popularity bucket.
        var counts = new int[catalogue.Length + 1];
        foreach (var i in split.TrainInteractions)
        {
            counts[rows[i.Item]]++;
        }

        var genreNames = new Dictionary<string, int>();
        foreach (var item in catalogue)
        {
            foreach (var g in split.Dataset.Items.TryGetValue(item, out var r) ? r.Categories : [])
            {
                genreNames.TryAdd(g, genreNames.Count);
            }
        }

        var config = new HstuConfig(
            catalogue.Length + 1, o.Dimension, o.Layers, o.Heads, o.MaxHistory, Dropout: o.Dropout,
            Genres: o.SideFeatures ? Math.Max(1, genreNames.Count) : 0,
            YearBuckets: o.SideFeatures ? HstuModel.YearBuckets : 0,
            PopularityBuckets: o.SideFeatures ? HstuModel.PopularityBuckets : 0,
            CrossFeatures: f);
        var network = new HstuNetwork(config);
        try
        {
            if (o.SideFeatures)
            {
                var hot = new float[config.Items * config.Genres];
                var years = new long[config.Items];
                var popularity = new long[config.Items];
                for (var i = 0; i < catalogue.Length; i++)
                {
                    var row = i + 1;
                    if (split.Dataset.Items.TryGetValue(catalogue[i], out var record))
                    {
                        foreach (var g in record.Categories)
                        {
                            hot[(row * config.Genres) + genreNames[g]] = 1;
                        }

                        years[row] = HstuModel.YearBucket(record.PublishedAt);
                    }

                    popularity[row] = HstuModel.PopularityBucket(counts[row]);
                }

                network.SetItemFeatures(hot, years, popularity);
            }

            var groups = queries is null ? SampledGroups(split, rows, counts, random) : QueryGroups(queries, f, Row, random);
            if (f > 0)
            {
                var (mean, scale) = FeatureStandardisation.Of(groups.Select(g => g.Features!), f);
                network.SetCrossStandardisation(mean, scale);
            }

            network.to(device);
            var clock = Stopwatch.StartNew();
            using var optimizer = new AdamWOptimizer(network.parameters(), o.LearningRate, weightDecay: 0.01);
            var sequences = split.Train.Where(s => s.Interactions.Count >= 2).Select(s => s.Interactions.Select(i => i.ToEvent()).ToArray()).ToArray();
            for (var epoch = 1; epoch <= o.Epochs; epoch++)
            {
                network.train();
                var windows = sequences.SelectMany(s => Enumerable.Range(0, o.WindowsPerUser).Select(w => Window(s, w == 0 ? s.Length : random.Next(2, s.Length + 1)))).OrderBy(_ => random.Next()).ToArray();
                var steps = windows.Chunk(o.BatchSize).Select(c => (Windows: (UserEvent[][]?)c, Groups: (Group[]?)null))
                    .Concat(groups.OrderBy(_ => random.Next()).Chunk(o.BatchSize).Select(c => (Windows: (UserEvent[][]?)null, Groups: (Group[]?)c)))
                    .OrderBy(_ => random.Next()).ToArray();
                double sequenceLoss = 0, rankingLoss = 0;
                int sequenceSteps = 0, rankingSteps = 0;
                var reported = clock.Elapsed;
                foreach (var (w, g) in steps)
                {
                    if (o.Progress is not null && clock.Elapsed - reported > TimeSpan.FromSeconds(2))
                    {
                        reported = clock.Elapsed;
                        o.Progress.Report(new HstuTrainingProgress(epoch, o.Epochs, sequenceLoss / Math.Max(1, sequenceSteps), rankingLoss / Math.Max(1, rankingSteps), reported, sequenceSteps + rankingSteps, steps.Length));
                    }

                    cancellationToken.ThrowIfCancellationRequested();
                    using var scope = torch.NewDisposeScope();
                    var loss = w is not null ? SequenceLoss(network, w, Row, random, device) : RankingLoss(network, g!, f, Row, device);
                    optimizer.ZeroGrad();
                    loss.backward();
                    nn.utils.clip_grad_norm_(network.parameters(), 1.0);
                    optimizer.Step();
                    var value = loss.item<float>();
                    if (!float.IsFinite(value))
                    {
                        throw new InvalidOperationException($"HSTU training diverged at epoch {epoch} (loss {value}); lower the learning rate.");
                    }

                    if (w is not null)
                    {
                        (sequenceLoss, sequenceSteps) = (sequenceLoss + value, sequenceSteps + 1);
                    }
                    else
                    {
                        (rankingLoss, rankingSteps) = (rankingLoss + value, rankingSteps + 1);
                    }
                }

                o.Progress?.Report(new HstuTrainingProgress(epoch, o.Epochs, sequenceLoss / Math.Max(1, sequenceSteps), rankingLoss / Math.Max(1, rankingSteps), clock.Elapsed, steps.Length, steps.Length));
            }

            network.eval();
            var parameters = network.parameters().Sum(p => p.numel());
            return new HstuModel(network, catalogue, names, device, o.RatingWeight, new HstuTrainingReport(o.Epochs, clock.Elapsed.TotalSeconds, parameters, groups.Length, queries is not null));
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private UserEvent[] Window(UserEvent[] sequence, int end) => sequence[Math.Max(0, end - _options.MaxHistory)..end];

    /// <summary>Next-item softmax at every action token but the last, plus "rates ≥ 4" at every rated item token.</summary>
    private Tensor SequenceLoss(HstuNetwork network, UserEvent[][] windows, Func<ItemId, long> row, Random random, Device device)
    {
        var b = windows.Length;
        var l = 2 * _options.MaxHistory;
        var (items, actions, times) = Tokens(windows, _options.MaxHistory, row);
        var next = new List<long>();
        var nextTarget = new List<long>();
        var rated = new List<long>();
        var ratedLabel = new List<float>();
        for (var i = 0; i < b; i++)
        {
            var w = windows[i];
            var start = (i * l) + l - (2 * w.Length);
            for (var j = 0; j < w.Length; j++)
            {
                if (j + 1 < w.Length)
                {
                    next.Add(start + (2 * j) + 1);
                    nextTarget.Add(row(w[j + 1].Item));
                }

                if (w[j].Value is { } r && float.IsFinite(r))
                {
                    rated.Add(start + (2 * j));
                    ratedLabel.Add(r >= 4 ? 1 : 0);
                }
            }
        }

        var table = network.ItemTable();
        var history = network.Encode(items.to(device), actions.to(device), times.to(device), table);
        var flat = history.Output.reshape(b * l, -1);
        var positions = flat.index_select(0, torch.tensor(next.ToArray(), device: device));
        Tensor loss;
        var catalogue = (int)table.shape[0];
        if (_options.SampledNegatives > 0 && _options.SampledNegatives < catalogue - 1)
        {
            // Sampled softmax: the next items are scored against themselves and uniform draws from the catalogue (row 0,
            // the padding, is never drawn), not against every item: a step's cost no longer grows with the catalogue.
            var sampled = new SampledRows(nextTarget.Count + _options.SampledNegatives);
            var labels = nextTarget.ConvertAll(sampled.Place).ToArray();
            sampled.Draw(_options.SampledNegatives, 1, catalogue, random);
            var logits = torch.matmul(positions, table.index_select(0, torch.tensor(sampled.Rows, device: device)).t());
            loss = nn.functional.cross_entropy(logits, torch.tensor(labels, device: device));
        }
        else
        {
            var logits = torch.matmul(positions, table.t());
            logits[.., 0] = float.NegativeInfinity;
            loss = nn.functional.cross_entropy(logits, torch.tensor(nextTarget.ToArray(), device: device));
        }

        if (rated.Count > 0 && _options.RatingWeight > 0)
        {
            var ratings = network.RatingLogits(history).reshape(b * l).index_select(0, torch.tensor(rated.ToArray(), device: device));
            loss = loss.Plus(nn.functional.binary_cross_entropy_with_logits(ratings, torch.tensor(ratedLabel.ToArray(), device: device)).Times(_options.RatingWeight));
        }

        return loss;
    }

    /// <summary>Listwise softmax over each query's candidates (the taken item first), scored after the history in one pass.</summary>
    private Tensor RankingLoss(HstuNetwork network, Group[] groups, int f, Func<ItemId, long> row, Device device)
    {
        var b = groups.Length;
        var m = groups.Max(g => g.Candidates.Length);
        var (items, actions, times) = Tokens(groups.Select(g => g.History).ToArray(), _options.MaxHistory, row);
        var candidates = new long[b * m];
        var features = f > 0 ? new float[b * m * f] : null;
        var padding = new bool[b * m];
        for (var i = 0; i < b; i++)
        {
            var g = groups[i];
            g.Candidates.CopyTo(candidates, i * m);
            g.Features?.CopyTo(features!, i * m * f);
            padding.AsSpan((i * m) + g.Candidates.Length, m - g.Candidates.Length).Fill(true);
        }

        var table = network.ItemTable();
        var history = network.Encode(items.to(device), actions.to(device), times.to(device), table);
        var scores = network.ScoreCandidates(
            history,
            torch.tensor(candidates, [b, m], device: device),
            features is null ? null : torch.tensor(features, [b, m, f], device: device),
            torch.tensor(groups.Select(g => g.RequestTime).ToArray(), device: device),
            table);
        var interacts = scores[.., .., 0].FilledWhere(torch.tensor(padding, [b, m], device: device), double.NegativeInfinity);
        return nn.functional.cross_entropy(interacts, torch.zeros(b, dtype: ScalarType.Int64, device: device));
    }

    internal static (Tensor Items, Tensor Actions, Tensor Times) Tokens(IReadOnlyList<IReadOnlyList<UserEvent>> histories, int maxHistory, Func<ItemId, long> row)
    {
        var b = histories.Count;
        var l = 2 * maxHistory;
        var items = new long[b * l];
        var actions = new long[b * l];
        var times = new long[b * l];
        for (var i = 0; i < b; i++)
        {
            HstuGraphContract.EncodeHistory(histories[i], maxHistory, row, items.AsSpan(i * l, l), actions.AsSpan(i * l, l), times.AsSpan(i * l, l));
        }

        return (torch.tensor(items, [b, l]), torch.tensor(actions, [b, l]), torch.tensor(times, [b, l]));
    }

    /// <summary>The queries whose target the recall found: target first, then up to <see cref="Options.Negatives"/> other candidates.</summary>
    private Group[] QueryGroups(IReadOnlyList<RankingQuery> queries, int f, Func<ItemId, long> row, Random random)
    {
        var result = new List<Group>();
        foreach (var q in queries)
        {
            ArgumentNullException.ThrowIfNull(q);
            if (f > 0 && q.Features.Length != q.Candidates.Count * f)
            {
                throw new ArgumentException($"A query holds {q.Features.Length} feature values for {q.Candidates.Count} candidates; {f} features each need {q.Candidates.Count * f}.", nameof(queries));
            }

            if (q.Target < 0 || row(q.Candidates[q.Target].Item) == 0)
            {
                continue;
            }

            var others = Enumerable.Range(0, q.Candidates.Count).Where(i => i != q.Target && row(q.Candidates[i].Item) > 0).OrderBy(_ => random.Next()).Take(_options.Negatives);
            int[] chosen = [q.Target, .. others];
            float[]? features = null;
            if (f > 0)
            {
                features = new float[chosen.Length * f];
                for (var c = 0; c < chosen.Length; c++)
                {
                    q.Features.AsSpan(chosen[c] * f, f).CopyTo(features.AsSpan(c * f, f));
                }
            }

            result.Add(new Group(q.Request.History, q.Request.RequestTime.ToUnixTimeSeconds(), [.. chosen.Select(c => row(q.Candidates[c].Item))], features));
        }

        return result.Count > 0 ? [.. result] : throw new ArgumentException("No ranking query has its target among its candidates; there is nothing to rank.", nameof(queries));
    }

    /// <summary>Without a cascade's queries: each user's last train events as targets, negatives half by popularity, half uniform.</summary>
    private Group[] SampledGroups(DataSplit split, Dictionary<ItemId, long> rows, int[] counts, Random random)
    {
        var pool = Enumerable.Range(1, counts.Length - 1).SelectMany(r => Enumerable.Repeat((long)r, counts[r])).ToArray();
        var result = new List<Group>();
        foreach (var s in split.Train.Where(s => s.Interactions.Count > 1))
        {
            var events = s.Interactions.Select(i => i.ToEvent()).ToArray();
            for (var t = Math.Max(1, events.Length - _options.QueriesPerUser); t < events.Length; t++)
            {
                var target = rows[events[t].Item];
                long[] candidates = [target, .. Enumerable.Range(0, _options.Negatives).Select(_ => random.Next(2) == 0 ? pool[random.Next(pool.Length)] : 1 + random.Next(counts.Length - 1)).Where(c => c != target)];
                result.Add(new Group(events[..t], events[t].Timestamp.ToUnixTimeSeconds(), candidates, null));
            }
        }

        return [.. result];
    }

    private sealed record Group(IReadOnlyList<UserEvent> History, long RequestTime, long[] Candidates, float[]? Features);

    /// <summary>Options of an <see cref="HstuTrainer"/>.</summary>
    public sealed class Options
    {
        /// <summary>Model width. Default: 64.</summary>
        public int Dimension { get; set; } = 64;

        /// <summary>HSTU layers. Default: 2.</summary>
        public int Layers { get; set; } = 2;

        /// <summary>Attention heads; divides <see cref="Dimension"/>. Default: 2.</summary>
        public int Heads { get; set; } = 2;

        /// <summary>History events read (the interleaved sequence holds twice as many tokens). Default: 50.</summary>
        public int MaxHistory { get; set; } = 50;

        /// <summary>Epochs. Default: 5 (the best of 3, 5, 7 and 10 on validation NDCG@10 with the cascade's queries, docs/benchmarks.md).</summary>
        public int Epochs { get; set; } = 5;

        /// <summary>Windows of each user's train sequence per epoch (the first ends at the sequence's end, the others at random). Default: 4.</summary>
        public int WindowsPerUser { get; set; } = 4;

        /// <summary>
        /// Sampled softmax for the next-item loss: each step's next items are scored against themselves and this many
        /// items drawn uniformly from the catalogue instead of against all of it (a large catalogue: 100,000 items at
        /// 10 M simulated events). 0: the full softmax. Default: 0. Allowed: 0 or more.
        /// </summary>
        public int SampledNegatives { get; set; }

        /// <summary>Candidates besides the taken item per ranking query. Default: 63.</summary>
        public int Negatives { get; set; } = 63;

        /// <summary>Without a cascade's queries: the last train events per user used as ranking targets. Default: 3.</summary>
        public int QueriesPerUser { get; set; } = 3;

        /// <summary>Windows or queries per step. Default: 64.</summary>
        public int BatchSize { get; set; } = 64;

        /// <summary>AdamW learning rate. Default: 2e-3.</summary>
        public double LearningRate { get; set; } = 2e-3;

        /// <summary>Dropout. Default: 0.2.</summary>
        public double Dropout { get; set; } = 0.2;

        /// <summary>Items carry side features (genres, release year, popularity bucket). Default: true.</summary>
        public bool SideFeatures { get; set; } = true;

        /// <summary>Weight of the "rates ≥ 4" head, in the loss and in the ranking score. Default: 0.25.</summary>
        public double RatingWeight { get; set; } = 0.25;

        /// <summary>Seed. Default: 42.</summary>
        public int Seed { get; set; } = 42;

        /// <summary>Where to train. Default: <see cref="ComputeDevice.Auto"/>.</summary>
        public ComputeDevice Device { get; set; } = ComputeDevice.Auto;

        /// <summary>Receives progress per epoch. Default: none.</summary>
        public IProgress<HstuTrainingProgress>? Progress { get; set; }
    }
}

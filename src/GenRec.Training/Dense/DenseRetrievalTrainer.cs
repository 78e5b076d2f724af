using System.Diagnostics;
using GenRec.Data;
using GenRec.Models;
using GenRec.SemanticIds;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>Progress of dense retrieval training, after each epoch.</summary>
/// <param name="Epoch">The epoch just finished (1-based).</param>
/// <param name="Epochs">The most epochs.</param>
/// <param name="Loss">Mean softmax loss of the epoch's next-item positions.</param>
/// <param name="ValidationNdcg10">Full-ranking NDCG@10 on the validation targets, history excluded (the items of the split's target actions, as evaluation leaves out).</param>
/// <param name="Elapsed">Time since training started.</param>
public readonly record struct DenseTrainingProgress(int Epoch, int Epochs, double Loss, double ValidationNdcg10, TimeSpan Elapsed);

/// <summary>How a dense retrieval model was trained.</summary>
/// <param name="Epochs">Epochs run.</param>
/// <param name="BestEpoch">The epoch whose weights were kept (best validation NDCG@10).</param>
/// <param name="ValidationNdcg10">Its validation NDCG@10.</param>
/// <param name="Seconds">Training wall time.</param>
/// <param name="Parameters">Trainable parameters.</param>
/// <param name="IdDropout">The share of items whose ID embedding was dropped in each training step.</param>
public sealed record DenseTrainingReport(int Epochs, int BestEpoch, double ValidationNdcg10, double Seconds, long Parameters, double IdDropout);

/// <summary>
/// Trains a two-tower dense retriever on a split's train part: the item tower reads each item's content vector
/// (all-MiniLM-L6-v2 in the SDK) and a collaborative ID embedding, the user tower a causal transformer over the
/// history's item vectors; every position of a window learns its next item with a softmax over the whole catalogue
/// (cosine scores over a temperature). In each step a share of items lose their ID embedding (ID dropout), so an item's
/// content-only vector is itself a good query target: this is what lets an item registered after training, with no
/// interactions, be retrieved by its content. The epoch with the best full-ranking validation NDCG@10 is kept.
/// Seeded; runs on CUDA when present.
/// </summary>
public sealed class DenseRetrievalTrainer
{
    private readonly Options _options;

    /// <summary>Creates the trainer.</summary>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public DenseRetrievalTrainer(Options? options = null)
    {
        _options = options ?? new Options();
        var o = _options;
        if (o.Dimension < 1 || o.Layers < 1 || o.Heads < 1 || o.Dimension % o.Heads != 0 || o.MlpDimension < 1 || o.MaxHistory < 1 || o.Epochs < 1
            || o.Patience < 1 || o.BatchSize < 1 || !(o.LearningRate > 0) || o.Dropout is < 0 or >= 1 || o.IdDropout is < 0 or > 1 || !(o.Temperature > 0)
            || o.ValidationUsers is < 1 || !(o.ContentLossWeight >= 0) || double.IsInfinity(o.ContentLossWeight) || o.SampledNegatives < 0 || o.PositiveActions is { Count: 0 })
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Dense retrieval options must be positive (dropouts in [0, 1)), with Heads dividing Dimension, and name at least one positive action when they name any.");
        }
    }

    /// <summary>Trains on the split's train part.</summary>
    /// <param name="split">The split.</param>
    /// <param name="content">Content vectors of every catalogue item (e.g. from <c>ContentEmbedder</c>), all of one width.</param>
    /// <param name="contentSource">What made the content vectors (stored with the model, checked when items are added).</param>
    /// <param name="cancellationToken">Cancels training.</param>
    /// <returns>The trained model, serving the whole catalogue from an exact index.</returns>
    /// <exception cref="ArgumentException">A catalogue item has no content vector.</exception>
    public DenseRetrievalModel Fit(DataSplit split, ItemEmbeddings content, string contentSource, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(split);
        ArgumentNullException.ThrowIfNull(content);
        ArgumentException.ThrowIfNullOrEmpty(contentSource);
        var o = _options;
        var catalogue = split.Dataset.Catalogue.ToArray();
        var missing = catalogue.Where(i => !content.Contains(i)).Take(3).ToArray();
        if (missing.Length > 0)
        {
            throw new ArgumentException($"Every catalogue item needs a content vector; {string.Join(", ", missing)} (and maybe more) have none.", nameof(content));
        }

        var clock = Stopwatch.StartNew();
        torch.manual_seed(o.Seed);
        var random = new Random(o.Seed);
        var device = TorchDevices.Resolve(o.Device);
        var position = catalogue.Select((item, i) => (item, i)).ToDictionary(p => p.item, p => p.i);
        var seen = split.TrainInteractions.Select(i => i.Item).ToHashSet();
        var trained = catalogue.Where(seen.Contains).ToArray();
        var rowOf = trained.Select((item, r) => (item, row: r + 1L)).ToDictionary(p => p.item, p => p.row);
        var rows = catalogue.Select(i => rowOf.GetValueOrDefault(i)).ToArray();
        var readActions = o.ReadActions ?? SplitActions.AreMany(split);
        var config = new DenseRetrievalConfig(trained.Length + 1, content.Dimension, o.Dimension, o.Layers, o.Heads, o.MlpDimension, o.MaxHistory, o.Dropout, o.Temperature, readActions);
        var network = new DenseRetrievalNetwork(config);
        network.to(device);
        var parameters = network.parameters().Sum(p => p.numel());
        var catalogueContent = content.Subset(catalogue);
        using var contentAll = torch.tensor(catalogueContent.Values.ToArray(), [catalogue.Length, content.Dimension], device: device);
        using var rowsAll = torch.tensor(rows, device: device);

        var sequences = split.Train.Select(s => DenseSequence.Of(s.Interactions, position, readActions, o.PositiveActions)).Where(s => s.Length >= 2).ToArray();
        var validation = split.Cases(SplitTarget.Valid).Take(o.ValidationUsers ?? int.MaxValue)
            .Select(c => (History: DenseSequence.Of(c.History, position, readActions), Target: position[c.Target.Item], Excluded: Excluded(c, split.TargetActions, position)))
            .ToArray();
        using var optimizer = new AdamWOptimizer(network.parameters(), o.LearningRate, o.WeightDecay);

        Dictionary<string, Tensor>? best = null;
        double bestNdcg = double.NegativeInfinity;
        int bestEpoch = 0, epoch = 0;
        try
        {
            for (epoch = 1; epoch <= o.Epochs; epoch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                network.train();
                var windows = Windows(sequences, o.MaxHistory, random);
                double lossSum = 0;
                long lossCount = 0;
                for (var start = 0; start < windows.Count; start += o.BatchSize)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    using var scope = torch.NewDisposeScope();
                    var batch = windows.GetRange(start, Math.Min(o.BatchSize, windows.Count - start));
                    var keep = torch.tensor(Enumerable.Range(0, catalogue.Length).Select(_ => random.NextDouble() < o.IdDropout ? 0f : 1f).ToArray(), device: device);
                    var (inputs, targets, valid, actions, learn) = Batch(batch, catalogue.Length, device);

                    // Full softmax: every catalogue item is scored. Sampled: only the items this step reads or predicts
                    // and the drawn negatives pass through the item tower, and the next items are scored against them.
                    var (sampledRows, localInputs, labels) = o.SampledNegatives > 0 && o.SampledNegatives < catalogue.Length
                        ? SampleItems(inputs, targets[learn], catalogue.Length, o.SampledNegatives, random, device)
                        : (null, inputs, targets[learn]);
                    Tensor Rows(Tensor all) => sampledRows is null ? all : all.index_select(0, sampledRows);
                    var vectors = network.ItemVectors(Rows(contentAll), Rows(rowsAll), Rows(keep));
                    var padded = torch.cat([vectors, torch.zeros(1, o.Dimension, device: device)], 0);
                    var users = network.Users(padded[localInputs], valid, actions);
                    var picked = users[learn];
                    var loss = nn.functional.cross_entropy(picked.matmul(vectors.t()).Over(o.Temperature), labels);
                    if (o.ContentLossWeight > 0)
                    {
                        // The same next items among content-only vectors: what a cold item will be ranked by.
                        var contentOnly = network.ItemVectors(Rows(contentAll), Rows(rowsAll), torch.zeros(vectors.shape[0], device: device));
                        loss = loss.Plus(nn.functional.cross_entropy(picked.matmul(contentOnly.t()).Over(o.Temperature), labels).Times(o.ContentLossWeight));
                    }

                    optimizer.ZeroGrad();
                    loss.backward();
                    optimizer.Step();
                    var n = picked.shape[0];
                    lossSum += loss.item<float>() * n;
                    lossCount += n;
                    var done = (start / o.BatchSize) + 1;
                    var steps = (windows.Count + o.BatchSize - 1) / o.BatchSize;
                    if (o.StepProgress is { } stepProgress && StepProgress.IsDue(done, steps))
                    {
                        stepProgress.Report(new StepProgress(epoch, done, steps, lossSum / Math.Max(1, lossCount), clock.Elapsed));
                    }
                }

                var ndcg = ValidationNdcg(network, contentAll, rowsAll, validation, o.MaxHistory, device);
                o.Progress?.Report(new DenseTrainingProgress(epoch, o.Epochs, lossSum / Math.Max(1, lossCount), ndcg, clock.Elapsed));
                if (ndcg > bestNdcg)
                {
                    bestNdcg = ndcg;
                    bestEpoch = epoch;
                    best?.Values.ToList().ForEach(t => t.Dispose());
                    best = network.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
                }
                else if (epoch - bestEpoch >= o.Patience)
                {
                    break;
                }
            }

            if (best is not null)
            {
                network.load_state_dict(best);
            }

            network.eval();
            var report = new DenseTrainingReport(Math.Min(epoch, o.Epochs), bestEpoch, bestNdcg, clock.Elapsed.TotalSeconds, parameters, o.IdDropout);
            return new DenseRetrievalModel(network, trained, content, contentSource, device, report);
        }
        catch
        {
            network.Dispose();
            throw;
        }
        finally
        {
            best?.Values.ToList().ForEach(t => t.Dispose());
        }
    }

    /// <summary>
    /// Sampled softmax: the items a step works on are the ones its windows read or predict and
    /// <paramref name="negatives"/> drawn uniformly from the catalogue (mixed negative sampling), each once. Returns
    /// their catalogue rows [K], the inputs renumbered to them (padding: K) and each target's place among them; every
    /// target is among the K, so the loss is a softmax over a subset that always holds the answer.
    /// </summary>
    internal static (Tensor Rows, Tensor Inputs, Tensor Labels) SampleItems(Tensor inputs, Tensor targets, int catalogue, int negatives, Random random, Device device)
    {
        var wanted = targets.cpu().data<long>().ToArray();
        var read = inputs.cpu().data<long>().ToArray();
        var rows = new SampledRows(wanted.Length + negatives);
        var labels = Array.ConvertAll(wanted, rows.Place);
        foreach (var row in read)
        {
            if (row != catalogue)
            {
                rows.Place(row);
            }
        }

        rows.Draw(negatives, 0, catalogue, random);
        var local = Array.ConvertAll(read, row => row == catalogue ? rows.Count : rows[row]);
        return (torch.tensor(rows.Rows, device: device), torch.tensor(local, device: device).reshape(inputs.shape), torch.tensor(labels, device: device));
    }

    /// <summary>Each sequence cut from its end into runs of up to MaxHistory + 1 items (the last ones keep the newest items), shuffled.</summary>
    internal static List<DenseSequence> Windows(DenseSequence[] sequences, int maxHistory, Random random)
    {
        var windows = new List<DenseSequence>();
        foreach (var s in sequences)
        {
            for (var end = s.Length; end >= 2; end -= maxHistory)
            {
                var start = Math.Max(0, end - maxHistory - 1);
                var window = s.Slice(start, end);
                if (window.LearnsSomething)
                {
                    windows.Add(window);
                }
            }
        }

        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(windows));
        return windows;
    }

    /// <summary>
    /// Right-aligned inputs [B, T] (padding: <paramref name="pad"/>), next-item targets [B, T], the valid mask [B, T],
    /// when the windows carry actions the inputs' action tokens [B, T] (0 on padding), and which positions' next items
    /// are learned [B, T] (valid ones whose next event is a positive; every valid one without positives).
    /// </summary>
    internal static (Tensor Inputs, Tensor Targets, Tensor Valid, Tensor? Actions, Tensor Learn) Batch(List<DenseSequence> windows, int pad, Device device)
    {
        var t = windows.Max(w => w.Length) - 1;
        var withActions = windows[0].Actions is not null;
        var inputs = new long[windows.Count * t];
        var targets = new long[windows.Count * t];
        var valid = new bool[windows.Count * t];
        var actions = withActions ? new long[windows.Count * t] : null;
        var learn = new bool[windows.Count * t];
        for (var b = 0; b < windows.Count; b++)
        {
            var w = windows[b];
            var offset = t - (w.Length - 1);
            for (var i = 0; i < t; i++)
            {
                var at = (b * t) + i;
                var j = i - offset;
                valid[at] = j >= 0;
                inputs[at] = j >= 0 ? w.Items[j] : pad;
                targets[at] = j >= 0 ? w.Items[j + 1] : 0;
                if (actions is not null && j >= 0)
                {
                    actions[at] = w.Actions![j];
                }

                learn[at] = j >= 0 && (w.Learn is null || w.Learn[j + 1]);
            }
        }

        return (
            torch.tensor(inputs, [windows.Count, t], device: device),
            torch.tensor(targets, [windows.Count, t], device: device),
            torch.tensor(valid, [windows.Count, t], device: device),
            actions is null ? null : torch.tensor(actions, [windows.Count, t], device: device),
            torch.tensor(learn, [windows.Count, t], device: device));
    }

    /// <summary>
    /// The catalogue positions a validation case's list leaves out, as <c>OfflineEvaluator</c> does by default: the
    /// history items of the split's target actions (every history item when it has none), so an item the user was only
    /// shown competes with the target, as it does in evaluation.
    /// </summary>
    private static HashSet<int> Excluded(EvaluationCase c, IReadOnlySet<ActionType>? targetActions, Dictionary<ItemId, int> position) =>
        [.. c.History.Where(h => targetActions is null || targetActions.Contains(h.EffectiveAction)).Select(h => position[h.Item])];

    /// <summary>Full-ranking NDCG@10 of the validation targets, each case's excluded history items left out.</summary>
    private static double ValidationNdcg(DenseRetrievalNetwork network, Tensor contentAll, Tensor rowsAll, (DenseSequence History, int Target, HashSet<int> Excluded)[] cases, int maxHistory, Device device)
    {
        if (cases.Length == 0)
        {
            return 0;
        }

        network.eval();
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var vectors = network.ItemVectors(contentAll, rowsAll);
        var n = vectors.shape[0];
        var padded = torch.cat([vectors, torch.zeros(1, vectors.shape[1], device: device)], 0);
        double sum = 0;
        const int Chunk = 256;
        for (var start = 0; start < cases.Length; start += Chunk)
        {
            using var inner = torch.NewDisposeScope();
            var chunk = cases.AsSpan(start, Math.Min(Chunk, cases.Length - start)).ToArray();
            // Each history's last items and a placeholder next item (an empty history reads one padding position).
            var windows = chunk.Select(c => (c.History.Length == 0 ? DenseSequence.Padding((int)n, c.History.Actions is not null) : c.History.Slice(Math.Max(0, c.History.Length - maxHistory), c.History.Length)).Then(0)).ToList();
            var (inputs, _, valid, actions, _) = Batch(windows, (int)n, device);
            valid = valid.logical_and(inputs.NotEqual(n));
            var users = network.Users(padded[inputs], valid, actions)[.., -1];
            var scores = users.matmul(vectors.t()).cpu().data<float>().ToArray();
            for (var u = 0; u < chunk.Length; u++)
            {
                var row = scores.AsSpan((int)(u * n), (int)n);
                var history = chunk[u].Excluded;
                if (history.Contains(chunk[u].Target))
                {
                    continue; // an item the list must leave out (bought before, bought again): evaluation cannot find it either
                }

                var target = row[chunk[u].Target];
                var rank = 1;
                for (var i = 0; i < n; i++)
                {
                    if (i != chunk[u].Target && !history.Contains(i) && (row[i] > target || (row[i] == target && i < chunk[u].Target)))
                    {
                        rank++;
                    }
                }

                sum += rank <= 10 ? 1 / Math.Log2(rank + 1) : 0;
            }
        }

        return sum / cases.Length;
    }

    /// <summary>Dense retrieval training options.</summary>
    public sealed record Options
    {
        /// <summary>Width of item and user vectors. Default: 64.</summary>
        public int Dimension { get; init; } = 64;

        /// <summary>Transformer blocks of the user tower. Default: 2.</summary>
        public int Layers { get; init; } = 2;

        /// <summary>Attention heads. Default: 2.</summary>
        public int Heads { get; init; } = 2;

        /// <summary>Hidden width of each block's MLP. Default: 128.</summary>
        public int MlpDimension { get; init; } = 128;

        /// <summary>History items the user tower reads. Default: 50.</summary>
        public int MaxHistory { get; init; } = 50;

        /// <summary>
        /// Whether the user tower reads each history event's action (an action embedding beside the item's vector), so a
        /// purchase and an impression of one item say different things; <see langword="null"/>: when the train part holds
        /// more than one action. Default: <see langword="false"/> (on simulated logs reading actions cost 0.008
        /// validation NDCG@10 after one epoch at 1 M events and gained 0.004 after five at 300,000: choose it on a team's
        /// own validation target).
        /// </summary>
        public bool? ReadActions { get; init; } = false;

        /// <summary>
        /// The actions whose events are next items the model learns (positives), e.g. clicks and purchases on a log
        /// evaluated on them: every history event is still read, impressions included, but only these are predicted.
        /// <see langword="null"/> (the default): every event.
        /// </summary>
        public IReadOnlySet<ActionType>? PositiveActions { get; init; }

        /// <summary>Dropout rate. Default: 0.2.</summary>
        public double Dropout { get; init; } = 0.2;

        /// <summary>The share of items whose ID embedding is dropped in each step (content-only vectors learn to stand alone). Default: 0.5.</summary>
        public double IdDropout { get; init; } = 0.5;

        /// <summary>
        /// Weight of a second softmax loss in which every item is its content-only vector (no ID embedding): it trains
        /// the content path that items registered after training are ranked by. 0 turns it off. Default: 0.
        /// </summary>
        public double ContentLossWeight { get; init; }

        /// <summary>Softmax temperature of the cosine scores. Default: 0.05.</summary>
        public double Temperature { get; init; } = 0.05;

        /// <summary>The most epochs. Default: 40.</summary>
        public int Epochs { get; init; } = 40;

        /// <summary>Epochs without a better validation NDCG@10 before stopping. Default: 5.</summary>
        public int Patience { get; init; } = 5;

        /// <summary>Windows per step. Default: 128.</summary>
        public int BatchSize { get; init; } = 128;

        /// <summary>
        /// Sampled softmax: score each step's next items against themselves and this many items drawn uniformly from the
        /// catalogue, instead of against the whole catalogue (0, the default). What makes an epoch over tens of millions
        /// of events affordable on a CPU; the item vectors are those of the whole catalogue either way.
        /// </summary>
        public int SampledNegatives { get; init; }

        /// <summary>AdamW learning rate. Default: 1e-3.</summary>
        public double LearningRate { get; init; } = 1e-3;

        /// <summary>AdamW weight decay. Default: 0.01.</summary>
        public double WeightDecay { get; init; } = 0.01;

        /// <summary>Validate on the first N users only; <see langword="null"/>: all. Default: all.</summary>
        public int? ValidationUsers { get; init; }

        /// <summary>Random seed. Default: 42.</summary>
        public int Seed { get; init; } = 42;

        /// <summary>Where to train. Default: <see cref="ComputeDevice.Auto"/>.</summary>
        public ComputeDevice Device { get; init; } = ComputeDevice.Auto;

        /// <summary>Receives progress after each epoch; may be <see langword="null"/>.</summary>
        public IProgress<DenseTrainingProgress>? Progress { get; init; }

        /// <summary>Receives progress inside each epoch (about every 5 % of its steps); may be <see langword="null"/>.</summary>
        public IProgress<StepProgress>? StepProgress { get; init; }
    }
}

/// <summary>
/// A run of a user's events as the dense trainer reads them: catalogue positions, for a model that reads actions their
/// action tokens, and, when only some actions are positives, which events are next items to learn.
/// </summary>
/// <param name="Items">Catalogue positions, oldest first.</param>
/// <param name="Actions">Their <see cref="DenseGraphContract.ActionToken"/>s; <see langword="null"/> for a model that does not read actions.</param>
/// <param name="Learn">Whether each event is a positive (a next item the model learns); <see langword="null"/>: every event.</param>
internal readonly record struct DenseSequence(int[] Items, byte[]? Actions, bool[]? Learn = null)
{
    public int Length => Items.Length;

    /// <summary>Whether an event after the first is one to learn (a window of none teaches nothing).</summary>
    public bool LearnsSomething => Learn is null || Learn.AsSpan(1).Contains(true);

    /// <summary>A user's events whose item has a catalogue position, oldest first.</summary>
    public static DenseSequence Of(IEnumerable<Interaction> events, IReadOnlyDictionary<ItemId, int> position, bool actions, IReadOnlySet<ActionType>? positives = null)
    {
        var items = new List<int>();
        var tokens = actions ? new List<byte>() : null;
        var learn = positives is null ? null : new List<bool>();
        foreach (var e in events)
        {
            if (position.TryGetValue(e.Item, out var at))
            {
                items.Add(at);
                tokens?.Add((byte)DenseGraphContract.ActionToken(e.EffectiveAction));
                learn?.Add(positives!.Contains(e.EffectiveAction));
            }
        }

        return new DenseSequence([.. items], tokens?.ToArray(), learn?.ToArray());
    }

    /// <summary>One padding position (<paramref name="pad"/>, action token 0).</summary>
    public static DenseSequence Padding(int pad, bool actions) => new([pad], actions ? [0] : null);

    public DenseSequence Slice(int start, int end) => new(Items[start..end], Actions?[start..end], Learn?[start..end]);

    /// <summary>This run and one more item after it (its action unknown: 0).</summary>
    public DenseSequence Then(int item) => new([.. Items, item], Actions is null ? null : [.. Actions, 0], Learn is null ? null : [.. Learn, true]);
}

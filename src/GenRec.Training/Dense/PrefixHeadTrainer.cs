using System.Diagnostics;
using GenRec.Data;
using GenRec.SemanticIds;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>Progress of prefix head training, after each epoch.</summary>
/// <param name="Epoch">The epoch just finished (1-based).</param>
/// <param name="Epochs">The most epochs.</param>
/// <param name="Loss">Mean within-prefix softmax loss of the epoch's next-item positions.</param>
/// <param name="ValidationNdcg10">Within-prefix NDCG@10 of the validation targets.</param>
/// <param name="Elapsed">Time since training started.</param>
public readonly record struct PrefixHeadProgress(int Epoch, int Epochs, double Loss, double ValidationNdcg10, TimeSpan Elapsed);

/// <summary>How a dense model's prefix head was trained.</summary>
/// <param name="Levels">The prefix length it reads.</param>
/// <param name="IndexFingerprint">The semantic-ID index whose codes it learned.</param>
/// <param name="Positions">Train positions it learned from.</param>
/// <param name="Epochs">Epochs run.</param>
/// <param name="BestEpoch">The epoch whose weights were kept (0: none beat the user's own vector).</param>
/// <param name="UnconditionedValidationNdcg10">Within-prefix validation NDCG@10 of the user's own vector (no head).</param>
/// <param name="ValidationNdcg10">Within-prefix validation NDCG@10 of the kept head.</param>
/// <param name="Seconds">Training wall time, the user states included.</param>
/// <param name="Parameters">Trainable parameters.</param>
public sealed record PrefixHeadReport(int Levels, string IndexFingerprint, int Positions, int Epochs, int BestEpoch, double UnconditionedValidationNdcg10, double ValidationNdcg10, double Seconds, long Parameters);

/// <summary>
/// Trains COBRA's dense head on a trained <see cref="DenseRetrievalModel"/>: given the user's state and the first
/// <see cref="Options.Levels"/> codes of the next item's semantic ID, the head emits the query that ranks the items
/// under that prefix. The towers stay frozen (the user states are those served); every next-item position of the
/// train part learns its item with a softmax over the items that share its prefix — exactly the list beam fusion
/// ranks — optionally with a share of items on their content-only vectors (ID dropout), as items registered after
/// training are.
/// The epoch with the best within-prefix validation NDCG@10 is kept; if none beats the user's own vector, the head
/// stays the identity it starts as. Seeded; runs where the model runs (CUDA when present).
/// </summary>
public sealed class PrefixHeadTrainer
{
    private readonly Options _options;

    /// <summary>Creates the trainer.</summary>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public PrefixHeadTrainer(Options? options = null)
    {
        _options = options ?? new Options();
        var o = _options;
        if (o.Levels < 1 || o.Hidden < 1 || o.Epochs < 1 || o.Patience < 1 || o.BatchSize < 1 || !(o.LearningRate > 0) || !(o.WeightDecay >= 0)
            || o.IdDropout is < 0 or > 1 || o.ValidationUsers is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Prefix head options must be positive (ID dropout in [0, 1]).");
        }
    }

    /// <summary>Trains a head for <paramref name="model"/> on the split's train part and gives it to the model (replacing any it had).</summary>
    /// <param name="model">The trained dense model (trained on the same split).</param>
    /// <param name="split">The split.</param>
    /// <param name="index">The semantic-ID index of the generator the head will serve beside.</param>
    /// <param name="cancellationToken">Cancels training.</param>
    /// <returns>How it was trained.</returns>
    /// <exception cref="ArgumentException"><see cref="Options.Levels"/> is not below the index's length, or no train item has both a vector and a semantic ID.</exception>
    public PrefixHeadReport Fit(DenseRetrievalModel model, DataSplit split, SemanticIdIndex index, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(split);
        ArgumentNullException.ThrowIfNull(index);
        var o = _options;
        if (o.Levels >= index.Length)
        {
            throw new ArgumentException($"The head reads {o.Levels} leading codes; the index's IDs have {index.Length} codes, the last of them disambiguation: at most {index.Length - 1}.", nameof(index));
        }

        var clock = Stopwatch.StartNew();
        torch.manual_seed(o.Seed);
        var random = new Random(o.Seed);
        var device = model.TorchDevice;
        var catalogue = model.Catalogue;
        var full = catalogue.Vectors;
        var contentOnly = model.ContentOnlyVectors;
        var items = full.Items.Where(i => index.TryGetSemanticId(i, out _) && contentOnly.Contains(i)).ToArray();
        var position = items.Select((item, i) => (item, i)).ToDictionary(p => p.item, p => p.i);
        var groups = new Dictionary<SemanticId, int>();
        var groupOf = items.Select(item =>
        {
            var prefix = new SemanticId(index[item].ToArray().AsSpan(0, o.Levels));
            if (!groups.TryGetValue(prefix, out var g))
            {
                groups[prefix] = g = groups.Count;
            }

            return (long)g;
        }).ToArray();
        var codes = groups.OrderBy(p => p.Value).SelectMany(p => p.Key.ToArray().Select(c => (long)c)).ToArray();
        var vocabulary = index.VocabularySizes.Take(o.Levels).ToArray();

        var d = model.Dimension;
        using var fullAll = torch.tensor(items.SelectMany(i => full[i].ToArray()).ToArray(), [items.Length, d], device: device);
        using var contentAll = torch.tensor(items.SelectMany(i => contentOnly[i].ToArray()).ToArray(), [items.Length, d], device: device);
        using var groupAll = torch.tensor(groupOf, device: device);
        using var codesAll = torch.tensor(codes, [groups.Count, o.Levels], device: device);

        var actions = model.Network.Config.Actions;
        var sequences = split.Train.Select(s => DenseSequence.Of(s.Interactions, position, actions)).Where(s => s.Length >= 2).ToArray();
        var (states, targets) = States(model, sequences, fullAll, random, cancellationToken);
        using var statesAll = states;
        using var targetsAll = targets;
        var validation = split.Cases(SplitTarget.Valid).Take(o.ValidationUsers ?? int.MaxValue)
            .Where(c => position.ContainsKey(c.Target.Item))
            .Select(c => (History: DenseSequence.Of(c.History, position, actions), Target: position[c.Target.Item]))
            .Select(c => c.History.Slice(Math.Max(0, c.History.Length - model.MaxHistory), c.History.Length).Then(c.Target))
            .ToArray();
        var (validStates, validTargets) = States(model, validation, fullAll, random: null, cancellationToken);
        using var validStatesAll = validStates;
        using var validTargetsAll = validTargets;

        var config = new PrefixHeadConfig(d, vocabulary, o.Hidden);
        var head = new PrefixHeadNetwork(config);
        head.to(device);
        var parameters = head.parameters().Sum(p => p.numel());
        Dictionary<string, Tensor>? best = null;
        try
        {
            head.eval();
            var unconditioned = ValidationNdcg(head, validStatesAll, validTargetsAll, fullAll, groupAll, codesAll, model.Temperature);
            double bestNdcg = unconditioned;
            int bestEpoch = 0, epoch;
            best = head.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
            using var optimizer = new AdamWOptimizer(head.parameters(), o.LearningRate, o.WeightDecay);
            var n = (int)statesAll.shape[0];
            for (epoch = 1; epoch <= o.Epochs; epoch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                head.train();
                var order = Enumerable.Range(0, n).ToArray();
                random.Shuffle(order);
                double lossSum = 0;
                for (var start = 0; start < n; start += o.BatchSize)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    using var scope = torch.NewDisposeScope();
                    var take = torch.tensor(order.AsSpan(start, Math.Min(o.BatchSize, n - start)).ToArray().Select(i => (long)i).ToArray(), device: device);
                    var keep = torch.tensor(Enumerable.Range(0, items.Length).Select(_ => random.NextDouble() < o.IdDropout ? 0f : 1f).ToArray(), device: device).unsqueeze(1);
                    var vectors = (fullAll * keep).Plus(contentAll * keep.SubtractedFrom(1));
                    var loss = WithinPrefixLoss(head, statesAll[take], targetsAll[take], vectors, groupAll, codesAll, model.Temperature);
                    optimizer.ZeroGrad();
                    loss.backward();
                    optimizer.Step();
                    lossSum += loss.item<float>() * take.shape[0];
                }

                head.eval();
                var ndcg = ValidationNdcg(head, validStatesAll, validTargetsAll, fullAll, groupAll, codesAll, model.Temperature);
                o.Progress?.Report(new PrefixHeadProgress(epoch, o.Epochs, lossSum / Math.Max(1, n), ndcg, clock.Elapsed));
                if (ndcg > bestNdcg)
                {
                    bestNdcg = ndcg;
                    bestEpoch = epoch;
                    best.Values.ToList().ForEach(t => t.Dispose());
                    best = head.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
                }
                else if (epoch - bestEpoch >= o.Patience)
                {
                    break;
                }
            }

            head.load_state_dict(best);
            head.eval();
            var report = new PrefixHeadReport(o.Levels, index.Fingerprint, n, Math.Min(epoch, o.Epochs), bestEpoch, unconditioned, bestNdcg, clock.Elapsed.TotalSeconds, parameters);
            model.SetPrefixHead(head, report);
            return report;
        }
        catch
        {
            head.Dispose();
            throw;
        }
        finally
        {
            best?.Values.ToList().ForEach(t => t.Dispose());
        }
    }

    /// <summary>Mean cross-entropy of each target among the items of its own prefix, scored by the head's query.</summary>
    private static Tensor WithinPrefixLoss(PrefixHeadNetwork head, Tensor states, Tensor targets, Tensor vectors, Tensor groupAll, Tensor codesAll, double temperature)
    {
        var logits = WithinPrefixLogits(head, states, targets, vectors, groupAll, codesAll, temperature);
        return nn.functional.cross_entropy(logits, targets);
    }

    /// <summary>[B, N] scores of every item against the head's query for the target's prefix; items of other prefixes −∞.</summary>
    private static Tensor WithinPrefixLogits(PrefixHeadNetwork head, Tensor states, Tensor targets, Tensor vectors, Tensor groupAll, Tensor codesAll, double temperature)
    {
        var group = groupAll[targets];
        var queries = head.forward(states, codesAll[group].unsqueeze(1)).squeeze(1);
        var logits = queries.matmul(vectors.t()).Over(temperature);
        return logits.FilledWhere(groupAll.unsqueeze(0) != group.unsqueeze(1), double.NegativeInfinity);
    }

    /// <summary>NDCG@10 of each validation target among the items of its prefix (ties count against it).</summary>
    private static double ValidationNdcg(PrefixHeadNetwork head, Tensor states, Tensor targets, Tensor vectors, Tensor groupAll, Tensor codesAll, double temperature)
    {
        var n = states.shape[0];
        if (n == 0)
        {
            return 0;
        }

        using var noGrad = torch.no_grad();
        double sum = 0;
        const long Chunk = 512;
        for (long start = 0; start < n; start += Chunk)
        {
            using var scope = torch.NewDisposeScope();
            var end = Math.Min(n, start + Chunk);
            var t = targets.narrow(0, start, end - start);
            var logits = WithinPrefixLogits(head, states.narrow(0, start, end - start), t, vectors, groupAll, codesAll, temperature);
            var own = logits.gather(1, t.unsqueeze(1));
            var ranks = (logits >= own).sum(1).cpu().data<long>().ToArray();
            sum += ranks.Sum(r => r <= 10 ? 1 / Math.Log2(r + 1) : 0);
        }

        return sum / n;
    }

    /// <summary>
    /// The served user states (full item vectors, no dropout) before each next item of the sequences, windowed as the
    /// dense trainer windows them (<paramref name="random"/> null: the last window of each sequence only, its last position only).
    /// </summary>
    private static (Tensor States, Tensor Targets) States(DenseRetrievalModel model, DenseSequence[] sequences, Tensor vectors, Random? random, CancellationToken cancellationToken)
    {
        var device = vectors.device;
        var d = vectors.shape[1];
        var pad = (int)vectors.shape[0];
        var windows = random is null ? [.. sequences.Where(s => s.Length >= 2)] : DenseRetrievalTrainer.Windows(sequences, model.MaxHistory, random);
        var states = new List<Tensor>();
        var targets = new List<Tensor>();
        using var noGrad = torch.no_grad();
        using var padded = torch.cat([vectors, torch.zeros(1, d, device: device)], 0);
        const int Chunk = 256;
        for (var start = 0; start < windows.Count; start += Chunk)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            var (inputs, next, valid, actions, _) = DenseRetrievalTrainer.Batch(windows.GetRange(start, Math.Min(Chunk, windows.Count - start)), pad, device);
            var users = model.Network.Users(padded[inputs], valid, actions);
            if (random is null)
            {
                states.Add(users[.., -1].MoveToOuterDisposeScope());
                targets.Add(next[.., -1].MoveToOuterDisposeScope());
            }
            else
            {
                states.Add(users[valid].MoveToOuterDisposeScope());
                targets.Add(next[valid].MoveToOuterDisposeScope());
            }
        }

        if (states.Count == 0)
        {
            return (torch.zeros(0, d, device: device), torch.zeros(0, dtype: ScalarType.Int64, device: device));
        }

        var result = (torch.cat(states, 0), torch.cat(targets, 0));
        states.ForEach(t => t.Dispose());
        targets.ForEach(t => t.Dispose());
        return result;
    }

    /// <summary>Prefix head training options.</summary>
    public sealed record Options
    {
        /// <summary>How many leading codes of the semantic ID the head reads; beam fusion must generate as many. Default: 1.</summary>
        public int Levels { get; init; } = 1;

        /// <summary>Hidden width of the head's MLP. Default: 128.</summary>
        public int Hidden { get; init; } = 128;

        /// <summary>
        /// The share of items scored on their content-only vector in each step (as items registered after training
        /// are). Default: 0 (on the cold tuning split, 0.5 never beat the user's own vector on validation; 0 did).
        /// </summary>
        public double IdDropout { get; init; }

        /// <summary>The most epochs. Default: 30.</summary>
        public int Epochs { get; init; } = 30;

        /// <summary>Epochs without a better validation NDCG@10 before stopping. Default: 3.</summary>
        public int Patience { get; init; } = 3;

        /// <summary>Positions per step. Default: 256.</summary>
        public int BatchSize { get; init; } = 256;

        /// <summary>AdamW learning rate. Default: 1e-3.</summary>
        public double LearningRate { get; init; } = 1e-3;

        /// <summary>AdamW weight decay. Default: 0.01.</summary>
        public double WeightDecay { get; init; } = 0.01;

        /// <summary>Validate on the first N users only; <see langword="null"/>: all. Default: all.</summary>
        public int? ValidationUsers { get; init; }

        /// <summary>Random seed. Default: 42.</summary>
        public int Seed { get; init; } = 42;

        /// <summary>Receives progress after each epoch; may be <see langword="null"/>.</summary>
        public IProgress<PrefixHeadProgress>? Progress { get; init; }
    }
}

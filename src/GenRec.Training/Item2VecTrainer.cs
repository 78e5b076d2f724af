using System.Diagnostics;
using GenRec.Data;
using GenRec.SemanticIds;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>Progress of an epoch-based trainer.</summary>
/// <param name="Epoch">The epoch just finished (1-based).</param>
/// <param name="Epochs">Epochs in all.</param>
/// <param name="Loss">The mean training loss of the epoch.</param>
/// <param name="Elapsed">Time since the fit started.</param>
public readonly record struct EpochProgress(int Epoch, int Epochs, double Loss, TimeSpan Elapsed);

/// <summary>
/// Learns collaborative item embeddings from behaviour sequences with item2vec: skip-gram with negative sampling
/// over the items a user interacted with close together. Items never seen in the sequences get the zero vector
/// (they carry no collaborative signal). Seeded; runs on CUDA when present.
/// </summary>
public sealed class Item2VecTrainer
{
    private readonly Options _options;

    /// <summary>Creates a trainer with the common parameters.</summary>
    /// <param name="dimension">Embedding width. Default: 64.</param>
    /// <param name="epochs">Passes over the pairs. Default: 5.</param>
    /// <param name="seed">Random seed. Default: 42.</param>
    public Item2VecTrainer(int dimension = 64, int epochs = 5, int seed = 42)
        : this(new Options { Dimension = dimension, Epochs = epochs, Seed = seed })
    {
    }

    /// <summary>Creates a trainer.</summary>
    /// <param name="options">The options.</param>
    public Item2VecTrainer(Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Learns embeddings for every item of <paramref name="catalogue"/>.</summary>
    /// <param name="sequences">Users' behaviour sequences, each oldest first.</param>
    /// <param name="catalogue">The items to embed.</param>
    /// <param name="cancellationToken">Cancels the fit.</param>
    /// <returns>One vector per catalogue item.</returns>
    /// <exception cref="ArgumentException">The sequences give no pair of items to learn from.</exception>
    public ItemEmbeddings Fit(IReadOnlyList<UserSequence> sequences, IReadOnlyList<ItemId> catalogue, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentNullException.ThrowIfNull(catalogue);
        var clock = Stopwatch.StartNew();
        var index = new Dictionary<ItemId, int>(catalogue.Count);
        for (var i = 0; i < catalogue.Count; i++)
        {
            index[catalogue[i]] = i;
        }

        // (center, context) pairs within the window.
        var centers = new List<long>();
        var contexts = new List<long>();
        var counts = new double[catalogue.Count];
        foreach (var s in sequences)
        {
            var items = s.Interactions.Select(x => index.TryGetValue(x.Item, out var i) ? i : -1).Where(i => i >= 0).ToArray();
            foreach (var i in items)
            {
                counts[i]++;
            }

            for (var p = 0; p < items.Length; p++)
            {
                for (var q = Math.Max(0, p - _options.Window); q <= Math.Min(items.Length - 1, p + _options.Window); q++)
                {
                    if (q != p && items[q] != items[p])
                    {
                        centers.Add(items[p]);
                        contexts.Add(items[q]);
                    }
                }
            }
        }

        if (centers.Count == 0)
        {
            throw new ArgumentException("The sequences hold no two items within the window; there is nothing to learn from.", nameof(sequences));
        }

        var device = TorchDevices.Resolve(_options.Device);
        var n = catalogue.Count;
        var d = _options.Dimension;
        using var scope = torch.NewDisposeScope();

        // Every random draw goes through this generator, not TorchSharp's process-wide one, so a seed repeats
        // even while other code in the process trains at the same time.
        var generator = new torch.Generator((ulong)_options.Seed, device);
        var input = nn.Parameter(torch.rand(n, d, generator: generator, device: device).Minus(0.5).Over(d).requires_grad_());
        var output = nn.Parameter(torch.zeros(n, d, device: device).requires_grad_());
        using var optimizer = new AdamWOptimizer([input, output], _options.LearningRate);

        // Negatives from the unigram distribution to the power 0.75.
        var noise = torch.tensor(counts.Select(c => (float)Math.Pow(c, 0.75)).ToArray(), device: device);
        var centerAll = torch.tensor(centers.ToArray(), device: device);
        var contextAll = torch.tensor(contexts.ToArray(), device: device);
        var pairs = centers.Count;
        for (var epoch = 1; epoch <= _options.Epochs; epoch++)
        {
            double lossSum = 0;
            var batches = 0;
            var order = torch.randperm(pairs, generator: generator, device: device);
            for (var start = 0; start < pairs; start += _options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var step = torch.NewDisposeScope();
                var batch = order.narrow(0, start, Math.Min(_options.BatchSize, pairs - start));
                var u = input.index_select(0, centerAll.index_select(0, batch));
                var v = output.index_select(0, contextAll.index_select(0, batch));
                var negatives = torch.multinomial(noise, batch.shape[0] * _options.Negatives, replacement: true, generator: generator);
                var vn = output.index_select(0, negatives).view(batch.shape[0], _options.Negatives, d);
                var positive = nn.functional.logsigmoid((u * v).sum(1));
                var negative = nn.functional.logsigmoid(-torch.bmm(vn, u.unsqueeze(2)).squeeze(2)).sum(1);
                var loss = -positive.Plus(negative).mean();
                optimizer.ZeroGrad();
                loss.backward();
                optimizer.Step();
                lossSum += loss.item<float>();
                batches++;
            }

            _options.Progress?.Report(new EpochProgress(epoch, _options.Epochs, lossSum / batches, clock.Elapsed));
        }

        var vectors = input.detach().cpu().data<float>().ToArray();
        for (var i = 0; i < n; i++)
        {
            if (counts[i] == 0)
            {
                Array.Clear(vectors, i * d, d);
            }
        }

        return new ItemEmbeddings(catalogue, vectors, d);
    }

    /// <summary>Options of an <see cref="Item2VecTrainer"/>.</summary>
    public sealed class Options
    {
        /// <summary>Embedding width. Default: 64. Allowed: 1 or more.</summary>
        public int Dimension { get; set; } = 64;

        /// <summary>Items at most this many positions apart form a pair. Default: 5. Allowed: 1 or more.</summary>
        public int Window { get; set; } = 5;

        /// <summary>Negative samples per pair. Default: 5. Allowed: 1 or more.</summary>
        public int Negatives { get; set; } = 5;

        /// <summary>Passes over the pairs. Default: 5. Allowed: 1 or more.</summary>
        public int Epochs { get; set; } = 5;

        /// <summary>Pairs per step. Default: 4096. Allowed: 1 or more.</summary>
        public int BatchSize { get; set; } = 4096;

        /// <summary>Adam learning rate. Default: 0.01. Allowed: positive.</summary>
        public double LearningRate { get; set; } = 0.01;

        /// <summary>Random seed. Default: 42.</summary>
        public int Seed { get; set; } = 42;

        /// <summary>Where to train. Default: <see cref="ComputeDevice.Auto"/>.</summary>
        public ComputeDevice Device { get; set; } = ComputeDevice.Auto;

        /// <summary>Receives progress after each epoch; may be <see langword="null"/>. Default: none.</summary>
        public IProgress<EpochProgress>? Progress { get; set; }

        internal void Validate()
        {
            foreach (var (name, value) in new[] { (nameof(Dimension), Dimension), (nameof(Window), Window), (nameof(Negatives), Negatives), (nameof(Epochs), Epochs), (nameof(BatchSize), BatchSize) })
            {
                if (value < 1)
                {
                    throw new ArgumentOutOfRangeException(name, value, $"{name} is {value}; it must be 1 or more.");
                }
            }

            if (!(LearningRate > 0))
            {
                throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, $"LearningRate is {LearningRate}; it must be positive.");
            }
        }
    }
}

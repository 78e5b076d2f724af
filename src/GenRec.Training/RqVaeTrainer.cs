using System.Diagnostics;
using GenRec.SemanticIds;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>The RQ-VAE network: an MLP encoder, residual codebooks in the latent space, an MLP decoder.</summary>
internal sealed class RqVaeModule : nn.Module<Tensor, Tensor>
{
    private readonly Sequential encoder;
    private readonly Sequential decoder;
    private readonly Parameter codebooks; // [levels, codes, latent]

    public RqVaeModule(int input, IReadOnlyList<int> hidden, int latent, int levels, int codes)
        : base(nameof(RqVaeModule))
    {
        encoder = Mlp([input, .. hidden, latent]);
        decoder = Mlp([latent, .. hidden.Reverse(), input]);
        codebooks = nn.Parameter(torch.randn(levels, codes, latent).Times(0.01f));
        RegisterComponents();
    }

    public Sequential Encoder => encoder;

    public Sequential Decoder => decoder;

    public Parameter Codebooks => codebooks;

    public Tensor Encode(Tensor x) => encoder.forward(x);

    /// <summary>Reconstructs x through the quantizer; the quantization loss and codes come back through the outs.</summary>
    public Tensor Forward(Tensor x, float beta, out Tensor quantizationLoss, out Tensor[] codes, out Tensor[] residuals)
    {
        var z = encoder.forward(x);
        var residual = z;
        var quantized = torch.zeros_like(z);
        quantizationLoss = torch.zeros(1, device: x.device);
        var levels = (int)codebooks.shape[0];
        codes = new Tensor[levels];
        residuals = new Tensor[levels];
        for (var l = 0; l < levels; l++)
        {
            var book = codebooks[l];
            var r = residual.detach();
            residuals[l] = r;
            var distances = ((r * r).sum(1, keepdim: true) - r.matmul(book.t()).Times(2)).Plus((book * book).sum(1).unsqueeze(0));
            var idx = distances.argmin(1);
            codes[l] = idx;
            var e = book.index_select(0, idx);
            quantizationLoss = quantizationLoss.Plus(nn.functional.mse_loss(e, r)).Plus(nn.functional.mse_loss(residual, e.detach()).Times(beta));
            quantized = quantized.Plus(e);
            residual = residual - e.detach();
        }

        // Straight-through: the decoder sees the quantized latent, the encoder gets the decoder's gradient.
        var straightThrough = z.Plus((quantized - z).detach());
        return decoder.forward(straightThrough);
    }

    public override Tensor forward(Tensor x) => Forward(x, 0.25f, out _, out _, out _);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            encoder.Dispose();
            decoder.Dispose();
            codebooks.Dispose();
        }

        base.Dispose(disposing);
    }

    private static Sequential Mlp(int[] widths)
    {
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        for (var i = 0; i + 1 < widths.Length; i++)
        {
            layers.Add(($"linear{i}", nn.Linear(widths[i], widths[i + 1])));
            if (i + 2 < widths.Length)
            {
                layers.Add(($"relu{i}", nn.ReLU()));
            }
        }

        return nn.Sequential(layers);
    }
}

/// <summary>
/// Trains an RQ-VAE tokenizer (TIGER's choice) with TorchSharp: an MLP encoder maps an item embedding to a latent
/// vector, <see cref="Options.Levels"/> residual codebooks quantize it, and an MLP decoder reconstructs the embedding.
/// Codebooks start from residual k-means on the initial latents; the loss is reconstruction plus codebook and
/// commitment terms (β); codes unused in an epoch are reset to latent residuals of the batch (dead-code reset). The
/// trained network is exported to a managed <see cref="ResidualQuantizer"/>, so the index assigns new items without
/// TorchSharp. Seeded; runs on CUDA when present.
/// </summary>
public sealed class RqVaeTrainer
{
    private readonly Options _options;

    /// <summary>Creates a trainer with the common parameters.</summary>
    /// <param name="levels">Quantization levels. Default: 3.</param>
    /// <param name="codebookSize">Codes per level. Default: 256.</param>
    /// <param name="seed">Random seed. Default: 42.</param>
    public RqVaeTrainer(int levels = 3, int codebookSize = 256, int seed = 42)
        : this(new Options { Levels = levels, CodebookSize = codebookSize, Seed = seed })
    {
    }

    /// <summary>Creates a trainer.</summary>
    /// <param name="options">The options.</param>
    public RqVaeTrainer(Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Trains the tokenizer and builds the index of the embedded items.</summary>
    /// <param name="embeddings">The item embeddings.</param>
    /// <param name="cancellationToken">Cancels the fit.</param>
    /// <returns>Version 1 of the semantic-ID index.</returns>
    public SemanticIdIndex Fit(ItemEmbeddings embeddings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        var clock = Stopwatch.StartNew();
        var device = TorchDevices.Resolve(_options.Device);
        torch.random.manual_seed(_options.Seed);
        var n = embeddings.Count;
        var d = embeddings.Dimension;
        using var model = new RqVaeModule(d, _options.HiddenDimensions, _options.LatentDimension, _options.Levels, _options.CodebookSize);
        model.to(device);
        using var all = torch.tensor(embeddings.Values.ToArray(), [n, d], device: device);

        InitialiseCodebooks(model, all, cancellationToken);

        using var optimizer = new AdamWOptimizer(model.parameters(), _options.LearningRate);
        var generator = new torch.Generator((ulong)_options.Seed, device);
        var beta = (float)_options.CommitmentWeight;
        for (var epoch = 1; epoch <= _options.Epochs; epoch++)
        {
            model.train();
            double lossSum = 0;
            var batches = 0;
            var usage = new long[_options.Levels, _options.CodebookSize];
            Tensor[]? lastResiduals = null;
            using var epochScope = torch.NewDisposeScope();
            var order = torch.randperm(n, generator: generator, device: device);
            for (var start = 0; start < n; start += _options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var step = torch.NewDisposeScope();
                var x = all.index_select(0, order.narrow(0, start, Math.Min(_options.BatchSize, n - start)));
                var reconstruction = model.Forward(x, beta, out var quantizationLoss, out var codes, out var residuals);
                var loss = nn.functional.mse_loss(reconstruction, x).Plus(quantizationLoss);
                optimizer.ZeroGrad();
                loss.backward();
                optimizer.Step();
                lossSum += loss.item<float>();
                batches++;
                for (var l = 0; l < codes.Length; l++)
                {
                    foreach (var c in codes[l].cpu().data<long>())
                    {
                        usage[l, c]++;
                    }
                }

                lastResiduals = residuals.Select(r => r.MoveToOuterDisposeScope()).ToArray();
            }

            if (_options.ResetDeadCodes && lastResiduals is not null && epoch < _options.Epochs)
            {
                ResetDeadCodes(model, usage, lastResiduals, generator);
            }

            _options.Progress?.Report(new EpochProgress(epoch, _options.Epochs, lossSum / batches, clock.Elapsed));
        }

        var quantizer = Export(model);
        var levelCodes = new int[_options.Levels][];
        for (var l = 0; l < _options.Levels; l++)
        {
            levelCodes[l] = new int[n];
        }

        for (var i = 0; i < n; i++)
        {
            var codes = quantizer.Quantize(embeddings.Row(i));
            for (var l = 0; l < codes.Length; l++)
            {
                levelCodes[l][i] = codes[l];
            }
        }

        return SemanticIdIndex.Build(quantizer, embeddings, levelCodes, _options.TimeProvider.GetUtcNow());
    }

    private void InitialiseCodebooks(RqVaeModule model, Tensor all, CancellationToken cancellationToken)
    {
        float[] latents;
        using (torch.no_grad())
        {
            latents = model.Encode(all).cpu().data<float>().ToArray();
        }

        var n = (int)all.shape[0];
        var kmeans = new RqKMeansTrainer(new RqKMeansTrainer.Options
        {
            Levels = _options.Levels,
            CodebookSize = _options.CodebookSize,
            Balanced = false,
            MaxIterations = 10,
            Seed = _options.Seed,
        });
        var (quantizer, _) = kmeans.FitQuantizer(latents, n, _options.LatentDimension, "rq-vae-init", cancellationToken);
        using (torch.no_grad())
        {
            var values = quantizer.Codebooks.SelectMany(c => c).ToArray();
            model.Codebooks.copy_(torch.tensor(values, [_options.Levels, _options.CodebookSize, _options.LatentDimension], device: model.Codebooks.device));
        }
    }

    private static void ResetDeadCodes(RqVaeModule model, long[,] usage, Tensor[] residuals, torch.Generator generator)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        for (var l = 0; l < residuals.Length; l++)
        {
            var dead = Enumerable.Range(0, usage.GetLength(1)).Where(c => usage[l, c] == 0).ToArray();
            if (dead.Length == 0)
            {
                continue;
            }

            var pool = residuals[l];
            var picks = torch.randint(0, pool.shape[0], [dead.Length], generator: generator, device: pool.device);
            var replacement = pool.index_select(0, picks);
            model.Codebooks[l].index_copy_(0, torch.tensor(dead.Select(c => (long)c).ToArray(), device: pool.device), replacement);
        }
    }

    private ResidualQuantizer Export(RqVaeModule model)
    {
        static DenseLayer[] Layers(Sequential mlp)
        {
            var linears = mlp.children().OfType<Linear>().ToArray();
            return linears.Select((linear, i) => new DenseLayer(
                (int)linear.weight!.shape[1],
                (int)linear.weight.shape[0],
                linear.weight.detach().cpu().data<float>().ToArray(),
                linear.bias!.detach().cpu().data<float>().ToArray(),
                Relu: i + 1 < linears.Length)).ToArray();
        }

        var books = model.Codebooks.detach().cpu().data<float>().ToArray();
        var per = _options.CodebookSize * _options.LatentDimension;
        var codebooks = Enumerable.Range(0, _options.Levels).Select(l => books.AsSpan(l * per, per).ToArray()).ToArray();
        return new ResidualQuantizer("rq-vae", (int)model.Encoder.children().OfType<Linear>().First().weight!.shape[1], _options.CodebookSize, codebooks, Layers(model.Encoder), Layers(model.Decoder));
    }

    /// <summary>Options of an <see cref="RqVaeTrainer"/>.</summary>
    public sealed class Options
    {
        /// <summary>Quantization levels. Default: 3. Allowed: 1 to 7.</summary>
        public int Levels { get; set; } = 3;

        /// <summary>Codes per level. Default: 256. Allowed: 2 to 65,536.</summary>
        public int CodebookSize { get; set; } = 256;

        /// <summary>Widths of the encoder's hidden layers (the decoder mirrors them). Default: 256, 128.</summary>
        public IReadOnlyList<int> HiddenDimensions { get; set; } = [256, 128];

        /// <summary>Width of the latent space the codebooks live in. Default: 32. Allowed: 1 or more.</summary>
        public int LatentDimension { get; set; } = 32;

        /// <summary>Passes over the items. Default: 200. Allowed: 1 or more.</summary>
        public int Epochs { get; set; } = 200;

        /// <summary>Items per step. Default: 512. Allowed: 1 or more.</summary>
        public int BatchSize { get; set; } = 512;

        /// <summary>Adam learning rate. Default: 0.001. Allowed: positive.</summary>
        public double LearningRate { get; set; } = 1e-3;

        /// <summary>Weight β of the commitment loss. Default: 0.25. Allowed: non-negative.</summary>
        public double CommitmentWeight { get; set; } = 0.25;

        /// <summary>Whether codes unused in an epoch restart at latent residuals of the data. Default: <see langword="true"/>.</summary>
        public bool ResetDeadCodes { get; set; } = true;

        /// <summary>Random seed. Default: 42.</summary>
        public int Seed { get; set; } = 42;

        /// <summary>Where to train. Default: <see cref="ComputeDevice.Auto"/>.</summary>
        public ComputeDevice Device { get; set; } = ComputeDevice.Auto;

        /// <summary>Receives progress after each epoch; may be <see langword="null"/>. Default: none.</summary>
        public IProgress<EpochProgress>? Progress { get; set; }

        /// <summary>The clock that stamps the index. Default: <see cref="TimeProvider.System"/>.</summary>
        public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

        internal void Validate()
        {
            new RqKMeansTrainer.Options { Levels = Levels, CodebookSize = CodebookSize }.Validate();
            foreach (var (name, value) in new[] { (nameof(LatentDimension), LatentDimension), (nameof(Epochs), Epochs), (nameof(BatchSize), BatchSize) })
            {
                if (value < 1)
                {
                    throw new ArgumentOutOfRangeException(name, value, $"{name} is {value}; it must be 1 or more.");
                }
            }

            if (HiddenDimensions is null || HiddenDimensions.Any(h => h < 1))
            {
                throw new ArgumentOutOfRangeException(nameof(HiddenDimensions), "HiddenDimensions must be positive widths.");
            }

            if (!(LearningRate > 0) || !(CommitmentWeight >= 0))
            {
                throw new ArgumentOutOfRangeException(nameof(LearningRate), "LearningRate must be positive and CommitmentWeight non-negative.");
            }
        }
    }
}

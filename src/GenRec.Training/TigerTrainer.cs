using System.Diagnostics;
using GenRec.Cascade;
using GenRec.Data;
using GenRec.Evaluation;
using GenRec.Generative;
using GenRec.SemanticIds;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>Progress of a <see cref="TigerTrainer"/>: after each epoch, with the validation figure when it was measured.</summary>
/// <param name="Epoch">The epoch just finished.</param>
/// <param name="Epochs">The most epochs the run may take.</param>
/// <param name="Loss">Mean training loss (cross-entropy per code) of the epoch.</param>
/// <param name="ValidationNdcg10">Validation NDCG@10 after the epoch, or <see langword="null"/> when not measured.</param>
/// <param name="Elapsed">Time since training started.</param>
/// <param name="ValidationLogLikelihood">Mean log-probability of the validation targets after the epoch (see <see cref="TigerModelSelection.ValidationLogLikelihood"/>), or <see langword="null"/> when not measured.</param>
public readonly record struct TigerTrainingProgress(int Epoch, int Epochs, double Loss, double? ValidationNdcg10, TimeSpan Elapsed, double? ValidationLogLikelihood = null);

/// <summary>What a <see cref="TigerTrainer"/>'s early stopping and its choice of the kept epoch read.</summary>
public enum TigerModelSelection
{
    /// <summary>
    /// The mean log-probability the model gives each validation target's semantic ID given the user's history, teacher
    /// forced through the same session the beam search drives (<see cref="TeacherForcing"/>: the score the beam ranks
    /// by). Every validation user contributes a continuous value, so epoch-to-epoch differences are far less noisy than
    /// a top-10 hit over one target per user; the default.
    /// </summary>
    ValidationLogLikelihood,

    /// <summary>Validation NDCG@10 of trie-constrained beam search: the reported metric itself, but one target per user makes it noisy on small data (an early peak can end a run mid-schedule).</summary>
    ValidationNdcg10,
}

/// <summary>
/// Trains a generative retrieval model (TIGER-style) on a split's train part, with teacher forcing. Decoder-only: each
/// user's sequence is cut into windows of up to <see cref="Options.MaxHistoryItems"/> + 1 items and one causal pass
/// learns every next token of a window. Encoder-decoder: <see cref="Options.TargetsPerUser"/> (history, next item)
/// targets are sampled per user and epoch, the last train item always among them. AdamW with linear warm-up and cosine decay,
/// gradient clipping, and early stopping on a validation signal (<see cref="Options.Selection"/>: by default the mean
/// log-probability of the validation targets; validation NDCG@10 of trie-constrained beam search over the full catalogue,
/// history excluded, is measured and reported at every validation too); the best epoch's weights are kept. Seeded; CUDA
/// when present.
/// </summary>
public sealed class TigerTrainer
{
    private readonly Options _options;

    /// <summary>Creates a trainer with the common parameters.</summary>
    /// <param name="epochs">The most epochs. Default: 40.</param>
    /// <param name="seed">Random seed. Default: 42.</param>
    public TigerTrainer(int epochs = 40, int seed = 42)
        : this(new Options { Epochs = epochs, Seed = seed })
    {
    }

    /// <summary>Creates a trainer.</summary>
    /// <param name="options">The options.</param>
    public TigerTrainer(Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Trains on <paramref name="split"/>'s train part, choosing the epoch by its validation targets.</summary>
    /// <param name="split">The split.</param>
    /// <param name="index">The semantic-ID index of the split's catalogue.</param>
    /// <param name="cancellationToken">Cancels training.</param>
    /// <returns>The trained model.</returns>
    /// <exception cref="ArgumentException">The train part yields no window of two items the index knows.</exception>
    public TigerModelArtifact Fit(DataSplit split, SemanticIdIndex index, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(split);
        ArgumentNullException.ThrowIfNull(index);
        var clock = Stopwatch.StartNew();
        var device = TorchDevices.Resolve(_options.Device);
        torch.random.manual_seed(_options.Seed);
        var random = new Random(_options.Seed);
        // End to end: an item-ID table over the items seen in training, with their genres and release years.
        ItemId[]? items = null;
        var genreNames = new Dictionary<string, int>();
        if (_options.Architecture == TigerArchitecture.EndToEnd)
        {
            var seen = split.TrainInteractions.Select(i => i.Item).ToHashSet();
            items = [.. split.Dataset.Catalogue.Where(i => seen.Contains(i) && index.TryGetSemanticId(i, out _))];
            foreach (var g in items.SelectMany(i => split.Dataset.Items.TryGetValue(i, out var r) ? r.Categories : []))
            {
                genreNames.TryAdd(g, genreNames.Count);
            }
        }

        var readActions = _options.Architecture != TigerArchitecture.EndToEnd && (_options.ReadActions ?? SplitActions.AreMany(split));
        var config = new TigerConfig(_options.Dimension, _options.Layers, _options.Heads, _options.MlpDimension, _options.Dropout, _options.MaxHistoryItems, [.. index.VocabularySizes], _options.Architecture, items is null ? 0 : items.Length + 1, genreNames.Count, readActions);
        config.Validate();
        var model = TigerNetwork.Create(config, items);
        if (items is not null && model is TigerEncoderDecoderModel endToEnd)
        {
            var hot = new float[config.Items * Math.Max(1, config.Genres)];
            var years = new long[config.Items];
            for (var r = 1; r < config.Items; r++)
            {
                if (split.Dataset.Items.TryGetValue(items[r - 1], out var record))
                {
                    foreach (var g in record.Categories)
                    {
                        hot[(r * config.Genres) + genreNames[g]] = 1;
                    }

                    years[r] = HstuModel.YearBucket(record.PublishedAt);
                }
            }

            endToEnd.SetItemFeatures(hot, years);
        }

        var sequences = split.Train
            .Select(s => model.Sequence(s.Interactions, index))
            .Where(s => s.Length >= 2)
            .ToArray();
        if (sequences.Length == 0)
        {
            model.Dispose();
            throw new ArgumentException("No user has two train items the index knows; there is nothing to learn.", nameof(split));
        }

        model.to(device);
        var parameters = model.parameters().Sum(p => p.numel());
        var artifact = new TigerModelArtifact(model, device, index.Fingerprint, index.Version, new TigerTrainingReport(0, 0, 0, 0, parameters, []));
        using var optimizer = new AdamWOptimizer(model.parameters(), _options.LearningRate, _options.WeightDecay);
        var windowsPerEpoch = Examples(model, sequences, random).Count;
        var totalSteps = _options.Epochs * ((windowsPerEpoch + _options.BatchSize - 1) / _options.BatchSize);
        var step = 0;
        var history = new List<(int, double, double, double)>();
        Dictionary<string, Tensor>? best = null;
        double bestSignal = double.NegativeInfinity;
        double bestNdcg = double.NegativeInfinity;
        double bestLikelihood = double.NaN;
        var bestEpoch = 0;
        var bestAt = 0;
        var epoch = 0;
        while (epoch < _options.Epochs)
        {
            epoch++;
            model.train();
            var windows = Examples(model, sequences, random);
            Shuffle(windows, random);
            double lossSum = 0;
            long lossCount = 0;
            for (var start = 0; start < windows.Count; start += _options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                var batch = windows.GetRange(start, Math.Min(_options.BatchSize, windows.Count - start));
                var (total, count) = model.Loss(batch, device);
                var mean = total.Over(count);
                optimizer.ZeroGrad();
                mean.backward();
                nn.utils.clip_grad_norm_(model.parameters(), _options.GradientClip);
                SetLearningRate(optimizer, ++step, totalSteps);
                optimizer.Step();
                lossSum += mean.item<float>() * count;
                lossCount += count;
                var done = (start / _options.BatchSize) + 1;
                var steps = (windows.Count + _options.BatchSize - 1) / _options.BatchSize;
                if (_options.StepProgress is { } stepProgress && StepProgress.IsDue(done, steps))
                {
                    stepProgress.Report(new StepProgress(epoch, done, steps, lossSum / Math.Max(1, lossCount), clock.Elapsed));
                }
            }

            var epochLoss = lossSum / Math.Max(1, lossCount);
            double? ndcg = null;
            double? likelihood = null;
            if (epoch % _options.EvaluateEvery == 0 || epoch == _options.Epochs)
            {
                model.eval();
                ndcg = Validate(artifact, split, index, cancellationToken);
                likelihood = ValidationLogLikelihood(artifact, split, index, _options.EvaluationUsers, cancellationToken);
                history.Add((epoch, epochLoss, ndcg.Value, likelihood.Value));
                var signal = _options.Selection == TigerModelSelection.ValidationNdcg10 ? ndcg.Value : likelihood.Value;
                if (signal > bestSignal)
                {
                    bestSignal = signal;
                    bestNdcg = ndcg.Value;
                    bestLikelihood = likelihood.Value;
                    bestEpoch = epoch;
                    bestAt = epoch;
                    best?.Values.ToList().ForEach(t => t.Dispose());
                    best = model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
                    if (_options.CheckpointDirectory is { } checkpoint)
                    {
                        // The best model so far, loadable as it is: a stopped run keeps it.
                        new TigerModelArtifact(model, device, index.Fingerprint, index.Version, new TigerTrainingReport(epoch, epoch, bestNdcg, clock.Elapsed.TotalSeconds, parameters, [.. history], bestLikelihood)).Save(checkpoint);
                        model.train();
                    }
                }
            }

            _options.Progress?.Report(new TigerTrainingProgress(epoch, _options.Epochs, epochLoss, ndcg, clock.Elapsed, likelihood));
            // Early stopping never ends a run before MinEpochs (an early peak of a noisy validation signal), and counts
            // patience in epochs, whatever the validation interval.
            if (bestEpoch > 0 && epoch >= _options.MinEpochs && epoch - bestAt >= _options.Patience)
            {
                break;
            }
        }

        if (best is not null)
        {
            model.load_state_dict(best);
            foreach (var t in best.Values)
            {
                t.Dispose();
            }
        }

        model.eval();
        return new TigerModelArtifact(model, device, index.Fingerprint, index.Version, new TigerTrainingReport(epoch, bestEpoch, bestNdcg, clock.Elapsed.TotalSeconds, parameters, history, bestLikelihood));
    }

    /// <summary>
    /// The mean log-probability <paramref name="decoder"/> gives each validation target's semantic ID after the user's
    /// train history (teacher forced, <see cref="TeacherForcing.LogProbabilities"/>); targets the index does not know
    /// are left out, as they are for every generative model.
    /// </summary>
    /// <param name="decoder">The model.</param>
    /// <param name="split">The split whose validation targets are scored.</param>
    /// <param name="index">The semantic-ID index of the split's catalogue.</param>
    /// <param name="users">Score the first this many validation users only; <see langword="null"/> for all.</param>
    /// <param name="cancellationToken">Cancels the pass.</param>
    /// <returns>The mean, in nats (0 or less).</returns>
    /// <exception cref="InvalidOperationException">The index is not the model's, or it knows no validation target.</exception>
    public static double ValidationLogLikelihood(IGenerativeDecoder decoder, DataSplit split, SemanticIdIndex index, int? users = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        ArgumentNullException.ThrowIfNull(split);
        ArgumentNullException.ThrowIfNull(index);
        if (decoder.IndexFingerprint != index.Fingerprint)
        {
            throw new InvalidOperationException($"The model was trained on semantic-ID index {decoder.IndexFingerprint}, not on {index.Fingerprint}; score it with its own index.");
        }

        double sum = 0;
        var count = 0;
        foreach (var c in split.Cases(SplitTarget.Valid).Take(users ?? int.MaxValue))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!index.TryGetSemanticId(c.Target.Item, out var target))
            {
                continue;
            }

            var tokens = decoder.EncodeHistory([.. c.History.Select(h => h.ToEvent())], index);
            using var session = decoder.Start(tokens);
            sum += TeacherForcing.LogProbabilities(session, [target])[0];
            count++;
        }

        return count > 0 ? sum / count : throw new InvalidOperationException("No validation target is known to the semantic-ID index; there is nothing to validate on.");
    }

    private double Validate(TigerModelArtifact artifact, DataSplit split, SemanticIdIndex index, CancellationToken cancellationToken)
    {
        var recall = new GenerativeRecall(artifact, index, new GenerativeRecallOptions { BeamWidth = _options.EvaluationBeamWidth });
        var pipeline = new CascadePipeline("tiger", [new RecallChannel(recall)]);
        var result = OfflineEvaluator.EvaluateAsync(
            pipeline,
            split,
            SplitTarget.Valid,
            new EvaluationOptions { TopK = 10, MaxUsers = _options.EvaluationUsers, Cutoffs = [10] },
            cancellationToken: cancellationToken).GetAwaiter().GetResult();
        return result.Report["NDCG@10"];
    }

    private List<ArraySegment<SequenceItem>> Examples(TigerNetwork model, SequenceItem[][] sequences, Random random) =>
        sequences.SelectMany(s => model.Examples(s, random, _options.TargetsPerUser)).ToList();

    private static void Shuffle<T>(List<T> list, Random random)
    {
        for (var i = list.Count - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }

    private void SetLearningRate(AdamWOptimizer optimizer, int step, int totalSteps)
    {
        var warmup = Math.Min(_options.WarmupSteps, Math.Max(1, totalSteps / 10));
        var rate = step <= warmup
            ? _options.LearningRate * step / warmup
            : _options.LearningRate * (0.1 + (0.9 * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1.0, (step - warmup) / (double)Math.Max(1, totalSteps - warmup))))));
        optimizer.LearningRate = rate;
    }

    /// <summary>Options of a <see cref="TigerTrainer"/>.</summary>
    public sealed class Options
    {
        /// <summary>Decoder-only (every position learned in one pass), TIGER's encoder-decoder, or end to end (the encoder-decoder reading item IDs, side features, actions and times). Default: decoder-only.</summary>
        public TigerArchitecture Architecture { get; set; } = TigerArchitecture.DecoderOnly;

        /// <summary>
        /// Decoder-only and encoder-decoder: whether the history carries each event's action (and a rating's value) as a
        /// token after the item's codes, so the model can tell a purchase from an impression or a 5-star rating from a
        /// 1-star one; <see langword="null"/>: when the train part holds more than one action. End to end always reads
        /// actions (in its own slot). Default: <see langword="false"/> (choose it on a team's own validation target:
        /// docs/benchmarks.md has what it did on MovieLens and on a simulated log).
        /// </summary>
        public bool? ReadActions { get; set; } = false;

        /// <summary>Encoder-decoder and end to end: (history, next item) targets sampled per user and epoch, the last train item always among them. Default: 16. Allowed: 1 or more.</summary>
        public int TargetsPerUser { get; set; } = 16;

        /// <summary>Model width. Default: 64. Allowed: 1 or more, divisible by <see cref="Heads"/>.</summary>
        public int Dimension { get; set; } = 64;

        /// <summary>Transformer blocks. Default: 2. Allowed: 1 or more.</summary>
        public int Layers { get; set; } = 2;

        /// <summary>Attention heads. Default: 2. Allowed: 1 or more.</summary>
        public int Heads { get; set; } = 2;

        /// <summary>Hidden width of each block's MLP. Default: 256. Allowed: 1 or more.</summary>
        public int MlpDimension { get; set; } = 256;

        /// <summary>Dropout in training. Default: 0.1. Allowed: [0, 1).</summary>
        public double Dropout { get; set; } = 0.1;

        /// <summary>History items the model reads. Default: 50. Allowed: 1 or more.</summary>
        public int MaxHistoryItems { get; set; } = 50;

        /// <summary>The most epochs. Default: 40. Allowed: 1 or more.</summary>
        public int Epochs { get; set; } = 40;

        /// <summary>Windows per step. Default: 64. Allowed: 1 or more.</summary>
        public int BatchSize { get; set; } = 64;

        /// <summary>Peak AdamW learning rate. Default: 0.002. Allowed: positive.</summary>
        public double LearningRate { get; set; } = 2e-3;

        /// <summary>AdamW weight decay. Default: 0.01. Allowed: non-negative.</summary>
        public double WeightDecay { get; set; } = 0.01;

        /// <summary>Linear warm-up steps (at most a tenth of training). Default: 100. Allowed: 1 or more.</summary>
        public int WarmupSteps { get; set; } = 100;

        /// <summary>Gradient norm clip. Default: 1. Allowed: positive.</summary>
        public double GradientClip { get; set; } = 1.0;

        /// <summary>What early stopping and the kept epoch are chosen by. Default: <see cref="TigerModelSelection.ValidationLogLikelihood"/>.</summary>
        public TigerModelSelection Selection { get; set; } = TigerModelSelection.ValidationLogLikelihood;

        /// <summary>Validate every this many epochs. Default: 2. Allowed: 1 or more.</summary>
        public int EvaluateEvery { get; set; } = 2;

        /// <summary>Stop once this many epochs have passed since the best validation signal (checked at validations). Default: 6. Allowed: 1 or more.</summary>
        public int Patience { get; set; } = 6;

        /// <summary>Never stop before this epoch, however validation moves (early peaks of one target per user are noise). Default: 10. Allowed: 1 or more.</summary>
        public int MinEpochs { get; set; } = 10;

        /// <summary>Beam width of validation. Default: 20. Allowed: 10 or more.</summary>
        public int EvaluationBeamWidth { get; set; } = 20;

        /// <summary>Validate on the first this many users only; <see langword="null"/> for all. Default: all.</summary>
        public int? EvaluationUsers { get; set; }

        /// <summary>Random seed. Default: 42.</summary>
        public int Seed { get; set; } = 42;

        /// <summary>Where to train. Default: <see cref="ComputeDevice.Auto"/>.</summary>
        public ComputeDevice Device { get; set; } = ComputeDevice.Auto;

        /// <summary>A folder the best model so far is saved to whenever validation improves; <see langword="null"/> for none. Default: none.</summary>
        public string? CheckpointDirectory { get; set; }

        /// <summary>Receives progress after each epoch; may be <see langword="null"/>. Default: none.</summary>
        public IProgress<TigerTrainingProgress>? Progress { get; set; }

        /// <summary>Receives progress inside each epoch (about every 5 % of its steps); may be <see langword="null"/>. Default: none.</summary>
        public IProgress<StepProgress>? StepProgress { get; set; }

        internal void Validate()
        {
            foreach (var (name, value) in new[]
            {
                (nameof(Dimension), Dimension), (nameof(Layers), Layers), (nameof(Heads), Heads), (nameof(MlpDimension), MlpDimension),
                (nameof(MaxHistoryItems), MaxHistoryItems), (nameof(Epochs), Epochs), (nameof(BatchSize), BatchSize), (nameof(WarmupSteps), WarmupSteps),
                (nameof(EvaluateEvery), EvaluateEvery), (nameof(Patience), Patience), (nameof(MinEpochs), MinEpochs), (nameof(TargetsPerUser), TargetsPerUser),
            })
            {
                if (value < 1)
                {
                    throw new ArgumentOutOfRangeException(name, value, $"{name} is {value}; it must be 1 or more.");
                }
            }

            if (Dimension % Heads != 0)
            {
                throw new ArgumentOutOfRangeException(nameof(Heads), Heads, $"Heads ({Heads}) must divide Dimension ({Dimension}).");
            }

            if (!Enum.IsDefined(Architecture))
            {
                throw new ArgumentOutOfRangeException(nameof(Architecture), Architecture, $"{nameof(Architecture)} is {(int)Architecture}; it must be one of {string.Join(", ", Enum.GetNames<TigerArchitecture>())}.");
            }

            if (!Enum.IsDefined(Selection))
            {
                throw new ArgumentOutOfRangeException(nameof(Selection), Selection, $"{nameof(Selection)} is {(int)Selection}; it must be one of {string.Join(", ", Enum.GetNames<TigerModelSelection>())}.");
            }

            if (EvaluationBeamWidth < 10)
            {
                throw new ArgumentOutOfRangeException(nameof(EvaluationBeamWidth), EvaluationBeamWidth, "EvaluationBeamWidth must be 10 or more (validation ranks a top 10).");
            }

            if (!(LearningRate > 0) || !(WeightDecay >= 0) || !(GradientClip > 0) || Dropout is < 0 or >= 1)
            {
                throw new ArgumentOutOfRangeException(nameof(LearningRate), "LearningRate and GradientClip must be positive, WeightDecay non-negative, Dropout in [0, 1).");
            }
        }
    }
}

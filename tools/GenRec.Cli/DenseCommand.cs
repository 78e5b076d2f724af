using System.CommandLine;
using System.Text.Json;
using GenRec.Data;
using GenRec.Embeddings;
using GenRec.Generative;
using GenRec.SemanticIds;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary><c>genrec train dense</c>: the two-tower dense retriever (content + collaborative item tower, transformer user tower).</summary>
internal static class DenseCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data();
        var output = new Option<string>("--out") { Description = "The model folder to write.", Required = true };
        var cache = new Option<string?>("--cache") { Description = "A folder to cache the catalogue's content embeddings in (all-MiniLM-L6-v2; they take about 20 s to compute)." };
        var options = new DenseOptions();
        var coldStart = CommonOptions.ColdStart();
        var coldSeed = CommonOptions.ColdSeed();
        var coldTuning = CommonOptions.ColdTuning();
        var seed = CommonOptions.Seed();
        var command = new Command("dense", "Train a two-tower dense retriever on the train part (item tower: content vector + collaborative ID embedding with ID dropout; user tower: causal transformer), keeping the epoch with the best validation NDCG@10.")
        {
            data, output, cache, coldStart, coldSeed, coldTuning, seed,
        };
        foreach (var option in options.All)
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, ct) =>
        {
            var split = CommonOptions.Load(DataSource.Required(parse, data), null, parse.GetValue(coldStart), parse.GetValue(coldSeed), parse.GetValue(coldTuning)).Split;
            using var model = Train(split, options.Read(parse) with { Seed = parse.GetValue(seed) }, parse.GetValue(cache), ct);
            var folder = parse.GetValue(output)!;
            model.Save(folder);
            ConsoleProgress.Status($"wrote {folder}");
            var r = model.Report;
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = "dense",
                ["parameters"] = r.Parameters,
                ["epochs"] = r.Epochs,
                ["best_epoch"] = r.BestEpoch,
                ["valid_NDCG@10"] = Math.Round(r.ValidationNdcg10, 6),
                ["id_dropout"] = r.IdDropout,
                ["reads_actions"] = model.ReadsActions,
                ["items"] = model.ItemVectors.Count,
                ["trained_items"] = model.TrainedItems.Count,
                ["train_seconds"] = Math.Round(r.Seconds, 1),
                ["device"] = model.Device,
            }));
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary><c>genrec train dense-head</c>: COBRA's prefix-conditioned dense head on a trained dense model.</summary>
    public static Command CreateHead()
    {
        var data = CommonOptions.Data();
        var densePath = new Option<string>("--dense-path") { Description = "The trained dense model's folder (genrec train dense, on the same split).", Required = true };
        var index = new Option<string>("--index") { Description = "The semantic-ID index of the generator the head serves beside (the one beam fusion decodes).", Required = true };
        var output = new Option<string>("--out") { Description = "The model folder to write: the dense model with its head (may be --dense-path itself).", Required = true };
        var levels = new Option<int>("--head-levels") { Description = "How many leading codes of the semantic ID the head reads; beam fusion must generate as many (--beam-fusion-levels).", DefaultValueFactory = _ => new PrefixHeadTrainer.Options().Levels };
        var epochs = new Option<int>("--head-epochs") { Description = "The most epochs (early stopping on within-prefix validation NDCG@10).", DefaultValueFactory = _ => new PrefixHeadTrainer.Options().Epochs };
        var learningRate = new Option<double>("--head-lr") { Description = "AdamW learning rate.", DefaultValueFactory = _ => new PrefixHeadTrainer.Options().LearningRate };
        var patience = new Option<int>("--head-patience") { Description = "Epochs without a better validation NDCG@10 before stopping.", DefaultValueFactory = _ => new PrefixHeadTrainer.Options().Patience };
        var idDropout = new Option<double>("--head-id-dropout") { Description = "The share of items scored on their content-only vector in each step (as new items are).", DefaultValueFactory = _ => new PrefixHeadTrainer.Options().IdDropout };
        var coldStart = CommonOptions.ColdStart();
        var coldSeed = CommonOptions.ColdSeed();
        var coldTuning = CommonOptions.ColdTuning();
        var seed = CommonOptions.Seed();
        var command = new Command("dense-head", "Train COBRA's dense head on a trained dense model: given the user's state and the first codes of the next item's semantic ID, it emits the query that ranks the items under that prefix (towers frozen; kept only if it beats the user's own vector on validation).")
        {
            data, densePath, index, output, levels, epochs, learningRate, patience, idDropout, coldStart, coldSeed, coldTuning, seed,
        };
        command.SetAction((parse, ct) =>
        {
            var split = CommonOptions.Load(DataSource.Required(parse, data), null, parse.GetValue(coldStart), parse.GetValue(coldSeed), parse.GetValue(coldTuning)).Split;
            var ids = SemanticIdIndex.Load(parse.GetValue(index)!);
            using var model = DenseRetrievalModel.Load(parse.GetValue(densePath)!);
            CommonOptions.RequirePositive(parse.GetValue(levels), "--head-levels");
            CommonOptions.RequirePositive(parse.GetValue(epochs), "--head-epochs");
            CommonOptions.RequirePositive(parse.GetValue(patience), "--head-patience");
            if (parse.GetValue(idDropout) is not (>= 0 and <= 1))
            {
                throw new UsageException($"--head-id-dropout is {parse.GetValue(idDropout)}; it must be in [0, 1].");
            }

            if (parse.GetValue(learningRate) is not (> 0 and < double.PositiveInfinity))
            {
                throw new UsageException($"--head-lr is {parse.GetValue(learningRate)}; it must be positive.");
            }

            var trainer = new PrefixHeadTrainer(new PrefixHeadTrainer.Options
            {
                Levels = parse.GetValue(levels),
                Epochs = parse.GetValue(epochs),
                LearningRate = parse.GetValue(learningRate),
                Patience = parse.GetValue(patience),
                IdDropout = parse.GetValue(idDropout),
                Seed = parse.GetValue(seed),
                Progress = new SyncProgress<PrefixHeadProgress>(p => ConsoleProgress.Status(
                    $"dense head epoch {p.Epoch}/{p.Epochs}: loss {p.Loss:0.0000}, within-prefix validation NDCG@10 {p.ValidationNdcg10:0.0000} ({p.Elapsed.TotalSeconds:0}s)")),
            });
            PrefixHeadReport r;
            try
            {
                r = trainer.Fit(model, split, ids, ct);
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }

            var folder = parse.GetValue(output)!;
            model.Save(folder);
            ConsoleProgress.Status($"dense head: kept epoch {r.BestEpoch} of {r.Epochs}; within-prefix validation NDCG@10 {r.UnconditionedValidationNdcg10:0.0000} without it, {r.ValidationNdcg10:0.0000} with it; wrote {folder}");
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = "dense-head",
                ["levels"] = r.Levels,
                ["index"] = r.IndexFingerprint,
                ["parameters"] = r.Parameters,
                ["positions"] = r.Positions,
                ["epochs"] = r.Epochs,
                ["best_epoch"] = r.BestEpoch,
                ["valid_within_prefix_NDCG@10_unconditioned"] = Math.Round(r.UnconditionedValidationNdcg10, 6),
                ["valid_within_prefix_NDCG@10"] = Math.Round(r.ValidationNdcg10, 6),
                ["train_seconds"] = Math.Round(r.Seconds, 1),
                ["device"] = model.Device,
            }));
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>Trains the dense retriever on a split, with the catalogue's content embeddings (cached when a folder is given).</summary>
    public static DenseRetrievalModel Train(DataSplit split, DenseRetrievalTrainer.Options options, string? cache, CancellationToken ct)
    {
        var content = EmbeddingBuilder.Content(split, cache, ct);
        var trainer = new DenseRetrievalTrainer(options with
        {
            Progress = new SyncProgress<DenseTrainingProgress>(p => ConsoleProgress.Status(
                $"dense epoch {p.Epoch}/{p.Epochs}: loss {p.Loss:0.0000}, validation NDCG@10 {p.ValidationNdcg10:0.0000} ({p.Elapsed.TotalSeconds:0}s)")),
            StepProgress = ConsoleProgress.Steps("dense"),
        });
        var model = trainer.Fit(split, content, ContentEmbedder.SourceName, ct);
        ConsoleProgress.Status($"dense: {model.Report.Parameters:N0} parameters on {model.Device}; kept epoch {model.Report.BestEpoch} of {model.Report.Epochs} (validation NDCG@10 {model.Report.ValidationNdcg10:0.0000}); {model.ItemVectors.Count} items, {model.TrainedItems.Count} with an ID embedding");
        return model;
    }
}

/// <summary>The dense trainer's options on the command line.</summary>
internal sealed class DenseOptions
{
    public DenseOptions()
    {
        FusionVectors.AcceptOnlyFromAmong("full", "content");
        Actions.AcceptOnlyFromAmong("auto", "on", "off");
    }

    public Option<int> Epochs { get; } = new("--dense-epochs") { Description = "dense: the most epochs (early stopping on validation NDCG@10).", DefaultValueFactory = _ => 40 };

    public Option<int> Dimension { get; } = new("--dense-dim") { Description = "dense: width of item and user vectors.", DefaultValueFactory = _ => 64 };

    public Option<int> MaxHistory { get; } = new("--dense-max-history") { Description = "dense: history items the user tower reads.", DefaultValueFactory = _ => 50 };

    public Option<double> IdDropout { get; } = new("--dense-id-dropout") { Description = "dense: share of items whose ID embedding is dropped per training step (what makes content-only vectors retrievable).", DefaultValueFactory = _ => 0.5 };

    public Option<double> Temperature { get; } = new("--dense-temperature") { Description = "dense: softmax temperature of the cosine scores.", DefaultValueFactory = _ => 0.05 };

    public Option<double> ContentLoss { get; } = new("--dense-content-loss") { Description = "dense: weight of the loss that ranks next items by their content-only vectors (what new items are ranked by); 0: off.", DefaultValueFactory = _ => 0 };

    public Option<int> Negatives { get; } = new("--dense-negatives") { Description = "dense: sampled softmax, each step's next items against themselves and this many uniformly drawn items; 0: against the whole catalogue (the default).", DefaultValueFactory = _ => 0 };

    public Option<string> Actions { get; } = new("--dense-actions")
    {
        Description = "dense: whether the user tower reads each history event's action (impression, click, purchase …): on, off, or auto (on when the train part holds more than one action); choose it on --target valid.",
        DefaultValueFactory = _ => "off",
    };

    public Option<string?> Positives { get; } = new("--dense-positives")
    {
        Description = "dense: the actions whose events are the next items the model learns, comma-separated (e.g. Click,Purchase on a log evaluated on them); every event is still read. Default: every event.",
    };

    public Option<int?> ValidationUsers { get; } = new("--dense-eval-users") { Description = "dense: validate on the first N users only (faster)." };

    public Option<string?> Path { get; } = new("--dense-path") { Description = "dense, hybrid-union, hybrid-rrf: the dense retriever's folder (genrec train dense); dense trains one here when absent." };

    /// <summary>Evaluation only: the share of a hybrid-fresh list reserved for the fresh-items channel.</summary>
    public Option<double> FreshShare { get; } = new("--fresh-share")
    {
        Description = "hybrid-fresh: the share of every list reserved for the fresh-items channel (items without an ID embedding), in [0, 1); the rest is the interleaved union of generative and dense retrieval.",
        DefaultValueFactory = _ => 0.2,
    };

    /// <summary>Evaluation only: how many union items come before the first fresh one.</summary>
    public Option<int> FreshAfter { get; } = new("--fresh-after")
    {
        Description = "hybrid-fresh: how many of the union's items come before the first fresh item (0: interleaved from the top).",
        DefaultValueFactory = _ => 0,
    };

    /// <summary>Evaluation only: beam-fusion's generated prefix length.</summary>
    public Option<int> FusionLevels { get; } = new("--beam-fusion-levels")
    {
        Description = "beam-fusion: how many leading codes of the semantic ID the generator emits; every item under a generated prefix is a candidate.",
        DefaultValueFactory = _ => new BeamFusionOptions().PrefixLevels,
    };

    /// <summary>Evaluation only: beam-fusion's prefixes kept.</summary>
    public Option<int> FusionBeams { get; } = new("--beam-fusion-beams")
    {
        Description = "beam-fusion: prefixes the beam search keeps.",
        DefaultValueFactory = _ => new BeamFusionOptions().Beams,
    };

    /// <summary>Evaluation only: beam-fusion's weight of the dense similarity.</summary>
    public Option<double> FusionWeight { get; } = new("--beam-fusion-weight")
    {
        Description = "beam-fusion: the weight w of the dense similarity in log P(prefix) + w × similarity (0: the generator alone; choose it on --target valid).",
        DefaultValueFactory = _ => new BeamFusionOptions().DenseWeight,
    };

    /// <summary>Evaluation only: which item vectors beam-fusion's dense side reads.</summary>
    public Option<string> FusionVectors { get; } = new("--beam-fusion-vectors")
    {
        Description = "beam-fusion: the item vectors of the dense similarity: full (content + ID embedding) or content (content-only for every item: new and warm items on one scale).",
        DefaultValueFactory = _ => "full",
    };

    /// <summary>Evaluation only: beam-fusion's offset for items without an ID embedding.</summary>
    public Option<double> FusionFreshOffset { get; } = new("--beam-fusion-fresh-offset")
    {
        Description = "beam-fusion: added to the dense similarity of items without an ID embedding (new since training): the prior correction that lets them into one list (choose it on a cold validation split, --cold-tuning).",
        DefaultValueFactory = _ => 0,
    };

    public IEnumerable<Option> All => [Path, Epochs, Dimension, MaxHistory, IdDropout, Temperature, ContentLoss, Negatives, Actions, Positives, ValidationUsers];

    /// <summary>The options only evaluation reads (hybrid-fresh and beam-fusion).</summary>
    /// <summary>Evaluation only: beam-fusion's dense side conditioned on each prefix by the model's head.</summary>
    public Option<bool> FusionHead { get; } = new("--beam-fusion-head")
    {
        Description = "beam-fusion: score the items under each prefix against the dense model's prefix-conditioned query (COBRA's dense head, genrec train dense-head) instead of the user's own vector.",
    };

    public IEnumerable<Option> EvaluationOnly => [FreshShare, FreshAfter, FusionLevels, FusionBeams, FusionWeight, FusionVectors, FusionFreshOffset, FusionHead];

    /// <summary>The beam-fusion options, checked.</summary>
    public (BeamFusionOptions Options, DenseItemVectors Vectors, double FreshOffset, bool Conditioned) ReadBeamFusion(ParseResult parse)
    {
        CommonOptions.RequirePositive(parse.GetValue(FusionLevels), "--beam-fusion-levels");
        CommonOptions.RequirePositive(parse.GetValue(FusionBeams), "--beam-fusion-beams");
        if (parse.GetValue(FusionWeight) is not (>= 0 and < double.PositiveInfinity))
        {
            throw new UsageException($"--beam-fusion-weight is {parse.GetValue(FusionWeight)}; it must be 0 or more.");
        }

        var options = new BeamFusionOptions { PrefixLevels = parse.GetValue(FusionLevels), Beams = parse.GetValue(FusionBeams), DenseWeight = parse.GetValue(FusionWeight) };
        if (!double.IsFinite(parse.GetValue(FusionFreshOffset)))
        {
            throw new UsageException($"--beam-fusion-fresh-offset is {parse.GetValue(FusionFreshOffset)}; it must be a finite number.");
        }

        return (options, parse.GetValue(FusionVectors) == "full" ? DenseItemVectors.Full : DenseItemVectors.ContentOnly, parse.GetValue(FusionFreshOffset), parse.GetValue(FusionHead));
    }

    /// <summary>The --fresh-share value, checked.</summary>
    public double ReadFreshShare(ParseResult parse) =>
        parse.GetValue(FreshShare) is var share and >= 0 and < 1 ? share : throw new UsageException($"--fresh-share is {parse.GetValue(FreshShare)}; it must be in [0, 1).");

    public DenseRetrievalTrainer.Options Read(ParseResult parse)
    {
        var epochs = parse.GetValue(Epochs);
        CommonOptions.RequirePositive(epochs, "--dense-epochs");
        CommonOptions.RequirePositive(parse.GetValue(Dimension), "--dense-dim");
        CommonOptions.RequirePositive(parse.GetValue(MaxHistory), "--dense-max-history");
        if (parse.GetValue(IdDropout) is not (>= 0 and <= 1))
        {
            throw new UsageException($"--dense-id-dropout is {parse.GetValue(IdDropout)}; it must be in [0, 1].");
        }

        if (parse.GetValue(Temperature) is not > 0)
        {
            throw new UsageException($"--dense-temperature is {parse.GetValue(Temperature)}; it must be positive.");
        }

        return new DenseRetrievalTrainer.Options
        {
            Epochs = epochs,
            Dimension = parse.GetValue(Dimension),
            MaxHistory = parse.GetValue(MaxHistory),
            IdDropout = parse.GetValue(IdDropout),
            Temperature = parse.GetValue(Temperature),
            ContentLossWeight = parse.GetValue(ContentLoss) is var w and >= 0 and < double.PositiveInfinity ? w : throw new UsageException($"--dense-content-loss is {parse.GetValue(ContentLoss)}; it must be 0 or more."),
            ValidationUsers = parse.GetValue(ValidationUsers),
            SampledNegatives = CommonOptions.RequireNonNegative(parse.GetValue(Negatives), "--dense-negatives"),
            ReadActions = parse.GetValue(Actions) switch { "on" => true, "off" => false, _ => null },
            PositiveActions = DataSource.ParseActions(Positives.Name, parse.GetValue(Positives)),
        };
    }
}

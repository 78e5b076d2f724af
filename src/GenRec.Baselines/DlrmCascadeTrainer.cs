using System.Diagnostics;
using GenRec.Cascade;
using GenRec.Data;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;

namespace GenRec.Baselines;

/// <summary>The phases of a <see cref="DlrmCascadeTrainer"/>'s fit, in order.</summary>
public enum TrainerPhase
{
    /// <summary>Fitting the recall channels on the train part without each user's last events (the ranker's pseudo-targets).</summary>
    FittingPrefixRecall = 0,

    /// <summary>Building the ranker's training queries from those channels.</summary>
    BuildingTrainingQueries = 1,

    /// <summary>Fitting the recall channels on the whole train part (what serving uses).</summary>
    FittingRecall = 2,

    /// <summary>Building the validation queries.</summary>
    BuildingValidationQueries = 3,

    /// <summary>Training LambdaRank, one setting of the grid after another.</summary>
    TrainingRanker = 4,

    /// <summary>The fit is done.</summary>
    Done = 5,
}

/// <summary>Progress of a <see cref="DlrmCascadeTrainer"/>: which phase it is in and how far along.</summary>
/// <param name="Phase">What the trainer is doing, in words (with the grid setting while it trains the ranker).</param>
/// <param name="Done">Units of the phase done.</param>
/// <param name="Total">Units of the phase in all.</param>
/// <param name="Elapsed">Time since the fit started.</param>
public readonly record struct TrainerProgress(string Phase, int Done, int Total, TimeSpan Elapsed)
{
    /// <summary>The phase, typed.</summary>
    public TrainerPhase Step { get; init; }
}

/// <summary>
/// Trains the classical DLRM-style cascade on a split: the four <see cref="ClassicRecall"/> channels and a
/// LightGBM LambdaRank ranker over hand-made features (popularity, recent popularity, item-to-item and genre
/// scores, rating, item age and freshness, user–item gaps).
/// </summary>
/// <remarks>
/// The ranker learns from the train part alone: the last <see cref="Options.QueriesPerUser"/> train interactions
/// of each user become pseudo-targets, and the features of their candidates come from recall channels fitted on
/// the train part without those interactions, so co-occurrence never sees the pair it is asked about. Each entry
/// of <see cref="Options.Grid"/> is trained, scored on the validation targets (NDCG@10, history = train) and the
/// best one kept. Serving uses channels fitted on the whole train part.
/// </remarks>
public sealed class DlrmCascadeTrainer
{
    /// <summary>
    /// LightGBM's native library keeps process-wide training state: two fits at once in one process can crash it (a
    /// segfault in lib_lightgbm.so on a thread-pool thread, seen when two cascades trained side by side in one test
    /// process), so LambdaRank fits run one at a time per process. The rest of training and all serving stay parallel.
    /// </summary>
    private static readonly Lock LightGbmFitGate = new();

    private readonly Options _options;

    /// <summary>
    /// The first and cheapest setting of the default grid (15 leaves, 150 rounds): a grid of this one alone is a quick
    /// fit, for checking a pipeline or when only the cascade's recall and features are used.
    /// </summary>
    public static DlrmRankerSettings SingleSetting => Defaults.Grid[0];

    /// <summary>Creates a trainer with default options and the given seed.</summary>
    /// <param name="seed">Seeds LightGBM and ML.NET, so runs repeat. Default: 42.</param>
    public DlrmCascadeTrainer(int seed = 42)
        : this(new Options { Seed = seed })
    {
    }

    /// <summary>Creates a trainer.</summary>
    /// <param name="options">The options.</param>
    public DlrmCascadeTrainer(Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Fits the recall channels and the ranker on <paramref name="split"/>'s train part, tuned on its validation targets.</summary>
    /// <param name="split">The split.</param>
    /// <param name="cancellationToken">Cancels the fit.</param>
    /// <returns>The fitted cascade.</returns>
    /// <exception cref="InvalidOperationException">The train part yields no query whose target the recall finds.</exception>
    public DlrmCascadeModel Fit(DataSplit split, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(split);
        var clock = Stopwatch.StartNew();
        void Report(TrainerPhase step, string phase, int done, int total) => _options.Progress?.Report(new TrainerProgress(phase, done, total, clock.Elapsed) { Step = step });

        // 1. Ranker training queries from the train part.
        // Each user's last QueriesPerUser train events that a target can be (split.TargetActions: on a log with
        // impressions, the clicks or purchases) are pseudo-targets; recall for them is fitted on what precedes them.
        var p = _options.QueriesPerUser;
        var queryUsers = split.Train.Select(s => (Sequence: s, Targets: split.LastTrainTargets(s.Interactions, p))).Where(u => u.Targets.Count > 0).ToArray();
        var prefix = queryUsers.SelectMany(u => u.Sequence.Interactions.Take(u.Targets[0])).ToArray();
        Report(TrainerPhase.FittingPrefixRecall, "fitting recall on the train prefix", 0, 1);
        var prefixRecall = ClassicRecall.Fit(prefix, split.Dataset, _options.Recall);
        var trainQueries = new List<(UserId User, IReadOnlyList<Interaction> History, Interaction Target)>();
        foreach (var (s, targets) in SampleUsers(queryUsers, u => u.Targets.Count, _options.MaxTrainingQueries))
        {
            foreach (var j in targets)
            {
                trainQueries.Add((s.User, s.Interactions.Take(j).ToArray(), s.Interactions[j]));
            }
        }

        var exclude = split.TargetActions;
        var train = BuildQueries(prefixRecall, trainQueries, exclude, TrainerPhase.BuildingTrainingQueries, "building ranker training queries", Report, cancellationToken);
        var width = train.Width;

        // 2. Validation queries, with channels fitted on the whole train part (what serving uses).
        Report(TrainerPhase.FittingRecall, "fitting recall on the train part", 0, 1);
        var recall = ClassicRecall.Fit(split.TrainInteractions, split.Dataset, _options.Recall);
        var validCases = SampleUsers(split.Cases(SplitTarget.Valid).ToArray(), _ => 1, _options.MaxValidationQueries).Select(c => (c.User, c.History, c.Target)).ToList();
        var valid = BuildQueries(recall, validCases, exclude, TrainerPhase.BuildingValidationQueries, "building validation queries", Report, cancellationToken);
        var features = valid.Features;
        if (train.Summary.Rows == 0)
        {
            throw new InvalidOperationException("No training query has its target among the recalled candidates; the ranker cannot learn. Raise the channel quotas or the ranking depth.");
        }

        // 3. Train every grid entry, keep the best on validation NDCG@10.
        var ml = new MLContext(_options.Seed);
        var trainView = ml.Data.LoadFromEnumerable(train.Rows, RankerSchemas.For<TrainingRow>(width));
        var keyMap = ml.Transforms.Conversion.MapValueToKey("GroupKey", nameof(TrainingRow.Group)).Fit(trainView);
        var keyed = keyMap.Transform(trainView);
        var validView = ml.Data.LoadFromEnumerable(valid.Rows.Select(r => new FeatureRow { Features = r.Features }), RankerSchemas.For<FeatureRow>(width));
        ITransformer? best = null;
        DlrmGridResult? bestResult = null;
        var results = new List<DlrmGridResult>();
        for (var g = 0; g < _options.Grid.Count; g++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var config = _options.Grid[g];
            Report(TrainerPhase.TrainingRanker, $"training LambdaRank {config}", g, _options.Grid.Count);
            var trainer = ml.Ranking.Trainers.LightGbm(new LightGbmRankingTrainer.Options
            {
                LabelColumnName = nameof(TrainingRow.Label),
                FeatureColumnName = nameof(TrainingRow.Features),
                RowGroupColumnName = "GroupKey",
                NumberOfLeaves = config.Leaves,
                NumberOfIterations = config.Iterations,
                LearningRate = config.LearningRate,
                MinimumExampleCountPerLeaf = config.MinExamplesPerLeaf,
                Seed = _options.Seed,
                NumberOfThreads = _options.Threads,
                Silent = true,
                Verbose = false,
            });
            Microsoft.ML.Data.RankingPredictionTransformer<LightGbmRankingModelParameters> model;
            lock (LightGbmFitGate)
            {
                model = trainer.Fit(keyed);
            }

            var scores = model.Transform(validView).GetColumn<float>("Score").ToArray();
            var ndcg = valid.Ndcg10(scores);
            var result = new DlrmGridResult(config, ndcg);
            results.Add(result);
            if (bestResult is null || ndcg > bestResult.ValidationNdcg10)
            {
                (best, bestResult) = (model, result);
            }
        }

        Report(TrainerPhase.Done, "done", _options.Grid.Count, _options.Grid.Count);
        var ranker = new DlrmRanker(ml, best!, features);
        return new DlrmCascadeModel(recall, ranker, features, _options, results, bestResult!, train.Summary, valid.Summary)
        {
            RankingQueries = train.Kept ?? [],
            TrainFingerprint = DlrmCascadeFile.Fingerprint(split.TrainInteractions),
            TrainInteractionCount = split.TrainInteractions.Count,
        };
    }

    // Users in a seeded random order until their queries reach the cap (all of them, in their order, when they do not):
    // a large log trains the ranker on a sample of its users, each with all of their queries.
    private List<T> SampleUsers<T>(IReadOnlyList<T> users, Func<T, int> queries, int cap)
    {
        if (users.Sum(u => (long)queries(u)) <= cap)
        {
            return [.. users];
        }

        var order = Enumerable.Range(0, users.Count).ToArray();
        new Random(_options.Seed).Shuffle(order);
        var picked = new List<int>();
        var total = 0;
        foreach (var u in order)
        {
            if (total + queries(users[u]) > cap)
            {
                continue;
            }

            picked.Add(u);
            total += queries(users[u]);
        }

        picked.Sort(); // the users' own order, as without a cap
        return [.. picked.Select(u => users[u])];
    }

    private QuerySet BuildQueries(
        ClassicRecall recall,
        List<(UserId User, IReadOnlyList<Interaction> History, Interaction Target)> queries,
        IReadOnlySet<ActionType>? excludeHistoryActions,
        TrainerPhase step,
        string phase,
        Action<TrainerPhase, string, int, int> report,
        CancellationToken cancellationToken)
    {
        var pipeline = DlrmCascadeModel.CreateRecallPipeline(recall, _options);
        var features = new DlrmFeatures(recall.Profiles, _options.Features, _options.ExtraChannels.Select(c => c.Stage.Name));
        var width = features.Names.Count;
        var kept = _options.KeepRankingQueries ? new RankingQuery[queries.Count] : null;
        var extra = features.HasExtraSources;
        var done = 0;

        // Extra channels and feature sources (generative models, often TorchSharp ones) run one query at a time on
        // this thread, with no other work in flight: TorchSharp 0.107 passes a temporary Scalar's native handle to
        // libtorch without keeping the Scalar alive (every tensor addition makes one for its alpha), so a garbage
        // collection another thread starts can finalise it while libtorch reads it. That crashed the fused cascade's
        // training ("Expected false to be true" from c10's Scalar::toFloat). GenRec.Training's models no longer make
        // such scalars (TorchOps), but a team's TorchSharp model may. The classical part stays parallel.
        var serial = _options.ExtraChannels.Count > 0;
        var built = new Query[queries.Count];
        Parallel.For(0, queries.Count, new ParallelOptions { MaxDegreeOfParallelism = serial ? 1 : _options.Threads, CancellationToken = cancellationToken }, q =>
        {
            var (user, history, target) = queries[q];
            // Lists leave out what the user had a target's action on (every item of the history by default): on a
            // log with impressions, an item the user was only shown stays a candidate, as it does in evaluation.
            var request = new RecommendationRequest(user, history.Select(h => h.ToEvent()).ToArray(), _options.RankingDepth, target.Time) { ExcludeHistoryActions = excludeHistoryActions };
            var candidates = pipeline.RecommendAsync(request, cancellationToken).AsTask().GetAwaiter().GetResult().Items;
            var values = new float[candidates.Count * width];
            features.ComputeHandMade(request, candidates, values);
            var targetRow = -1;
            for (var i = 0; i < candidates.Count; i++)
            {
                if (candidates[i].Item == target.Item)
                {
                    targetRow = i;
                    break;
                }
            }

            // Only what is still needed is kept: the recall's user profile (hundreds of kB, cached on the request
            // object) goes with the request, a copy of which stays only for extra features or the kept queries; the
            // candidates likewise; the features only of a query whose target was recalled (the ranker learns from
            // those) unless the queries are kept whole.
            var keep = extra || kept is not null;
            built[q] = new Query(keep ? request with { } : null, keep ? candidates : null, targetRow >= 0 || keep ? values : null, candidates.Count, targetRow);
            var n = Interlocked.Increment(ref done);
            if (n % 200 == 0 || n == queries.Count)
            {
                report(step, phase, n, queries.Count);
            }
        });

        done = 0;
        for (var q = 0; q < queries.Count && (extra || kept is not null); q++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var query = built[q];
            if (extra)
            {
                features.ComputeExtra(query.Request!, query.Candidates!, query.Values!);
            }

            if (kept is not null)
            {
                kept[q] = new RankingQuery(query.Request!, query.Candidates!, query.TargetRow, query.Values!);
            }

            built[q] = query with { Request = null, Candidates = null, Values = query.TargetRow >= 0 ? query.Values : null };
            if (extra && (++done % 200 == 0 || done == queries.Count))
            {
                report(step, $"{phase}: extra features", done, queries.Count);
            }
        }

        return new QuerySet(built, width) { Kept = kept, Features = features };
    }

    /// <summary>One query while its rows are built: what is still needed of it.</summary>
    private sealed record Query(RecommendationRequest? Request, IReadOnlyList<Candidate>? Candidates, float[]? Values, int Count, int TargetRow);

    /// <summary>Options of a <see cref="DlrmCascadeTrainer"/>.</summary>
    public sealed class Options
    {
        /// <summary>Options of the recall channels. Default: <see cref="ClassicRecallOptions"/>' defaults.</summary>
        public ClassicRecallOptions Recall { get; set; } = new();

        /// <summary>Candidates asked from global popularity. Default: 100. Allowed: 1 or more.</summary>
        public int PopularityQuota { get; set; } = Defaults.PopularityQuota;

        /// <summary>Candidates asked from recent popularity. Default: 200. Allowed: 1 or more.</summary>
        public int RecentPopularityQuota { get; set; } = Defaults.RecentPopularityQuota;

        /// <summary>Candidates asked from item-to-item co-occurrence. Default: 300. Allowed: 1 or more.</summary>
        public int ItemCfQuota { get; set; } = Defaults.ItemCfQuota;

        /// <summary>Candidates asked from genre affinity. Default: 100. Allowed: 1 or more.</summary>
        public int GenreQuota { get; set; } = Defaults.GenreQuota;

        /// <summary>
        /// Recall channels beside the four classical ones, with quotas (e.g. generative recall), that the ranker is
        /// trained with: its training queries draw candidates from them too, and its <c>source_channel</c> feature
        /// names them. The ranking depth grows by their quotas. Whatever model a channel runs must be fitted on
        /// <see cref="DataSplit.HoldOutLastTrain"/>(<see cref="QueriesPerUser"/>) of the split, or the ranker learns
        /// from candidates that saw their own targets. With any extra channel the training queries are built one at a
        /// time (see <see cref="Features"/>). Default: none.
        /// </summary>
        public IReadOnlyList<RecallChannel> ExtraChannels { get; set; } = [];

        /// <summary>
        /// Feature sources the ranker reads beside its hand-made features (e.g. a generative model's log-probability
        /// of each candidate, HSTU's scores, a team's own model): computed for the training queries and at serving
        /// by the same call, and appended in order. As with <see cref="ExtraChannels"/>, a model behind a source must
        /// be fitted on <see cref="DataSplit.HoldOutLastTrain"/>(<see cref="QueriesPerUser"/>). Names must be unique
        /// across sources. The trainer calls them one query at a time with no other work in flight (the classical
        /// recall and features of the queries run in parallel first): a TorchSharp model is not safe to run while other
        /// threads allocate (TorchSharp 0.107 does not keep its temporary scalars alive through the native call); at
        /// serving time run such models through ONNX Runtime, or one request at a time. Default: none.
        /// </summary>
        public IReadOnlyList<ICandidateFeatures> Features { get; set; } = [];

        /// <summary>Merged candidates the ranker scores per request. Default: 400. Allowed: 1 or more.</summary>
        public int RankingDepth { get; set; } = Defaults.RankingDepth;

        /// <summary>Train interactions per user used as ranker pseudo-targets. Default: 3. Allowed: 1 or more.</summary>
        public int QueriesPerUser { get; set; } = Defaults.QueriesPerUser;

        /// <summary>
        /// Most ranker training queries (pseudo-targets): on a log with more, a seeded sample of users brings all of
        /// their queries until the cap is reached. Memory grows with it (about 30 kB a query at the default depth).
        /// Default: 50,000 (MovieLens-small has 2,013). Allowed: 1 or more.
        /// </summary>
        public int MaxTrainingQueries { get; set; } = Defaults.MaxTrainingQueries;

        /// <summary>
        /// Most validation queries the grid is chosen on: on a log with more users, a seeded sample of them.
        /// Default: 20,000. Allowed: 1 or more.
        /// </summary>
        public int MaxValidationQueries { get; set; } = Defaults.MaxValidationQueries;

        /// <summary>LightGBM settings tried; the best on validation NDCG@10 is kept. Default: three settings.</summary>
        public IReadOnlyList<DlrmRankerSettings> Grid { get; set; } = Defaults.Grid;

        /// <summary>Seed of ML.NET and LightGBM. Default: 42.</summary>
        public int Seed { get; set; } = 42;

        /// <summary>Threads for feature building and LightGBM. Default: the processor count. Allowed: 1 or more.</summary>
        public int Threads { get; set; } = Environment.ProcessorCount;

        /// <summary>Receives progress; may be <see langword="null"/>. Default: none.</summary>
        public IProgress<TrainerProgress>? Progress { get; set; }

        /// <summary>
        /// Keep the ranker's training queries (requests, candidates, cross features) in
        /// <see cref="DlrmCascadeModel.RankingQueries"/>, so that another ranker (e.g. HSTU) learns from exactly the same
        /// queries. About 90 bytes per candidate row (the candidate and its 16 classical features) and the request's
        /// history: ~70 MB on MovieLens-small at the default depth. Default: false.
        /// </summary>
        public bool KeepRankingQueries { get; set; }

        internal void Validate()
        {
            Recall.Validate();
            foreach (var (name, value) in new[]
            {
                (nameof(PopularityQuota), PopularityQuota), (nameof(RecentPopularityQuota), RecentPopularityQuota),
                (nameof(ItemCfQuota), ItemCfQuota), (nameof(GenreQuota), GenreQuota), (nameof(RankingDepth), RankingDepth),
                (nameof(QueriesPerUser), QueriesPerUser), (nameof(Threads), Threads),
                (nameof(MaxTrainingQueries), MaxTrainingQueries), (nameof(MaxValidationQueries), MaxValidationQueries),
            })
            {
                if (value < 1)
                {
                    throw new ArgumentOutOfRangeException(name, value, $"{name} is {value}; it must be 1 or more.");
                }
            }

            if (ExtraChannels is null || ExtraChannels.Any(c => c is null || c.Quota is not > 0))
            {
                throw new ArgumentException($"Every one of {nameof(ExtraChannels)} needs a positive quota.", nameof(ExtraChannels));
            }

            if (Features is null || Features.Any(f => f is null))
            {
                throw new ArgumentException($"{nameof(Features)} must not hold null.", nameof(Features));
            }

            if (Grid is null || Grid.Count == 0)
            {
                throw new ArgumentException($"{nameof(Grid)} must hold at least one setting.", nameof(Grid));
            }
        }
    }

    internal static class Defaults
    {
        public const int PopularityQuota = 100;
        public const int RecentPopularityQuota = 200;
        public const int ItemCfQuota = 300;
        public const int GenreQuota = 100;
        public const int RankingDepth = 400;
        public const int QueriesPerUser = 3;
        public const int MaxTrainingQueries = 50_000;
        public const int MaxValidationQueries = 20_000;

        public static readonly DlrmRankerSettings[] Grid =
        [
            new(Leaves: 15, Iterations: 150, LearningRate: 0.05, MinExamplesPerLeaf: 50),
            new(Leaves: 31, Iterations: 300, LearningRate: 0.03, MinExamplesPerLeaf: 50),
            new(Leaves: 63, Iterations: 300, LearningRate: 0.03, MinExamplesPerLeaf: 100),
        ];
    }

    /// <summary>Candidate rows of a set of queries and what is needed to score them.</summary>
    private sealed class QuerySet
    {
        private readonly Query[] _queries;
        private readonly int _width;

        public QuerySet(Query[] queries, int width)
        {
            _queries = queries;
            _width = width;
            var found = queries.Where(q => q.TargetRow >= 0).ToArray();
            Summary = new QuerySummary(queries.Length, found.Length, found.Sum(q => q.Count));
        }

        /// <summary>
        /// Rows of the queries whose target was recalled, in query order, made as they are enumerated (ML.NET reads a
        /// view more than once; each row's features are a fresh copy of its query's, so nothing holds them twice).
        /// </summary>
        public IEnumerable<TrainingRow> Rows
        {
            get
            {
                for (var q = 0; q < _queries.Length; q++)
                {
                    var (values, count, target) = (_queries[q].Values, _queries[q].Count, _queries[q].TargetRow);
                    if (target < 0)
                    {
                        continue;
                    }

                    for (var i = 0; i < count; i++)
                    {
                        yield return new TrainingRow { Group = (uint)q, Label = i == target ? 1 : 0, Features = values![(i * _width)..((i + 1) * _width)] };
                    }
                }
            }
        }

        public QuerySummary Summary { get; }

        /// <summary>The queries themselves, when <see cref="Options.KeepRankingQueries"/> asked for them.</summary>
        public RankingQuery[]? Kept { get; init; }

        /// <summary>What computed the rows' features.</summary>
        public required DlrmFeatures Features { get; init; }

        /// <summary>Features per row.</summary>
        public int Width => Features.Names.Count;

        /// <summary>Mean NDCG@10 over every query (a query whose target was not recalled scores 0).</summary>
        public double Ndcg10(float[] scores)
        {
            double sum = 0;
            var offset = 0;
            foreach (var query in _queries)
            {
                var (count, target) = (query.Count, query.TargetRow);
                if (target < 0)
                {
                    continue;
                }

                var targetScore = scores[offset + target];
                var rank = 1;
                for (var i = 0; i < count; i++)
                {
                    var s = scores[offset + i];
                    if (s > targetScore || (s == targetScore && i < target))
                    {
                        rank++;
                    }
                }

                sum += rank <= 10 ? 1 / Math.Log2(rank + 1) : 0;
                offset += count;
            }

            return sum / _queries.Length;
        }
    }
}

/// <summary>One LightGBM LambdaRank setting of the <see cref="DlrmCascadeTrainer"/>'s grid.</summary>
/// <param name="Leaves">Leaves per tree.</param>
/// <param name="Iterations">Boosting rounds.</param>
/// <param name="LearningRate">Shrinkage.</param>
/// <param name="MinExamplesPerLeaf">Fewest rows in a leaf.</param>
public sealed record DlrmRankerSettings(int Leaves, int Iterations, double LearningRate, int MinExamplesPerLeaf)
{
    /// <inheritdoc />
    public override string ToString() => $"leaves={Leaves} rounds={Iterations} lr={LearningRate} min_leaf={MinExamplesPerLeaf}";
}

/// <summary>How one grid setting scored on the validation targets.</summary>
/// <param name="Settings">The setting.</param>
/// <param name="ValidationNdcg10">Validation NDCG@10 of the cascade with this ranker.</param>
public sealed record DlrmGridResult(DlrmRankerSettings Settings, double ValidationNdcg10);

/// <summary>How many queries a set had and how many of their targets the recall found.</summary>
/// <param name="Queries">Queries built.</param>
/// <param name="TargetRecalled">Queries whose target was among the candidates.</param>
/// <param name="Rows">Candidate rows of those queries.</param>
public sealed record QuerySummary(int Queries, int TargetRecalled, int Rows)
{
    /// <summary>The share of queries whose target the recall found (recall@depth).</summary>
    public double RecallRate => Queries == 0 ? 0 : TargetRecalled / (double)Queries;
}

/// <summary>
/// A fitted classical cascade: the recall channels, the LambdaRank ranker and how it was chosen.
/// </summary>
public sealed class DlrmCascadeModel
{
    private readonly DlrmCascadeTrainer.Options _options;

    private readonly DlrmFeatures _features;

    internal DlrmCascadeModel(
        ClassicRecall recall,
        IRankingStage ranker,
        DlrmFeatures features,
        DlrmCascadeTrainer.Options options,
        IReadOnlyList<DlrmGridResult> grid,
        DlrmGridResult chosen,
        QuerySummary trainingQueries,
        QuerySummary validationQueries)
    {
        Recall = recall;
        Ranker = ranker;
        _features = features;
        _options = options;
        Grid = grid;
        Chosen = chosen;
        TrainingQueries = trainingQueries;
        ValidationQueries = validationQueries;
    }

    /// <summary>The recall channels, fitted on the whole train part.</summary>
    public ClassicRecall Recall { get; }

    /// <summary>The LambdaRank ranking stage.</summary>
    public IRankingStage Ranker { get; }

    /// <summary>Every grid setting with its validation NDCG@10.</summary>
    public IReadOnlyList<DlrmGridResult> Grid { get; }

    /// <summary>The setting kept.</summary>
    public DlrmGridResult Chosen { get; }

    /// <summary>The ranker's training queries and how many of their targets the recall found.</summary>
    public QuerySummary TrainingQueries { get; }

    /// <summary>The validation queries and how many of their targets the recall found.</summary>
    public QuerySummary ValidationQueries { get; }

    /// <summary>How many merged candidates the ranker scores per request (the trainer's depth plus the extra channels' quotas).</summary>
    public int RankingDepth => DepthOf(_options);

    /// <summary>
    /// The ranker's training queries with their cross features (computed by channels fitted without the queried
    /// interactions); empty unless <see cref="DlrmCascadeTrainer.Options.KeepRankingQueries"/> was set.
    /// </summary>
    public IReadOnlyList<RankingQuery> RankingQueries { get; init; } = [];

    /// <summary>
    /// Every (user, candidate) feature the ranker reads — the hand-made ones, then the extra sources' — computed as
    /// serving computes them (channels fitted on the whole train part).
    /// </summary>
    public ICandidateFeatures CandidateFeatures => _features;

    /// <summary>The recall channels with their quotas, in merge priority order.</summary>
    public IReadOnlyList<RecallChannel> Channels => ChannelsOf(Recall, _options);

    /// <summary>SHA-256 of the train part the cascade was fitted on (checked when a saved cascade is loaded).</summary>
    internal string TrainFingerprint { get; init; } = "";

    /// <summary>Interactions in the train part the cascade was fitted on.</summary>
    internal int TrainInteractionCount { get; init; }

    /// <summary>
    /// Saves the cascade to one versioned file at <paramref name="path"/>: the LambdaRank model, the trainer's settings, the
    /// grid with the setting kept, the ranker's feature names and a fingerprint of the train part. The recall channels are
    /// counts over the train part and are counted again by <see cref="Load"/> (seconds), so a service that loads a saved
    /// cascade skips what took minutes: the ranker's training queries and the LambdaRank grid. Written to a temporary file
    /// and moved over <paramref name="path"/>, so a failure leaves any earlier file whole.
    /// </summary>
    /// <param name="path">The file to write (overwritten).</param>
    public void Save(string path)
    {
        var (ml, model) = ((DlrmRanker)Ranker).Saved;
        var o = _options;
        DlrmCascadeFile.Save(
            path,
            new DlrmCascadeFile.Manifest(
                DlrmCascadeFile.Format, DlrmCascadeFile.Version, TrainFingerprint, TrainInteractionCount, o.Recall,
                o.PopularityQuota, o.RecentPopularityQuota, o.ItemCfQuota, o.GenreQuota, o.RankingDepth, o.QueriesPerUser, o.Seed,
                [.. _features.Names], [.. o.ExtraChannels.Select(c => c.Stage.Name)], [.. o.ExtraChannels.Select(c => c.Quota!.Value)],
                [.. Grid], Chosen, TrainingQueries, ValidationQueries),
            ml,
            model,
            _features.Names.Count);
    }

    /// <summary>
    /// Loads a cascade saved by <see cref="Save"/>, for the same train part: the recall channels are counted again from
    /// <paramref name="split"/>'s train part and the LambdaRank model is read, so the loaded cascade recommends exactly what
    /// the saved one did. Feature sources and recall channels beyond the hand-made ones (<see cref="DlrmCascadeTrainer.Options.Features"/>,
    /// <see cref="DlrmCascadeTrainer.Options.ExtraChannels"/>) are live objects, not saved: pass the ones it was trained with.
    /// </summary>
    /// <param name="path">A file written by <see cref="Save"/>.</param>
    /// <param name="split">The split the cascade was trained on (its train part is checked against the saved fingerprint).</param>
    /// <param name="features">The extra feature sources it was trained with, in the same order. Default: none.</param>
    /// <param name="extraChannels">The extra recall channels it was trained with, with the same names and quotas. Default: none.</param>
    /// <returns>The cascade.</returns>
    /// <exception cref="FileNotFoundException"><paramref name="path"/> does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a saved cascade, is damaged or truncated, has another format version, or was fitted on another train part.</exception>
    /// <exception cref="ArgumentException">The feature sources or channels given are not the ones it was trained with.</exception>
    public static DlrmCascadeModel Load(string path, DataSplit split, IReadOnlyList<ICandidateFeatures>? features = null, IReadOnlyList<RecallChannel>? extraChannels = null)
    {
        ArgumentNullException.ThrowIfNull(split);
        var (m, ml, model) = DlrmCascadeFile.Read(path);
        var fingerprint = DlrmCascadeFile.Fingerprint(split.TrainInteractions);
        if (fingerprint != m.TrainFingerprint)
        {
            throw new InvalidDataException(
                $"'{path}' was fitted on another train part ({m.TrainInteractions} interactions, fingerprint {m.TrainFingerprint[..12]}…); this split's has " +
                $"{split.TrainInteractions.Count} ({fingerprint[..12]}…). Load it with the data and split it was trained on, or train it again.");
        }

        var options = new DlrmCascadeTrainer.Options
        {
            Recall = m.Recall,
            PopularityQuota = m.PopularityQuota,
            RecentPopularityQuota = m.RecentPopularityQuota,
            ItemCfQuota = m.ItemCfQuota,
            GenreQuota = m.GenreQuota,
            RankingDepth = m.RankingDepth,
            QueriesPerUser = m.QueriesPerUser,
            Seed = m.Seed,
            Grid = [.. m.Grid.Select(g => g.Settings)],
            Features = features ?? [],
            ExtraChannels = extraChannels ?? [],
        };
        options.Validate();
        var channels = options.ExtraChannels.Select(c => $"{c.Stage.Name}:{c.Quota}").ToArray();
        var saved = m.ExtraChannels.Zip(m.ExtraChannelQuotas, (n, q) => $"{n}:{q}").ToArray();
        if (!channels.SequenceEqual(saved, StringComparer.Ordinal))
        {
            throw new ArgumentException(
                $"The cascade in '{path}' was trained with the extra recall channels [{string.Join(", ", saved)}] (name:quota); got [{string.Join(", ", channels)}].",
                nameof(extraChannels));
        }

        var recall = ClassicRecall.Fit(split.TrainInteractions, split.Dataset, options.Recall);
        var dlrmFeatures = new DlrmFeatures(recall.Profiles, options.Features, options.ExtraChannels.Select(c => c.Stage.Name));
        if (!dlrmFeatures.Names.SequenceEqual(m.FeatureNames, StringComparer.Ordinal))
        {
            var extra = m.FeatureNames.Skip(RankingFeatures.Names.Length);
            throw new ArgumentException(
                $"The ranker in '{path}' reads {m.FeatureNames.Length} features, the extra ones [{string.Join(", ", extra)}]; the feature sources given make " +
                $"[{string.Join(", ", dlrmFeatures.Names.Skip(RankingFeatures.Names.Length))}]. Pass the sources it was trained with, in the same order.",
                nameof(features));
        }

        return new DlrmCascadeModel(recall, new DlrmRanker(ml, model, dlrmFeatures), dlrmFeatures, options, m.Grid, m.Chosen, m.TrainingQueries, m.ValidationQueries)
        {
            TrainFingerprint = fingerprint,
            TrainInteractionCount = split.TrainInteractions.Count,
        };
    }

    /// <summary>Creates the cascade: the four channels merged, ranked by LambdaRank, truncated.</summary>
    /// <param name="name">The cascade's name. Default: "dlrm".</param>
    /// <param name="ranker">A ranking stage to use instead of the LambdaRank one (e.g. a generative ranker); <see langword="null"/> keeps LambdaRank.</param>
    /// <param name="extraChannels">
    /// Recall channels to blend in after the four classical ones (e.g. generative recall); the ranking depth grows by
    /// their quotas so they add candidates rather than displace them. <see langword="null"/> for none.
    /// </param>
    /// <returns>The cascade.</returns>
    public CascadePipeline CreatePipeline(string name = "dlrm", IRankingStage? ranker = null, IReadOnlyList<RecallChannel>? extraChannels = null)
    {
        extraChannels ??= [];
        if (extraChannels.Any(c => c.Quota is null))
        {
            throw new ArgumentException("A blended channel needs an explicit quota.", nameof(extraChannels));
        }

        return new CascadePipeline(
            name,
            [.. Channels, .. extraChannels],
            ranker ?? Ranker,
            new CascadeOptions { RankingDepth = RankingDepth + extraChannels.Sum(c => c.Quota!.Value) });
    }

    /// <summary>The four recall channels as one recall stage (for an adapter that replaces, blends or shadows the whole recall layer).</summary>
    public IRecallStage RecallStage => new CompositeRecall("dlrm-recall", Channels);

    /// <summary>Creates the cascade with <paramref name="recall"/> as its recall layer (e.g. a recall adapter), ranked by LambdaRank.</summary>
    /// <param name="name">The cascade's name.</param>
    /// <param name="recall">The recall layer; asked for the ranking depth's worth of candidates.</param>
    /// <param name="ranker">A ranking stage to use instead of LambdaRank; <see langword="null"/> keeps it.</param>
    /// <returns>The cascade.</returns>
    public CascadePipeline CreatePipeline(string name, IRecallStage recall, IRankingStage? ranker = null)
    {
        ArgumentNullException.ThrowIfNull(recall);
        return new CascadePipeline(name, [new RecallChannel(recall, RankingDepth)], ranker ?? Ranker, new CascadeOptions { RankingDepth = RankingDepth });
    }

    internal static CascadePipeline CreateRecallPipeline(ClassicRecall recall, DlrmCascadeTrainer.Options options) =>
        new("dlrm-recall", ChannelsOf(recall, options), null, new CascadeOptions { RankingDepth = DepthOf(options), ConcurrentRecall = false });

    private static int DepthOf(DlrmCascadeTrainer.Options options) => options.RankingDepth + options.ExtraChannels.Sum(c => c.Quota!.Value);

    private static RecallChannel[] ChannelsOf(ClassicRecall recall, DlrmCascadeTrainer.Options options) =>
    [
        new(recall.ItemCf, options.ItemCfQuota),
        new(recall.RecentPopularity, options.RecentPopularityQuota),
        new(recall.GenreAffinity, options.GenreQuota),
        new(recall.Popularity, options.PopularityQuota),
        .. options.ExtraChannels,
    ];
}

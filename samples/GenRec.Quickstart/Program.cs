// GenRec.Sdk quickstart, on the bundled MovieLens data, with full ranking and the user's history excluded:
//  1. the classical cascade (the DLRM baseline every generative arm is compared with) and its recall channels;
//  2. semantic IDs (item2vec embeddings → balanced RQ-KMeans) and a small generative retrieval model (TIGER-style,
//     trained in a couple of minutes on the CPU) decoding the next item with trie-constrained beam search;
// then one table.
//
//   dotnet run --project samples/GenRec.Quickstart [-- path/to/ratings.csv.gz]

using System.Globalization;
using GenRec;
using GenRec.Adapters.MLNet;
using GenRec.Cascade;
using GenRec.Data;
using GenRec.Evaluation;
using GenRec.Generative;
using GenRec.SemanticIds;
using GenRec.Training;
using Spectre.Console;

if (Console.IsOutputRedirected)
{
    AnsiConsole.Profile.Width = 160; // a log file or CI: no terminal width to fit
}

var path = args.Length > 0 ? args[0] : Path.Combine(AppContext.BaseDirectory, "data", "movielens-small", "ratings.csv.gz");
AnsiConsole.MarkupLine($"[bold]GenRec.Sdk quickstart[/]: the baseline cascade on [blue]{Markup.Escape(path)}[/]");

var dataset = MovieLensReader.Read(path);
var split = LeaveOneOutSplit.Create(dataset);
AnsiConsole.MarkupLine(
    $"{dataset.Interactions.Count:N0} interactions, {dataset.Users.Count:N0} users, {dataset.Catalogue.Count:N0} items; " +
    $"leave-one-out: {split.TrainInteractions.Count:N0} train, one validation and one test item per user.");

var results = new List<(string Name, string What, EvaluationResult Result)>();
await AnsiConsole.Progress()
    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
    .StartAsync(async ctx =>
    {
        var fit = ctx.AddTask("fit recall channels", maxValue: 1);
        var recall = ClassicRecall.Fit(split.TrainInteractions, dataset);
        fit.Increment(1);

        var train = ctx.AddTask("train DLRM ranker (LambdaRank)", maxValue: 1);
        var dlrm = new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options
        {
            Progress = new Progress<TrainerProgress>(p =>
            {
                train.Description = $"train DLRM ranker: {Markup.Escape(p.Phase)}";
                train.Value = p.Total == 0 ? 0 : Math.Min(0.99, train.Value + 0.001);
            }),
        }).Fit(split);
        train.Value = 1;
        train.Description = "train DLRM ranker (LambdaRank)";

        var tokenize = ctx.AddTask("semantic IDs (item2vec → RQ-KMeans)", maxValue: 1);
        var embeddings = new Item2VecTrainer(dimension: 64, epochs: 5).Fit(split.Train, dataset.Catalogue).Normalized();
        var index = new RqKMeansTrainer(levels: 3, codebookSize: 256).Fit(embeddings);
        tokenize.Value = 1;

        const int Epochs = 12;
        var generative = ctx.AddTask("train generative retrieval (TIGER-style)", maxValue: Epochs);
        using var tiger = new TigerTrainer(new TigerTrainer.Options
        {
            Epochs = Epochs,
            EvaluationUsers = 200,
            Progress = new Progress<TigerTrainingProgress>(p =>
            {
                generative.Value = p.Epoch;
                if (p.ValidationNdcg10 is { } v)
                {
                    generative.Description = $"train generative retrieval: epoch {p.Epoch}, validation NDCG@10 {v:0.000}";
                }
            }),
        }).Fit(split, index);
        generative.Value = Epochs;

        var arms = new (string Name, string What, IRecommender Recommender)[]
        {
            ("popularity", "training counts", new CascadePipeline("popularity", [new RecallChannel(recall.Popularity)])),
            ("itemcf", "item-to-item co-occurrence", new CascadePipeline("itemcf", [new RecallChannel(recall.ItemCf)])),
            ("dlrm", "4 recall channels + LambdaRank", dlrm.CreatePipeline()),
            ("tiger", $"generative, {tiger.Report.Parameters / 1000}k params, beam 100", new CascadePipeline("tiger", [new RecallChannel(new GenerativeRecall(tiger, index))])),
        };
        foreach (var (name, what, recommender) in arms)
        {
            var task = ctx.AddTask($"evaluate {name}", maxValue: split.UsersWithTarget(SplitTarget.Test).Count);
            var result = await OfflineEvaluator.EvaluateAsync(
                recommender, split, SplitTarget.Test, new EvaluationOptions { TopK = 100 }, new Progress<EvaluationProgress>(p => task.Value = p.Done));
            task.Value = task.MaxValue;
            results.Add((name, what, result));
        }
    });

var table = new Table().Border(TableBorder.Rounded).Title("Test target, full ranking over 9,066 items, history excluded");
table.AddColumn("model");
table.AddColumn("what");
foreach (var metric in results[0].Result.Report.Values.Select(v => v.Key))
{
    table.AddColumn(new TableColumn(metric).RightAligned());
}

table.AddColumn(new TableColumn("p50 ms").RightAligned());
table.AddColumn(new TableColumn("p99 ms").RightAligned());
var best = results.Max(r => r.Result.Report["NDCG@10"]);
foreach (var (name, what, result) in results)
{
    var latencies = result.LatencyMilliseconds.Order().ToArray();
    var cells = new List<string> { name == "dlrm" ? $"[bold]{name}[/]" : name, what };
    cells.AddRange(result.Report.Values.Select(v => v.Key == "NDCG@10" && v.Value == best
        ? $"[green]{v.Value.ToString("0.0000", CultureInfo.InvariantCulture)}[/]"
        : v.Value.ToString("0.0000", CultureInfo.InvariantCulture)));
    cells.Add(Percentile(latencies, 0.50).ToString("0.00", CultureInfo.InvariantCulture));
    cells.Add(Percentile(latencies, 0.99).ToString("0.00", CultureInfo.InvariantCulture));
    table.AddRow(cells.ToArray());
}

AnsiConsole.Write(table);
AnsiConsole.MarkupLine("Metrics agree with the shared scorer ([grey]genrec eval --recs-out[/] writes its input). The full-size generative run and the ablations: [grey]docs/benchmarks.md[/].");

static double Percentile(double[] sorted, double q) =>
    sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

// GenRec.Sdk quickstart, on the bundled MovieLens data, with full ranking and the user's history excluded:
//  1. the classical cascade (the DLRM baseline every generative arm is compared with) and its recall channels, an
//     HSTU generative ranker trained on the cascade's own ranking queries and features (MTGR-style), and the two
//     blended by the ranking adapter with HSTU's weight chosen on validation;
//  2. semantic IDs (item2vec embeddings → balanced RQ-KMeans) and a small generative retrieval model (TIGER-style,
//     trained in a couple of minutes on the CPU) decoding the next item with trie-constrained beam search;
//     then an end-to-end generative model (OneRec-style: item IDs, side features, actions and times in, the whole
//     list out) that takes the cascade's place through the recommender adapter;
//  3. serving: the model exported to ONNX, an in-process Orleans silo whose user session grains hold each user's
//     history and serve it, and an adapter that blends that generative recall into the cascade's recall;
//  4. the A/B harness: every arm against the DLRM baseline on the same users, with intervals and guardrails;
// then the tables, and an HTML report in out/quickstart/.
//
//   dotnet run --project samples/GenRec.Quickstart [-- path/to/ratings.csv.gz]

using System.Globalization;
using System.Net;
using GenRec.Adapters;
using GenRec.Baselines;
using GenRec.Cascade;
using GenRec.Data;
using GenRec.Evaluation;
using GenRec.Experiments;
using GenRec.Generative;
using GenRec.Models;
using GenRec.Orleans;
using GenRec.SemanticIds;
using GenRec.Training.Onnx;
using GenRec.Training;
using GenRec;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
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

ExperimentReport? report = null;
IHost? silo = null;
var descriptions = new Dictionary<string, string>();
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
            KeepRankingQueries = true, // HSTU learns from the same ranking queries as LambdaRank
            Progress = new Progress<TrainerProgress>(p =>
            {
                train.Description = $"train DLRM ranker: {Markup.Escape(p.Phase)}";
                train.Value = p.Total == 0 ? 0 : Math.Min(0.99, train.Value + 0.001);
            }),
        }).Fit(split);
        train.Value = 1;
        train.Description = "train DLRM ranker (LambdaRank)";

        var hstuEpochs = new HstuTrainer.Options().Epochs; // the trainer's default: the best on validation
        var ranking = ctx.AddTask("train HSTU ranker (the cascade's queries and features)", maxValue: hstuEpochs);
        using var hstu = new HstuTrainer(new HstuTrainer.Options
        {
            Progress = new Progress<HstuTrainingProgress>(p =>
            {
                ranking.Value = p.Epoch - 1 + (p.Steps > 0 ? (double)p.Step / p.Steps : 1);
                ranking.Description = $"train HSTU ranker: epoch {p.Epoch}, ranking loss {p.RankingLoss:0.000}";
            }),
        }).Fit(split, dlrm.RankingQueries, dlrm.CandidateFeatures.Names);
        ranking.Value = hstuEpochs;

        // The generative signal fused into the cascade: HSTU beside LambdaRank, their scores blended by the ranking
        // adapter; HSTU's weight is chosen on the validation target (never on test).
        double[] hstuWeights = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
        var tune = ctx.AddTask("choose the HSTU blend weight on validation", maxValue: hstuWeights.Length);
        var hstuRanker = hstu.AsRanker(dlrm.CandidateFeatures);
        RankingAdapter Blend(double weight) => new(
            "lambdarank+hstu",
            dlrm.Ranker,
            hstuRanker,
            new AdapterOptions { Mode = StageMode.Blend, Blend = BlendMethod.ScoreNormalized, GenerativeWeight = weight, Budget = TimeSpan.FromMilliseconds(100) });
        var search = await ValidationSearch.ChooseAsync(split, hstuWeights, w => dlrm.CreatePipeline("blend", ranker: Blend(w)), new Progress<EvaluationProgress>(p => tune.Value = p.Done));
        var hstuWeight = search.Best.Setting;
        tune.Description = $"HSTU blend weight {hstuWeight} (validation NDCG@10 {search.Best.Ndcg10:0.0000} vs {search.Trials[0].Ndcg10:0.0000} alone)";

        var tokenize = ctx.AddTask("semantic IDs (item2vec → RQ-KMeans)", maxValue: 1);
        var embeddings = new Item2VecTrainer(dimension: 64, epochs: 5).Fit(split.Train, dataset.Catalogue).Normalized();
        var index = new RqKMeansTrainer(levels: 3, codebookSize: 256).Fit(embeddings);
        tokenize.Value = 1;

        // The kept epoch of a generative model is the one with the best validation log-likelihood; NDCG@10 is shown beside it.
        TigerModelArtifact TrainGenerative(string what, TigerArchitecture architecture, int epochs)
        {
            var task = ctx.AddTask($"train {what}", maxValue: epochs);
            var model = new TigerTrainer(new TigerTrainer.Options
            {
                Architecture = architecture,
                Epochs = epochs,
                EvaluationUsers = 200,
                Progress = new Progress<TigerTrainingProgress>(p =>
                {
                    task.Value = p.Epoch;
                    if (p.ValidationNdcg10 is { } v && p.ValidationLogLikelihood is { } l)
                    {
                        task.Description = $"train {what}: epoch {p.Epoch}, validation log-likelihood {l:0.00}, NDCG@10 {v:0.000}";
                    }
                }),
            }).Fit(split, index);
            task.Value = epochs;
            return model;
        }

        using var tiger = TrainGenerative("generative retrieval (TIGER-style)", TigerArchitecture.DecoderOnly, epochs: 20);
        var generativeRecall = new GenerativeRecall(tiger, index, new GenerativeRecallOptions { Name = "generative" });

        // End-to-end generation (OneRec-style): one encoder-decoder reads the user's events (item IDs, semantic IDs,
        // genres, years, ratings, times) and writes the whole list; the recommender adapter hands it the cascade's place.
        using var endToEnd = TrainGenerative("end-to-end generation (OneRec-style)", TigerArchitecture.EndToEnd, epochs: 12);
        var endToEndAdapter = new RecommenderAdapter(
            ArmCatalog.EndToEndReplace,
            dlrm.CreatePipeline(),
            new CascadePipeline("end-to-end", [new RecallChannel(new GenerativeRecall(endToEnd, index, new GenerativeRecallOptions { Name = "end-to-end" }))]),
            new AdapterOptions { Mode = StageMode.Replace, Budget = TimeSpan.FromMinutes(1) }); // offline: no figure may depend on the machine's speed

        // Serving: ONNX export, an in-process silo, every test user's history in a session grain.
        var serve = ctx.AddTask("serve: ONNX export, Orleans silo, user sessions", maxValue: 3);
        var served = Path.GetFullPath(Path.Combine("out", "quickstart", "serving"));
        TigerOnnxExporter.Export(tiger, Path.Combine(served, "model"));
        index.Save(ModelFolderLayout.IndexPath(served));
        serve.Increment(1);
        silo = StartSilo(served);
        await silo.StartAsync();
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        serve.Increment(1);
        await Parallel.ForEachAsync(split.Cases(SplitTarget.Test), async (c, _) =>
        {
            foreach (var batch in c.HistoryEvents().Select(BehaviourEvent.From).Chunk(1000))
            {
                await grains.GetGrain<IUserSessionGrain>(c.User.Value).AppendEventsAsync(batch);
            }
        });
        serve.Increment(1);
        var viaOrleans = new RecallAdapter(
            "blend",
            dlrm.RecallStage,
            new UserSessionRecall(grains, "generative", beamWidth: 100),
            new AdapterOptions { Mode = StageMode.Blend, GenerativeShare = 0.2, Budget = TimeSpan.FromMilliseconds(100) });
        // The arms' names and descriptions are the catalogue's (the CLI's genrec ab and eval spell them the same way).
        static string What(string arm, string? detail = null) => detail is null ? ArmCatalog.Get(arm).Description : $"{ArmCatalog.Get(arm).Description} ({detail})";
        var arms = new (string Name, string What, IRecommender Recommender)[]
        {
            (ArmCatalog.Dlrm, What(ArmCatalog.Dlrm, "control"), dlrm.CreatePipeline()),
            (ArmCatalog.Popularity, What(ArmCatalog.Popularity), new CascadePipeline(ArmCatalog.Popularity, [new RecallChannel(recall.Popularity)])),
            (ArmCatalog.ItemCf, What(ArmCatalog.ItemCf), new CascadePipeline(ArmCatalog.ItemCf, [new RecallChannel(recall.ItemCf)])),
            (ArmCatalog.GenerativeRecallReplace, What(ArmCatalog.GenerativeRecallReplace, $"{tiger.Report.Parameters / 1000}k params, beam 100"), new CascadePipeline(ArmCatalog.GenerativeRecallReplace, [new RecallChannel(generativeRecall)])),
            (ArmCatalog.GenerativeRecallBlend, What(ArmCatalog.GenerativeRecallBlend), dlrm.CreatePipeline(ArmCatalog.GenerativeRecallBlend, extraChannels: [new RecallChannel(generativeRecall, 100)])),
            (ArmCatalog.GenerativeBlendOrleans, What(ArmCatalog.GenerativeBlendOrleans), dlrm.CreatePipeline(ArmCatalog.GenerativeBlendOrleans, viaOrleans)),
            (ArmCatalog.HstuRank, What(ArmCatalog.HstuRank, $"{hstuEpochs} epochs"), dlrm.CreatePipeline(ArmCatalog.HstuRank, ranker: hstuRanker)),
            (ArmCatalog.DlrmHstuBlend, What(ArmCatalog.DlrmHstuBlend, $"w {hstuWeight}"), dlrm.CreatePipeline(ArmCatalog.DlrmHstuBlend, ranker: Blend(hstuWeight))),
            (ArmCatalog.EndToEndReplace, What(ArmCatalog.EndToEndReplace, $"{endToEnd.Report.Parameters / 1000}k params"), endToEndAdapter),
        };
        foreach (var arm in arms)
        {
            descriptions[arm.Name] = arm.What;
        }

        var tasks = arms.ToDictionary(a => a.Name, a => ctx.AddTask($"replay {a.Name}", maxValue: split.UsersWithTarget(SplitTarget.Test).Count));
        report = await OfflineReplay.RunAsync(
            arms.Select(a => new ReplayArm(a.Name, a.Recommender)).ToArray(),
            split,
            SplitTarget.Test,
            new ReplayOptions { Control = ArmCatalog.Dlrm },
            new Progress<ReplayProgress>(p => tasks[p.Arm].Value = p.Done));
        foreach (var task in tasks.Values)
        {
            task.Value = task.MaxValue;
        }
    });

if (silo is not null)
{
    await silo.StopAsync();
    silo.Dispose();
}

var table = new Table().Border(TableBorder.Rounded).Title("Test target, full ranking over 9,066 items, history excluded");
table.AddColumn("model");
table.AddColumn("what");
string[] columns = ["HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10"];
foreach (var metric in columns)
{
    table.AddColumn(new TableColumn(metric).RightAligned());
}

table.AddColumn(new TableColumn("p50 ms").RightAligned());
table.AddColumn(new TableColumn("p99 ms").RightAligned());
var best = report!.Arms.Max(r => r["NDCG@10"].Value);
foreach (var arm in report.Arms)
{
    var cells = new List<string> { arm.IsControl ? $"[bold]{arm.Name}[/]" : arm.Name, Markup.Escape(descriptions[arm.Name]) };
    cells.AddRange(columns.Select(c => c == "NDCG@10" && arm[c].Value == best
        ? $"[green]{arm[c].Value.ToString("0.0000", CultureInfo.InvariantCulture)}[/]"
        : arm[c].Value.ToString("0.0000", CultureInfo.InvariantCulture)));
    cells.Add(arm["p50 latency ms"].Value.ToString("0.00", CultureInfo.InvariantCulture));
    cells.Add(arm.Guardrails.First(g => g.Name == "p99 latency").Value.ToString("0.00", CultureInfo.InvariantCulture));
    table.AddRow(cells.ToArray());
}

AnsiConsole.Write(table);
AnsiConsole.MarkupLine("Metrics agree with the shared scorer ([grey]genrec eval --recs-out[/] writes its input).");
AnsiConsole.WriteLine();
AnsiConsole.MarkupLine("[bold]A/B against the DLRM baseline[/] (same users, 95 % bootstrap intervals of arm − control, guardrails: p99 ≤ 100 ms, errors ≤ 1 %):");
Console.WriteLine(ExperimentReportWriter.ToTable(report, ["HR@10", "NDCG@10", "MRR", "coverage@10", "novelty@10"]));
var folder = Path.GetFullPath(Path.Combine("out", "quickstart"));
Directory.CreateDirectory(folder);
ExperimentReportWriter.WriteJson(report, Path.Combine(folder, "report.json"));
ExperimentReportWriter.WriteHtml(report, Path.Combine(folder, "report.html"), "GenRec quickstart: A/B against the DLRM baseline");
AnsiConsole.MarkupLine($"Report with plots: [blue]{Markup.Escape(Path.Combine(folder, "report.html"))}[/]. The full-size generative run and the ablations: [grey]docs/benchmarks.md[/].");


// An Orleans silo in this process (localhost clustering, in-memory storage) serving the exported model.
static IHost StartSilo(string folder)
{
    var builder = Host.CreateApplicationBuilder();
    builder.Logging.SetMinimumLevel(LogLevel.Error);
    builder.UseOrleans(silo => silo
        .UseLocalhostClustering(siloPort: 11311, gatewayPort: 30311, primarySiloEndpoint: new IPEndPoint(IPAddress.Loopback, 11311))
        .AddGenRecGrains(o =>
        {
            o.IndexPath = ModelFolderLayout.IndexPath(folder);
            o.ModelPath = Path.Combine(folder, "model");
            o.DefaultBeamWidth = 100;
        })
        .UseInMemoryGenRecStorage());
    return builder.Build();
}

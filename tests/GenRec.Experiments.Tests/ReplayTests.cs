using System.Text.Json;
using GenRec.Baselines;
using GenRec.Cascade;
using GenRec.Data;
using GenRec.TestSupport;

namespace GenRec.Experiments.Tests;

public sealed class ReplayFixture
{
    public ClassicRecall Recall { get; } = ClassicRecall.Fit(TestData.Split.TrainInteractions, TestData.Dataset);
}

public sealed class ReplayTests(ReplayFixture fixture) : IClassFixture<ReplayFixture>
{
    /// <summary>Recommends the least popular items: an arm that must come out worse.</summary>
    private sealed class Unpopular(DataSplit split) : IRecommender
    {
        private readonly ItemId[] _order = split.Dataset.Catalogue
            .OrderBy(i => split.TrainInteractions.Count(t => t.Item == i)).ThenBy(i => i).ToArray();

        public string Name => "unpopular";

        public ValueTask<RecommendationResult> RecommendAsync(RecommendationRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(new RecommendationResult(_order.Where(i => !request.IsExcluded(i)).Take(request.Count).Select(i => new Candidate(i, 0, Name)).ToArray(), []));
    }

    /// <summary>1 for the items of a set, 0 for the others.</summary>
    private sealed class SetReward(IReadOnlySet<ItemId> liked) : IRewardModel
    {
        private int _calls;

        public int Calls => _calls;

        public string Name => "set";

        public void Score(RecommendationRequest request, IReadOnlyList<ItemId> items, Span<double> destination)
        {
            Interlocked.Increment(ref _calls);
            for (var i = 0; i < items.Count; i++)
            {
                destination[i] = liked.Contains(items[i]) ? 1 : 0;
            }
        }
    }

    /// <summary>Fails every fifth request.</summary>
    private sealed class Flaky(IRecommender inner) : IRecommender
    {
        private int _calls;

        public string Name => "flaky";

        public ValueTask<RecommendationResult> RecommendAsync(RecommendationRequest request, CancellationToken cancellationToken = default) =>
            Interlocked.Increment(ref _calls) % 5 == 0 ? throw new InvalidOperationException("model server down") : inner.RecommendAsync(request, cancellationToken);
    }

    /// <summary>Takes 120 ms a request.</summary>
    private sealed class Slow(IRecommender inner) : IRecommender
    {
        public string Name => "slow";

        public async ValueTask<RecommendationResult> RecommendAsync(RecommendationRequest request, CancellationToken cancellationToken = default)
        {
            await Task.Delay(120, cancellationToken);
            return await inner.RecommendAsync(request, cancellationToken);
        }
    }

    private CascadePipeline Popularity => new("popularity", [new RecallChannel(fixture.Recall.Popularity)]);

    private CascadePipeline ItemCf => new("itemcf", [new RecallChannel(fixture.Recall.ItemCf)]);

    [Fact]
    public async Task A_better_arm_is_reported_better_and_a_worse_one_worse_on_real_data()
    {
        var report = await OfflineReplay.RunAsync(
            [new("popularity", Popularity), new("itemcf", ItemCf), new("unpopular", new Unpopular(TestData.Split))],
            TestData.Split,
            SplitTarget.Test);

        Assert.Equal(671, report.Users);
        Assert.Equal("popularity", report.Arms[0].Name);
        Assert.True(report.Arms[0].IsControl);
        var itemCf = report["itemcf"];
        Assert.StartsWith("better on NDCG@10", itemCf.Verdict, StringComparison.Ordinal);
        var ndcg = itemCf["NDCG@10"];
        Assert.Equal(0.0551, ndcg.Value, 4); // the figure genrec eval and the shared scorer give for itemcf
        Assert.Equal(ndcg.Value - report["popularity"]["NDCG@10"].Value, ndcg.VersusControl!.Value.Difference, 12);
        Assert.True(ndcg.VersusControl.Value.PValue < 0.001);
        Assert.StartsWith("WORSE on NDCG@10", report["unpopular"].Verdict, StringComparison.Ordinal);
        Assert.True(report["unpopular"]["novelty@10"].VersusControl!.Value.Difference > 0, "unpopular items are more novel");
        Assert.All(report.Arms, a => Assert.True(a.GuardrailsPassed, a.Verdict));
    }

    [Fact]
    public async Task Failing_and_slow_arms_fail_their_guardrails_instead_of_stopping_the_replay()
    {
        var log = new LogRecorder();
        var report = await OfflineReplay.RunAsync(
            [new("itemcf", ItemCf), new("flaky", new Flaky(ItemCf)), new("slow", new Slow(ItemCf))],
            TestData.Split,
            SplitTarget.Test,
            new ReplayOptions { MaxUsers = 25, MaxP99LatencyMs = 100, Logger = log, LoggedErrorsPerArm = 3 });

        var flaky = report["flaky"];
        Assert.Equal(0.2, flaky.Guardrails.Single(g => g.Name == "error rate").Value, 6);

        // The first three failures are logged with their exceptions, then one line says how many there were.
        Assert.Equal(3, log.Entries.Count(e => e.Exception?.Message == "model server down" && e.Message.Contains("arm flaky failed for user", StringComparison.Ordinal)));
        Assert.Single(log.Entries, e => e.Message.Contains("arm flaky failed on 5 of 25 users", StringComparison.Ordinal));
        Assert.All(log.Entries, e => Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, e.Level));
        Assert.Contains("FAILS error rate", flaky.Verdict, StringComparison.Ordinal);
        Assert.Contains("FAILS p99 latency", report["slow"].Verdict, StringComparison.Ordinal);
        Assert.True(report["itemcf"].GuardrailsPassed);
    }

    [Fact]
    public async Task The_report_is_written_as_a_table_json_and_html_with_plots()
    {
        using var folder = TestData.TempFolder();
        var report = await OfflineReplay.RunAsync([new("popularity", Popularity), new("itemcf", ItemCf)], TestData.Split, SplitTarget.Valid, new ReplayOptions { MaxUsers = 200 });

        var table = ExperimentReportWriter.ToTable(report);
        ExperimentReportWriter.WriteJson(report, folder.File("r.json"));
        ExperimentReportWriter.WriteHtml(report, folder.File("r.html"));

        Assert.Contains("200 users per arm, paired", table, StringComparison.Ordinal);
        Assert.Contains("popularity (control)", table, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(File.ReadAllText(folder.File("r.json")));
        var arm = json.RootElement.GetProperty("arms")[1];
        Assert.Equal("itemcf", arm.GetProperty("name").GetString());
        Assert.Equal(report["itemcf"]["NDCG@10"].VersusControl!.Value.Lower, arm.GetProperty("metrics").GetProperty("NDCG@10").GetProperty("ci_lower").GetDouble(), 12);
        var html = File.ReadAllText(folder.File("r.html"));
        Assert.Contains("<svg", html, StringComparison.Ordinal);
        Assert.Contains("NDCG@10: arm − control", html, StringComparison.Ordinal);
        Assert.Contains("per-request latency", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reward_model_adds_each_arms_mean_top_10_reward_compared_with_the_control()
    {
        var popular = TestData.Split.TrainInteractions.GroupBy(i => i.Item).OrderByDescending(g => g.Count()).Take(100).Select(g => g.Key).ToHashSet();
        var reward = new SetReward(popular);

        var report = await OfflineReplay.RunAsync(
            [new("popularity", Popularity), new("unpopular", new Unpopular(TestData.Split)), new("flaky", new Flaky(Popularity))],
            TestData.Split,
            SplitTarget.Valid,
            new ReplayOptions { MaxUsers = 50, Reward = reward });

        // The popularity arm's lists, recomputed: each user's share of top-100 items in their top 10.
        var expected = new List<double>();
        foreach (var c in TestData.Split.Cases(SplitTarget.Valid).Take(50))
        {
            var result = await Popularity.RecommendAsync(new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time), TestContext.Current.CancellationToken);
            expected.Add(result.Items.Take(10).Average(i => popular.Contains(i.Item) ? 1.0 : 0.0));
        }

        var popularity = report["popularity"][OfflineReplay.RewardMetric].Value;
        Assert.Equal(expected.Average(), popularity, 12);
        Assert.True(popularity > 0.9, $"{popularity}");
        var unpopular = report["unpopular"][OfflineReplay.RewardMetric];
        Assert.Equal(0, unpopular.Value, 12);
        Assert.Equal(-popularity, unpopular.VersusControl!.Value.Difference, 12);
        Assert.True(unpopular.VersusControl.Value.Significant);

        // A failed request served nothing: it counts 0 reward (10 of the 50 users here).
        var flaky = report["flaky"][OfflineReplay.RewardMetric].Value;
        Assert.InRange(flaky, popularity - 0.2 - 1e-12, popularity - (0.2 * expected.Min()) + 1e-12);
        Assert.Contains(OfflineReplay.RewardMetric, ExperimentReportWriter.ToTable(report), StringComparison.Ordinal);
        Assert.True(reward.Calls > 0);

        var without = await OfflineReplay.RunAsync([new("popularity", Popularity), new("unpopular", new Unpopular(TestData.Split))], TestData.Split, SplitTarget.Valid, new ReplayOptions { MaxUsers = 5 });
        Assert.DoesNotContain(without.Arms[1].Metrics, m => m.Metric == OfflineReplay.RewardMetric);
    }

    [Fact]
    public async Task The_control_must_be_an_arm()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => OfflineReplay.RunAsync([new("a", Popularity), new("b", ItemCf)], TestData.Split, SplitTarget.Test, new ReplayOptions { Control = "c" }));
        await Assert.ThrowsAsync<ArgumentException>(() => OfflineReplay.RunAsync([new("a", Popularity)], TestData.Split, SplitTarget.Test));
    }

    /// <summary>Fails every request.</summary>
    private sealed class Down : IRecommender
    {
        public string Name => "down";

        public ValueTask<RecommendationResult> RecommendAsync(RecommendationRequest request, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("ranker unreachable");
    }

    [Fact]
    public async Task Online_a_failing_arm_serves_the_control_and_a_failing_control_reaches_the_caller_logged_and_counted()
    {
        var cases = TestData.Split.Cases(SplitTarget.Test).Take(40).ToArray();
        RecommendationRequest Request(EvaluationCase c) => new(c.User, c.HistoryEvents(), 20, c.Target.Time);

        // The treatment fails: its users get the control's list; the failure is an exposure, a warning and a count.
        var treatment = new ExperimentDefinition("gen", [new("popularity", 1), new("down", 1)], "popularity");
        var log = new InMemoryExposureLog();
        var logger = new LogRecorder();
        var online = new OnlineExperiment(new ExperimentLayer("recall", [treatment]), treatment, new Dictionary<string, IRecommender> { ["popularity"] = Popularity, ["down"] = new Down() }, log, logger: logger);
        foreach (var c in cases)
        {
            Assert.Equal(20, (await online.RecommendAsync(Request(c), TestContext.Current.CancellationToken)).Items.Count);
        }

        var failed = log.Exposures.Count(e => e.Arm == "down" && e.Failed);
        Assert.True(failed > 0, "no user was assigned the failing arm");
        Assert.Equal(failed, online.ArmFailures);
        Assert.Equal(failed, logger.Entries.Count(e => e.Exception?.Message == "ranker unreachable" && e.Message.Contains("arm down (served) failed", StringComparison.Ordinal)));

        // The control fails: the caller sees its exception (its own fallback applies), never an empty list.
        var broken = new ExperimentDefinition("gen", [new("down", 1), new("itemcf", 1)], "down");
        var brokenLog = new InMemoryExposureLog();
        var brokenOnline = new OnlineExperiment(new ExperimentLayer("recall", [broken]), broken, new Dictionary<string, IRecommender> { ["down"] = new Down(), ["itemcf"] = ItemCf }, brokenLog, logger: logger);
        int served = 0, thrown = 0;
        foreach (var c in cases)
        {
            try
            {
                Assert.Equal(20, (await brokenOnline.RecommendAsync(Request(c), TestContext.Current.CancellationToken)).Items.Count);
                served++;
            }
            catch (InvalidOperationException e) when (e.Message == "ranker unreachable")
            {
                thrown++;
            }
        }

        Assert.True(served > 0 && thrown > 0, $"{served} served, {thrown} thrown");
        Assert.Equal(thrown, brokenLog.Exposures.Count(e => e.Arm == "down" && e.Failed));
        Assert.Equal(thrown, brokenOnline.ArmFailures);
    }

    [Fact]
    public async Task Online_mode_logs_exposures_and_recovers_the_offline_ordering_from_the_log()
    {
        var layer = new ExperimentLayer("recall", [new ExperimentDefinition("gen", [new("popularity", 1), new("itemcf", 1), new("flaky", 1)], "popularity")]);
        var log = new InMemoryExposureLog();
        var online = new OnlineExperiment(
            layer,
            new ExperimentDefinition("gen", [new("popularity", 1), new("itemcf", 1), new("flaky", 1)], "popularity"),
            new Dictionary<string, IRecommender> { ["popularity"] = Popularity, ["itemcf"] = ItemCf, ["flaky"] = new Flaky(ItemCf) },
            log,
            new Dictionary<string, IRecommender> { ["itemcf-shadow"] = ItemCf });

        // Each user asks just before their held-out interaction, then makes it.
        foreach (var c in TestData.Split.Cases(SplitTarget.Test))
        {
            var served = await online.RecommendAsync(new RecommendationRequest(c.User, c.HistoryEvents(), 50, c.Target.Time.AddSeconds(-1)));
            Assert.Equal(50, served.Items.Count); // a failing arm never fails the request
            online.Observe(c.Target.ToEvent());
        }

        var exposures = log.Exposures;
        Assert.Equal(671, exposures.Count(e => !e.Shadow));
        Assert.Equal(671, exposures.Count(e => e.Shadow && e.Arm == "itemcf-shadow"));
        Assert.All(exposures.Where(e => !e.Shadow), e => Assert.Equal(layer.Assign(e.User).Arm, e.Arm));
        Assert.Contains(exposures, e => e.Arm == "flaky" && e.Failed);

        var report = OnlineAnalysis.Analyze(log, "popularity", TestData.Dataset, TimeSpan.FromHours(1));
        Assert.False(report.Paired);
        Assert.StartsWith("better on NDCG@10", report["itemcf"].Verdict, StringComparison.Ordinal);
        Assert.StartsWith("better on NDCG@10", report["itemcf-shadow"].Verdict, StringComparison.Ordinal);
        Assert.Contains("FAILS error rate", report["flaky"].Verdict, StringComparison.Ordinal);
        Assert.Equal(exposures.Count(e => e.Arm == "popularity"), report.Users);
    }
}

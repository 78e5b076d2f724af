using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using GenRec.Cascade;

namespace GenRec.Adapters.Tests;

public sealed class AdapterTests
{
    private static readonly RecommendationRequest Request = new(new UserId(7), [new UserEvent(new UserId(7), new ItemId(1), ActionType.Click, DateTimeOffset.UnixEpoch)], 10, DateTimeOffset.UnixEpoch.AddDays(1));

    private static IRecallStage Fixed(string name, params long[] items) =>
        RecallStage.From(name, (_, count, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>(items.Take(count).Select((i, r) => new Candidate(new ItemId(i), 100 - r, name)).ToArray()));

    private static readonly IRecallStage Throwing = RecallStage.From("broken", (_, _, _) => throw new InvalidOperationException("model file vanished"));

    /// <summary>Never answers and ignores cancellation: the worst a generative side can do.</summary>
    private static readonly IRecallStage Hanging = RecallStage.From("stuck", (_, _, _) => new ValueTask<IReadOnlyList<Candidate>>(new TaskCompletionSource<IReadOnlyList<Candidate>>().Task));

    private static AdapterOptions Options(StageMode mode, BlendMethod blend = BlendMethod.Quota) => new() { Mode = mode, Blend = blend, Budget = TimeSpan.FromMilliseconds(100) };

    [Fact]
    public async Task Replace_serves_the_generative_side_and_falls_back_on_error_timeout_or_nothing()
    {
        var baseline = Fixed("dlrm", 10, 11, 12);
        Assert.Equal([20L, 21], (await new RecallAdapter("gen", baseline, Fixed("gen", 20, 21), Options(StageMode.Replace)).RecallAsync(Request, 5)).Select(c => c.Item.Value));

        foreach (var broken in new[] { Throwing, Hanging, Fixed("empty") })
        {
            var adapter = new RecallAdapter("gen", baseline, broken, Options(StageMode.Replace));
            var served = await adapter.RecallAsync(Request, 5, TestContext.Current.CancellationToken);
            Assert.Equal([10L, 11, 12], served.Select(c => c.Item.Value));
            Assert.Equal(1, adapter.Fallbacks);
        }
    }

    [Fact]
    public async Task Fallbacks_are_counted_by_reason_in_the_metrics()
    {
        var reasons = new ConcurrentBag<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "GenRec" && instrument.Name == "genrec.adapter.fallbacks")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            var stage = tags.ToArray().Single(t => t.Key == "stage").Value as string;
            if (stage == "metered")
            {
                reasons.Add((string)tags.ToArray().Single(t => t.Key == "reason").Value!);
            }
        });
        listener.Start();

        await new RecallAdapter("metered", Fixed("dlrm", 1), Throwing, Options(StageMode.Replace)).RecallAsync(Request, 3, TestContext.Current.CancellationToken);
        await new RecallAdapter("metered", Fixed("dlrm", 1), Hanging, Options(StageMode.Blend)).RecallAsync(Request, 3, TestContext.Current.CancellationToken);

        Assert.Equal(["error", "timeout"], reasons.Order());
    }

    [Fact]
    public async Task Quota_blend_interleaves_by_rank_caps_the_generative_share_and_skips_duplicates_and_exclusions()
    {
        var adapter = new RecallAdapter("blend", Fixed("dlrm", 10, 11, 12, 13, 14, 15), Fixed("gen", 11, 1, 20, 21, 22), new AdapterOptions { Mode = StageMode.Blend, GenerativeShare = 0.3 });

        var served = await adapter.RecallAsync(Request, 8, TestContext.Current.CancellationToken);

        // Rank by rank, the baseline first: 10, then the generative 11 (so the baseline's 11 is a duplicate); the
        // generative 1 is in the history; the cap is ceil(8 × 0.3) = 3 generative items (11, 20, 21).
        Assert.Equal([10L, 11, 20, 12, 21, 13, 14, 15], served.Select(c => c.Item.Value));
        Assert.Equal(3, served.Count(c => c.Source == "gen"));
    }

    [Fact]
    public async Task Score_blend_combines_normalised_scores_by_weight()
    {
        var baseline = RecallStage.From("dlrm", (_, _, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([new(new ItemId(10), 5, "dlrm"), new(new ItemId(11), 3, "dlrm"), new(new ItemId(12), 1, "dlrm")]));
        var generative = RecallStage.From("gen", (_, _, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([new(new ItemId(12), -1, "gen"), new(new ItemId(20), -2, "gen"), new(new ItemId(10), -5, "gen")]));
        var adapter = new RecallAdapter("blend", baseline, generative, new AdapterOptions { Mode = StageMode.Blend, Blend = BlendMethod.ScoreNormalized, GenerativeWeight = 0.5 });

        var served = await adapter.RecallAsync(Request, 10, TestContext.Current.CancellationToken);

        // Normalised: baseline 10→1, 11→0.5, 12→0; generative 12→1, 20→0.75, 10→0. Combined ×0.5 each:
        // 10: 0.5, 12: 0.5, 20: 0.375, 11: 0.25 (ties by item id).
        Assert.Equal([10L, 12, 20, 11], served.Select(c => c.Item.Value));
        Assert.Equal([0.5, 0.5, 0.375, 0.25], served.Select(c => c.Score));
    }

    [Fact]
    public async Task Shadow_serves_the_baseline_and_reports_the_comparison_even_when_the_generative_side_breaks()
    {
        var observed = new BlockingCollection<ShadowComparison>();
        var observer = new Observer(observed.Add);
        var baseline = Fixed("dlrm", 10, 11, 12, 13);

        var ok = await new RecallAdapter("shadow", baseline, Fixed("gen", 12, 10, 30), Options(StageMode.Shadow), observer: observer).RecallAsync(Request, 4, TestContext.Current.CancellationToken);
        var broken = await new RecallAdapter("shadow", baseline, Throwing, Options(StageMode.Shadow), observer: observer).RecallAsync(Request, 4, TestContext.Current.CancellationToken);
        var stuck = await new RecallAdapter("shadow", baseline, Hanging, Options(StageMode.Shadow), observer: observer).RecallAsync(Request, 4, TestContext.Current.CancellationToken);

        Assert.All([ok, broken, stuck], served => Assert.Equal([10L, 11, 12, 13], served.Select(c => c.Item.Value)));
        var comparisons = Enumerable.Range(0, 3).Select(_ => observed.Take(TestContext.Current.CancellationToken)).OrderBy(c => c.Outcome).ToArray();
        Assert.Equal(["error", "ok", "timeout"], comparisons.Select(c => c.Outcome));
        Assert.Equal(0.5, comparisons[1].Overlap);
        Assert.Equal([new ItemId(12), new ItemId(10), new ItemId(30)], comparisons[1].Generative);
        Assert.All(comparisons, c => Assert.Equal(new UserId(7), c.User));
    }

    [Fact]
    public async Task Ranking_adapter_replaces_blends_and_falls_back()
    {
        IReadOnlyList<Candidate> candidates = [new(new ItemId(1), 0, "r"), new(new ItemId(2), 0, "r"), new(new ItemId(3), 0, "r")];
        var ascending = RankingStage.From("dlrm", (_, c, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>(c.Select(x => x with { Score = x.Item.Value }).OrderByDescending(x => x.Score).ToArray()));
        var descending = RankingStage.From("gen", (_, c, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>(c.Select(x => x with { Score = -x.Item.Value }).OrderByDescending(x => x.Score).ToArray()));
        var failing = RankingStage.From("broken", (_, _, _) => throw new TimeoutException("GPU busy"));

        var replaced = await new RankingAdapter("rank", ascending, descending, Options(StageMode.Replace)).RankAsync(Request, candidates, TestContext.Current.CancellationToken);
        var fallback = new RankingAdapter("rank", ascending, failing, Options(StageMode.Replace));
        var served = await fallback.RankAsync(Request, candidates, TestContext.Current.CancellationToken);
        var blended = await new RankingAdapter("rank", ascending, descending, new AdapterOptions { Mode = StageMode.Blend, GenerativeWeight = 0.25 }).RankAsync(Request, candidates, TestContext.Current.CancellationToken);

        Assert.Equal([1L, 2, 3], replaced.Select(c => c.Item.Value));
        Assert.Equal([3L, 2, 1], served.Select(c => c.Item.Value));
        Assert.Equal(1, fallback.Fallbacks);
        Assert.Equal([3L, 2, 1], blended.Select(c => c.Item.Value)); // 0.75 on the baseline wins
    }

    [Fact]
    public async Task Score_blend_ranks_a_candidate_a_side_cannot_score_as_if_that_side_lacked_it()
    {
        // LambdaRank and HSTU both give −∞ to items they do not know; the blend must stay finite and keep every item.
        IReadOnlyList<Candidate> candidates = [new(new ItemId(1), 0, "r"), new(new ItemId(2), 0, "r"), new(new ItemId(3), 0, "r"), new(new ItemId(4), 0, "new")];
        double Baseline(long item) => item == 4 ? double.NegativeInfinity : item;
        double Generative(long item) => item == 4 ? double.NegativeInfinity : item == 1 ? 10 : 0;
        var baseline = RankingStage.From("dlrm", (_, c, _) => ValueTask.FromResult(RankingStage.Order(c, [.. c.Select(x => Baseline(x.Item.Value))])));
        var generative = RankingStage.From("hstu", (_, c, _) => ValueTask.FromResult(RankingStage.Order(c, [.. c.Select(x => Generative(x.Item.Value))])));

        var blended = await new RankingAdapter("rank", baseline, generative, new AdapterOptions { Mode = StageMode.Blend, Blend = BlendMethod.ScoreNormalized, GenerativeWeight = 0.6 })
            .RankAsync(Request, candidates, TestContext.Current.CancellationToken);

        // 1: 0.4·0 + 0.6·1 = 0.6; 3: 0.4·1 = 0.4; 2: 0.4·0.5 = 0.2; 4: 0 on both sides.
        Assert.Equal([1L, 3, 2, 4], blended.Select(c => c.Item.Value));
        Assert.All(blended, c => Assert.True(double.IsFinite(c.Score), $"{c.Item}: {c.Score}"));
    }

    [Fact]
    public async Task End_to_end_replacement_falls_back_to_the_whole_cascade()
    {
        var cascade = new CascadePipeline("dlrm", [new RecallChannel(Fixed("pop", 10, 11, 12))]);
        var generative = Recommender.From("onerec", (_, _) => throw new InvalidOperationException("out of memory"));
        var adapter = new RecommenderAdapter("e2e", cascade, generative, Options(StageMode.Replace));

        var result = await adapter.RecommendAsync(Request, TestContext.Current.CancellationToken);

        Assert.Equal([10L, 11, 12], result.Items.Select(c => c.Item.Value));
        Assert.Equal(1, adapter.Fallbacks);
    }

    [Fact]
    public async Task End_to_end_blend_merges_whole_lists_and_keeps_the_cascade_when_the_generator_fails()
    {
        var cascade = new CascadePipeline("dlrm", [new RecallChannel(Fixed("pop", 10, 11, 12, 13, 14, 15, 16, 17, 18, 19))]);
        var generator = Recommender.From("onerec", (_, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([new(new ItemId(30), 9, "onerec"), new(new ItemId(11), 8, "onerec"), new(new ItemId(1), 7, "onerec"), new(new ItemId(31), 6, "onerec")]));

        // Slot interleaving: the cascade first at each rank, the generator's items capped at 30 % of 10, none twice, the history item 1 dropped.
        var quota = await new RecommenderAdapter("e2e", cascade, generator, Options(StageMode.Blend)).RecommendAsync(Request, TestContext.Current.CancellationToken);
        Assert.Equal([10L, 30, 11, 31, 12, 13, 14, 15, 16, 17], quota.Items.Select(c => c.Item.Value));
        Assert.Contains(quota.Stages, s => s.Stage == "onerec" && s.Kind == StageKind.EndToEnd);

        // Score fusion: each side's scores min-max normalised, the generator weighted 0.5: 11 is high on both sides.
        var fused = await new RecommenderAdapter("e2e", cascade, generator, Options(StageMode.Blend, BlendMethod.ScoreNormalized)).RecommendAsync(Request, TestContext.Current.CancellationToken);
        Assert.Equal(11L, fused.Items[0].Item.Value);
        Assert.Equal(10, fused.Items.Count);
        Assert.DoesNotContain(fused.Items, c => c.Item.Value == 1);
        Assert.Equal(fused.Items.Count, fused.Items.Select(c => c.Item).Distinct().Count());

        foreach (var broken in new[] { Recommender.From("onerec", (_, _) => throw new InvalidOperationException("no GPU")), Recommender.From("onerec", (_, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([])) })
        {
            var adapter = new RecommenderAdapter("e2e", cascade, broken, Options(StageMode.Blend));
            var served = await adapter.RecommendAsync(Request, TestContext.Current.CancellationToken);
            Assert.Equal(Enumerable.Range(10, 10).Select(i => (long)i), served.Items.Select(c => c.Item.Value));
            Assert.Equal(1, adapter.Fallbacks);
        }
    }

    [Fact]
    public async Task End_to_end_shadow_serves_the_cascade_and_reports_the_generated_list()
    {
        var observed = new BlockingCollection<ShadowComparison>();
        var cascade = new CascadePipeline("dlrm", [new RecallChannel(Fixed("pop", 10, 11, 12))]);
        var generator = Recommender.From("onerec", (_, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([new(new ItemId(12), 1, "onerec"), new(new ItemId(40), 0, "onerec")]));
        var hanging = Recommender.From("onerec", (_, _) => new ValueTask<IReadOnlyList<Candidate>>(new TaskCompletionSource<IReadOnlyList<Candidate>>().Task));

        var served = await new RecommenderAdapter("e2e", cascade, generator, Options(StageMode.Shadow), observer: new Observer(observed.Add)).RecommendAsync(Request, TestContext.Current.CancellationToken);
        var stuck = new RecommenderAdapter("e2e", cascade, hanging, Options(StageMode.Shadow), observer: new Observer(observed.Add));
        var servedWhileStuck = await stuck.RecommendAsync(Request, TestContext.Current.CancellationToken);

        Assert.All([served, servedWhileStuck], r => Assert.Equal([10L, 11, 12], r.Items.Select(c => c.Item.Value)));
        var comparisons = Enumerable.Range(0, 2).Select(_ => observed.Take(TestContext.Current.CancellationToken)).OrderBy(c => c.Outcome).ToArray();
        Assert.Equal(["ok", "timeout"], comparisons.Select(c => c.Outcome));
        Assert.Equal([new ItemId(12), new ItemId(40)], comparisons[0].Generative);
        Assert.Equal(1 / 3.0, comparisons[0].Overlap, 12);
        Assert.Equal(1, stuck.Fallbacks);
    }

    [Fact]
    public async Task A_shadow_observer_that_throws_is_logged_and_counted_and_faults_no_background_task()
    {
        var unobserved = 0;
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            if (e.Exception.Flatten().InnerExceptions.Any(x => x.Message == "observer broke"))
            {
                Interlocked.Increment(ref unobserved);
            }
        }

        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            var log = new GenRec.TestSupport.LogRecorder();
            var adapter = new RecallAdapter("shadow", Fixed("dlrm", 10, 11, 12), Fixed("gen", 12, 40), Options(StageMode.Shadow), log, new Observer(_ => throw new InvalidOperationException("observer broke")));

            var served = await adapter.RecallAsync(Request, 3, TestContext.Current.CancellationToken);

            Assert.Equal([10L, 11, 12], served.Select(c => c.Item.Value));
            for (var i = 0; i < 500 && adapter.ObserverErrors == 0; i++)
            {
                await Task.Delay(10, TestContext.Current.CancellationToken);
            }

            Assert.Equal(1, adapter.ObserverErrors);
            var entry = Assert.Single(log.Entries, e => e.Exception?.Message == "observer broke");
            Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, entry.Level);
            Assert.Contains("shadow observer Observer threw", entry.Message, StringComparison.Ordinal);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            Assert.Equal(0, unobserved);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }
    }

    [Fact]
    public async Task A_cancelled_request_is_cancelled_not_counted_as_a_fallback()
    {
        var adapter = new RecallAdapter("gen", Fixed("dlrm", 1), RecallStage.From("slow", async (_, _, ct) => { await Task.Delay(Timeout.Infinite, ct); return []; }), new AdapterOptions { Mode = StageMode.Replace, Budget = TimeSpan.FromSeconds(30) });
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => adapter.RecallAsync(Request, 3, cancel.Token).AsTask());

        Assert.Equal(0, adapter.Fallbacks);
    }

    [Fact]
    public async Task A_whole_recall_layer_is_one_stage_and_bad_options_are_refused()
    {
        var layer = new CompositeRecall("dlrm-recall", [new RecallChannel(Fixed("pop", 10, 11), 2), new RecallChannel(Fixed("cf", 20, 10, 21))]);
        Assert.Equal([10L, 20, 11, 21], (await layer.RecallAsync(Request, 5, TestContext.Current.CancellationToken)).Select(c => c.Item.Value));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RecallAdapter("x", layer, layer, new AdapterOptions { GenerativeShare = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RecallAdapter("x", layer, layer, new AdapterOptions { Budget = TimeSpan.Zero }));
    }

    private sealed class Observer(Action<ShadowComparison> observe) : IShadowObserver
    {
        public void Observe(ShadowComparison comparison) => observe(comparison);
    }
}

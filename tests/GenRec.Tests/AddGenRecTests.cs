using GenRec.Adapters;
using GenRec.Generative;
using GenRec.Inference;
using GenRec.SemanticIds;
using GenRec.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace GenRec.Tests;

public sealed class AddGenRecTests
{
    [Fact]
    public async Task The_pieces_compose_into_a_recall_adapter_that_recommends()
    {
        var files = ModelFiles.Value;
        var services = new ServiceCollection();
        services.AddGenRec(o => o.OnnxRuntime = new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu })
            .AddSemanticIdIndex(files.IndexPath)
            .AddOnnxModel(files.ModelPath)
            .AddGenerativeRecall(r => r.BeamWidth = 16)
            // A generous budget: this checks the composition, not the speed (a loaded machine must not turn it into a fallback).
            .AddRecallAdapter(_ => RecallStage.From("dlrm", (_, _, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([])), o => { o.Mode = StageMode.Replace; o.Budget = TimeSpan.FromSeconds(30); });
        await using var provider = services.BuildServiceProvider();

        var adapter = provider.GetRequiredKeyedService<IRecallStage>(GenRecStages.Adapted);
        var request = new RecommendationRequest(new UserId(1), [new UserEvent(new UserId(1), files.Index.Items[0], ActionType.Click, DateTimeOffset.UnixEpoch)], 10, DateTimeOffset.UnixEpoch);
        var candidates = await adapter.RecallAsync(request, 10, TestContext.Current.CancellationToken);

        Assert.Equal(10, candidates.Count);
        Assert.All(candidates, c => Assert.Equal("generative", c.Source));
        Assert.Same(provider.GetRequiredService<GenerativeRecall>(), provider.GetRequiredKeyedService<IRecallStage>(GenRecStages.Generative));
    }

    [Fact]
    public async Task Dense_retrieval_joins_generative_recall_behind_the_adapter_and_reaches_an_item_added_after_training()
    {
        var files = ModelFiles.Value;
        var services = new ServiceCollection();
        services.AddGenRec(o => o.OnnxRuntime = new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu })
            .AddSemanticIdIndex(files.IndexPath)
            .AddOnnxModel(files.ModelPath)
            .AddHybridRecall(GenRec.Cascade.RecallMerge.Interleave) // before the two it joins: the order does not matter
            .AddGenerativeRecall(r => r.BeamWidth = 16)
            .AddDenseRetrieval(ModelFiles.DenseOnnxPath)
            .AddRecallAdapter(_ => RecallStage.From("dlrm", (_, _, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([])), o => { o.Mode = StageMode.Replace; o.Budget = TimeSpan.FromSeconds(30); });
        await using var provider = services.BuildServiceProvider();
        var adapter = provider.GetRequiredKeyedService<IRecallStage>(GenRecStages.Adapted);
        var history = TestData.Split.Case(new UserId(1), GenRec.Data.SplitTarget.Test).HistoryEvents();
        var request = new RecommendationRequest(new UserId(1), history, 20, DateTimeOffset.UnixEpoch);

        var candidates = await adapter.RecallAsync(request, 20, TestContext.Current.CancellationToken);

        Assert.Equal(20, candidates.Count);
        Assert.Contains(candidates, c => c.Source == "generative");
        Assert.Contains(candidates, c => c.Source == "dense");
        Assert.DoesNotContain(candidates, c => request.HistoryItems.Contains(c.Item));

        // A new item, registered by its content only (the content of the user's last item), is in the index at once and
        // ranks in the better half of the catalogue for this user. (That such an item reaches the top for users of its
        // kind is checked on planted data in GenRec.Training.Tests, DenseRetrievalTests.)
        var dense = provider.GetRequiredService<OnnxDenseRetriever>();
        var newItem = new ItemId(900_001);
        var before = dense.Catalogue.Vectors.Count;
        dense.AddItems(ItemEmbeddings.FromRows([(newItem, files.Embeddings[history[^1].Item].ToArray())]));
        var all = await provider.GetRequiredKeyedService<IRecallStage>(GenRecStages.Dense).RecallAsync(request, before + 1, TestContext.Current.CancellationToken);
        var rank = all.Select(c => c.Item).ToList().IndexOf(newItem);
        Assert.InRange(rank, 0, all.Count / 2);
    }

    [Fact]
    public async Task A_hybrid_recall_with_a_fresh_items_share_reserves_that_share_for_items_new_since_training()
    {
        var files = ModelFiles.Value;
        var services = new ServiceCollection();
        services.AddGenRec(o => o.OnnxRuntime = new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu })
            .AddSemanticIdIndex(files.IndexPath)
            .AddOnnxModel(files.ModelPath)
            .AddGenerativeRecall(r => r.BeamWidth = 16)
            .AddDenseRetrieval(ModelFiles.DenseOnnxPath)
            .AddHybridRecall(GenRec.Cascade.RecallMerge.Interleave, freshItemsShare: 0.2)
            .AddRecallAdapter(_ => RecallStage.From("dlrm", (_, _, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([])), o => { o.Mode = StageMode.Replace; o.Budget = TimeSpan.FromSeconds(30); });
        await using var provider = services.BuildServiceProvider();
        var history = TestData.Split.Case(new UserId(1), GenRec.Data.SplitTarget.Test).HistoryEvents();
        var request = new RecommendationRequest(new UserId(1), history, 20, DateTimeOffset.UnixEpoch);
        var dense = provider.GetRequiredService<OnnxDenseRetriever>();
        dense.AddItems(ItemEmbeddings.FromRows([(new ItemId(900_002), files.Embeddings[history[^1].Item].ToArray())]));

        var candidates = await provider.GetRequiredKeyedService<IRecallStage>(GenRecStages.Adapted).RecallAsync(request, 20, TestContext.Current.CancellationToken);

        Assert.Equal(20, candidates.Count);
        var fresh = await dense.AsNewItemsRecall().RecallAsync(request, 4, TestContext.Current.CancellationToken);
        Assert.Equal(fresh.Select(c => c.Item), candidates.Where(c => c.Source == "dense-new").Select(c => c.Item)); // 4 of 20 slots
        Assert.Contains(candidates, c => c.Source == "generative");
        Assert.Contains(candidates, c => c.Source == "dense");
        Assert.Throws<ArgumentOutOfRangeException>(() => new ServiceCollection().AddGenRec().AddHybridRecall(freshItemsShare: 1));
    }

    [Fact]
    public async Task Beam_fusion_is_the_generative_recall_the_adapter_serves_and_equals_the_stage_built_by_hand()
    {
        var files = ModelFiles.Value;
        var services = new ServiceCollection();
        services.AddGenRec(o => o.OnnxRuntime = new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu })
            .AddBeamFusionRecall(o => { o.Beams = 4; o.DenseWeight = 10; }, DenseItemVectors.ContentOnly, freshOffset: 0.1) // before the parts it joins
            .AddSemanticIdIndex(files.IndexPath)
            .AddOnnxModel(files.ModelPath)
            .AddDenseRetrieval(ModelFiles.DenseOnnxPath)
            .AddRecallAdapter(_ => RecallStage.From("dlrm", (_, _, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([])), o => { o.Mode = StageMode.Replace; o.Budget = TimeSpan.FromSeconds(30); });
        await using var provider = services.BuildServiceProvider();
        var history = TestData.Split.Case(new UserId(1), GenRec.Data.SplitTarget.Test).HistoryEvents();
        var request = new RecommendationRequest(new UserId(1), history, 20, DateTimeOffset.UnixEpoch);

        var candidates = await provider.GetRequiredKeyedService<IRecallStage>(GenRecStages.Adapted).RecallAsync(request, 20, TestContext.Current.CancellationToken);

        var byHand = new BeamFusionRecall(
            provider.GetRequiredService<OnnxGenerativeModel>(),
            provider.GetRequiredService<SemanticIdIndex>(),
            provider.GetRequiredService<OnnxDenseRetriever>().AsRanker(DenseItemVectors.ContentOnly, 0.1),
            new BeamFusionOptions { Beams = 4, DenseWeight = 10 });
        var expected = await byHand.RecallAsync(request, 20, TestContext.Current.CancellationToken);
        Assert.Equal(20, candidates.Count);
        Assert.Equal(expected.Select(c => c.Item), candidates.Select(c => c.Item));
        Assert.All(candidates, c => Assert.Equal("beam-fusion", c.Source));
        Assert.DoesNotContain(candidates, c => request.HistoryItems.Contains(c.Item));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ServiceCollection().AddGenRec().AddBeamFusionRecall(freshOffset: double.PositiveInfinity));

        // With the dense folder's prefix head: each prefix's items scored against its own query, as built by hand.
        var withHead = new ServiceCollection();
        withHead.AddGenRec(o => o.OnnxRuntime = new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu })
            .AddSemanticIdIndex(files.IndexPath)
            .AddOnnxModel(files.ModelPath)
            .AddDenseRetrieval(ModelFiles.DenseOnnxPath)
            .AddBeamFusionRecall(o => { o.Beams = 4; o.DenseWeight = 10; }, prefixHead: true)
            .AddRecallAdapter(_ => RecallStage.From("dlrm", (_, _, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([])), o => { o.Mode = StageMode.Replace; o.Budget = TimeSpan.FromSeconds(30); });
        await using var headProvider = withHead.BuildServiceProvider();
        var headed = await headProvider.GetRequiredKeyedService<IRecallStage>(GenRecStages.Adapted).RecallAsync(request, 20, TestContext.Current.CancellationToken);
        var headByHand = await new BeamFusionRecall(
            headProvider.GetRequiredService<OnnxGenerativeModel>(),
            headProvider.GetRequiredService<SemanticIdIndex>(),
            headProvider.GetRequiredService<OnnxDenseRetriever>().AsConditionedRanker(),
            new BeamFusionOptions { Beams = 4, DenseWeight = 10 }).RecallAsync(request, 20, TestContext.Current.CancellationToken);
        Assert.Equal(20, headed.Count);
        Assert.Equal(headByHand.Select(c => (c.Item, c.Score)), headed.Select(c => (c.Item, c.Score)));
    }

    [Fact]
    public async Task Hstu_ranking_composes_into_a_ranking_adapter_that_reorders_the_candidates()
    {
        var services = new ServiceCollection();
        IRankingStage keepOrder = RankingStage.From("dlrm", (_, candidates, _) => ValueTask.FromResult(candidates));
        services.AddGenRec(o => o.OnnxRuntime = new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu })
            .AddHstuRanking(ModelFiles.HstuOnnxPath)
            .AddRankingAdapter(_ => keepOrder, o => o.Mode = StageMode.Replace);
        await using var provider = services.BuildServiceProvider();

        var adapter = provider.GetRequiredKeyedService<IRankingStage>(GenRecStages.Adapted);
        var hstu = provider.GetRequiredService<HstuOnnxRanker>();
        var c = TestData.Split.Cases(GenRec.Data.SplitTarget.Test)[0];
        var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
        Candidate[] candidates = [.. TestData.Dataset.Catalogue.Take(40).Select(i => new Candidate(i, 0, "recall"))];
        var ranked = await adapter.RankAsync(request, candidates, TestContext.Current.CancellationToken);

        // What HSTU alone says, through the adapter, with no fallback to the baseline's order.
        var expected = await hstu.RankAsync(request, candidates, TestContext.Current.CancellationToken);
        Assert.Equal(expected.Select(x => x.Item), ranked.Select(x => x.Item));
        Assert.NotEqual(candidates.Select(x => x.Item), ranked.Select(x => x.Item));
        Assert.Equal(0, provider.GetRequiredService<RankingAdapter>().Fallbacks);
        Assert.Same(hstu, provider.GetRequiredKeyedService<IRankingStage>(GenRecStages.Generative)); // no batching unless asked for

        // With the micro-batcher: the same order through the adapter, the request scored by the batcher.
        var batched = new ServiceCollection();
        batched.AddGenRec(o => { o.OnnxRuntime = new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu }; o.HstuBatcher = new HstuBatcherOptions(); })
            .AddHstuRanking(ModelFiles.HstuOnnxPath)
            .AddRankingAdapter(_ => keepOrder, o => o.Mode = StageMode.Replace);
        await using (var withBatcher = batched.BuildServiceProvider())
        {
            var viaBatcher = await withBatcher.GetRequiredKeyedService<IRankingStage>(GenRecStages.Adapted).RankAsync(request, candidates, TestContext.Current.CancellationToken);
            Assert.Equal(expected.Select(x => x.Item), viaBatcher.Select(x => x.Item));
            Assert.Equal(1, Assert.IsType<HstuMicroBatcher>(withBatcher.GetRequiredKeyedService<IRankingStage>(GenRecStages.Generative)).Requests);
        }

        var badBatcher = new ServiceCollection();
        badBatcher.AddGenRec(o => o.HstuBatcher = new HstuBatcherOptions { MaxBatchSize = 0 }).AddHstuRanking(ModelFiles.HstuOnnxPath);
        await using (var bad = badBatcher.BuildServiceProvider())
        {
            Assert.Contains("HstuBatcher", Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => bad.GetRequiredKeyedService<IRankingStage>(GenRecStages.Generative)).Message);
        }

        Assert.Contains("genrec export --kind hstu", Assert.Throws<ArgumentException>(() => new ServiceCollection().AddGenRec().AddHstuRanking("/nonexistent/hstu")).Message);
    }

    [Fact]
    public async Task The_generator_as_a_whole_recommender_shadows_or_replaces_the_cascade_through_the_recommender_adapter()
    {
        var files = ModelFiles.Value;
        var cascade = Recommender.From("dlrm", (_, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([.. files.Index.Items.Skip(100).Take(10).Select(i => new Candidate(i, 1, "dlrm"))]));
        var request = new RecommendationRequest(new UserId(1), [new UserEvent(new UserId(1), files.Index.Items[0], ActionType.Click, DateTimeOffset.UnixEpoch)], 10, DateTimeOffset.UnixEpoch);
        IRecommender Adapted(StageMode mode)
        {
            var services = new ServiceCollection();
            services.AddGenRec(o => o.OnnxRuntime = new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu })
                .AddSemanticIdIndex(files.IndexPath)
                .AddOnnxModel(files.ModelPath)
                .AddGenerativeRecall(r => r.BeamWidth = 16)
                .AddGenerativeRecommender("tiger")
                .AddRecommenderAdapter(_ => cascade, o => { o.Mode = mode; o.Budget = TimeSpan.FromSeconds(30); });
            return services.BuildServiceProvider().GetRequiredKeyedService<IRecommender>(GenRecStages.Adapted);
        }

        var replaced = await Adapted(StageMode.Replace).RecommendAsync(request, TestContext.Current.CancellationToken);
        var shadowed = await Adapted(StageMode.Shadow).RecommendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(10, replaced.Items.Count);
        Assert.All(replaced.Items, c => Assert.Equal("generative", c.Source));
        Assert.DoesNotContain(replaced.Items, c => c.Item == files.Index.Items[0]);
        Assert.Equal(files.Index.Items.Skip(100).Take(10), shadowed.Items.Select(c => c.Item));

        var noGenerator = new ServiceCollection();
        noGenerator.AddGenRec().AddRecommenderAdapter(_ => cascade);
        await using var provider = noGenerator.BuildServiceProvider();
        Assert.Contains(".AddGenerativeRecommender()", Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<RecommenderAdapter>()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_end_to_end_model_writes_the_final_list_from_the_users_events_and_replaces_blends_with_or_shadows_the_cascade()
    {
        var files = ModelFiles.Value;
        var cascade = Recommender.From("dlrm", (_, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([.. files.Index.Items.Skip(100).Take(10).Select(i => new Candidate(i, 1, "dlrm"))]));
        var c = TestData.Split.Cases(GenRec.Data.SplitTarget.Test)[3];
        var excluded = files.Index.Items.Take(30).ToHashSet();
        var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time) { ExcludedItems = excluded };
        var shadowed = new System.Collections.Concurrent.BlockingCollection<ShadowComparison>();
        ServiceProvider Provider(StageMode mode, string folder)
        {
            var services = new ServiceCollection();
            services.AddSingleton<IShadowObserver>(new ShadowLog(shadowed.Add));
            services.AddGenRec(o => o.OnnxRuntime = new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu })
                .AddSemanticIdIndex(files.IndexPath)
                .AddEndToEndRecommender(folder, o => o.BeamWidth = 16)
                .AddRecommenderAdapter(_ => cascade, o => { o.Mode = mode; o.Budget = TimeSpan.FromSeconds(30); });
            return services.BuildServiceProvider();
        }

        await using var replace = Provider(StageMode.Replace, ModelFiles.EndToEndOnnxPath);
        var replaced = await replace.GetRequiredKeyedService<IRecommender>(GenRecStages.Adapted).RecommendAsync(request, TestContext.Current.CancellationToken);

        // The served list is the model's own: what its constrained beam search over the user's events decodes.
        using var model = OnnxGenerativeModel.Load(ModelFiles.EndToEndOnnxPath, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });
        var expected = await new GenerativeRecall(model, files.Index, new GenerativeRecallOptions { BeamWidth = 16 }).RecallAsync(request, 10, TestContext.Current.CancellationToken);
        Assert.Equal(expected.Select(x => x.Item), replaced.Items.Select(x => x.Item));
        Assert.Equal(10, replaced.Items.Select(x => x.Item).Distinct().Count());
        Assert.All(replaced.Items, x => Assert.False(request.IsExcluded(x.Item), $"{x.Item} is in the history or excluded"));
        Assert.All(replaced.Items, x => Assert.Equal("end-to-end", x.Source));
        Assert.Equal(0, replace.GetRequiredService<RecommenderAdapter>().Fallbacks);

        await using var blend = Provider(StageMode.Blend, ModelFiles.EndToEndOnnxPath);
        var blended = await blend.GetRequiredKeyedService<IRecommender>(GenRecStages.Adapted).RecommendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(10, blended.Items.Select(x => x.Item).Distinct().Count());
        Assert.Contains(blended.Items, x => x.Source == "end-to-end");
        Assert.Contains(blended.Items, x => x.Source == "dlrm");

        // Shadow: the cascade's list is served; the model's list, the same the replace mode served, goes to the observer.
        await using var shadow = Provider(StageMode.Shadow, ModelFiles.EndToEndOnnxPath);
        var served = await shadow.GetRequiredKeyedService<IRecommender>(GenRecStages.Adapted).RecommendAsync(request, TestContext.Current.CancellationToken);
        Assert.All(served.Items, x => Assert.Equal("dlrm", x.Source));
        var comparison = shadowed.Take(TestContext.Current.CancellationToken);
        Assert.Equal("ok", comparison.Outcome);
        Assert.Equal(c.User, comparison.User);
        Assert.Equal(expected.Select(x => x.Item), comparison.Generative);
        Assert.Equal(served.Items.Select(x => x.Item), comparison.Baseline);

        // A model over semantic-ID tokens alone is not an end-to-end model: the error says how to serve it.
        await using var tokensOnly = Provider(StageMode.Replace, files.ModelPath);
        var e = Assert.Throws<InvalidOperationException>(() => tokensOnly.GetRequiredKeyedService<IRecommender>(GenRecStages.Generative));
        Assert.Contains(".AddGenerativeRecommender", e.Message, StringComparison.Ordinal);
        Assert.Contains("genrec export", Assert.Throws<ArgumentException>(() => new ServiceCollection().AddGenRec().AddEndToEndRecommender("/nonexistent/e2e")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_piece_is_named_in_the_error()
    {
        var files = ModelFiles.Value;
        var services = new ServiceCollection();
        services.AddGenRec().AddOnnxModel(files.ModelPath).AddGenerativeRecall();
        await using var provider = services.BuildServiceProvider();
        var e = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<GenerativeRecall>());
        Assert.Contains(".AddSemanticIdIndex(path)", e.Message, StringComparison.Ordinal);

        var adapterOnly = new ServiceCollection();
        adapterOnly.AddGenRec().AddRecallAdapter(_ => RecallStage.From("dlrm", (_, _, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([])));
        await using var second = adapterOnly.BuildServiceProvider();
        Assert.Contains(".AddGenerativeRecall()", Assert.Throws<InvalidOperationException>(() => second.GetRequiredService<RecallAdapter>()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_paths_stop_the_host_at_start_with_their_names()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddGenRec().AddSemanticIdIndex("/nowhere/index.sid").AddOnnxModel("/nowhere/model");
        using var host = builder.Build();

        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains("'/nowhere/index.sid' (AddSemanticIdIndex) does not exist", e.Message, StringComparison.Ordinal);
        Assert.Contains("'/nowhere/model' (AddOnnxModel) is not a model folder", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_users_own_registrations_win_and_a_second_call_is_harmless()
    {
        var files = ModelFiles.Value;
        var mine = SemanticIdIndex.Load(files.IndexPath);
        var services = new ServiceCollection();
        services.AddSingleton(mine);
        services.AddGenRec().AddSemanticIdIndex("/ignored/because/the/user/registered/one.sid");
        services.AddGenRec().AddSemanticIdIndex(files.IndexPath);
        await using var provider = services.BuildServiceProvider();

        Assert.Same(mine, provider.GetRequiredService<SemanticIdIndex>());
        Assert.Single(services, d => d.ServiceType == typeof(SemanticIdIndex));
    }

    private sealed class ShadowLog(Action<ShadowComparison> observe) : IShadowObserver
    {
        public void Observe(ShadowComparison comparison) => observe(comparison);
    }
}

using GenRec.Inference;
using GenRec.SemanticIds;
using GenRec.TestSupport;
namespace GenRec.Orleans.Tests;

/// <summary>New items, new index versions, new models: every silo picks them up without a restart.</summary>
public sealed class CatalogueTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task A_registered_item_gets_a_tuple_and_every_silo_accepts_its_events()
    {
        var files = ModelFiles.Value;
        var index = fixture.Client.GetGrain<ISemanticIdIndexGrain>("default");
        await fixture.Client.GetGrain<IUserSessionGrain>(2_000_000).RecommendAsync(new RecommendQuery(Count: 1)); // the seed index is published
        var before = await index.GetVersionAsync();
        var vector = files.Embeddings.Row(0).ToArray();
        vector[0] += 0.01f;

        var registered = await fixture.Client.GetGrain<ICatalogueGrain>("default").RegisterItemsAsync([new NewItem(50_000_001, vector)]);

        Assert.Equal(before + 1, await index.GetVersionAsync());
        Assert.Equal(files.Index.Length, Assert.Single(registered).Codes.Length);
        await Task.Delay(TimeSpan.FromMilliseconds(500)); // two refresh intervals

        // Users live on both silos: all must know the new item.
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(u =>
            fixture.Client.GetGrain<IUserSessionGrain>(2_000_100 + u).AppendEventsAsync([new BehaviourEvent(50_000_001, ActionType.Click, DateTimeOffset.UtcNow)])));
        Assert.All(results, r => Assert.Equal(1, r.Stored));

        var again = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Client.GetGrain<ICatalogueGrain>("default").RegisterItemsAsync([new NewItem(50_000_001, vector)]));
        Assert.Contains("already", again.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => fixture.Client.GetGrain<ICatalogueGrain>("default").RegisterItemsAsync([new NewItem(50_000_002, [float.NaN, .. vector[1..]])]));
    }

    [Fact]
    public async Task Events_for_an_item_not_yet_registered_wait_and_join_the_sequence_once_when_it_is()
    {
        var files = ModelFiles.Value;
        var (_, events) = TestUsers.Users(4)[3];
        var session = fixture.Client.GetGrain<IUserSessionGrain>(2_600_000);
        const long item = 50_500_001;
        var early = new BehaviourEvent(item, ActionType.Click, events[5].Time.AddSeconds(1), EventId: "early-1");

        var first = await session.AppendEventsAsync([.. events[..10], early]);

        Assert.Equal((10, 1), (first.Stored, first.Pending));
        Assert.Empty(first.Rejected);
        Assert.Equal(1, (await session.AppendEventsAsync([early])).Duplicates); // exactly once, also while it waits
        Assert.DoesNotContain(await session.GetHistoryAsync(), e => e.Item == item);

        // The catalogue registers the item: once the session's silo sees the new index, the event joins by its time.
        var vector = files.Embeddings.Row(1).ToArray();
        vector[0] += 0.02f;
        await fixture.Client.GetGrain<ICatalogueGrain>("default").RegisterItemsAsync([new NewItem(item, vector)]);
        IReadOnlyList<BehaviourEvent> history = [];
        for (var i = 0; i < 100 && !history.Any(e => e.Item == item); i++)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
            history = await session.GetHistoryAsync();
        }

        Assert.Equal(11, history.Count);
        Assert.Single(history, e => e.Item == item && e.EventId == "early-1");
        Assert.Equal(history.OrderBy(e => e.Time).Select(e => e.Time), history.Select(e => e.Time));
        Assert.Equal(1, (await session.AppendEventsAsync([early])).Duplicates);
        Assert.Equal(11, (await session.GetHistoryAsync()).Count);
    }

    [Fact]
    public async Task A_new_item_registered_with_content_is_recommended_on_every_silo_to_users_whose_history_matches_it()
    {
        var files = ModelFiles.Value;
        var dataset = TestData.Dataset;
        var trained = TestData.Split.TrainInteractions.GroupBy(i => i.Item).ToDictionary(g => g.Key, g => g.Count());

        // Horror fans: a history of nothing but the 20 most watched horror films.
        ItemId[] Films(Func<IReadOnlyList<string>, bool> genres) =>
            [.. dataset.Catalogue.Where(i => genres(dataset.Items[i].Categories) && trained.ContainsKey(i)).OrderByDescending(i => trained[i]).Take(21)];
        var horror = Films(g => g.Count == 1 && g[0] == "Horror");

        // New films with content only: a film's genres and year, no interactions (the popularity features are 0).
        float[] NewContent(ItemId like)
        {
            var content = files.Embeddings[like].ToArray();
            content[^2] = 0;
            content[^1] = 0;
            return content;
        }

        var newHorror = new NewItem(60_000_001, NewContent(horror[^1]), NewContent(horror[^1]));
        var others = dataset.Catalogue.Where(i => dataset.Items[i].Categories is ["Children", "Animation"] or ["Animation", "Children"] or ["Documentary"] or ["Western"] or ["Musical"])
            .DistinctBy(i => string.Join("|", dataset.Items[i].Categories)).Take(4)
            .Select((like, n) => new NewItem(60_000_010 + n, NewContent(like), NewContent(like))).ToArray();
        var catalogue = fixture.Client.GetGrain<ICatalogueGrain>("default");
        var contentBefore = await catalogue.GetContentIfNewerAsync(0);
        await fixture.Client.GetGrain<IUserSessionGrain>(2_500_000).RecommendAsync(new RecommendQuery(Count: 1)); // the seed index is published

        var registered = await catalogue.RegisterItemsAsync([newHorror, .. others]);

        Assert.Equal(5, registered.Count);
        var content = await catalogue.GetContentIfNewerAsync(contentBefore?.Version ?? 0);
        Assert.NotNull(content);
        Assert.Contains(newHorror.Item, content.Items);
        await Task.Delay(TimeSpan.FromMilliseconds(500)); // two refresh intervals

        // The same model outside the cluster, with the same items added: what every silo should serve.
        using var local = OnnxDenseRetriever.Load(ModelFiles.DenseOnnxPath, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });
        local.AddItems(new ItemEmbeddings([.. content.Items.Select(i => new ItemId(i))], content.Values, content.Width));
        var t0 = DateTimeOffset.UtcNow.AddDays(-1);
        var history = horror[..20].Select((f, n) => new BehaviourEvent(f.Value, ActionType.Click, t0.AddMinutes(n))).ToArray();

        // Six fans, so sessions live on both silos.
        var fans = Enumerable.Range(0, 6).Select(u => 2_500_100L + u).ToArray();
        await Task.WhenAll(fans.Select(u => fixture.Client.GetGrain<IUserSessionGrain>(u).AppendEventsAsync(history)));
        var request = new RecommendationRequest(new UserId(fans[0]), [.. history.Select(e => e.ToUserEvent(fans[0]))], 2, DateTimeOffset.UtcNow);
        var expectedFresh = (await local.AsNewItemsRecall().RecallAsync(request, 2)).Select(c => c.Item.Value).ToArray();
        // The premise, about the test's small dense model (trained when the tests start, so its order varies with the
        // machine's thread count): it ranks the new horror film within the two fresh slots.
        Assert.Contains(newHorror.Item, expectedFresh);

        foreach (var fan in fans)
        {
            // Each silo picks the new content up at its next refresh; under load that can take longer than the two
            // intervals waited above, so ask again (bounded) before checking what it serves.
            var hybrid = await fixture.Client.GetGrain<IUserSessionGrain>(fan).RecommendAsync(new RecommendQuery(Count: 10, Retrieval: RetrievalMode.Hybrid));
            for (var attempt = 0; attempt < 40 && !hybrid.Items.Any(i => i.Item == newHorror.Item); attempt++)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250), TestContext.Current.CancellationToken);
                hybrid = await fixture.Client.GetGrain<IUserSessionGrain>(fan).RecommendAsync(new RecommendQuery(Count: 10, Retrieval: RetrievalMode.Hybrid));
            }

            Assert.Equal(10, hybrid.Items.Count);
            var found = Assert.Single(hybrid.Items, i => i.Item == newHorror.Item);
            Assert.Equal("dense-new", found.Source);
            Assert.Equal(expectedFresh, hybrid.Items.Where(i => i.Source == "dense-new").Select(i => i.Item)); // 2 of 10 slots (FreshItemsShare 0.2)
            Assert.Contains(hybrid.Items, i => i.Source == "generative");
            Assert.Contains(hybrid.Items, i => i.Source == "dense");
            Assert.Contains("+dense:", hybrid.ModelVersion, StringComparison.Ordinal);
            Assert.DoesNotContain(hybrid.Items, i => horror[..20].Any(f => f.Value == i.Item)); // never the history
        }

        // Beam fusion with the dense folder's prefix head: on every silo, the list its parts give outside the cluster —
        // the model, the grown index the catalogue published, the dense retriever with the new items and its head — and
        // never the history.
        var grown = (await fixture.Client.GetGrain<ISemanticIdIndexGrain>("default").ReadAsync())!;
        Assert.True(grown.TryGetSemanticId(new ItemId(newHorror.Item), out _));
        using var generator = ModelFiles.Load(files.ModelPath);
        var fusion = new GenRec.Generative.BeamFusionRecall(generator, grown, local.AsConditionedRanker(DenseItemVectors.Full, GenRecCluster.FusionFreshOffset), new GenRec.Generative.BeamFusionOptions { Beams = 8, DenseWeight = 20 });
        var withoutHead = new GenRec.Generative.BeamFusionRecall(generator, grown, local.AsRanker(DenseItemVectors.Full, GenRecCluster.FusionFreshOffset), new GenRec.Generative.BeamFusionOptions { Beams = 8, DenseWeight = 20 });
        foreach (var fan in fans)
        {
            var fused = await fixture.Client.GetGrain<IUserSessionGrain>(fan).RecommendAsync(new RecommendQuery(Count: 10, Retrieval: RetrievalMode.Fusion));

            var expected = await fusion.RecallAsync(new RecommendationRequest(new UserId(fan), request.History, 10, DateTimeOffset.UtcNow), 10);
            Assert.Equal(expected.Select(c => c.Item.Value), fused.Items.Select(i => i.Item));
            var unconditioned = await withoutHead.RecallAsync(new RecommendationRequest(new UserId(fan), request.History, 10, DateTimeOffset.UtcNow), 10);
            Assert.NotEqual(unconditioned.Select(c => c.Score), fused.Items.Select(i => i.Score)); // the head shifts each prefix's query
            Assert.All(fused.Items, i => Assert.Equal("beam-fusion", i.Source));
            Assert.DoesNotContain(fused.Items, i => horror[..20].Any(f => f.Value == i.Item));
        }

        // A query's beam width is the number of prefixes kept: one prefix, one neighbourhood.
        var onePrefix = await fixture.Client.GetGrain<IUserSessionGrain>(fans[0]).RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 1, Retrieval: RetrievalMode.Fusion));
        var onePrefixLocal = new GenRec.Generative.BeamFusionRecall(generator, grown, local.AsConditionedRanker(DenseItemVectors.Full, GenRecCluster.FusionFreshOffset), new GenRec.Generative.BeamFusionOptions { Beams = 1, DenseWeight = 20 });
        var configured = await fixture.Client.GetGrain<IUserSessionGrain>(fans[0]).RecommendAsync(new RecommendQuery(Count: 10, Retrieval: RetrievalMode.Fusion));
        Assert.Equal((await onePrefixLocal.RecallAsync(new RecommendationRequest(new UserId(fans[0]), request.History, 10, DateTimeOffset.UtcNow), 10)).Select(c => c.Item.Value), onePrefix.Items.Select(i => i.Item));
        Assert.Single(onePrefix.Items.Select(i => grown[new ItemId(i.Item)][0]).Distinct());
        Assert.NotEqual(configured.Items.Select(i => i.Item), onePrefix.Items.Select(i => i.Item));

        // Dense retrieval alone ranks warm items first: the new film is not in its top 10 (why the fresh channel exists).
        var denseOnly = await fixture.Client.GetGrain<IUserSessionGrain>(fans[0]).RecommendAsync(new RecommendQuery(Count: 10, Retrieval: RetrievalMode.Dense));
        Assert.Equal(10, denseOnly.Items.Count);
        Assert.All(denseOnly.Items, i => Assert.Equal("dense", i.Source));
        Assert.DoesNotContain(denseOnly.Items, i => i.Item == newHorror.Item);
    }

    [Fact]
    public async Task Content_of_the_wrong_width_or_not_finite_is_refused_and_nothing_is_registered()
    {
        var files = ModelFiles.Value;
        var catalogue = fixture.Client.GetGrain<ICatalogueGrain>("default");
        var index = fixture.Client.GetGrain<ISemanticIdIndexGrain>("default");
        await fixture.Client.GetGrain<IUserSessionGrain>(2_600_000).RecommendAsync(new RecommendQuery(Count: 1)); // the seed index is published
        var version = await index.GetVersionAsync();
        var content = await catalogue.GetContentIfNewerAsync(0);
        var vector = files.Embeddings.Row(1).ToArray();

        var narrow = await Assert.ThrowsAsync<ArgumentException>(() => catalogue.RegisterItemsAsync([new NewItem(61_000_001, vector, vector[1..])]));
        var nan = await Assert.ThrowsAsync<ArgumentException>(() => catalogue.RegisterItemsAsync([new NewItem(61_000_002, vector, [float.NaN, .. vector[1..]])]));

        Assert.Contains("wide", narrow.Message, StringComparison.Ordinal);
        Assert.Contains("not finite", nan.Message, StringComparison.Ordinal);
        Assert.Equal(version, await index.GetVersionAsync());
        Assert.Null(await catalogue.GetContentIfNewerAsync(content?.Version ?? 0));
    }

    [Fact]
    public async Task A_model_swap_under_load_drops_no_request()
    {
        var files = ModelFiles.Value;
        var registry = fixture.Client.GetGrain<IModelRegistryGrain>("default");
        var users = TestUsers.Users(12);
        await Task.WhenAll(users.Select((u, i) => fixture.Client.GetGrain<IUserSessionGrain>(3_000_000 + i).AppendEventsAsync(u.Events[..15])));
        var first = await fixture.Client.GetGrain<IUserSessionGrain>(3_000_000).RecommendAsync(new RecommendQuery(Count: 5));

        var load = Task.WhenAll(Enumerable.Range(0, 120).Select(i => fixture.Client.GetGrain<IUserSessionGrain>(3_000_000 + (i % 12)).RecommendAsync(new RecommendQuery(Count: 5, BeamWidth: 8))));
        var b = new ModelReference("model-b", files.OtherModelPath);
        await registry.PublishAsync(b);
        var answers = await load;
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        var after = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => fixture.Client.GetGrain<IUserSessionGrain>(3_000_000 + i).RecommendAsync(new RecommendQuery(Count: 5))));

        Assert.All(answers, a => Assert.Equal(5, a.Items.Count));
        Assert.All(after, a => Assert.Equal("model-b", a.ModelVersion));
        Assert.NotEqual("model-b", first.ModelVersion);

        // Put model A back for the other tests of this cluster.
        await registry.PublishAsync(new ModelReference(first.ModelVersion, files.ModelPath));
        await Task.Delay(TimeSpan.FromMilliseconds(500));
    }
}

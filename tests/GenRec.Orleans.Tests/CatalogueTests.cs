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

using GenRec.Inference;
using GenRec.TestSupport;
using Orleans.TestingHost;

namespace GenRec.Orleans.Tests;

/// <summary>
/// Two silos, the second marked as the model runner (an accelerator silo): sessions send their HSTU ranking to
/// <see cref="IModelRunnerGrain"/>, which must run only there, keep the users' encoded histories and extend them.
/// </summary>
public sealed class ModelRunnerClusterFixture : IAsyncLifetime
{
    /// <summary>The silo marked as the model runner; the other keeps sessions only.</summary>
    public const string RunnerSilo = "Silo_1";

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var files = ModelFiles.Value;
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((silo, builder) => builder
                .UseGenRecModelRunnerRole(runsModels: silo.SiloName == RunnerSilo)
                .AddGenRecGrains(o =>
                {
                    o.IndexPath = files.IndexPath;
                    o.ModelPath = files.ModelPath;
                    o.HstuModelPath = ModelFiles.HstuOnnxPath;
                    o.ModelRunners = true;
                    o.ModelRunnerPartitions = 4;
                    o.OnnxRuntime = new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu };
                })
                .UseInMemoryGenRecStorage());
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Assert.Equal(["Silo_0", RunnerSilo], Cluster.Silos.Select(s => s.Name).Order());
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class ModelRunnerTests(ModelRunnerClusterFixture fixture) : IClassFixture<ModelRunnerClusterFixture>
{
    private static long _nextUser = 7_000;

    [Fact]
    public async Task Hstu_ranking_runs_on_the_model_runner_silo_and_extends_the_kept_history()
    {
        using var ranker = HstuOnnxRanker.Load(ModelFiles.HstuOnnxPath, options: new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });
        long[] candidates = [.. TestData.Dataset.Catalogue.Skip(200).Take(30).Select(i => i.Value)];
        var users = TestUsers.Users(8);
        for (var u = 0; u < users.Count; u++)
        {
            var id = Interlocked.Increment(ref _nextUser);
            var session = fixture.Cluster.Client.GetGrain<IUserSessionGrain>(id);
            var events = users[u].Events;
            await session.AppendEventsAsync(events[..5]);
            Assert.False((await session.RankWithHstuAsync(candidates)).CachedState);
            Assert.True((await session.RankWithHstuAsync(candidates)).CachedState);

            // Appended within the window: the runner extends what it keeps; the scores are the whole history's.
            await session.AppendEventsAsync(events[5..8]);
            var extended = await session.RankWithHstuAsync(candidates);
            Assert.True(extended.CachedState);
            var history = events[..8].Select(e => e.ToUserEvent(id)).ToArray();
            var expected = ranker.Score(new RecommendationRequest(new UserId(id), history, 10, DateTimeOffset.UtcNow), [.. candidates.Select(i => new Candidate(new ItemId(i), 0, "x"))]);
            var byItem = extended.Items.ToDictionary(i => i.Item, i => i.Score);
            for (var i = 0; i < candidates.Length; i++)
            {
                Assert.Equal(expected[i], byItem[candidates[i]], 1e-4);
            }
        }

        // Every partition's runner lives on the marked silo, whichever silo calls it.
        for (var partition = 0; partition < 4; partition++)
        {
            var runner = fixture.Cluster.Client.GetGrain<IModelRunnerGrain>(partition);
            var answer = await runner.RankWithHstuAsync(new HstuRankWork(1, 1, [], null, null, candidates, DateTimeOffset.UtcNow));
            Assert.Equal(ModelRunnerClusterFixture.RunnerSilo, answer.Silo);
            Assert.Equal(candidates.Length, answer.Items.Count);
        }

        // What the runner cannot reuse it encodes: an unknown base revision, or appended events it cannot place.
        var direct = fixture.Cluster.Client.GetGrain<IModelRunnerGrain>(0);
        var events6 = users[0].Events[..6];
        var events7 = users[0].Events[..7];
        Assert.False((await direct.RankWithHstuAsync(new HstuRankWork(42, 5, events6, null, null, candidates, DateTimeOffset.UtcNow))).CachedState);
        Assert.True((await direct.RankWithHstuAsync(new HstuRankWork(42, 5, events6, null, null, candidates, DateTimeOffset.UtcNow))).CachedState);
        Assert.False((await direct.RankWithHstuAsync(new HstuRankWork(42, 7, events7, 4, [events7[^1]], candidates, DateTimeOffset.UtcNow))).CachedState); // not the base it holds
        Assert.False((await direct.RankWithHstuAsync(new HstuRankWork(42, 9, users[0].Events[..8], 7, null, candidates, DateTimeOffset.UtcNow))).CachedState); // appended unknown
        await Assert.ThrowsAsync<ArgumentException>(() => direct.RankWithHstuAsync(new HstuRankWork(42, 9, events6, null, null, [.. Enumerable.Range(0, 5_000).Select(i => (long)i)], DateTimeOffset.UtcNow)));
    }

    [Fact]
    public async Task Generative_retrieval_runs_on_the_model_runner_silo_and_reuses_the_kept_context()
    {
        var (_, events) = TestUsers.Users(3)[2];
        var id = Interlocked.Increment(ref _nextUser);
        var session = fixture.Cluster.Client.GetGrain<IUserSessionGrain>(id);
        await session.AppendEventsAsync(events[..30]);

        var cold = await session.RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 20));
        var warm = await session.RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 20));

        var expected = InProcess.Generated(events[..30], beams: 20, count: 10);
        Assert.False(cold.CachedState);
        Assert.True(warm.CachedState);
        Assert.Equal(expected, cold.Items.Select(i => i.Item));
        Assert.Equal(expected, warm.Items.Select(i => i.Item));
        Assert.All(cold.Items, i => Assert.Equal("generative", i.Source));

        // A new event is a new revision: the runner encodes again. Each partition's runner is on the marked silo.
        await session.AppendEventsAsync(events[30..31]);
        Assert.False((await session.RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 20))).CachedState);
        var direct = await fixture.Cluster.Client.GetGrain<IModelRunnerGrain>(3).RecommendGenerativeAsync(new GenerativeWork(5, 1, events[..10], 5, 0, []));
        Assert.Equal(ModelRunnerClusterFixture.RunnerSilo, direct.Silo);
        Assert.Equal(5, direct.Items.Count);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => fixture.Cluster.Client.GetGrain<IModelRunnerGrain>(3).RecommendGenerativeAsync(new GenerativeWork(5, 1, events[..10], 0, 0, [])));
    }
}

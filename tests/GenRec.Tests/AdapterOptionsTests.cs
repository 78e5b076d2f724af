using GenRec.Adapters;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace GenRec.Tests;

/// <summary>
/// The adapters' and GenRec's options the .NET way: bound from configuration (<c>GenRec</c>, <c>GenRec:Adapters:{name}</c>),
/// code after configuration, several calls composing, several adapters of a kind by name, every problem refused when
/// the host starts with its key named, and the container's <see cref="TimeProvider"/> used for the budget.
/// </summary>
public sealed class AdapterOptionsTests
{
    private static readonly IRecallStage Baseline = RecallStage.From("dlrm", (_, _, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([new Candidate(new ItemId(1), 1, "dlrm")]));
    private static readonly IRecallStage Generative = RecallStage.From("generated", (_, _, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([new Candidate(new ItemId(2), 1, "generated")]));
    private static readonly RecommendationRequest Request = new(new UserId(1), [], 10, DateTimeOffset.UnixEpoch);

    private static HostApplicationBuilder Host(params (string Key, string Value)[] settings)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)));
        builder.Services.AddKeyedSingleton(GenRecStages.Generative, Generative);
        return builder;
    }

    [Fact]
    public async Task Adapter_and_GenRec_options_are_bound_from_configuration_and_code_overrides_it()
    {
        var builder = Host(
            ("GenRec:Adapters:Recall:Mode", "blend"),
            ("GenRec:Adapters:Recall:Budget", "00:00:07"),
            ("GenRec:Adapters:Recall:GenerativeShare", "0.5"),
            ("GenRec:Recall:BeamWidth", "7"),
            ("GenRec:MicroBatcher:MaxBatchSize", "5"));
        builder.Services.AddGenRec().AddRecallAdapter(_ => Baseline, o => o.GenerativeShare = 0.25);
        using var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);

        var options = host.Services.GetRequiredService<IOptionsMonitor<AdapterOptions>>().Get(GenRecAdapterNames.Recall);
        Assert.Equal((StageMode.Blend, TimeSpan.FromSeconds(7), 0.25), (options.Mode, options.Budget, options.GenerativeShare));
        Assert.Equal(StageMode.Blend, host.Services.GetRequiredService<RecallAdapter>().Mode);
        var genrec = host.Services.GetRequiredService<IOptions<GenRecOptions>>().Value;
        Assert.Equal((7, 5), (genrec.Recall.BeamWidth, genrec.MicroBatcher.MaxBatchSize));
        await host.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_second_call_for_the_same_adapter_adds_its_configuration_and_its_baseline_replaces_the_first()
    {
        var services = new ServiceCollection();
        services.AddKeyedSingleton(GenRecStages.Generative, Generative);
        var other = RecallStage.From("other", (_, _, _) => ValueTask.FromResult<IReadOnlyList<Candidate>>([new Candidate(new ItemId(3), 1, "other")]));
        services.AddGenRec().AddRecallAdapter(_ => Baseline, o => o.Mode = StageMode.Replace);
        services.AddGenRec().AddRecallAdapter(_ => other, o => o.Budget = TimeSpan.FromSeconds(9));
        await using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptionsMonitor<AdapterOptions>>().Get(GenRecAdapterNames.Recall);
        Assert.Equal((StageMode.Replace, TimeSpan.FromSeconds(9)), (options.Mode, options.Budget));
        var adapter = provider.GetRequiredService<RecallAdapter>();
        Assert.Same(adapter, provider.GetRequiredKeyedService<IRecallStage>(GenRecStages.Adapted));
        Assert.Single(provider.GetServices<RecallAdapter>());

        // A failing generative side shows which baseline the adapter falls back to: the second call's.
        var failing = new ServiceCollection();
        failing.AddKeyedSingleton(GenRecStages.Generative, RecallStage.From("failing", (_, _, _) => throw new InvalidOperationException("down")));
        failing.AddGenRec().AddRecallAdapter(_ => Baseline, o => o.Mode = StageMode.Replace);
        failing.AddGenRec().AddRecallAdapter(_ => other, null);
        await using var failingProvider = failing.BuildServiceProvider();
        var served = await failingProvider.GetRequiredService<RecallAdapter>().RecallAsync(Request, 10, TestContext.Current.CancellationToken);
        Assert.Equal("other", Assert.Single(served).Source);
    }

    [Fact]
    public async Task Several_adapters_of_a_kind_live_in_one_container_by_name_each_with_its_own_section()
    {
        var builder = Host(("GenRec:Adapters:home:Mode", "Replace"), ("GenRec:Adapters:search:Mode", "Shadow"));
        builder.Services.AddGenRec()
            .AddRecallAdapter("home", _ => Baseline, null)
            .AddRecallAdapter("search", _ => Baseline, o => o.Budget = TimeSpan.FromSeconds(2));
        using var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);

        var home = host.Services.GetRequiredKeyedService<RecallAdapter>("home");
        var search = host.Services.GetRequiredKeyedService<RecallAdapter>("search");
        Assert.Equal((StageMode.Replace, StageMode.Shadow), (home.Mode, search.Mode));
        Assert.Same(search, host.Services.GetRequiredKeyedService<IRecallStage>("search"));
        Assert.Equal("generated", Assert.Single(await host.Services.GetRequiredKeyedService<IRecallStage>("home").RecallAsync(Request, 10, TestContext.Current.CancellationToken)).Source);
        Assert.Equal("dlrm", Assert.Single(await search.RecallAsync(Request, 10, TestContext.Current.CancellationToken)).Source);
        Assert.Null(host.Services.GetService<RecallAdapter>()); // no default adapter was added
        Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddGenRec().AddRecallAdapter("home", _ => Baseline, null).AddRankingAdapter("home", _ => RankingStage.From("r", (_, c, _) => ValueTask.FromResult(c)), null));
        await host.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Bad_options_stop_the_host_at_start_with_every_problem_named_by_its_key()
    {
        var builder = Host(
            ("GenRec:Adapters:Recall:GenerativeShare", "2"),
            ("GenRec:Adapters:Recall:Budget", "-00:00:01"),
            ("GenRec:MicroBatcher:MaxBatchSize", "0"),
            ("GenRec:OnnxRuntime:IntraOpThreads", "-1"));
        builder.Services.AddGenRec().AddRecallAdapter(_ => Baseline);
        using var host = builder.Build();

        // Both options fail together (one AggregateException of OptionsValidationExceptions), not the first alone.
        var refused = await Assert.ThrowsAsync<AggregateException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.All(refused.InnerExceptions, e => Assert.IsType<OptionsValidationException>(e));
        var message = string.Join("\n", refused.InnerExceptions.Select(e => e.Message));
        Assert.Contains("GenRec:Adapters:Recall:GenerativeShare", message, StringComparison.Ordinal);
        Assert.Contains("GenRec:Adapters:Recall:Budget", message, StringComparison.Ordinal);
        Assert.Contains("GenRec:MicroBatcher", message, StringComparison.Ordinal);
        Assert.Contains("GenRec:OnnxRuntime:CudaDeviceId, IntraOpThreads", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_budget_runs_on_the_containers_time_provider()
    {
        // A clock whose every timer fires at once: an hour's budget is over immediately, so a generative side that never
        // answers falls back at once (on the system clock this test would wait an hour).
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(new ElapsedAtOnce());
        services.AddKeyedSingleton(GenRecStages.Generative, RecallStage.From("hanging", (_, _, _) => new ValueTask<IReadOnlyList<Candidate>>(new TaskCompletionSource<IReadOnlyList<Candidate>>().Task)));
        services.AddGenRec().AddRecallAdapter(_ => Baseline, o => { o.Mode = StageMode.Replace; o.Budget = TimeSpan.FromHours(1); });
        await using var provider = services.BuildServiceProvider();
        var adapter = provider.GetRequiredService<RecallAdapter>();

        var served = await adapter.RecallAsync(Request, 10, TestContext.Current.CancellationToken);

        Assert.Equal("dlrm", Assert.Single(served).Source);
        Assert.Equal(1, adapter.Fallbacks);
    }

    /// <summary>A clock whose timers fire as soon as they are created.</summary>
    private sealed class ElapsedAtOnce : TimeProvider
    {
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            ThreadPool.QueueUserWorkItem(_ => callback(state));
            return new NoTimer();
        }

        private sealed class NoTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}

using System.Diagnostics.Metrics;
using GenRec.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.TestingHost;

namespace GenRec.Orleans.Tests;

/// <summary>Parts of the cluster failing: what a caller sees, what is logged and what is counted.</summary>
public sealed class FailureTests
{
    /// <summary>While set, every call to the semantic-ID index grain fails as an unreachable grain would.</summary>
    private static volatile bool _indexDown;

    [Fact]
    public async Task An_unreachable_index_grain_fails_no_request_while_the_silo_has_an_index_and_is_logged_and_counted()
    {
        var files = ModelFiles.Value;
        var log = new LogRecorder();
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddGenRecGrains(o =>
                {
                    o.IndexPath = files.IndexPath;
                    o.ModelPath = files.ModelPath;
                    o.RefreshInterval = TimeSpan.FromMilliseconds(100);
                    o.OnnxRuntime = new GenRec.Inference.OnnxRuntimeOptions { ExecutionProvider = GenRec.Inference.ExecutionProviderPreference.Cpu };
                })
                .UseInMemoryGenRecStorage()
                .AddIncomingGrainCallFilter(async call =>
                {
                    if (_indexDown && call.InterfaceMethod?.DeclaringType == typeof(ISemanticIdIndexGrain))
                    {
                        throw new TimeoutException("index grain unreachable (test outage)");
                    }

                    await call.Invoke();
                });
            silo.Services.AddSingleton<ILoggerProvider>(log);
        });
        await using var cluster = builder.Build();
        await cluster.DeployAsync();
        var failures = 0L;
        using var meter = new MeterListener();
        meter.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == "genrec.index.refresh_failures")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meter.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref failures, value));
        meter.Start();

        var (_, events) = TestUsers.Users(1)[0];
        var session = cluster.Client.GetGrain<IUserSessionGrain>(7_000_001);
        Assert.Equal(30, (await session.AppendEventsAsync(events[..30])).Stored);
        var before = await session.RecommendAsync(new RecommendQuery(Count: 10));
        try
        {
            _indexDown = true;
            await Task.Delay(300, TestContext.Current.CancellationToken); // past the refresh interval: the next request asks the grain
            var appended = await session.AppendEventsAsync(events[30..40]);
            var during = await session.RecommendAsync(new RecommendQuery(Count: 10));

            Assert.Equal(10, appended.Stored);
            Assert.Equal(10, during.Items.Count);
            Assert.Equal(before.IndexVersion, during.IndexVersion);
            var warning = log.Entries.First(e => e.Level == LogLevel.Warning && e.Message.Contains("could not be reached", StringComparison.Ordinal));
            Assert.Contains($"keeps serving index version {before.IndexVersion}", warning.Message, StringComparison.Ordinal);
            Assert.NotNull(warning.Exception);
            meter.RecordObservableInstruments();
            Assert.True(Interlocked.Read(ref failures) >= 1, "the failed refresh was not counted");
        }
        finally
        {
            _indexDown = false;
        }

        // Once the grain answers again, nothing more fails.
        await Task.Delay(300, TestContext.Current.CancellationToken);
        var logged = log.Entries.Count(e => e.Message.Contains("could not be reached", StringComparison.Ordinal));
        Assert.Equal(10, (await session.RecommendAsync(new RecommendQuery(Count: 10))).Items.Count);
        Assert.Equal(logged, log.Entries.Count(e => e.Message.Contains("could not be reached", StringComparison.Ordinal)));
    }
}

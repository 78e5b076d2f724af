using System.Net;
using System.Net.Sockets;
using GenRec;
using GenRec.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace GenRec.Orleans.Tests;

/// <summary>
/// A service that adds GenRec with <c>AddOrleansClient</c> (package GenRec.Orleans.Client), as a team's service does, gets a
/// silo's generative recall and ranking as its keyed stages, over real sockets.
/// </summary>
public sealed class ClientTests
{
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task A_service_with_AddOrleansClient_recommends_and_ranks_through_the_clusters_sessions()
    {
        var cancel = TestContext.Current.CancellationToken;
        var files = ModelFiles.Value;
        var (siloPort, gatewayPort) = (FreePort(), FreePort());
        var siloBuilder = Host.CreateApplicationBuilder();
        siloBuilder.UseOrleans(silo => silo
            .UseLocalhostClustering(siloPort, gatewayPort)
            .AddGenRecGrains(o =>
            {
                o.IndexPath = files.IndexPath;
                o.ModelPath = files.ModelPath;
                o.OnnxRuntime = new GenRec.Inference.OnnxRuntimeOptions { ExecutionProvider = GenRec.Inference.ExecutionProviderPreference.Cpu };
            })
            .UseInMemoryGenRecStorage());
        using var silo = siloBuilder.Build();
        await silo.StartAsync(cancel);
        var serviceBuilder = Host.CreateApplicationBuilder();
        serviceBuilder.Services.AddGenRec().AddOrleansClient(c => c.UseLocalhostClustering(gatewayPort));
        using var service = serviceBuilder.Build();
        await service.StartAsync(cancel);
        try
        {
            var (user, events) = TestUsers.Users(1, minEvents: 40)[0];
            await service.Services.GetRequiredService<IClusterClient>().GetGrain<IUserSessionGrain>(user).AppendEventsAsync(events[..40]);
            var request = new RecommendationRequest(new UserId(user), [], 10, DateTimeOffset.UtcNow);

            var recalled = await service.Services.GetRequiredKeyedService<IRecallStage>(GenRecStages.Generative).RecallAsync(request, 10, cancel);
            var unknown = new Candidate(new ItemId(999_999_999), 0, "another channel");
            var ranked = await service.Services.GetRequiredKeyedService<IRankingStage>(GenRecStages.Generative).RankAsync(request, [.. recalled, unknown], cancel);

            var direct = await new UserSessionRecall(silo.Services.GetRequiredService<IGrainFactory>()).RecallAsync(request, 10, cancel);
            Assert.Equal(10, recalled.Count);
            Assert.Equal(direct.Select(c => c.Item), recalled.Select(c => c.Item));
            // The ranker returns the same items re-scored (IRankingStage's contract): one its model does not know comes back last.
            Assert.Equal(recalled.Select(c => c.Item).Append(unknown.Item).Order(), ranked.Select(c => c.Item).Order());
            Assert.Equal((unknown.Item, double.NegativeInfinity), (ranked[^1].Item, ranked[^1].Score));
        }
        finally
        {
            await service.StopAsync(cancel);
            await silo.StopAsync(cancel);
        }
    }
}

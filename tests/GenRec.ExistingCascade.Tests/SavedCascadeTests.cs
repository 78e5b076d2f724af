using System.Net.Http.Json;
using GenRec.TestSupport;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace GenRec.ExistingCascade.Tests;

/// <summary>The service trains its cascade at the first start, saves it at <c>Cascade:Path</c>, and loads it at every later start.</summary>
public sealed class SavedCascadeTests
{
    private static async Task<(string Health, RecommendResponse Answer)> StartAndAskAsync(string path)
    {
        await using var app = RecommendationService.Build(["--urls", "http://127.0.0.1:0", "--Cascade:Quick", "true", "--Cascade:Path", path, "--Logging:LogLevel:Default", "Warning"]);
        await app.StartAsync(TestContext.Current.CancellationToken);
        using var client = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()) };
        var health = await client.GetStringAsync("/healthz", TestContext.Current.CancellationToken);
        var answer = await client.GetFromJsonAsync<RecommendResponse>("/recommend/15?count=20", TestContext.Current.CancellationToken);
        await app.StopAsync(TestContext.Current.CancellationToken);
        return (health, answer!);
    }

    [Fact]
    public async Task The_second_start_loads_the_cascade_the_first_saved_and_answers_the_same()
    {
        using var folder = TestData.TempFolder();
        var path = Path.Combine(folder.Path, "cascade", "dlrm.cascade");

        var (firstHealth, first) = await StartAndAskAsync(path);
        Assert.True(File.Exists(path));
        var (secondHealth, second) = await StartAndAskAsync(path);

        Assert.Contains("trained at start", firstHealth, StringComparison.Ordinal);
        Assert.Contains($"loaded from {path}", secondHealth, StringComparison.Ordinal);
        Assert.Equal(first.Items.Select(i => (i.Item, i.Score)), second.Items.Select(i => (i.Item, i.Score)));
    }
}

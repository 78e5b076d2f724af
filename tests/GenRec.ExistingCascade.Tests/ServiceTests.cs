using System.Net;
using System.Net.Http.Json;
using GenRec.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace GenRec.ExistingCascade.Tests;

/// <summary>The sample service, started for real on a free port, answered over HTTP: as the team runs it, and with generative recall blended in or shadowing.</summary>
public sealed class ServiceTests
{
    /// <summary>
    /// One trained cascade for every configuration compared with another (LightGBM need not give the same trees twice,
    /// and the comparisons are about the GenRec stages, not about training); the end-to-end service trains its own,
    /// as the service does when it starts.
    /// </summary>
    private static readonly Lazy<Trained> Cascade = new(() => RecommendationService.Train(null, quick: true));

    private static readonly Lazy<Task<Running>> Plain = new(() => StartAsync("off"));
    private static readonly Lazy<Task<Running>> Blend = new(() => StartAsync("blend"));
    private static readonly Lazy<Task<Running>> Shadow = new(() => StartAsync("shadow"));
    private static readonly Lazy<Task<Running>> HstuReplace = new(() => StartAsync("off", "replace"));
    private static readonly Lazy<Task<Running>> HstuShadow = new(() => StartAsync("off", "shadow"));
    private static readonly Lazy<Task<Running>> EndToEndReplace = new(() => StartAsync("off", endToEndMode: "replace", ownCascade: true));

    [Fact]
    public async Task The_cascade_answers_over_HTTP_and_a_posted_event_is_not_recommended_again()
    {
        var service = await Plain.Value;
        // User 16: no comparison between services reads this user, whose history the posted event changes.
        var before = await service.Client.GetFromJsonAsync<RecommendResponse>("/recommend/16?count=10", TestContext.Current.CancellationToken);
        Assert.NotNull(before);
        Assert.Equal("dlrm", before.Recommender);
        Assert.Equal(10, before.Items.Count);
        Assert.All(before.Items, i => Assert.False(string.IsNullOrEmpty(i.Title)));

        var top = before.Items[0].Item;
        var posted = await service.Client.PostAsJsonAsync("/events", new[] { new EventMessage(16, top) }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        var after = await service.Client.GetFromJsonAsync<RecommendResponse>("/recommend/16?count=10", TestContext.Current.CancellationToken);
        Assert.DoesNotContain(after!.Items, i => i.Item == top);
    }

    [Fact]
    public async Task Bad_requests_get_a_400_that_says_why_and_store_nothing()
    {
        var service = await Plain.Value;
        var unknown = await service.Client.PostAsJsonAsync("/events", new[] { new EventMessage(15, 318), new EventMessage(15, 999_999_999) }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("unknown item 999999999", await unknown.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        var count = await service.Client.GetAsync("/recommend/15?count=0", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, count.StatusCode);
        var stranger = await service.Client.GetFromJsonAsync<RecommendResponse>("/recommend/123456789?count=5", TestContext.Current.CancellationToken);
        Assert.Equal(5, stranger!.Items.Count);
    }

    [Fact]
    public async Task Blend_mode_serves_generative_candidates_through_the_ranker()
    {
        var service = await Blend.Value;
        var health = await service.Client.GetFromJsonAsync<Dictionary<string, string>>("/health", TestContext.Current.CancellationToken);
        Assert.Equal("dlrm+generative", health!["recommender"]);
        var sources = new HashSet<string>();
        foreach (var user in new[] { 15, 42, 100, 200, 300 })
        {
            var response = await service.Client.GetFromJsonAsync<RecommendResponse>($"/recommend/{user}?count=50", TestContext.Current.CancellationToken);
            Assert.Equal(50, response!.Items.Count);
            sources.UnionWith(response.Items.Select(i => i.Source));
        }

        Assert.Contains("generative", sources);
        Assert.Equal(0, service.App.Services.GetRequiredService<GenRec.Adapters.RecallAdapter>().Fallbacks);
    }

    [Fact]
    public async Task Shadow_mode_serves_exactly_what_the_cascade_serves()
    {
        var plain = await Plain.Value;
        var shadow = await Shadow.Value;
        foreach (var user in new[] { 42, 100, 200 })
        {
            var a = await plain.Client.GetFromJsonAsync<RecommendResponse>($"/recommend/{user}?count=10", TestContext.Current.CancellationToken);
            var b = await shadow.Client.GetFromJsonAsync<RecommendResponse>($"/recommend/{user}?count=10", TestContext.Current.CancellationToken);
            Assert.Equal(a!.Items.Select(i => i.Item), b!.Items.Select(i => i.Item));
        }
    }

    [Fact]
    public async Task Hstu_takes_over_the_ranking_over_HTTP_and_in_shadow_changes_nothing()
    {
        var plain = await Plain.Value;
        var hstu = await HstuReplace.Value;
        var shadow = await HstuShadow.Value;
        var health = await hstu.Client.GetFromJsonAsync<Dictionary<string, string>>("/health", TestContext.Current.CancellationToken);
        Assert.Equal("dlrm+hstu", health!["recommender"]);
        var differs = false;
        foreach (var user in new[] { 15, 42, 100, 200, 300 })
        {
            var a = await plain.Client.GetFromJsonAsync<RecommendResponse>($"/recommend/{user}?count=20", TestContext.Current.CancellationToken);
            var b = await hstu.Client.GetFromJsonAsync<RecommendResponse>($"/recommend/{user}?count=20", TestContext.Current.CancellationToken);
            var c = await shadow.Client.GetFromJsonAsync<RecommendResponse>($"/recommend/{user}?count=20", TestContext.Current.CancellationToken);
            Assert.Equal(20, b!.Items.Count);
            Assert.Equal(b.Items.Count, b.Items.Select(i => i.Item).Distinct().Count());
            Assert.Equal(a!.Items.Select(i => i.Item), c!.Items.Select(i => i.Item));
            differs |= !a.Items.Select(i => i.Item).SequenceEqual(b.Items.Select(i => i.Item));
        }

        // HSTU re-ranks the same candidates: another order than LambdaRank's, with no fallback to it.
        Assert.True(differs);
        Assert.Equal(0, hstu.App.Services.GetRequiredService<GenRec.Adapters.RankingAdapter>().Fallbacks);
    }

    [Fact]
    public async Task The_end_to_end_model_takes_over_the_whole_cascade_over_HTTP()
    {
        var service = await EndToEndReplace.Value;
        var health = await service.Client.GetFromJsonAsync<Dictionary<string, string>>("/health", TestContext.Current.CancellationToken);
        Assert.Equal("replace-end-to-end", health!["recommender"]);

        var response = await service.Client.GetFromJsonAsync<RecommendResponse>("/recommend/42?count=20", TestContext.Current.CancellationToken);
        Assert.Equal(20, response!.Items.Select(i => i.Item).Distinct().Count());
        Assert.All(response.Items, i => Assert.Equal("end-to-end", i.Source));

        // An item the user just acted on is part of the history the model reads, and is never recommended again.
        var first = response.Items[0].Item;
        var posted = await service.Client.PostAsJsonAsync("/events", new[] { new EventMessage(42, first, ActionType.Rate, DateTimeOffset.UtcNow, 5) }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        var after = await service.Client.GetFromJsonAsync<RecommendResponse>("/recommend/42?count=20", TestContext.Current.CancellationToken);
        Assert.DoesNotContain(after!.Items, i => i.Item == first);
        Assert.Equal(0, service.App.Services.GetRequiredService<GenRec.Adapters.RecommenderAdapter>().Fallbacks);
    }

    private static async Task<Running> StartAsync(string mode, string rankerMode = "off", string endToEndMode = "off", bool ownCascade = false)
    {
        var files = ModelFiles.Value;
        var app = RecommendationService.Build(
        [
            "--urls", "http://127.0.0.1:0",
            "--Cascade:Quick", "true",
            "--GenRec:Mode", mode,
            "--GenRec:Index", files.IndexPath,
            "--GenRec:Model", files.ModelPath,
            "--GenRec:RankerMode", rankerMode,
            .. rankerMode == "off" ? Array.Empty<string>() : ["--GenRec:HstuModel", ModelFiles.HstuOnnxPath],
            "--GenRec:EndToEndMode", endToEndMode,
            .. endToEndMode == "off" ? Array.Empty<string>() : ["--GenRec:EndToEndModel", ModelFiles.EndToEndOnnxPath],
            "--Logging:LogLevel:Default", "Warning",
        ], ownCascade ? null : Cascade.Value);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new Running(app, new HttpClient { BaseAddress = new Uri(address) });
    }

    private sealed record Running(WebApplication App, HttpClient Client);
}

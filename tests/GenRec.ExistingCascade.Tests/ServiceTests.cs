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
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Unknown item 999999999", await unknown.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        var count = await service.Client.GetAsync("/recommend/15?count=0", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, count.StatusCode);
        var stranger = await service.Client.GetFromJsonAsync<RecommendResponse>("/recommend/123456789?count=5", TestContext.Current.CancellationToken);
        Assert.Equal(5, stranger!.Items.Count);
    }

    [Fact]
    public async Task Malformed_requests_and_events_get_a_4xx_and_store_nothing()
    {
        var service = await Plain.Value;
        var store = service.App.Services.GetRequiredService<HistoryStore>();
        var users = store.Users;
        int[] probes = [21, 22, 23];
        var before = probes.Select(u => store.Get(new UserId(u)).Count).ToArray();
        var random = new Random(7);
        string Number() => random.Next(6) switch
        {
            0 => "-1",
            1 => "0",
            2 => "99999999999999999999",
            3 => "1e400",
            4 => "\"NaN\"",
            _ => random.Next(1, 200_000).ToString(System.Globalization.CultureInfo.InvariantCulture),
        };

        // Every event carries at least one defect, so no post may store anything.
        string BadEvent(int user) => random.Next(7) switch
        {
            0 => $"{{\"user\":{user},\"item\":999999999}}",
            1 => $"{{\"user\":{user},\"item\":318,\"action\":99}}",
            2 => $"{{\"user\":{user},\"item\":318,\"time\":\"2999-01-01T00:00:00Z\"}}",
            3 => $"{{\"user\":{user},\"item\":318,\"value\":\"NaN\"}}",
            4 => $"{{\"user\":-{user},\"item\":318}}",
            5 => $"{{\"user\":{user},\"item\":{Number()}}}",
            _ => "null",
        };

        var statuses = new List<HttpStatusCode>();
        for (var n = 0; n < 150; n++)
        {
            HttpResponseMessage response;
            switch (n % 5)
            {
                case 0:
                    response = await service.Client.GetAsync($"/recommend/{Number()}?count={Number()}", TestContext.Current.CancellationToken);
                    break;
                case 1:
                    var garbage = new byte[random.Next(1, 64)];
                    random.NextBytes(garbage);
                    response = await service.Client.PostAsync("/events", new ByteArrayContent(garbage) { Headers = { ContentType = new("application/json") } }, TestContext.Current.CancellationToken);
                    break;
                case 2:
                    var good = $"{{\"user\":{probes[n % 3]},\"item\":318}}";
                    var mixed = string.Join(",", Enumerable.Range(0, random.Next(1, 5)).Select(_ => good).Append(BadEvent(probes[n % 3])).OrderBy(_ => random.Next()));
                    response = await service.Client.PostAsync("/events", new StringContent($"[{mixed}]", System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
                    break;
                case 3:
                    var many = string.Join(",", Enumerable.Repeat($"{{\"user\":{probes[0]},\"item\":318}}", 1001));
                    response = await service.Client.PostAsync("/events", new StringContent(random.Next(2) == 0 ? "[]" : $"[{many}]", System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
                    break;
                default:
                    response = await service.Client.PostAsync("/events", new StringContent("{\"user\":1,\"item\":318}", System.Text.Encoding.UTF8, random.Next(2) == 0 ? "application/json" : "text/plain"), TestContext.Current.CancellationToken);
                    break;
            }

            statuses.Add(response.StatusCode);
        }

        Assert.All(statuses, status => Assert.InRange((int)status, 400, 499));
        Assert.Equal(users, store.Users);
        Assert.Equal(before, probes.Select(u => store.Get(new UserId(u)).Count).ToArray());
    }

    [Fact]
    public async Task A_client_over_its_request_rate_gets_429_with_problem_details_and_probes_still_answer()
    {
        var service = await StartAsync("off", permitsPerSecond: 3);
        try
        {
            var responses = new List<HttpResponseMessage>();
            for (var i = 0; i < 12; i++)
            {
                responses.Add(await service.Client.GetAsync("/recommend/15?count=5", TestContext.Current.CancellationToken));
            }

            Assert.Contains(responses, r => r.StatusCode == HttpStatusCode.OK);
            var limited = responses.First(r => r.StatusCode == HttpStatusCode.TooManyRequests);
            Assert.Equal("application/problem+json", limited.Content.Headers.ContentType?.MediaType);
            Assert.Contains("RateLimit:PermitsPerSecond", await limited.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, (await service.Client.GetAsync("/healthz", TestContext.Current.CancellationToken)).StatusCode);
        }
        finally
        {
            await service.App.DisposeAsync();
        }
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
    public async Task Health_and_the_SDK_metrics_are_served_over_HTTP()
    {
        var service = await Blend.Value;
        using var health = System.Text.Json.JsonDocument.Parse(await service.Client.GetStringAsync("/healthz", TestContext.Current.CancellationToken));
        var root = health.RootElement;
        Assert.Equal("Healthy", root.GetProperty("status").GetString());
        var recommender = root.GetProperty("checks").GetProperty("recommender").GetProperty("data");
        Assert.Equal("dlrm+generative", recommender.GetProperty("name").GetString());
        Assert.True(recommender.GetProperty("index_version").GetInt32() >= 1);
        Assert.Equal("Cpu", recommender.GetProperty("generative_provider").GetString());
        Assert.Equal(0, recommender.GetProperty("recall_fallbacks").GetInt64());
        Assert.True(root.GetProperty("checks").GetProperty("store").GetProperty("data").GetProperty("users").GetInt32() > 600);

        // A request through the adapter, then Prometheus's scrape shows the SDK's meter and ASP.NET Core's.
        await service.Client.GetFromJsonAsync<RecommendResponse>("/recommend/42?count=10", TestContext.Current.CancellationToken);
        var metrics = "";
        for (var i = 0; i < 30 && !metrics.Contains("genrec_adapter_generative_duration", StringComparison.Ordinal); i++)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
            metrics = await service.Client.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        }

        Assert.Contains("genrec_adapter_generative_duration", metrics, StringComparison.Ordinal);
        Assert.Contains("stage=\"blend-generative\"", metrics, StringComparison.Ordinal);
        Assert.Contains("http_server_request_duration", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_is_traced_from_the_HTTP_span_through_the_cascade_and_the_adapter()
    {
        var service = await Blend.Value;
        var trace = System.Diagnostics.ActivityTraceId.CreateRandom();
        var spans = new System.Collections.Concurrent.ConcurrentBag<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name is GenRecDiagnostics.ActivitySourceName or "Microsoft.AspNetCore",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.TraceId == trace)
                {
                    spans.Add(activity);
                }
            },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);

        // The caller's trace context (W3C traceparent) is continued by the service, so its spans are this request's alone.
        using var request = new HttpRequestMessage(HttpMethod.Get, "/recommend/42?count=10");
        request.Headers.Add("traceparent", $"00-{trace}-{System.Diagnostics.ActivitySpanId.CreateRandom()}-01");
        (await service.Client.SendAsync(request, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        for (var i = 0; i < 50 && !spans.Any(s => s.Source.Name == "Microsoft.AspNetCore"); i++)
        {
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }

        var http = Assert.Single(spans, s => s.Source.Name == "Microsoft.AspNetCore");
        var cascade = Assert.Single(spans, s => s.OperationName == "genrec.cascade");
        Assert.Equal(http.SpanId, cascade.ParentSpanId);
        Assert.Equal("dlrm+generative", cascade.GetTagItem("genrec.cascade"));
        var recalls = spans.Where(s => s.OperationName == "genrec.recall").ToArray();
        Assert.NotEmpty(recalls);
        Assert.All(recalls, r => Assert.Equal(cascade.SpanId, r.ParentSpanId));
        var adapter = Assert.Single(spans, s => s.OperationName == "genrec.adapter");
        Assert.Contains(recalls, r => r.SpanId == adapter.ParentSpanId && (string?)r.GetTagItem("genrec.stage") == "blend-generative");
        Assert.Equal(("ok", "Blend"), ((string?)adapter.GetTagItem("genrec.outcome"), (string?)adapter.GetTagItem("genrec.mode")));
        var rank = Assert.Single(spans, s => s.OperationName == "genrec.rank");
        Assert.Equal(cascade.SpanId, rank.ParentSpanId);
        Assert.True((int)rank.GetTagItem("genrec.candidates")! >= 10);
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

    private static async Task<Running> StartAsync(string mode, string rankerMode = "off", string endToEndMode = "off", bool ownCascade = false, int permitsPerSecond = 2000)
    {
        var files = ModelFiles.Value;
        var app = RecommendationService.Build(
        [
            "--urls", "http://127.0.0.1:0",
            "--Cascade:Quick", "true",
            "--Cascade:Path", "",
            "--GenRec:Mode", mode,
            "--GenRec:Index", files.IndexPath,
            "--GenRec:Model", files.ModelPath,
            "--GenRec:RankerMode", rankerMode,
            .. rankerMode == "off" ? Array.Empty<string>() : ["--GenRec:HstuModel", ModelFiles.HstuOnnxPath],
            "--GenRec:EndToEndMode", endToEndMode,
            .. endToEndMode == "off" ? Array.Empty<string>() : ["--GenRec:EndToEndModel", ModelFiles.EndToEndOnnxPath],
            "--Logging:LogLevel:Default", "Warning",
            "--RateLimit:PermitsPerSecond", permitsPerSecond.ToString(System.Globalization.CultureInfo.InvariantCulture),

            // These tests check what the generative stages serve, not how fast: a 50 ms budget on a 2-core machine shared
            // with other test processes (and a first ONNX Runtime run) can fall back to the cascade. The adapters'
            // fallback on timeout has its own tests (GenRec.Adapters.Tests), with a model made to hang.
            "--GenRec:Adapters:Recall:Budget", "00:00:30",
            "--GenRec:Adapters:Ranking:Budget", "00:00:30",
            "--GenRec:Adapters:Recommender:Budget", "00:00:30",
        ], ownCascade ? null : Cascade.Value);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new Running(app, new HttpClient { BaseAddress = new Uri(address) });
    }

    private sealed record Running(WebApplication App, HttpClient Client);
}

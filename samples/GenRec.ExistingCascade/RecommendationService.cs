using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.RateLimiting;
using GenRec.Adapters;
using GenRec.Baselines;
using GenRec.Data;
using GenRec.Inference;
using GenRec.SemanticIds;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace GenRec.ExistingCascade;

/// <summary>
/// A small recommendation service as a team runs one today: a DLRM cascade (four recall channels, a LightGBM
/// LambdaRank ranker) over the users' histories, behind <c>GET /recommend/{userId}</c> and <c>POST /events</c>.
/// Setting <c>GenRec:Mode</c> (blend, shadow or replace) puts generative recall beside its recall layer, and
/// <c>GenRec:RankerMode</c> (replace, shadow) an HSTU ranker beside its LambdaRank ranker, and
/// <c>GenRec:EndToEndMode</c> (replace, blend, shadow) an end-to-end generative model beside the whole cascade: that is
/// the whole change (see the README).
/// </summary>
public static class RecommendationService
{
    /// <summary>Builds the app (call <c>RunAsync</c> or <c>StartAsync</c> on it).</summary>
    /// <param name="args">Command-line arguments (configuration: <c>--GenRec:Mode blend</c>, <c>--Cascade:Quick true</c>...).</param>
    /// <returns>The app.</returns>
    public static WebApplication Build(string[] args) => Build(args, null);

    /// <summary>Builds the app around an already trained cascade (the benchmark runs several configurations of one).</summary>
    internal static WebApplication Build(string[] args, Trained? trained)
    {
        var builder = WebApplication.CreateBuilder(args);
        var config = builder.Configuration;
        trained ??= Train(config["Data"], config.GetValue("Cascade:Quick", false), config["Cascade:Path"]);
        var (dataset, split, dlrm) = trained;
        builder.Services.AddSingleton(dataset);
        builder.Services.AddSingleton(trained);
        builder.Services.AddSingleton(new HistoryStore(split.Train.ToDictionary(s => s.User, s => s.Interactions.Select(i => i.ToEvent()).ToList())));

        // --- GenRec: the few lines that put generative recall and ranking beside the cascade's (README) ---------
        var stages = GenerativeSettings.Read(config);
        var recallOn = stages.Mode != StageSwitch.Off;
        var rankerOn = stages.RankerMode != StageSwitch.Off;
        var endToEndOn = stages.EndToEndMode != StageSwitch.Off;
        if (stages.AnyOn)
        {
            // AddGenRec binds GenRecOptions from "GenRec" and each adapter's options (budget, blend) from "GenRec:Adapters:…".
            var genrec = builder.Services.AddGenRec();
            if (recallOn)
            {
                genrec.AddSemanticIdIndex(stages.Index!)
                    .AddOnnxModel(stages.Model!)
                    .AddGenerativeRecall()
                    .AddRecallAdapter(_ => dlrm.RecallStage, o => o.Mode = GenerativeSettings.ModeOf(stages.Mode));
                if (stages.Hang)
                {
                    // Benchmark only: a generative side that never answers, to measure the fallback path.
                    builder.Services.AddKeyedSingleton<IRecallStage>(GenRecStages.Generative, RecallStage.From("hanging", (_, _, _) => new ValueTask<IReadOnlyList<Candidate>>(new TaskCompletionSource<IReadOnlyList<Candidate>>().Task)));
                }
            }

            if (rankerOn)
            {
                // HSTU (exported with `genrec export --kind hstu`) beside the LambdaRank ranker, reading the cascade's features.
                genrec.AddHstuRanking(stages.HstuModel!, _ => dlrm.CandidateFeatures)
                    .AddRankingAdapter(_ => dlrm.Ranker, o => o.Mode = GenerativeSettings.ModeOf(stages.RankerMode));
            }

            var name = $"dlrm{(recallOn ? "+generative" : "")}{(rankerOn ? "+hstu" : "")}";
            IRecommender Cascade(IServiceProvider sp) => dlrm.CreatePipeline(
                name,
                recallOn ? sp.GetRequiredService<RecallAdapter>() : dlrm.RecallStage,
                rankerOn ? sp.GetRequiredService<RankingAdapter>() : null);
            if (endToEndOn)
            {
                // One end-to-end model (OneRec-style, exported with `genrec export`) beside the whole cascade: replacing it,
                // blending the two lists, or shadowing it; the cascade serves whenever the model times out, fails or is empty.
                genrec.AddSemanticIdIndex(stages.Index!)
                    .AddEndToEndRecommender(stages.EndToEndModel!)
                    .AddRecommenderAdapter(Cascade, o => o.Mode = GenerativeSettings.ModeOf(stages.EndToEndMode));
                builder.Services.AddSingleton<IRecommender>(sp => sp.GetRequiredService<RecommenderAdapter>());
            }
            else
            {
                builder.Services.AddSingleton(Cascade);
            }
        }
        else
        {
            builder.Services.AddSingleton<IRecommender>(dlrm.CreatePipeline());
        }

        // -----------------------------------------------------------------------------------------------------------
        // Observability: the SDK's "GenRec" meter (adapter fallbacks, generative latency, shadow overlap, …) and
        // ASP.NET Core's, scraped by Prometheus at /metrics; traces of each request (ASP.NET Core's span, the SDK's
        // genrec.cascade / genrec.recall / genrec.adapter / genrec.rank spans), sent over OTLP when
        // OpenTelemetry:OtlpEndpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) names a collector; /healthz reports the
        // recommender, the models, the index and the history store.
        var otlp = config["OpenTelemetry:OtlpEndpoint"] ?? Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT");
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("genrec-existing-cascade"))
            .WithMetrics(metrics => metrics.AddMeter(GenRecDiagnostics.MeterName).AddAspNetCoreInstrumentation().AddPrometheusExporter())
            .WithTracing(tracing =>
            {
                tracing.AddSource(GenRecDiagnostics.ActivitySourceName).AddAspNetCoreInstrumentation();
                if (!string.IsNullOrWhiteSpace(otlp))
                {
                    tracing.AddOtlpExporter(o => o.Endpoint = new Uri(otlp));
                }
            });
        builder.Services.AddHealthChecks()
            .AddCheck<RecommenderHealthCheck>("recommender")
            .AddCheck<StoreHealthCheck>("store");
        // The service edge: bad requests get problem details (RFC 9457), and each client a request rate.
        builder.Services.AddProblemDetails();
        var permits = config.GetValue("RateLimit:PermitsPerSecond", 2000);
        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                context.Request.Path.StartsWithSegments("/healthz") || context.Request.Path.StartsWithSegments("/metrics")
                    ? RateLimitPartition.GetNoLimiter("probes")
                    : RateLimitPartition.GetTokenBucketLimiter(context.Connection.RemoteIpAddress?.ToString() ?? "unknown", _ => new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = permits,
                        TokensPerPeriod = permits,
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        QueueLimit = 0,
                    }));
            limiter.OnRejected = async (rejected, ct) =>
            {
                rejected.HttpContext.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                rejected.HttpContext.Response.Headers.RetryAfter = "1";
                await rejected.HttpContext.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = rejected.HttpContext,
                    ProblemDetails = { Status = StatusCodes.Status429TooManyRequests, Title = "Too many requests", Detail = $"This service takes {permits} requests a second from one client (RateLimit:PermitsPerSecond)." },
                });
            };
        });
        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseRateLimiter();
        app.MapPrometheusScrapingEndpoint();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { ResponseWriter = HealthJson.WriteAsync });
        app.MapGet("/recommend/{userId:long}", async (long userId, int? count, IRecommender recommender, HistoryStore histories, InteractionDataset catalogue, CancellationToken ct) =>
        {
            if (count is < 1 or > MaxCount || userId < 1)
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad request", detail: $"userId must be positive and count in [1, {MaxCount}]; got {userId} and {count}.");
            }

            var user = new UserId(userId);
            var request = new RecommendationRequest(user, histories.Get(user), count ?? 10, DateTimeOffset.UtcNow);
            var result = await recommender.RecommendAsync(request, ct);
            return Results.Ok(new RecommendResponse(
                userId,
                recommender.Name,
                result.Items.Select(c => new RecommendedItem(c.Item.Value, catalogue.Items.TryGetValue(c.Item, out var r) ? r.Text : null, c.Score, c.Source)).ToArray(),
                result.Stages.Select(s => new StageTime(s.Stage, s.Elapsed.TotalMilliseconds)).ToArray()));
        });
        app.MapPost("/events", (EventMessage?[]? events, HistoryStore histories, InteractionDataset catalogue) =>
        {
            if (events is null || events.Length is 0 or > MaxEventsPerPost)
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad request", detail: $"Post 1 to {MaxEventsPerPost} events; got {events?.Length ?? 0}. Nothing was stored.");
            }

            var problems = Problems(events, catalogue, DateTimeOffset.UtcNow);
            if (problems.Count > 0)
            {
                return Results.ValidationProblem(problems, detail: "Nothing was stored.", title: "Some events are not valid");
            }

            foreach (var e in events.OfType<EventMessage>())
            {
                histories.Append(new UserEvent(new UserId(e.User), new ItemId(e.Item), e.Action, e.Time ?? DateTimeOffset.UtcNow, e.Value));
            }

            return Results.Accepted(value: new { stored = events.Length });
        });
        app.MapGet("/health", (IRecommender recommender) => Results.Ok(new { recommender = recommender.Name }));
        return app;
    }

    /// <summary>The most items one <c>/recommend</c> returns.</summary>
    internal const int MaxCount = 100;

    /// <summary>The most events one <c>/events</c> post may carry.</summary>
    internal const int MaxEventsPerPost = 1000;

    /// <summary>What is wrong with each event, by its place in the post ("events[3].Item"); empty when all are valid.</summary>
    internal static Dictionary<string, string[]> Problems(IReadOnlyList<EventMessage?> events, InteractionDataset catalogue, DateTimeOffset now)
    {
        var problems = new Dictionary<string, string[]>();
        for (var i = 0; i < events.Count; i++)
        {
            if (events[i] is not { } e)
            {
                problems[$"events[{i}]"] = ["The event is null."];
                continue;
            }

            void Add(string field, string problem) => problems[$"events[{i}].{field}"] = [problem];
            if (e.User < 1)
            {
                Add(nameof(e.User), $"User {e.User} is not a positive id.");
            }

            if (!catalogue.Items.ContainsKey(new ItemId(e.Item)))
            {
                Add(nameof(e.Item), $"Unknown item {e.Item}.");
            }

            if (!Enum.IsDefined(e.Action))
            {
                Add(nameof(e.Action), $"Unknown action {(int)e.Action}.");
            }

            if (e.Time is { } time && (time < DateTimeOffset.UnixEpoch || time > now.AddMinutes(5)))
            {
                Add(nameof(e.Time), $"The time {time:O} is before 1970 or more than 5 minutes ahead of the service's clock.");
            }

            if (e.Value is { } value && !float.IsFinite(value))
            {
                Add(nameof(e.Value), $"The value {value} is not a finite number.");
            }
        }

        return problems;
    }

    /// <summary>Reads MovieLens and trains the DLRM cascade (quick: one query per user and one LightGBM setting, for tests and demos).</summary>
    /// <summary>
    /// The cascade over <paramref name="data"/>: loaded from <paramref name="path"/> when a saved one is there (the recall
    /// channels are counted again, seconds; the LambdaRank ranker is read), trained and saved there otherwise. A service
    /// restarts without retraining; delete the file (or point <c>Cascade:Path</c> elsewhere) to train again.
    /// </summary>
    internal static Trained Train(string? data, bool quick, string? path = null)
    {
        var dataset = MovieLensReader.Read(data ?? Path.Combine(AppContext.BaseDirectory, "data", "movielens-small", "ratings.csv.gz"));
        var split = LeaveOneOutSplit.Create(dataset);
        if (!string.IsNullOrWhiteSpace(path) && File.Exists(path))
        {
            return new Trained(dataset, split, DlrmCascadeModel.Load(path, split)) { LoadedFrom = path };
        }

        var options = new DlrmCascadeTrainer.Options();
        if (quick)
        {
            options.QueriesPerUser = 1;
            options.Grid = [new DlrmRankerSettings(Leaves: 15, Iterations: 150, LearningRate: 0.05, MinExamplesPerLeaf: 50)];
        }

        var dlrm = new DlrmCascadeTrainer(options).Fit(split);
        if (!string.IsNullOrWhiteSpace(path))
        {
            dlrm.Save(path);
        }

        return new Trained(dataset, split, dlrm);
    }
}

/// <summary>
/// The recommender and what it serves: its name, the generative models and their execution providers, the semantic-ID
/// index version and the adapters' fallback counts (whichever of them this configuration registers).
/// </summary>
internal sealed class RecommenderHealthCheck(IServiceProvider services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>
        {
            ["name"] = services.GetRequiredService<IRecommender>().Name,
            ["cascade"] = services.GetRequiredService<Trained>().LoadedFrom is { } path ? $"loaded from {path}" : "trained at start",
        };
        if (services.GetService<OnnxGenerativeModel>() is { } model)
        {
            data["generative_model"] = model.ModelId;
            data["generative_provider"] = model.ExecutionProvider.ToString();
        }

        if (services.GetService<HstuOnnxRanker>() is { } hstu)
        {
            data["hstu_provider"] = hstu.ExecutionProvider.ToString();
        }

        if (services.GetService<SemanticIdIndex>() is { } index)
        {
            data["index_version"] = index.Version;
            data["index_items"] = index.Count;
        }

        foreach (var (name, fallbacks) in new (string, long?)[] { ("recall_fallbacks", services.GetService<RecallAdapter>()?.Fallbacks), ("ranker_fallbacks", services.GetService<RankingAdapter>()?.Fallbacks), ("end_to_end_fallbacks", services.GetService<RecommenderAdapter>()?.Fallbacks) })
        {
            if (fallbacks is { } count)
            {
                data[name] = count;
            }
        }

        return Task.FromResult(HealthCheckResult.Healthy("serving", data));
    }
}

/// <summary>The history store: how many users it holds (a database or feature-store ping in production).</summary>
internal sealed class StoreHealthCheck(HistoryStore store) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(HealthCheckResult.Healthy("in memory", new Dictionary<string, object> { ["users"] = store.Users }));
}

/// <summary>Writes a health report as JSON: the overall status and each check's status, description and data.</summary>
internal static class HealthJson
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description, data = e.Value.Data }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body), context.RequestAborted);
    }
}

/// <summary>The data and the trained cascade of a service.</summary>
internal sealed record Trained(InteractionDataset Dataset, DataSplit Split, DlrmCascadeModel Dlrm)
{
    /// <summary>The saved cascade it was loaded from; null when it was trained in this process.</summary>
    public string? LoadedFrom { get; init; }
}

/// <summary>The service's own store of user histories (in memory here; a database or a feature store in production).</summary>
public sealed class HistoryStore(Dictionary<UserId, List<UserEvent>> seed)
{
    private readonly ConcurrentDictionary<UserId, List<UserEvent>> _histories = new(seed);

    /// <summary>Users with a history.</summary>
    public int Users => _histories.Count;

    /// <summary>A user's events, oldest first (empty for a new user).</summary>
    public IReadOnlyList<UserEvent> Get(UserId user)
    {
        if (!_histories.TryGetValue(user, out var list))
        {
            return [];
        }

        lock (list)
        {
            return list.ToArray();
        }
    }

    /// <summary>Adds an event in time order.</summary>
    public void Append(UserEvent e)
    {
        var list = _histories.GetOrAdd(e.User, _ => []);
        lock (list)
        {
            var at = list.Count;
            while (at > 0 && list[at - 1].Timestamp > e.Timestamp)
            {
                at--;
            }

            list.Insert(at, e);
        }
    }
}

/// <summary>An event posted to <c>/events</c>.</summary>
public sealed record EventMessage(long User, long Item, ActionType Action = ActionType.Click, DateTimeOffset? Time = null, float? Value = null);

/// <summary>The answer of <c>/recommend</c>.</summary>
public sealed record RecommendResponse(long User, string Recommender, IReadOnlyList<RecommendedItem> Items, IReadOnlyList<StageTime> Stages);

/// <summary>One recommended item.</summary>
public sealed record RecommendedItem(long Item, string? Title, double Score, string Source);

/// <summary>How long a stage took.</summary>
public sealed record StageTime(string Stage, double Milliseconds);

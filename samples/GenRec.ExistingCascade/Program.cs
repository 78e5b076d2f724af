using GenRec.ExistingCascade;

if (args.Contains("bench"))
{
    await CascadeBench.RunAsync(args.Where(a => a != "bench").ToArray());
    return;
}

var app = RecommendationService.Build(args);
await app.RunAsync();

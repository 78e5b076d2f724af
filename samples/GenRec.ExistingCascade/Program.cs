using GenRec.ExistingCascade;

var app = RecommendationService.Build(args);
await app.RunAsync();

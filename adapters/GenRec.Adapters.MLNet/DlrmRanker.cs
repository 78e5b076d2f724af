using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace GenRec.Adapters.MLNet;

/// <summary>One ranker input row: the features of a (user, candidate) pair.</summary>
internal sealed class FeatureRow
{
    [VectorType(RankingFeatures.Count)]
    public float[] Features { get; set; } = new float[RankingFeatures.Count];
}

/// <summary>One training row: features, relevance label and query group.</summary>
internal sealed class TrainingRow
{
    public float Label { get; set; }

    public uint Group { get; set; }

    [VectorType(RankingFeatures.Count)]
    public float[] Features { get; set; } = new float[RankingFeatures.Count];
}

/// <summary>The ranker's output for one row.</summary>
internal sealed class ScoreRow
{
    public float Score { get; set; }
}

/// <summary>
/// The DLRM-style ranker: a LightGBM LambdaRank model over hand-made features, re-scoring merged candidates.
/// Thread-safe: prediction engines are pooled.
/// </summary>
internal sealed class DlrmRanker : IRankingStage
{
    private readonly MLContext _ml;
    private readonly ITransformer _model;
    private readonly UserProfile.Cache _profiles;
    private readonly ConcurrentBag<PredictionEngine<FeatureRow, ScoreRow>> _engines = [];

    public DlrmRanker(MLContext ml, ITransformer model, UserProfile.Cache profiles)
    {
        _ml = ml;
        _model = model;
        _profiles = profiles;
    }

    public string Name => "dlrm-lambdarank";

    public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        cancellationToken.ThrowIfCancellationRequested();
        if (candidates.Count == 0)
        {
            return ValueTask.FromResult(candidates);
        }

        var stats = _profiles.Stats;
        var profile = _profiles.For(request);
        var maxItemCf = profile.ItemCf.Count > 0 ? profile.ItemCf.Values.Max() : 0f;
        var engine = _engines.TryTake(out var pooled) ? pooled : _ml.Model.CreatePredictionEngine<FeatureRow, ScoreRow>(_model);
        try
        {
            var row = new FeatureRow();
            var scored = new Candidate[candidates.Count];
            for (var i = 0; i < candidates.Count; i++)
            {
                var c = candidates[i];
                float score;
                if (stats.Index.TryGetValue(c.Item, out var item))
                {
                    RankingFeatures.Compute(stats, profile, item, c.Source, maxItemCf, row.Features);
                    score = engine.Predict(row).Score;
                }
                else
                {
                    // An item this ranker has never heard of (e.g. from a newer recall channel): keep it, last.
                    score = float.NegativeInfinity;
                }

                scored[i] = c with { Score = score };
            }

            // Stable: equal scores keep the recall order.
            var ordered = scored.Select((c, i) => (c, i)).OrderByDescending(x => x.c.Score).ThenBy(x => x.i).Select(x => x.c).ToArray();
            return ValueTask.FromResult<IReadOnlyList<Candidate>>(ordered);
        }
        finally
        {
            _engines.Add(engine);
        }
    }
}

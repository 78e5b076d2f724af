using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace GenRec.Baselines;

/// <summary>One ranker input row: the features of a (user, candidate) pair.</summary>
internal sealed class FeatureRow
{
    public float[] Features { get; set; } = [];
}

/// <summary>One training row: features, relevance label and query group.</summary>
internal sealed class TrainingRow
{
    public float Label { get; set; }

    public uint Group { get; set; }

    public float[] Features { get; set; } = [];
}

/// <summary>The ranker's output for one row.</summary>
internal sealed class ScoreRow
{
    public float Score { get; set; }
}

/// <summary>ML.NET schemas of the ranker's rows, whose feature vector is as wide as the ranker's feature list.</summary>
internal static class RankerSchemas
{
    public static SchemaDefinition For<TRow>(int features)
    {
        var schema = SchemaDefinition.Create(typeof(TRow));
        schema[nameof(FeatureRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, features);
        return schema;
    }
}

/// <summary>
/// The DLRM-style ranker: a LightGBM LambdaRank model over hand-made features (and any extra feature sources it was
/// trained with), re-scoring merged candidates. Thread-safe: prediction engines are pooled.
/// </summary>
internal sealed class DlrmRanker : IRankingStage
{
    private readonly MLContext _ml;
    private readonly ITransformer _model;
    private readonly DlrmFeatures _features;
    private readonly SchemaDefinition _schema;
    private readonly ConcurrentBag<PredictionEngine<FeatureRow, ScoreRow>> _engines = [];

    public DlrmRanker(MLContext ml, ITransformer model, DlrmFeatures features)
    {
        _ml = ml;
        _model = model;
        _features = features;
        _schema = RankerSchemas.For<FeatureRow>(features.Names.Count);
    }

    public string Name => "dlrm-lambdarank";

    /// <summary>The ML.NET context and the LambdaRank model (what <see cref="DlrmCascadeModel.Save"/> writes).</summary>
    internal (MLContext Ml, ITransformer Model) Saved => (_ml, _model);

    public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        cancellationToken.ThrowIfCancellationRequested();
        if (candidates.Count == 0)
        {
            return ValueTask.FromResult(candidates);
        }

        var n = _features.Names.Count;
        var values = new float[candidates.Count * n];
        _features.Compute(request, candidates, values);
        var engine = _engines.TryTake(out var pooled) ? pooled : _ml.Model.CreatePredictionEngine<FeatureRow, ScoreRow>(_model, inputSchemaDefinition: _schema);
        try
        {
            var row = new FeatureRow { Features = new float[n] };
            var scored = new Candidate[candidates.Count];
            for (var i = 0; i < candidates.Count; i++)
            {
                var c = candidates[i];
                float score;
                if (_features.Stats.Index.ContainsKey(c.Item))
                {
                    values.AsSpan(i * n, n).CopyTo(row.Features);
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

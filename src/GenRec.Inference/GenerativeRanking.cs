using GenRec.SemanticIds;

namespace GenRec.Inference;

/// <summary>
/// The generative model as a ranking stage: each candidate is scored by the log-probability of its semantic ID as
/// the user's next item (one context pass over the history, then one step run per code position for all
/// candidates together). Candidates the index or the model's vocabulary does not know keep their order after the
/// known ones, with negative infinity. Thread-safe.
/// </summary>
public sealed class GenerativeRanking : IRankingStage
{
    private readonly OnnxGenerativeModel _model;
    private readonly SemanticIdIndex _index;

    /// <summary>Creates the stage.</summary>
    /// <param name="model">The model.</param>
    /// <param name="index">The index the model was trained on (or one grown from it).</param>
    /// <param name="name">The stage's name. Default: "generative-rank".</param>
    /// <exception cref="InvalidOperationException">The index neither is nor grew from the model's.</exception>
    public GenerativeRanking(OnnxGenerativeModel model, SemanticIdIndex index, string name = "generative-rank")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(index);
        if (!index.Serves(model.IndexFingerprint))
        {
            throw new InvalidOperationException($"The model was trained on index {model.IndexFingerprint}; index version {index.Version} ({index.Fingerprint}) did not grow from it.");
        }

        _model = model;
        _index = index;
        Name = name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        cancellationToken.ThrowIfCancellationRequested();
        if (candidates.Count == 0)
        {
            return ValueTask.FromResult(candidates);
        }

        var tokens = _model.EncodeHistory(request.History, _index);
        var ids = candidates.Select(c => _index.TryGetSemanticId(c.Item, out var id) ? id : default).ToArray();
        var known = Enumerable.Range(0, ids.Length).Where(i => ids[i].Length > 0).ToArray();
        var scores = known.Length == 0 ? [] : _model.Score(_model.Encode(tokens), known.Select(i => ids[i]).ToArray());
        var scored = new double[candidates.Count];
        Array.Fill(scored, double.NegativeInfinity);
        for (var j = 0; j < known.Length; j++)
        {
            scored[known[j]] = scores[j];
        }

        return ValueTask.FromResult(RankingStage.Order(candidates, scored));
    }
}

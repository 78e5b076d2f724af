using GenRec.SemanticIds;

namespace GenRec.Generative;

/// <summary>Options of a <see cref="GenerativeRecall"/>.</summary>
public sealed class GenerativeRecallOptions
{
    /// <summary>The channel's name in candidates and metrics. Default: "generative".</summary>
    public string Name { get; set; } = "generative";

    /// <summary>
    /// Beams kept at each step. A request for more candidates than this widens the beam to the count, so a top-K
    /// list is always K wide (when the catalogue has K items the request does not exclude). Default: 100.
    /// Allowed: 1 or more.
    /// </summary>
    public int BeamWidth { get; set; } = 100;
}

/// <summary>
/// Generative retrieval as a recall stage: the user's history becomes semantic-ID tokens, the model decodes the
/// next item's ID with trie-constrained beam search, history and excluded items are never generated, and each
/// finished beam is an item candidate scored by its log-probability. Thread-safe when the decoder is.
/// </summary>
public sealed class GenerativeRecall : IRecallStage
{
    private readonly IGenerativeDecoder _decoder;
    private readonly SemanticIdIndex _index;
    private readonly GenerativeRecallOptions _options;
    private readonly IGenerativeSearchRunner? _runner;

    /// <summary>Creates the stage.</summary>
    /// <param name="decoder">The model.</param>
    /// <param name="index">The semantic-ID index the model was trained on.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="runner">Runs the searches (e.g. a micro-batcher over the same model); <see langword="null"/> for the decoder itself when it runs whole searches (<c>OnnxGenerativeModel</c> does), else to step its sessions here.</param>
    /// <exception cref="InvalidOperationException">The model was trained on another index.</exception>
    public GenerativeRecall(IGenerativeDecoder decoder, SemanticIdIndex index, GenerativeRecallOptions? options = null, IGenerativeSearchRunner? runner = null)
    {
        EnsureServes(decoder, index);
        _options = options ?? new GenerativeRecallOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(_options.BeamWidth, "options.BeamWidth");
        _decoder = decoder;
        _index = index;
        _runner = runner ?? decoder as IGenerativeSearchRunner;
    }

    /// <inheritdoc />
    public string Name => _options.Name;

    /// <summary>
    /// Decodes the request's top <paramref name="beamWidth"/> without the trie constraint and counts how many of the
    /// finished IDs belong to no item: how often the model alone would invent an item (public TIGER reproductions
    /// report 17–27 %). Diagnostics only; recommendations always use the constrained search.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="beamWidth">Beams kept.</param>
    /// <returns>Invalid IDs and IDs decoded.</returns>
    public (int Invalid, int Total) CountUnconstrainedInvalid(RecommendationRequest request, int beamWidth)
    {
        ArgumentNullException.ThrowIfNull(request);
        var tokens = _decoder.EncodeHistory(request.History, _index);
        using var session = _decoder.Start(tokens);
        var decoded = ConstrainedBeamSearch.Search(session, _index.Trie, _index.Length, beamWidth, constrained: false);
        return (decoded.Count(d => !_index.TryGetItem(d.Id, out _)), decoded.Count);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        cancellationToken.ThrowIfCancellationRequested();
        var tokens = _decoder.EncodeHistory(request.History, _index);
        var search = new BeamSearchState(_index.Trie, _index.Length, Math.Max(_options.BeamWidth, count), ExcludedIds(request, _index));
        IReadOnlyList<DecodedId> decoded;
        if (_runner is not null)
        {
            decoded = await _runner.SearchAsync(tokens, search, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            using var session = _decoder.Start(tokens);
            while (!search.IsFinished)
            {
                search.Advance(session.NextLogProbabilities(search.Beams));
            }

            decoded = search.Results;
        }

        return decoded.Take(count).Select(d => new Candidate(_index[d.Id], d.LogProbability, Name)).ToArray();
    }

    /// <summary>Refuses a model trained on an index other than <paramref name="index"/> or one it grew from.</summary>
    /// <exception cref="InvalidOperationException">The model was trained on another index.</exception>
    internal static void EnsureServes(IGenerativeDecoder decoder, SemanticIdIndex index)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        ArgumentNullException.ThrowIfNull(index);
        if (!index.Serves(decoder.IndexFingerprint))
        {
            throw new InvalidOperationException(
                $"The model was trained on the semantic-ID index with fingerprint {decoder.IndexFingerprint}; this index (version {index.Version}, fingerprint {index.Fingerprint}) neither is it nor grew from it. Load the index the model was trained with, or one made from it by AddItems.");
        }
    }

    /// <summary>The semantic IDs a request excludes (its history unless it keeps it, and its excluded items) that the index knows.</summary>
    internal static IEnumerable<SemanticId> ExcludedIds(RecommendationRequest request, SemanticIdIndex index) =>
        (request.ExcludeHistory ? request.ExcludedHistoryItems : Enumerable.Empty<ItemId>())
            .Concat(request.ExcludedItems ?? Enumerable.Empty<ItemId>())
            .Select(i => index.TryGetSemanticId(i, out var id) ? id : default)
            .Where(id => id.Length > 0);
}

using GenRec.SemanticIds;

namespace GenRec.Generative;

/// <summary>Options of a <see cref="BeamFusionRecall"/>.</summary>
public sealed class BeamFusionOptions
{
    /// <summary>The channel's name in candidates and metrics. Default: "beam-fusion".</summary>
    public string Name { get; set; } = "beam-fusion";

    /// <summary>
    /// How many leading codes of the semantic ID the generator emits (1 … the index's quantization levels); every item
    /// under a generated prefix is a candidate. Fewer levels: more candidates per prefix and more of the ranking left
    /// to the dense similarity. Default: 1. Allowed: 1 to the index's <see cref="PrefixTrie"/> depth − 1.
    /// </summary>
    public int PrefixLevels { get; set; } = 1;

    /// <summary>Prefixes the beam search keeps. Default: 16. Allowed: 1 or more.</summary>
    public int Beams { get; set; } = 16;

    /// <summary>
    /// The weight of the dense similarity in the fused score <c>log P(prefix | history) + DenseWeight × similarity</c>.
    /// Similarities of unit vectors lie in [−1, 1], so a dense model trained with a softmax at temperature τ has its
    /// logits at 1/τ (20 for τ = 0.05). 0 ranks by the generator alone. Choose it on validation. Default: 20.
    /// Allowed: 0 or more, finite.
    /// </summary>
    public double DenseWeight { get; set; } = 20;

    /// <summary>
    /// The most candidates the dense side scores per request: prefixes are taken most probable first until the next
    /// would pass this (the most probable prefix is always scored whole). Default: 5,000. Allowed: 1 or more.
    /// </summary>
    public int MaxCandidates { get; set; } = 5_000;
}

/// <summary>The candidates under one generated semantic-ID prefix.</summary>
/// <param name="Prefix">The prefix (its leading codes).</param>
/// <param name="Candidates">The items under it that the request does not exclude.</param>
public sealed record PrefixCandidates(SemanticId Prefix, IReadOnlyList<Candidate> Candidates);

/// <summary>
/// A dense side whose user vector is conditioned on the generated semantic-ID prefix (COBRA's dense head): for each
/// prefix, a head turns the user's state and the prefix's codes into a query, and the items under that prefix are
/// scored by their similarity with it. Used by <see cref="BeamFusionRecall"/>.
/// </summary>
public interface IPrefixConditionedRanker
{
    /// <summary>The ranker's name.</summary>
    string Name { get; }

    /// <summary>How many leading codes the head reads: the prefixes it scores must have this length.</summary>
    int PrefixLevels { get; }

    /// <summary>The <see cref="SemanticIdIndex.Fingerprint"/> of the index whose codes the head learned.</summary>
    string IndexFingerprint { get; }

    /// <summary>
    /// Scores every candidate by the similarity of its vector with the query conditioned on its group's prefix.
    /// </summary>
    /// <param name="request">The request (its history makes the user's state).</param>
    /// <param name="groups">Candidates grouped by prefix; each item in one group.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The same candidates, each scored by its similarity (negative infinity for an item without a vector), in any order.</returns>
    ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<PrefixCandidates> groups, CancellationToken cancellationToken = default);
}

/// <summary>
/// COBRA-style fusion of generative and dense retrieval (BeamFusion): the generator decodes the first
/// <see cref="BeamFusionOptions.PrefixLevels"/> codes of the next item's semantic ID with trie-constrained beam search,
/// every item under a generated prefix becomes a candidate, a dense ranking stage scores each candidate's similarity
/// with the user, and candidates are ordered by <c>log P(prefix | history) + w × similarity</c>. The generator chooses
/// the neighbourhoods; the dense side chooses the items in them, so an item registered after training — which shares
/// its level codes with items the generator knows, and whose vector comes from its content — is ranked on the same
/// scale as the rest. Thread-safe when the decoder and the dense stage are.
/// </summary>
public sealed class BeamFusionRecall : IRecallStage
{
    private readonly IGenerativeDecoder _decoder;
    private readonly SemanticIdIndex _index;
    private readonly Func<RecommendationRequest, IReadOnlyList<PrefixCandidates>, CancellationToken, ValueTask<IReadOnlyList<Candidate>>> _score;
    private readonly BeamFusionOptions _options;
    private readonly IGenerativeSearchRunner? _runner;

    /// <summary>Creates the stage.</summary>
    /// <param name="decoder">The generative model.</param>
    /// <param name="index">The semantic-ID index the model was trained on, or one grown from it (its new items are candidates too).</param>
    /// <param name="dense">Scores a candidate's similarity with the user (e.g. a dense retriever's ranking stage); its scores are the similarities.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="runner">Runs the searches (e.g. a micro-batcher over the same model); <see langword="null"/> for the decoder itself when it runs whole searches (<c>OnnxGenerativeModel</c> does), else to step its sessions here.</param>
    /// <exception cref="InvalidOperationException">The model was trained on another index.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is outside its allowed range.</exception>
    public BeamFusionRecall(IGenerativeDecoder decoder, SemanticIdIndex index, IRankingStage dense, BeamFusionOptions? options = null, IGenerativeSearchRunner? runner = null)
        : this(decoder, index, options, runner, Flat(dense))
    {
    }

    /// <summary>
    /// Creates the stage with COBRA's conditioned dense side: each generated prefix gets its own query from the dense
    /// head, and the items under it are scored against that query.
    /// </summary>
    /// <param name="decoder">The generative model.</param>
    /// <param name="index">The semantic-ID index the model was trained on, or one grown from it.</param>
    /// <param name="dense">The conditioned dense side; its head must read <see cref="BeamFusionOptions.PrefixLevels"/> codes of this index's IDs.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="runner">Runs the searches; <see langword="null"/> for the decoder itself when it runs whole searches (<c>OnnxGenerativeModel</c> does), else to step its sessions here.</param>
    /// <exception cref="InvalidOperationException">The model or the head was trained on another index.</exception>
    /// <exception cref="ArgumentException">The head reads another prefix length than the options generate.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is outside its allowed range.</exception>
    public BeamFusionRecall(IGenerativeDecoder decoder, SemanticIdIndex index, IPrefixConditionedRanker dense, BeamFusionOptions? options = null, IGenerativeSearchRunner? runner = null)
        : this(decoder, index, options, runner, Conditioned(dense))
    {
        if (!index.Serves(dense.IndexFingerprint))
        {
            throw new InvalidOperationException(
                $"The dense head '{dense.Name}' learned the codes of semantic-ID index {dense.IndexFingerprint}; this index ({index.Fingerprint}) is neither it nor grown from it.");
        }

        if (dense.PrefixLevels != _options.PrefixLevels)
        {
            throw new ArgumentException($"The dense head '{dense.Name}' reads {dense.PrefixLevels} leading codes; the stage generates {_options.PrefixLevels} (options.PrefixLevels).", nameof(dense));
        }
    }

    private BeamFusionRecall(
        IGenerativeDecoder decoder, SemanticIdIndex index, BeamFusionOptions? options, IGenerativeSearchRunner? runner,
        Func<RecommendationRequest, IReadOnlyList<PrefixCandidates>, CancellationToken, ValueTask<IReadOnlyList<Candidate>>> score)
    {
        GenerativeRecall.EnsureServes(decoder, index);

        _options = options ?? new BeamFusionOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.PrefixLevels, 1, "options.PrefixLevels");
        ArgumentOutOfRangeException.ThrowIfGreaterThan(_options.PrefixLevels, index.Length - 1, "options.PrefixLevels");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(_options.Beams, "options.Beams");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(_options.MaxCandidates, "options.MaxCandidates");
        if (!double.IsFinite(_options.DenseWeight) || _options.DenseWeight < 0)
        {
            throw new ArgumentOutOfRangeException("options.DenseWeight", _options.DenseWeight, "The dense weight must be a finite number, 0 or more.");
        }

        _decoder = decoder;
        _index = index;
        _runner = runner ?? decoder as IGenerativeSearchRunner;
        _score = score;
    }

    /// <inheritdoc />
    public string Name => _options.Name;

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        cancellationToken.ThrowIfCancellationRequested();
        var prefixes = await GeneratePrefixesAsync(request, cancellationToken).ConfigureAwait(false);
        return await FuseAsync(request, prefixes, count, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The search this stage runs for a request: <see cref="BeamFusionOptions.PrefixLevels"/> positions, <see cref="BeamFusionOptions.Beams"/>
    /// beams, nothing excluded (excluded items are dropped after the prefixes). For callers that run searches
    /// themselves (a session that keeps the history's context) and then call <see cref="FuseAsync"/>.
    /// </summary>
    /// <returns>A new search state.</returns>
    public BeamSearchState CreateSearch() => new(_index.Trie, _options.PrefixLevels, _options.Beams);

    /// <summary>
    /// Ranks the items under generated prefixes: every item under them that the request does not exclude, scored
    /// log P(prefix) + <see cref="BeamFusionOptions.DenseWeight"/> × the dense stage's similarity, best first.
    /// </summary>
    /// <param name="request">The request (history, exclusions).</param>
    /// <param name="prefixes">The decoded prefixes of <see cref="CreateSearch"/>, most probable first.</param>
    /// <param name="count">The most items to return.</param>
    /// <param name="cancellationToken">Cancels the dense call.</param>
    /// <returns>The fused candidates.</returns>
    public async ValueTask<IReadOnlyList<Candidate>> FuseAsync(RecommendationRequest request, IReadOnlyList<DecodedId> prefixes, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(prefixes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var groups = new List<PrefixCandidates>();
        var total = 0;
        var prefixScore = new Dictionary<ItemId, double>();
        foreach (var prefix in prefixes)
        {
            var open = _index.ItemsWithPrefix(prefix.Id).Where(i => !request.IsExcluded(i)).ToArray();
            if (total > 0 && total + open.Length > _options.MaxCandidates)
            {
                break;
            }

            if (open.Length == 0)
            {
                continue;
            }

            foreach (var item in open)
            {
                prefixScore[item] = prefix.LogProbability;
            }

            groups.Add(new PrefixCandidates(prefix.Id, [.. open.Select(item => new Candidate(item, prefix.LogProbability, Name))]));
            total += open.Length;
        }

        if (total == 0)
        {
            return [];
        }

        var ranked = await _score(request, groups, cancellationToken).ConfigureAwait(false);
        var weight = _options.DenseWeight;
        return ranked
            .Where(c => prefixScore.ContainsKey(c.Item))
            .Select(c => new Candidate(c.Item, prefixScore[c.Item] + (double.IsFinite(c.Score) ? weight * c.Score : double.NegativeInfinity), Name))
            .OrderByDescending(c => c.Score)
            .Take(count)
            .ToArray();
    }

    private static Func<RecommendationRequest, IReadOnlyList<PrefixCandidates>, CancellationToken, ValueTask<IReadOnlyList<Candidate>>> Flat(IRankingStage dense)
    {
        ArgumentNullException.ThrowIfNull(dense);
        return (request, groups, cancellationToken) => dense.RankAsync(request, [.. groups.SelectMany(g => g.Candidates)], cancellationToken);
    }

    private static Func<RecommendationRequest, IReadOnlyList<PrefixCandidates>, CancellationToken, ValueTask<IReadOnlyList<Candidate>>> Conditioned(IPrefixConditionedRanker dense)
    {
        ArgumentNullException.ThrowIfNull(dense);
        return dense.RankAsync;
    }

    /// <summary>The generator's most probable semantic-ID prefixes for the request, most probable first.</summary>
    private async ValueTask<IReadOnlyList<DecodedId>> GeneratePrefixesAsync(RecommendationRequest request, CancellationToken cancellationToken)
    {
        var tokens = _decoder.EncodeHistory(request.History, _index);
        var search = CreateSearch();
        if (_runner is not null)
        {
            return await _runner.SearchAsync(tokens, search, cancellationToken).ConfigureAwait(false);
        }

        using var session = _decoder.Start(tokens);
        while (!search.IsFinished)
        {
            search.Advance(session.NextLogProbabilities(search.Beams));
        }

        return search.Results;
    }
}

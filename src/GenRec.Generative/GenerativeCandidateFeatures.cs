using GenRec.SemanticIds;

namespace GenRec.Generative;

/// <summary>
/// Teacher forcing over a decoding session: the exact log-probability of given semantic IDs as the next item,
/// also for IDs a beam search would not reach.
/// </summary>
public static class TeacherForcing
{
    /// <summary>
    /// Scores semantic IDs as the session's next item: the sum over positions of each code's log-probability given the
    /// codes before it, accumulated as <see cref="BeamSearchState"/> accumulates a beam's score, so an ID the beam
    /// search reaches gets the same score. The session is driven one position at a time with the distinct prefixes
    /// of the IDs (shared prefixes scored once), which every runtime's session accepts.
    /// </summary>
    /// <param name="session">A fresh session over the history (no position decoded yet).</param>
    /// <param name="ids">The IDs, all of the same length.</param>
    /// <param name="first">Receives each ID's first-code log-probability (the coarse cluster's); may be <see langword="null"/>.</param>
    /// <returns>One log-probability per ID; negative infinity for an ID with a code beyond its position's vocabulary.</returns>
    /// <exception cref="ArgumentException">The IDs are not all of one length.</exception>
    public static double[] LogProbabilities(IDecodingSession session, IReadOnlyList<SemanticId> ids, double[]? first = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(ids);
        var scores = new double[ids.Count];
        if (ids.Count == 0)
        {
            return scores;
        }

        var positions = ids[0].Length;
        if (ids.Any(id => id.Length != positions) || positions == 0)
        {
            throw new ArgumentException("Teacher forcing needs semantic IDs of one positive length.", nameof(ids));
        }

        var alive = Enumerable.Range(0, ids.Count).ToList();
        for (var s = 0; s < positions && alive.Count > 0; s++)
        {
            // The beams of this position: the distinct s-code prefixes of the IDs still alive, each continuing a beam of the previous one.
            var beamOf = new Dictionary<SemanticId, int>();
            var beams = new List<int[]>();
            var rowOf = new int[ids.Count];
            foreach (var i in alive)
            {
                var prefix = s == 0 ? default : new SemanticId(ids[i].ToArray().AsSpan(0, s));
                if (!beamOf.TryGetValue(prefix, out var row))
                {
                    row = beams.Count;
                    beamOf[prefix] = row;
                    beams.Add(s == 0 ? [] : prefix.ToArray());
                }

                rowOf[i] = row;
            }

            var logProbs = session.NextLogProbabilities(beams);
            var width = logProbs.Length / beams.Count;
            var next = new List<int>(alive.Count);
            foreach (var i in alive)
            {
                var code = ids[i][s];
                if (code >= width)
                {
                    scores[i] = double.NegativeInfinity;
                    if (s == 0 && first is not null)
                    {
                        first[i] = double.NegativeInfinity;
                    }

                    continue;
                }

                var value = logProbs[(rowOf[i] * width) + code];
                scores[i] += value;
                if (s == 0 && first is not null)
                {
                    first[i] = value;
                }

                next.Add(i);
            }

            alive = next;
        }

        return scores;
    }
}

/// <summary>Options of <see cref="GenerativeCandidateFeatures"/>.</summary>
public sealed class GenerativeCandidateFeaturesOptions
{
    /// <summary>Prefix of the feature names (<c>{prefix}_logprob</c>, …). Default: "tiger".</summary>
    public string Prefix { get; set; } = "tiger";

    /// <summary>
    /// Beams of the search whose rank becomes the <c>{prefix}_beam_rank</c> feature (a candidate the search does not
    /// reach ranks <c>BeamWidth + 1</c>); 0 leaves the feature out and saves the search. Default: 100.
    /// </summary>
    public int BeamWidth { get; set; } = 100;
}

/// <summary>
/// A generative retriever's view of each candidate, as ranking features (<see cref="ICandidateFeatures"/>): the exact
/// log-probability of the candidate's semantic ID given the history (teacher forced, also for candidates the beam did
/// not reach), its first code's log-probability, its gap to the request's best candidate, and its rank in the beam
/// search when it was reached. Runs on any <see cref="IGenerativeDecoder"/> — TorchSharp at training time, the ONNX
/// Runtime graphs at serving time — so a ranker reads the same values in both. Items the index or the model's
/// vocabulary does not know get NaN (missing). Thread-safe when the decoder is.
/// </summary>
public sealed class GenerativeCandidateFeatures : ICandidateFeatures
{
    private readonly IGenerativeDecoder _decoder;
    private readonly SemanticIdIndex _index;
    private readonly int _beamWidth;

    /// <summary>Creates the source.</summary>
    /// <param name="decoder">The generative model.</param>
    /// <param name="index">The index it was trained on (or one grown from it).</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <exception cref="InvalidOperationException">The index neither is nor grew from the model's.</exception>
    public GenerativeCandidateFeatures(IGenerativeDecoder decoder, SemanticIdIndex index, GenerativeCandidateFeaturesOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        ArgumentNullException.ThrowIfNull(index);
        options ??= new GenerativeCandidateFeaturesOptions();
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Prefix, "options.Prefix");
        ArgumentOutOfRangeException.ThrowIfNegative(options.BeamWidth, "options.BeamWidth");
        if (!index.Serves(decoder.IndexFingerprint))
        {
            throw new InvalidOperationException($"The model was trained on index {decoder.IndexFingerprint}; index version {index.Version} ({index.Fingerprint}) did not grow from it.");
        }

        _decoder = decoder;
        _index = index;
        _beamWidth = options.BeamWidth;
        var p = options.Prefix;
        Names = _beamWidth > 0 ? [$"{p}_logprob", $"{p}_logprob_first", $"{p}_logprob_gap", $"{p}_beam_rank"] : [$"{p}_logprob", $"{p}_logprob_first", $"{p}_logprob_gap"];
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Names { get; }

    /// <inheritdoc />
    public void Compute(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        var n = Names.Count;
        if (destination.Length < candidates.Count * n)
        {
            throw new ArgumentException($"The destination holds {destination.Length} values; {candidates.Count} candidates × {n} features need {candidates.Count * n}.", nameof(destination));
        }

        destination[..(candidates.Count * n)].Fill(float.NaN);
        var ids = new SemanticId[candidates.Count];
        var known = new List<int>(candidates.Count);
        for (var i = 0; i < candidates.Count; i++)
        {
            if (_index.TryGetSemanticId(candidates[i].Item, out ids[i]) && _decoder.Vocabulary.Writes(ids[i]))
            {
                known.Add(i);
            }
        }

        if (known.Count == 0)
        {
            return;
        }

        var tokens = _decoder.EncodeHistory(request.History, _index);
        var first = new double[known.Count];
        double[] scores;
        using (var session = _decoder.Start(tokens))
        {
            scores = TeacherForcing.LogProbabilities(session, [.. known.Select(i => ids[i])], first);
        }

        var best = scores.Max();
        Dictionary<SemanticId, int>? ranks = null;
        if (_beamWidth > 0)
        {
            using var session = _decoder.Start(tokens);
            var search = new BeamSearchState(_index.Trie, _index.Length, _beamWidth, GenerativeRecall.ExcludedIds(request, _index));
            while (!search.IsFinished)
            {
                search.Advance(session.NextLogProbabilities(search.Beams));
            }

            ranks = search.Results.Select((d, r) => (d.Id, r)).ToDictionary(p => p.Id, p => p.r + 1);
        }

        for (var j = 0; j < known.Count; j++)
        {
            var row = destination.Slice(known[j] * n, n);
            row[0] = (float)scores[j];
            row[1] = (float)first[j];
            row[2] = (float)(scores[j] - best);
            if (ranks is not null)
            {
                row[3] = ranks.TryGetValue(ids[known[j]], out var rank) ? rank : _beamWidth + 1;
            }
        }
    }
}

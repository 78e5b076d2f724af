using GenRec.SemanticIds;

namespace GenRec.Generative;

/// <summary>A decoded semantic ID with its log-probability.</summary>
/// <param name="Id">The semantic ID.</param>
/// <param name="LogProbability">The sum of its codes' log-probabilities.</param>
public readonly record struct DecodedId(SemanticId Id, double LogProbability);

/// <summary>
/// Beam search over semantic-ID codes. Constrained, it expands a beam only with the codes the index's prefix trie
/// allows after it and never into a prefix whose every item is excluded, so every result is a real, wanted item and
/// every kept beam still leads to one (a top-K list comes out K long whenever the catalogue allows). Unconstrained,
/// it keeps the most probable codes whatever they are (to measure how often a model invents IDs no item has).
/// </summary>
public static class ConstrainedBeamSearch
{
    /// <summary>Decodes the best <paramref name="beamWidth"/> semantic IDs.</summary>
    /// <param name="session">The decoding session of one history.</param>
    /// <param name="trie">The index's prefix trie.</param>
    /// <param name="positions">Codes per semantic ID.</param>
    /// <param name="beamWidth">Beams kept at each step; at least 1.</param>
    /// <param name="excluded">IDs that must not be returned (e.g. the history's items); <see langword="null"/> for none.</param>
    /// <param name="constrained">Whether to follow the trie. Default: <see langword="true"/>.</param>
    /// <returns>Up to <paramref name="beamWidth"/> IDs, most probable first.</returns>
    public static IReadOnlyList<DecodedId> Search(
        IDecodingSession session,
        PrefixTrie trie,
        int positions,
        int beamWidth,
        IEnumerable<SemanticId>? excluded = null,
        bool constrained = true)
    {
        ArgumentNullException.ThrowIfNull(session);
        var state = new BeamSearchState(trie, positions, beamWidth, excluded, constrained);
        while (!state.IsFinished)
        {
            state.Advance(session.NextLogProbabilities(state.Beams));
        }

        return state.Results;
    }
}

/// <summary>One item a beam search can still return, as <see cref="BeamSearchState.TryDraft"/> lists it.</summary>
/// <param name="Beam">The live beam it completes.</param>
/// <param name="Codes">Its codes at the remaining positions.</param>
public sealed record BeamDraft(int Beam, int[] Codes);

/// <summary>
/// The state of one beam search, advanced one code position at a time by whoever computes the scores: a single
/// <see cref="IDecodingSession"/> (<see cref="ConstrainedBeamSearch.Search"/>) or a runtime that decodes many
/// requests in one batch. After each step, <see cref="Parent"/> says which beam of the previous step each beam
/// continues, so a runtime can reorder its per-beam key/value cache. The trie acts as a mask on the scores: only the
/// codes it allows (and whose items are not all excluded) are ever considered.
/// </summary>
public sealed class BeamSearchState
{
    private readonly PrefixTrie _trie;
    private readonly int _positions;
    private readonly int _beamWidth;
    private readonly bool _constrained;
    private readonly Dictionary<int, int> _blocked;
    private readonly TopK _candidates;
    private List<Beam> _beams = [new([], PrefixTrie.Root, 0)];
    private int[] _parents = [0];

    /// <summary>Starts a search at the first code position.</summary>
    /// <param name="trie">The index's prefix trie.</param>
    /// <param name="positions">Codes per semantic ID.</param>
    /// <param name="beamWidth">Beams kept at each step; at least 1.</param>
    /// <param name="excluded">IDs that must not be returned; <see langword="null"/> for none.</param>
    /// <param name="constrained">Whether to follow the trie. Default: <see langword="true"/>.</param>
    public BeamSearchState(PrefixTrie trie, int positions, int beamWidth, IEnumerable<SemanticId>? excluded = null, bool constrained = true)
    {
        ArgumentNullException.ThrowIfNull(trie);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(positions);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(beamWidth);
        _trie = trie;
        _positions = positions;
        _beamWidth = beamWidth;
        _constrained = constrained;
        _blocked = excluded is null ? [] : trie.CountPaths(excluded);
        _candidates = new TopK(beamWidth);
    }

    /// <summary>The most beams kept at each step.</summary>
    public int BeamWidth => _beamWidth;

    /// <summary>The code positions the search decodes (a whole semantic ID, or a prefix of one).</summary>
    public int Positions => _positions;

    /// <summary>The code position the next scores are for (0 before the first step).</summary>
    public int Position { get; private set; }

    /// <summary>
    /// Whether the search is over: every position decoded, or no beam left (everything the trie allows is
    /// excluded; a batched runtime drops such a request from the batch at once).
    /// </summary>
    public bool IsFinished => Position >= _positions || _beams.Count == 0;

    /// <summary>The live beams' codes so far (one empty beam before the first step); all of length <see cref="Position"/>.</summary>
    public IReadOnlyList<int[]> Beams => _beams.Select(b => b.Codes).ToArray();

    /// <summary>Live beams.</summary>
    public int Count => _beams.Count;

    /// <summary>The code of beam <paramref name="beam"/> at the last position decoded (the token it feeds the model next).</summary>
    /// <param name="beam">A live beam.</param>
    /// <returns>Its last code.</returns>
    public int LastCode(int beam) => _beams[beam].Codes[^1];

    /// <summary>The beam of the previous step that beam <paramref name="beam"/> continues.</summary>
    /// <param name="beam">A live beam.</param>
    /// <returns>The parent's index among the previous step's beams.</returns>
    public int Parent(int beam) => _parents[beam];

    /// <summary>The finished IDs, most probable first (complete once <see cref="IsFinished"/>).</summary>
    public IReadOnlyList<DecodedId> Results => Position >= _positions
        ? _beams.Select(b => new DecodedId(new SemanticId(b.Codes), b.Score)).ToArray()
        : [];

    /// <summary>Advances one position with the scores of every live beam.</summary>
    /// <param name="scores">Row-major beams × codes log-probabilities; rows may be wider than the position's codes.</param>
    public void Advance(ReadOnlySpan<float> scores) => Advance(scores, scores.Length / Math.Max(1, _beams.Count));

    /// <summary>Advances one position with the scores of every live beam, in rows of <paramref name="stride"/>.</summary>
    /// <param name="scores">Row-major beams × codes log-probabilities.</param>
    /// <param name="stride">The length of one beam's row (at least the codes at this position).</param>
    public void Advance(ReadOnlySpan<float> scores, int stride) => Advance(scores, stride, stride);

    /// <summary>
    /// Advances one position with the scores of every live beam, in rows of <paramref name="stride"/> of which the
    /// first <paramref name="codes"/> are the model's codes at this position. A code the index has beyond them (an item
    /// added after the model was trained, with a disambiguation code the model never saw) can still be chosen: it is
    /// scored as an average sibling — the mean probability of the model's codes the trie allows at that prefix — or,
    /// where every item of the prefix is new, as an even share of the prefix. So the generator can emit any item the
    /// index holds, and a new item is as likely as the items it shares its level codes with.
    /// </summary>
    /// <param name="scores">Row-major beams × codes log-probabilities.</param>
    /// <param name="stride">The length of one beam's row.</param>
    /// <param name="codes">The model's codes at this position; at most <paramref name="stride"/>.</param>
    public void Advance(ReadOnlySpan<float> scores, int stride, int codes)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(codes, stride);
        if (IsFinished)
        {
            throw new InvalidOperationException("The search is finished.");
        }

        if (scores.Length < _beams.Count * stride)
        {
            throw new ArgumentException($"Expected {_beams.Count} rows of {stride} scores, got {scores.Length} values.", nameof(scores));
        }

        for (var b = 0; b < _beams.Count; b++)
        {
            var row = scores.Slice(b * stride, codes);
            var beam = _beams[b];
            if (_constrained)
            {
                double? unseen = null;
                foreach (var code in _trie.ValidNext(beam.Node))
                {
                    if (!_trie.TryAdvance(beam.Node, code, out var child) || !Alive(child))
                    {
                        continue;
                    }

                    double score = code < codes ? row[code] : unseen ??= UnseenCodeScore(row, beam.Node, codes);
                    _candidates.Add(new Expansion(b, code, child, beam.Score + score));
                }
            }
            else
            {
                // The best beamWidth codes of this beam are enough: no other can enter the global top.
                foreach (var code in TopCodes(row, _beamWidth))
                {
                    var node = beam.Node >= 0 && _trie.TryAdvance(beam.Node, code, out var child) ? child : -1;
                    _candidates.Add(new Expansion(b, code, node, beam.Score + row[code]));
                }
            }
        }

        KeepBest(drafts: null);
        Position++;
    }

    /// <summary>
    /// Parallel decoding: lists every item the search can still return (each live beam's completions in the trie,
    /// excluded items left out) when they number at most <paramref name="maxDrafts"/>, so that a runtime can score all
    /// their remaining positions in one run and finish the search with <see cref="Complete"/>. The result is exact and
    /// at least as good as stepping on: every ID the beam search could still reach is among the drafts, each scored
    /// with its full log-probability, and the best <see cref="BeamWidth"/> are kept.
    /// </summary>
    /// <param name="maxDrafts">The most drafts worth verifying at once.</param>
    /// <param name="drafts">The drafts, beam by beam (codes of the remaining positions only); empty when refused.</param>
    /// <returns>Whether the search can be finished by drafts now (<see cref="CanDraft"/>).</returns>
    public bool TryDraft(int maxDrafts, out IReadOnlyList<BeamDraft> drafts)
    {
        drafts = [];
        if (!CanDraft(maxDrafts))
        {
            return false;
        }

        var list = new List<BeamDraft>();
        var path = new int[_positions - Position];
        for (var b = 0; b < _beams.Count; b++)
        {
            Completions(b, _beams[b].Node, 0, path, list);
        }

        drafts = list;
        return true;
    }

    /// <summary>
    /// Whether <see cref="TryDraft"/> would list drafts now, without listing them: constrained, at least two positions
    /// left, and the live beams' items (excluded ones left out) no more than <paramref name="maxDrafts"/> (counted from
    /// the trie's leaf counts, an upper bound when the search decodes prefixes).
    /// </summary>
    /// <param name="maxDrafts">The most drafts worth verifying at once.</param>
    /// <returns>Whether drafts can finish the search now.</returns>
    public bool CanDraft(int maxDrafts)
    {
        if (!_constrained || IsFinished || _positions - Position < 2)
        {
            return false;
        }

        var count = 0L;
        foreach (var beam in _beams)
        {
            count += _trie.LeafCount(beam.Node) - Math.Min(_trie.LeafCount(beam.Node), _blocked.GetValueOrDefault(beam.Node));
        }

        return count <= maxDrafts;
    }

    /// <summary>
    /// Finishes the search with the scores of <see cref="TryDraft"/>'s drafts: each draft's log-probability is its
    /// beam's plus its codes' at every remaining position (a code beyond the model's scored as in
    /// <see cref="Advance(ReadOnlySpan{float}, int, int)"/>), and the best <see cref="BeamWidth"/> become the results.
    /// </summary>
    /// <param name="drafts">The drafts <see cref="TryDraft"/> returned, unchanged.</param>
    /// <param name="scores">Row-major drafts × remaining positions × <paramref name="stride"/> log-probabilities.</param>
    /// <param name="stride">The length of one position's row.</param>
    /// <param name="codes">The model's codes at each position of the semantic ID (<see cref="SemanticIdVocabulary.Sizes"/>).</param>
    /// <exception cref="ArgumentException">The scores are too short for the drafts.</exception>
    public void Complete(IReadOnlyList<BeamDraft> drafts, ReadOnlySpan<float> scores, int stride, IReadOnlyList<int> codes)
    {
        ArgumentNullException.ThrowIfNull(drafts);
        ArgumentNullException.ThrowIfNull(codes);
        if (IsFinished)
        {
            throw new InvalidOperationException("The search is finished.");
        }

        var length = _positions - Position;
        if (scores.Length < drafts.Count * length * stride)
        {
            throw new ArgumentException($"Expected {drafts.Count} drafts of {length} rows of {stride} scores, got {scores.Length} values.", nameof(scores));
        }

        for (var d = 0; d < drafts.Count; d++)
        {
            var draft = drafts[d];
            var beam = _beams[draft.Beam];
            if (draft.Codes.Length != length)
            {
                throw new ArgumentException($"Draft {d} has {draft.Codes.Length} codes; {length} positions are left.", nameof(drafts));
            }

            var node = beam.Node;
            var score = beam.Score;
            for (var t = 0; t < length; t++)
            {
                var row = scores.Slice(((d * length) + t) * stride, stride);
                var code = draft.Codes[t];
                var known = codes[Position + t];
                score += code < known ? row[code] : UnseenCodeScore(row[..known], node, known);
                if (!_trie.TryAdvance(node, code, out node))
                {
                    throw new ArgumentException($"Draft {d} ({string.Join(", ", draft.Codes)}) leaves the trie: it was not made by TryDraft.", nameof(drafts));
                }
            }

            // The draft's index stands in for the code: ties go to the lower beam, then the draft listed first (lower codes).
            _candidates.Add(new Expansion(draft.Beam, d, node, score));
        }

        KeepBest(drafts);
        Position = _positions;
    }

    /// <summary>
    /// The best candidates become the beams: each its parent's codes and its code, or (finishing by drafts, where a
    /// candidate's code is its draft's index) its draft's codes.
    /// </summary>
    private void KeepBest(IReadOnlyList<BeamDraft>? drafts)
    {
        var best = _candidates.Drain();
        var previous = _beams;
        _beams = new List<Beam>(best.Length);
        _parents = new int[best.Length];
        for (var i = 0; i < best.Length; i++)
        {
            var c = best[i];
            int[] codes = drafts is null ? [.. previous[c.Beam].Codes, c.Code] : [.. previous[c.Beam].Codes, .. drafts[c.Code].Codes];
            _beams.Add(new Beam(codes, c.Node, c.Score));
            _parents[i] = c.Beam;
        }
    }

    private void Completions(int beam, int node, int depth, int[] path, List<BeamDraft> drafts)
    {
        if (depth == path.Length)
        {
            drafts.Add(new BeamDraft(beam, [.. path]));
            return;
        }

        var codes = _trie.ValidNext(node);
        var children = _trie.Children(node);
        for (var i = 0; i < codes.Length; i++)
        {
            if (Alive(children[i]))
            {
                path[depth] = codes[i];
                Completions(beam, children[i], depth + 1, path, drafts);
            }
        }
    }

    /// <summary>
    /// The log-probability of a code beyond the model's at <paramref name="node"/>: the mean probability of the model's
    /// codes the trie allows there, or an even share of the prefix among its children when it has none of them.
    /// </summary>
    private double UnseenCodeScore(ReadOnlySpan<float> row, int node, int codes)
    {
        double sum = 0;
        int known = 0, children = 0;
        foreach (var code in _trie.ValidNext(node))
        {
            children++;
            if (code < codes)
            {
                sum += Math.Exp(row[code]);
                known++;
            }
        }

        return known > 0 ? Math.Log(sum / known) : -Math.Log(children);
    }

    private bool Alive(int node) => !_blocked.TryGetValue(node, out var n) || n < _trie.LeafCount(node);

    private static int[] TopCodes(ReadOnlySpan<float> row, int k)
    {
        var order = new int[row.Length];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        var keys = row.ToArray();
        Array.Sort(keys, order);
        return order.Reverse().Take(k).ToArray();
    }

    private sealed record Beam(int[] Codes, int Node, double Score);

    private readonly record struct Expansion(int Beam, int Code, int Node, double Score);

    /// <summary>
    /// Keeps the best k expansions seen (higher score first; ties to the lower beam, then the lower code) in a
    /// bounded min-heap: O(n log k) instead of sorting every candidate.
    /// </summary>
    private sealed class TopK(int k)
    {
        private static readonly Comparer<Expansion> WorstFirst = Comparer<Expansion>.Create(static (a, b) =>
            a.Score != b.Score ? a.Score.CompareTo(b.Score) : a.Beam != b.Beam ? b.Beam.CompareTo(a.Beam) : b.Code.CompareTo(a.Code));

        private readonly PriorityQueue<Expansion, Expansion> _heap = new(k + 1, WorstFirst);

        public void Add(Expansion e)
        {
            if (_heap.Count < k)
            {
                _heap.Enqueue(e, e);
            }
            else if (WorstFirst.Compare(e, _heap.Peek()) > 0)
            {
                _heap.EnqueueDequeue(e, e);
            }
        }

        public Expansion[] Drain()
        {
            var best = new Expansion[_heap.Count];
            for (var i = best.Length - 1; i >= 0; i--)
            {
                best[i] = _heap.Dequeue();
            }

            return best;
        }
    }
}

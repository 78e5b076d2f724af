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
        ArgumentNullException.ThrowIfNull(trie);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(beamWidth);
        var blocked = excluded is null ? [] : trie.CountPaths(excluded);
        bool Alive(int node) => !blocked.TryGetValue(node, out var n) || n < trie.LeafCount(node);
        var beams = new List<Beam> { new([], PrefixTrie.Root, 0) };
        for (var position = 0; position < positions && beams.Count > 0; position++)
        {
            var scores = session.NextLogProbabilities(beams.Select(b => b.Codes).ToArray());
            var width = scores.Length / beams.Count;
            var candidates = new TopK(beamWidth);
            for (var b = 0; b < beams.Count; b++)
            {
                var row = scores.AsSpan(b * width, width);
                if (constrained)
                {
                    foreach (var code in trie.ValidNext(beams[b].Node))
                    {
                        if (code >= width || !trie.TryAdvance(beams[b].Node, code, out var child) || !Alive(child))
                        {
                            continue;
                        }

                        candidates.Add((b, code, child, beams[b].Score + row[code]));
                    }
                }
                else
                {
                    // The best beamWidth codes of this beam are enough: no other can enter the global top.
                    foreach (var code in TopCodes(row, beamWidth))
                    {
                        var node = beams[b].Node >= 0 && trie.TryAdvance(beams[b].Node, code, out var child) ? child : -1;
                        candidates.Add((b, code, node, beams[b].Score + row[code]));
                    }
                }
            }

            var previous = beams;
            beams = candidates.Best().Select(c => new Beam([.. previous[c.Beam].Codes, c.Code], c.Node, c.Score)).ToList();
        }

        return beams.Select(b => new DecodedId(new SemanticId(b.Codes), b.Score)).ToArray();
    }

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

        public void Add((int Beam, int Code, int Node, double Score) c)
        {
            var e = new Expansion(c.Beam, c.Code, c.Node, c.Score);
            if (_heap.Count < k)
            {
                _heap.Enqueue(e, e);
            }
            else if (WorstFirst.Compare(e, _heap.Peek()) > 0)
            {
                _heap.EnqueueDequeue(e, e);
            }
        }

        public Expansion[] Best()
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

namespace GenRec.Training;

/// <summary>
/// The item rows a sampled-softmax step scores: the ones it must (its targets, what it reads) and uniform draws, each
/// once, numbered in the order they were placed. A target's number is its label among the sampled rows.
/// </summary>
internal sealed class SampledRows(int capacity)
{
    private readonly Dictionary<long, long> _place = new(capacity);
    private readonly List<long> _rows = new(capacity);

    /// <summary>The rows placed, in their numbering.</summary>
    public long[] Rows => [.. _rows];

    /// <summary>How many rows are placed.</summary>
    public int Count => _rows.Count;

    /// <summary>Places <paramref name="row"/> (once) and returns its number.</summary>
    public long Place(long row)
    {
        if (!_place.TryGetValue(row, out var at))
        {
            at = _rows.Count;
            _place[row] = at;
            _rows.Add(row);
        }

        return at;
    }

    /// <summary>The number of a placed row.</summary>
    public long this[long row] => _place[row];

    /// <summary>Places <paramref name="draws"/> rows drawn uniformly from [<paramref name="from"/>, <paramref name="to"/>) (a repeat adds nothing).</summary>
    public void Draw(int draws, int from, int to, Random random)
    {
        for (var i = 0; i < draws; i++)
        {
            Place(from + random.Next(to - from));
        }
    }
}

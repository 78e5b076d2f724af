using GenRec.Data;

namespace GenRec.TestSupport;

/// <summary>
/// Cheap, deterministic item vectors from the real MovieLens metadata and train interactions — genre multi-hot,
/// release decade, log popularity and mean rating — for tests of code that needs realistic embeddings without a
/// sentence model or a training run.
/// </summary>
public static class MovieFeatures
{
    /// <summary>One vector per catalogue item, in catalogue order, and the width.</summary>
    public static (ItemId[] Items, float[] Values, int Dimension) Build(DataSplit split)
    {
        ArgumentNullException.ThrowIfNull(split);
        var dataset = split.Dataset;
        var genres = dataset.Items.Values.SelectMany(i => i.Categories).Distinct().Order(StringComparer.Ordinal).ToList();
        var count = split.TrainInteractions.GroupBy(i => i.Item).ToDictionary(g => g.Key, g => (N: g.Count(), Mean: g.Average(x => x.Rating)));
        var d = genres.Count + 3;
        var items = dataset.Catalogue.ToArray();
        var values = new float[items.Length * d];
        for (var i = 0; i < items.Length; i++)
        {
            var row = values.AsSpan(i * d, d);
            var record = dataset.Items[items[i]];
            foreach (var g in record.Categories)
            {
                row[genres.IndexOf(g)] = 1f / MathF.Sqrt(record.Categories.Count);
            }

            row[genres.Count] = record.PublishedAt is { } p ? (p.Year - 1990) / 30f : 0;
            var (n, mean) = count.GetValueOrDefault(items[i]);
            row[genres.Count + 1] = MathF.Log(1 + n) / 6;
            row[genres.Count + 2] = n > 0 ? (float)((mean - 3.5) / 2) : 0;
        }

        return (items, values, d);
    }
}

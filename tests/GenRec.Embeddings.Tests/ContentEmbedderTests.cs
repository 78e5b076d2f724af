using GenRec.Inference;
using GenRec.TestSupport;

namespace GenRec.Embeddings.Tests;

public sealed class ContentEmbedderTests
{
    private static readonly long[] Movies = [260, 1196, 1210, 1, 3114, 539, 597];

    [Fact]
    public void Describes_an_item_by_title_year_and_genres()
    {
        var text = ContentEmbedder.Describe(TestData.Dataset.Items[new ItemId(1263)]);

        Assert.Equal("Deer Hunter, The (1978). Genres: Drama, War.", text);
        Assert.Equal("Item 108583.", ContentEmbedder.Describe(TestData.Dataset.Items[new ItemId(108583)]) .Split(" Genres")[0]);
    }

    [Fact]
    public void Real_titles_embed_to_unit_vectors_where_sequels_are_neighbours()
    {
        using var embedder = new ContentEmbedder();
        var items = Movies.Select(m => TestData.Dataset.Items[new ItemId(m)]).ToArray();

        var e = embedder.Embed(items);

        Assert.Equal(384, e.Dimension);
        foreach (var item in e.Items)
        {
            var v = e[item];
            var norm = MathF.Sqrt(v.ToArray().Sum(x => x * x));
            Assert.Equal(1f, norm, 1e-3f);
        }

        float Dot(long a, long b)
        {
            var x = e[new ItemId(a)];
            var y = e[new ItemId(b)];
            var s = 0f;
            for (var i = 0; i < x.Length; i++)
            {
                s += x[i] * y[i];
            }

            return s;
        }

        Assert.True(Dot(260, 1196) > Dot(260, 539), "Star Wars IV should be nearer Star Wars V than Sleepless in Seattle");
        Assert.True(Dot(1, 3114) > Dot(1, 1210), "Toy Story should be nearer Toy Story 2 than Return of the Jedi");
    }

    [Fact]
    public void The_execution_provider_in_use_is_reported()
    {
        using var embedder = new ContentEmbedder();

        Assert.Contains(embedder.ExecutionProvider, new[] { GenRec.Inference.ExecutionProviderPreference.Cpu, GenRec.Inference.ExecutionProviderPreference.Cuda });
        Assert.True(embedder.ExecutionProvider == GenRec.Inference.ExecutionProviderPreference.Cuda || embedder.FallbackReason is not null, "an Auto fallback to the CPU says why");
        using var cpu = new ContentEmbedder(ExecutionProviderPreference.Cpu);
        Assert.Equal(GenRec.Inference.ExecutionProviderPreference.Cpu, cpu.ExecutionProvider);
        Assert.Null(cpu.FallbackReason);
    }

    [Fact]
    public void Nothing_to_embed_is_refused()
    {
        using var embedder = new ContentEmbedder(ExecutionProviderPreference.Cpu);
        Assert.Throws<ArgumentException>(() => embedder.Embed([]));
    }
}

using GenRec.SemanticIds;
using GenRec.TestSupport;

namespace GenRec.Training.Tests;

/// <summary>Item2vec trained once on the real MovieLens train part (small settings) and shared.</summary>
public sealed class Item2VecFixture
{
    public ItemEmbeddings Embeddings { get; } =
        new Item2VecTrainer(new Item2VecTrainer.Options { Dimension = 32, Epochs = 2, Seed = 3 }).Fit(TestData.Split.Train, TestData.Dataset.Catalogue);
}

public sealed class Item2VecTests(Item2VecFixture fixture) : IClassFixture<Item2VecFixture>
{
    private static float Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float ab = 0, aa = 0, bb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            ab += a[i] * b[i];
            aa += a[i] * a[i];
            bb += b[i] * b[i];
        }

        return ab / MathF.Sqrt(aa * bb);
    }

    [Fact]
    public void Every_catalogue_item_gets_a_finite_vector()
    {
        var e = fixture.Embeddings;

        Assert.Equal(9_066, e.Count);
        Assert.Equal(32, e.Dimension);
        Assert.All(e.Values.ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Items_watched_together_end_up_closer_than_unrelated_ones()
    {
        var e = fixture.Embeddings;
        var starWars = e[new ItemId(260)];

        var empire = Cosine(starWars, e[new ItemId(1196)]);
        var sleeplessInSeattle = Cosine(starWars, e[new ItemId(539)]);

        Assert.True(empire > sleeplessInSeattle + 0.1f, $"Star Wars–Empire {empire:0.00} vs Star Wars–Sleepless in Seattle {sleeplessInSeattle:0.00}");
    }

    [Fact]
    public void Items_never_seen_in_training_get_the_zero_vector()
    {
        var seen = TestData.Split.TrainInteractions.Select(i => i.Item).ToHashSet();
        var unseen = TestData.Dataset.Catalogue.First(i => !seen.Contains(i));

        Assert.All(fixture.Embeddings[unseen].ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Training_is_repeatable_with_a_seed()
    {
        var options = new Item2VecTrainer.Options { Dimension = 8, Epochs = 1, Seed = 11 };
        var sequences = TestData.Split.Train.Take(50).ToArray();

        var a = new Item2VecTrainer(options).Fit(sequences, TestData.Dataset.Catalogue);
        var b = new Item2VecTrainer(options).Fit(sequences, TestData.Dataset.Catalogue);

        Assert.Equal(a.Values.ToArray(), b.Values.ToArray());
    }

    [Fact]
    public void Sequences_without_pairs_are_refused()
    {
        var single = TestData.Split.Train.Take(1).Select(s => s with { Interactions = s.Interactions.Take(1).ToArray() }).ToArray();

        Assert.Throws<ArgumentException>(() => new Item2VecTrainer(dimension: 4, epochs: 1).Fit(single, TestData.Dataset.Catalogue));
    }

    [Fact]
    public void Rq_vae_on_collaborative_embeddings_gives_unique_ids_and_uses_its_codebooks()
    {
        var embeddings = fixture.Embeddings.Normalized();

        var index = new RqVaeTrainer(new RqVaeTrainer.Options { Levels = 2, CodebookSize = 32, Epochs = 15, HiddenDimensions = [64], LatentDimension = 16, Seed = 5 }).Fit(embeddings);

        Assert.Equal(9_066, index.Items.Select(i => index[i]).Distinct().Count());
        Assert.Equal("rq-vae", index.Quantizer.Method);
        Assert.All(index.Statistics.Utilization, u => Assert.True(u >= 0.9, $"utilization {u:P0} with dead-code reset"));
        Assert.True(index.Statistics.ReconstructionMse < 1.0 / embeddings.Dimension, $"reconstruction MSE {index.Statistics.ReconstructionMse} should beat predicting zero (1/d for unit vectors)");
        // The index assigns with its exported managed quantizer; training codes and those agree by construction.
        Assert.Equal(index.Quantizer.Quantize(embeddings[new ItemId(260)]), index[new ItemId(260)].ToArray()[..2]);
    }
}

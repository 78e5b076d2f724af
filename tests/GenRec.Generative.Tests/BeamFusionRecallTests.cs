using GenRec.SemanticIds;
using GenRec.TestSupport;

namespace GenRec.Generative.Tests;

public sealed class BeamFusionRecallTests
{
    /// <summary>A dense side with known similarities: a fixed pseudo-random number in [0, 1) per item, or a given one.</summary>
    private sealed class KnownSimilarity(IReadOnlyDictionary<ItemId, double>? given = null) : IRankingStage
    {
        public string Name => "known";

        public int Calls { get; private set; }

        public static double Of(ItemId item) => ((item.Value * 7919) % 1000) / 1000.0;

        public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
        {
            Calls++;
            IReadOnlyList<Candidate> ranked = [.. candidates
                .Select(c => c with { Score = given is not null && given.TryGetValue(c.Item, out var s) ? s : Of(c.Item) })
                .OrderByDescending(c => c.Score)];
            return ValueTask.FromResult(ranked);
        }
    }

    private static IReadOnlyList<DecodedId> Prefixes(SemanticIdIndex index, int levels, int beams)
    {
        using var session = ScriptedDecoder.Create().Start([]);
        return ConstrainedBeamSearch.Search(session, index.Trie, levels, beams);
    }

    private static int[] Head(SemanticId id, int levels) => id.ToArray()[..levels];

    [Fact]
    public async Task Candidates_are_the_items_under_the_generated_prefixes_ordered_by_log_probability_plus_weighted_similarity()
    {
        var index = ScriptedDecoder.Index.Value;
        var prefixes = Prefixes(index, 1, 4);
        var underTop = index.Items.Where(i => index[i][0] == prefixes[0].Id[0]).ToArray();
        var history = underTop.Take(3).Select(i => new UserEvent(new UserId(1), i, ActionType.View, DateTimeOffset.UnixEpoch)).ToArray();
        var request = new RecommendationRequest(new UserId(1), history, 30, DateTimeOffset.UnixEpoch);
        var recall = new BeamFusionRecall(ScriptedDecoder.Create(), index, new KnownSimilarity(), new BeamFusionOptions { PrefixLevels = 1, Beams = 4, DenseWeight = 20, Name = "fusion" });

        var got = await recall.RecallAsync(request, 30);

        var logP = prefixes.ToDictionary(p => p.Id[0], p => p.LogProbability);
        var expected = index.Items
            .Where(i => logP.ContainsKey(index[i][0]) && !request.HistoryItems.Contains(i))
            .Select(i => (Item: i, Score: logP[index[i][0]] + (20 * KnownSimilarity.Of(i))))
            .OrderByDescending(p => p.Score)
            .Take(30)
            .ToArray();
        Assert.Equal(30, got.Count);
        Assert.Equal(expected.Select(e => e.Item), got.Select(g => g.Item));
        Assert.Equal(expected.Select(e => e.Score), got.Select(g => g.Score), (a, b) => Math.Abs(a - b) < 1e-9);
        Assert.All(got, g => Assert.Equal("fusion", g.Source));
        Assert.DoesNotContain(got, g => request.HistoryItems.Contains(g.Item));
        Assert.True(got.Select(g => index[g.Item][0]).Distinct().Count() > 1, "the dense side mixes items of several generated prefixes");
    }

    [Fact]
    public async Task With_no_dense_weight_the_most_probable_prefix_comes_first_and_a_two_level_prefix_narrows_the_candidates()
    {
        var index = ScriptedDecoder.Index.Value;
        var request = new RecommendationRequest(new UserId(1), [], index.Count, DateTimeOffset.UnixEpoch);

        var generatorOnly = await new BeamFusionRecall(ScriptedDecoder.Create(), index, new KnownSimilarity(), new BeamFusionOptions { Beams = 4, DenseWeight = 0 }).RecallAsync(request, index.Count);
        var twoLevels = await new BeamFusionRecall(ScriptedDecoder.Create(), index, new KnownSimilarity(), new BeamFusionOptions { PrefixLevels = 2, Beams = 4 }).RecallAsync(request, index.Count);

        var one = Prefixes(index, 1, 4);
        Assert.Equal(one.Select(p => p.Id[0]), generatorOnly.Select(g => index[g.Item][0]).Distinct());
        var two = Prefixes(index, 2, 4).Select(p => string.Join(",", Head(p.Id, 2))).ToHashSet();
        Assert.All(twoLevels, g => Assert.Contains(string.Join(",", Head(index[g.Item], 2)), two));
        Assert.Equal(index.Items.Count(i => two.Contains(string.Join(",", Head(index[i], 2)))), twoLevels.Count);
    }

    [Fact]
    public async Task An_item_added_after_training_is_a_candidate_under_its_prefix_and_ranked_by_its_similarity()
    {
        var index = ScriptedDecoder.Index.Value;
        var top = Prefixes(index, 1, 1)[0].Id[0];
        var like = index.Items.First(i => index[i][0] == top);
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        var row = Array.IndexOf(items, like);
        var newItem = new ItemId(90_000_002);
        var grown = index.AddItems(new ItemEmbeddings([newItem], values.AsSpan(row * d, d), d));
        Assert.Equal(top, grown[newItem][0]);
        var request = new RecommendationRequest(new UserId(1), [], 10, DateTimeOffset.UnixEpoch);
        var recall = new BeamFusionRecall(ScriptedDecoder.Create(), grown, new KnownSimilarity(new Dictionary<ItemId, double> { [newItem] = 1.0 }), new BeamFusionOptions { Beams = 2 });

        var got = await recall.RecallAsync(request, 10);

        Assert.Equal(newItem, got[0].Item);
    }

    [Fact]
    public async Task The_candidate_cap_keeps_whole_prefixes_most_probable_first()
    {
        var index = ScriptedDecoder.Index.Value;
        var prefixes = Prefixes(index, 1, 8);
        var first = index.Items.Count(i => index[i][0] == prefixes[0].Id[0]);
        var dense = new KnownSimilarity();
        var recall = new BeamFusionRecall(ScriptedDecoder.Create(), index, dense, new BeamFusionOptions { Beams = 8, MaxCandidates = first });

        var got = await recall.RecallAsync(new RecommendationRequest(new UserId(1), [], 1000, DateTimeOffset.UnixEpoch), 1000);

        Assert.Equal(first, got.Count);
        Assert.All(got, g => Assert.Equal(prefixes[0].Id[0], index[g.Item][0]));
        Assert.Equal(1, dense.Calls); // one dense call per request
    }

    [Fact]
    public void Bad_options_and_a_model_of_another_index_are_refused()
    {
        var index = ScriptedDecoder.Index.Value;
        var dense = new KnownSimilarity();
        Assert.Throws<ArgumentOutOfRangeException>(() => new BeamFusionRecall(ScriptedDecoder.Create(), index, dense, new BeamFusionOptions { PrefixLevels = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BeamFusionRecall(ScriptedDecoder.Create(), index, dense, new BeamFusionOptions { PrefixLevels = index.Length }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BeamFusionRecall(ScriptedDecoder.Create(), index, dense, new BeamFusionOptions { Beams = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BeamFusionRecall(ScriptedDecoder.Create(), index, dense, new BeamFusionOptions { DenseWeight = double.NaN }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BeamFusionRecall(ScriptedDecoder.Create(), index, dense, new BeamFusionOptions { DenseWeight = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BeamFusionRecall(ScriptedDecoder.Create(), index, dense, new BeamFusionOptions { MaxCandidates = 0 }));
        var e = Assert.Throws<InvalidOperationException>(() => new BeamFusionRecall(new ScriptedDecoder(SemanticIdVocabulary.For(index), "0123456789abcdef"), index, dense));
        Assert.Contains("0123456789abcdef", e.Message, StringComparison.Ordinal);
    }
}

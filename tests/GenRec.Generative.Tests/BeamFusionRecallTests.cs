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

    /// <summary>A conditioned dense side with known similarities: item similarity + a bonus per prefix code, recording the groups it was given.</summary>
    private sealed class KnownConditioned(string fingerprint, int levels = 1) : IPrefixConditionedRanker
    {
        public string Name => "known-head";

        public int PrefixLevels => levels;

        public string IndexFingerprint => fingerprint;

        public List<IReadOnlyList<PrefixCandidates>> Calls { get; } = [];

        /// <summary>What the head adds for the items under a prefix: depends on the prefix, so a flat ranker cannot give it.</summary>
        public static double Bonus(SemanticId prefix) => prefix[0] % 3 * 0.25;

        public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<PrefixCandidates> groups, CancellationToken cancellationToken = default)
        {
            Calls.Add(groups);
            IReadOnlyList<Candidate> scored = [.. groups.SelectMany(g => g.Candidates.Select(c => c with { Score = KnownSimilarity.Of(c.Item) + Bonus(g.Prefix) }))];
            return ValueTask.FromResult(scored);
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
    public async Task A_conditioned_dense_side_scores_each_prefix_group_against_its_own_query_in_one_call()
    {
        var index = ScriptedDecoder.Index.Value;
        var prefixes = Prefixes(index, 1, 4);
        var history = index.Items.Where(i => index[i][0] == prefixes[1].Id[0]).Take(2).Select(i => new UserEvent(new UserId(1), i, ActionType.View, DateTimeOffset.UnixEpoch)).ToArray();
        var request = new RecommendationRequest(new UserId(1), history, 40, DateTimeOffset.UnixEpoch);
        var dense = new KnownConditioned(index.Fingerprint);
        var recall = new BeamFusionRecall(ScriptedDecoder.Create(), index, dense, new BeamFusionOptions { PrefixLevels = 1, Beams = 4, DenseWeight = 10 });

        var got = await recall.RecallAsync(request, 40);

        var call = Assert.Single(dense.Calls);
        Assert.Equal(prefixes.Select(p => p.Id), call.Select(g => g.Prefix));
        Assert.All(call, g => Assert.All(g.Candidates, c => Assert.Equal(g.Prefix[0], index[c.Item][0])));
        Assert.DoesNotContain(call.SelectMany(g => g.Candidates), c => request.HistoryItems.Contains(c.Item));
        var expected = prefixes
            .SelectMany(p => index.ItemsWithPrefix(p.Id).Where(i => !request.HistoryItems.Contains(i))
                .Select(i => (Item: i, Score: p.LogProbability + (10 * (KnownSimilarity.Of(i) + KnownConditioned.Bonus(p.Id))))))
            .OrderByDescending(e => e.Score)
            .Take(40)
            .ToArray();
        Assert.Equal(expected.Select(e => e.Item), got.Select(g => g.Item));
        Assert.Equal(expected.Select(e => e.Score), got.Select(g => g.Score), (a, b) => Math.Abs(a - b) < 1e-9);
    }

    [Fact]
    public void A_head_of_another_index_or_prefix_length_is_refused()
    {
        var index = ScriptedDecoder.Index.Value;
        var other = Assert.Throws<InvalidOperationException>(() => new BeamFusionRecall(ScriptedDecoder.Create(), index, new KnownConditioned("0123456789abcdef")));
        Assert.Contains("0123456789abcdef", other.Message, StringComparison.Ordinal);
        var levels = Assert.Throws<ArgumentException>(() => new BeamFusionRecall(ScriptedDecoder.Create(), index, new KnownConditioned(index.Fingerprint, levels: 2), new BeamFusionOptions { PrefixLevels = 1 }));
        Assert.Contains("reads 2 leading codes", levels.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => new BeamFusionRecall(ScriptedDecoder.Create(), index, (IPrefixConditionedRanker)null!));
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

using GenRec.Generative;
using GenRec.SemanticIds;

namespace GenRec.Inference.Tests;

/// <summary>A history read once and kept (the per-user generative state) decodes and scores exactly like reading it again.</summary>
public sealed class ContextTests(OnnxFixture fixture) : IClassFixture<OnnxFixture>
{
    private BeamSearchState Search(int width = 12) => new(fixture.Index.Trie, fixture.Index.Length, width);

    [Fact]
    public void A_cached_context_decodes_like_the_history_alone_and_in_a_mixed_batch()
    {
        var histories = fixture.Histories(6).ToArray();
        var cold = fixture.Onnx.Decode(histories.Select(h => new GenerativeDecodeRequest(h, Search())).ToArray());
        var contexts = histories.Select(fixture.Onnx.Encode).ToArray();

        var cached = fixture.Onnx.Decode(contexts.Select(c => new GenerativeDecodeRequest(c, Search())).ToArray());
        var mixed = fixture.Onnx.Decode(histories.Select((h, i) => i % 2 == 0 ? new GenerativeDecodeRequest(contexts[i], Search()) : new GenerativeDecodeRequest(h, Search())).ToArray());

        for (var u = 0; u < histories.Length; u++)
        {
            Assert.Equal(cold[u].Select(d => d.Id), cached[u].Select(d => d.Id));
            Assert.Equal(cold[u].Select(d => d.Id), mixed[u].Select(d => d.Id));
            Assert.All(cold[u].Zip(cached[u]), p => Assert.Equal(p.First.LogProbability, p.Second.LogProbability, 1e-4));
        }

        Assert.All(contexts, c => Assert.True(c.SizeInBytes > 0));
    }

    [Fact]
    public void Scoring_candidates_gives_the_log_probability_the_search_found()
    {
        var history = fixture.Histories(1).Single();
        var context = fixture.Onnx.Encode(history);
        var decoded = fixture.Onnx.Decode([new GenerativeDecodeRequest(context, Search(20))])[0];
        var foreign = new SemanticId([0, 0, fixture.Onnx.Vocabulary.Sizes[^1] + 1]);

        var scores = fixture.Onnx.Score(context, [.. decoded.Select(d => d.Id), foreign]);

        for (var i = 0; i < decoded.Count; i++)
        {
            Assert.Equal(decoded[i].LogProbability, scores[i], 1e-4);
        }

        Assert.Equal(double.NegativeInfinity, scores[^1]);
    }

    [Fact]
    public async Task Generative_ranking_orders_candidates_by_their_log_probability()
    {
        var c = GenRec.TestSupport.TestData.Split.Cases(GenRec.Data.SplitTarget.Test)[0];
        var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
        var recalled = await new GenerativeRecall(fixture.Onnx, fixture.Index, new GenerativeRecallOptions { BeamWidth = 20 }).RecallAsync(request, 8, TestContext.Current.CancellationToken);
        var shuffled = recalled.Reverse().Append(new Candidate(new ItemId(999_999_999), 0, "other")).ToArray();

        var ranked = await new GenerativeRanking(fixture.Onnx, fixture.Index).RankAsync(request, shuffled, TestContext.Current.CancellationToken);

        Assert.Equal(recalled.Select(x => x.Item).Append(new ItemId(999_999_999)), ranked.Select(x => x.Item));
        Assert.All(recalled.Zip(ranked), p => Assert.Equal(p.First.Score, p.Second.Score, 1e-4));
        Assert.Equal(double.NegativeInfinity, ranked[^1].Score);
    }

    [Fact]
    public void A_context_of_another_model_is_refused()
    {
        using var other = TestSupportModels.Retrained(fixture);
        var context = other.Encode(fixture.Histories(1).Single());
        var e = Assert.Throws<ArgumentException>(() => fixture.Onnx.Decode([new GenerativeDecodeRequest(context, Search())]));
        Assert.Contains("read the history again", e.Message, StringComparison.Ordinal);
    }
}

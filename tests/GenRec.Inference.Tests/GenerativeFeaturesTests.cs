using GenRec.Data;
using GenRec.Generative;
using GenRec.SemanticIds;
using GenRec.TestSupport;

namespace GenRec.Inference.Tests;

/// <summary>
/// The generative retriever's per-candidate features for a ranker: exact (teacher forcing equals the beam search's
/// score), and the same whether TorchSharp computes them (at training time) or the ONNX graphs (at serving time).
/// </summary>
public sealed class GenerativeFeaturesTests(OnnxFixture fixture) : IClassFixture<OnnxFixture>
{
    [Fact]
    public void Teacher_forced_log_probability_equals_the_beam_search_score_of_every_reached_candidate()
    {
        var compared = 0;
        foreach (var history in fixture.Histories(10))
        {
            foreach (var decoder in new IGenerativeDecoder[] { fixture.Torch, fixture.Onnx })
            {
                IReadOnlyList<DecodedId> reached;
                using (var search = decoder.Start(history))
                {
                    reached = ConstrainedBeamSearch.Search(search, fixture.Index.Trie, fixture.Index.Length, beamWidth: 16);
                }

                using var session = decoder.Start(history);
                var first = new double[reached.Count];
                var forced = TeacherForcing.LogProbabilities(session, [.. reached.Select(d => d.Id)], first);
                for (var i = 0; i < reached.Count; i++)
                {
                    Assert.True(Math.Abs(reached[i].LogProbability - forced[i]) < 1e-5, $"{decoder.GetType().Name}, {reached[i].Id}: beam {reached[i].LogProbability}, teacher forced {forced[i]}");
                    Assert.True(first[i] <= 0 && first[i] >= forced[i] - 1e-9, $"first-code log-probability {first[i]} against the whole {forced[i]}");
                    compared++;
                }
            }
        }

        Assert.True(compared >= 300, $"only {compared} candidates compared");
    }

    [Fact]
    public async Task Features_served_through_ONNX_Runtime_equal_the_TorchSharp_features_a_ranker_learns_from()
    {
        var options = new GenerativeCandidateFeaturesOptions { Prefix = "gen", BeamWidth = 16 };
        var training = new GenerativeCandidateFeatures(fixture.Torch, fixture.Index, options);
        var serving = new GenerativeCandidateFeatures(fixture.Onnx, fixture.Index, options);
        Assert.Equal(["gen_logprob", "gen_logprob_first", "gen_logprob_gap", "gen_beam_rank"], training.Names);
        Assert.Equal(training.Names, serving.Names);

        var random = new Random(3);
        var reachedSome = false;
        foreach (var c in TestData.Split.Cases(SplitTarget.Test).Take(8))
        {
            var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
            var beam = await new GenerativeRecall(fixture.Torch, fixture.Index, new GenerativeRecallOptions { BeamWidth = 16 }).RecallAsync(request, 5);
            Candidate[] candidates =
            [
                .. beam,
                .. Enumerable.Range(0, 20).Select(_ => new Candidate(fixture.Index.Items[random.Next(fixture.Index.Count)], 0, "itemcf")),
                new(new ItemId(-5), 0, "itemcf"),
            ];
            var n = training.Names.Count;
            var expected = new float[candidates.Length * n];
            var actual = new float[candidates.Length * n];
            training.Compute(request, candidates, expected);
            serving.Compute(request, candidates, actual);

            for (var i = 0; i < candidates.Length - 1; i++)
            {
                for (var k = 0; k < n; k++)
                {
                    var (e, a) = (expected[(i * n) + k], actual[(i * n) + k]);
                    Assert.True(float.IsFinite(e), $"{training.Names[k]} of {candidates[i].Item} is {e}");
                    Assert.True(Math.Abs(e - a) <= 1e-4f, $"{training.Names[k]} of {candidates[i].Item}: TorchSharp {e}, ONNX Runtime {a}");
                }
            }

            // The beam's own items rank where the beam put them; the unknown item is missing, not zero.
            for (var i = 0; i < beam.Count; i++)
            {
                Assert.Equal(i + 1, expected[(i * n) + 3]);
                Assert.Equal(beam[i].Score, expected[i * n], 1e-4);
                reachedSome = true;
            }

            Assert.All(expected.AsSpan((candidates.Length - 1) * n, n).ToArray(), v => Assert.True(float.IsNaN(v)));
            Assert.Equal(0, expected.Where((v, j) => j % n == 2 && !float.IsNaN(v)).Max(), 6);
        }

        Assert.True(reachedSome);
    }

    [Fact]
    public async Task A_candidate_the_beam_does_not_reach_ranks_one_past_the_beam()
    {
        var features = new GenerativeCandidateFeatures(fixture.Torch, fixture.Index, new GenerativeCandidateFeaturesOptions { BeamWidth = 4 });
        var c = TestData.Split.Cases(SplitTarget.Test)[0];
        var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
        var reached = (await new GenerativeRecall(fixture.Torch, fixture.Index, new GenerativeRecallOptions { BeamWidth = 4 }).RecallAsync(request, 4)).Select(r => r.Item).ToHashSet();
        var other = fixture.Index.Items.First(i => !reached.Contains(i) && !request.IsExcluded(i));
        var values = new float[features.Names.Count];

        features.Compute(request, [new Candidate(other, 0, "itemcf")], values);

        Assert.Equal(5, values[3]);
        Assert.True(float.IsFinite(values[0]));
    }
}

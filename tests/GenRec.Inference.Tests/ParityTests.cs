using GenRec.Generative;
using GenRec.Models;

namespace GenRec.Inference.Tests;

public sealed class DecoderOnlyParityTests(OnnxFixture fixture) : ParityTests(fixture), IClassFixture<OnnxFixture>;

public sealed class EncoderDecoderParityTests(EncoderDecoderOnnxFixture fixture) : ParityTests(fixture), IClassFixture<EncoderDecoderOnnxFixture>;

public sealed class DecoderOnlyActionsParityTests(DecoderOnlyActionsOnnxFixture fixture) : ActionsParityTests(fixture), IClassFixture<DecoderOnlyActionsOnnxFixture>;

public sealed class EncoderDecoderActionsParityTests(EncoderDecoderActionsOnnxFixture fixture) : ActionsParityTests(fixture), IClassFixture<EncoderDecoderActionsOnnxFixture>;

/// <summary>A token-history model that reads actions, exported and served: its manifest says so, and serving writes the histories training read.</summary>
public abstract class ActionsParityTests(OnnxFixture fixture) : ParityTests(fixture)
{
    [Fact]
    public void The_manifest_says_token_histories_with_actions()
    {
        Assert.Equal(OnnxModelManifest.ActionHistoryVersion, Fixture.Manifest.FormatVersion);
        Assert.True(Fixture.Manifest.HistoryActions);
        Assert.Equal(0, Fixture.Manifest.HistoryFields);
        Assert.Equal(Fixture.Onnx.Vocabulary.HistoryTokens(Fixture.Manifest.MaxHistoryItems, actions: true), Fixture.Manifest.HistoryTokens);
    }

    [Fact]
    public void Served_and_trained_models_encode_a_history_alike_and_it_holds_the_actions()
    {
        var c = GenRec.TestSupport.TestData.Split.Cases(GenRec.Data.SplitTarget.Test)[0];
        var served = Fixture.Onnx.EncodeHistory(c.HistoryEvents(), Fixture.Index);

        Assert.Equal(Fixture.Torch.EncodeHistory(c.HistoryEvents(), Fixture.Index), served);
        Assert.InRange(served[^1], Fixture.Onnx.Vocabulary.Size, Fixture.Onnx.Vocabulary.SizeWithActions - 1);
    }

    [Fact]
    public void Tokens_beyond_the_action_vocabulary_and_older_versions_are_refused()
    {
        var history = Fixture.Onnx.EncodeHistory(GenRec.TestSupport.TestData.Split.Cases(GenRec.Data.SplitTarget.Test)[0].HistoryEvents(), Fixture.Index);
        history[^1] = Fixture.Onnx.Vocabulary.SizeWithActions;
        Assert.Contains("action tokens", Assert.Throws<ArgumentException>(() => Fixture.Onnx.Start(history)).Message, StringComparison.Ordinal);

        using var copy = GenRec.TestSupport.TestData.TempFolder();
        foreach (var file in Directory.GetFiles(Fixture.Folder))
        {
            File.Copy(file, copy.File(Path.GetFileName(file)));
        }

        var path = copy.File("manifest.json");
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
        node["formatVersion"] = 1;
        File.WriteAllText(path, node.ToJsonString());
        Assert.Contains("version 1", Assert.Throws<InvalidDataException>(() => OnnxGenerativeModel.Load(copy.Path, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu })).Message, StringComparison.Ordinal);
    }
}

public sealed class EndToEndParityTests(EndToEndOnnxFixture fixture) : ParityTests(fixture), IClassFixture<EndToEndOnnxFixture>
{
    [Fact]
    public void The_manifest_says_event_histories_and_carries_the_item_table()
    {
        Assert.Equal(OnnxModelManifest.EventHistoryVersion, fixture.Manifest.FormatVersion);
        Assert.Equal(3 + fixture.Index.Length, fixture.Manifest.HistoryFields);
        Assert.Equal(fixture.Torch.Items.Select(i => i.Value), fixture.Manifest.Items);
        Assert.NotNull(fixture.Onnx.Layout);
    }

    [Fact]
    public void An_event_model_under_a_token_version_or_without_its_item_table_is_refused()
    {
        using var copy = GenRec.TestSupport.TestData.TempFolder();
        foreach (var file in Directory.GetFiles(fixture.Folder))
        {
            File.Copy(file, copy.File(Path.GetFileName(file)));
        }

        var path = copy.File("manifest.json");
        var original = File.ReadAllText(path);
        string Refusal(Action<System.Text.Json.Nodes.JsonNode> edit)
        {
            var node = System.Text.Json.Nodes.JsonNode.Parse(original)!;
            edit(node);
            File.WriteAllText(path, node.ToJsonString());
            return Assert.Throws<InvalidDataException>(() => OnnxGenerativeModel.Load(copy.Path, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu })).Message;
        }

        Assert.Contains("version 1", Refusal(m => m["formatVersion"] = 1), StringComparison.Ordinal);
        Assert.Contains("item table", Refusal(m => m["items"] = new System.Text.Json.Nodes.JsonArray()), StringComparison.Ordinal);
        Assert.Contains("fields", Refusal(m => m["historyFields"] = 4), StringComparison.Ordinal);
    }

    [Fact]
    public void Served_and_trained_models_encode_a_history_alike()
    {
        var c = GenRec.TestSupport.TestData.Split.Cases(GenRec.Data.SplitTarget.Test)[0];
        Assert.Equal(fixture.Torch.EncodeHistory(c.HistoryEvents(), fixture.Index), fixture.Onnx.EncodeHistory(c.HistoryEvents(), fixture.Index));
    }

    [Fact]
    public void An_empty_history_decodes_from_the_start_slot()
    {
        var empty = fixture.Torch.EncodeHistory([], fixture.Index);
        Assert.All(empty, v => Assert.Equal(0, v));
        using var torch = fixture.Torch.Start(empty);
        using var onnx = fixture.Onnx.Start(empty);
        var expected = torch.NextLogProbabilities([[]]);
        var actual = onnx.NextLogProbabilities([[]]);
        Assert.All(expected.Zip(actual), p => Assert.Equal(p.First, p.Second, 1e-4f));
    }

    [Fact]
    public void Short_and_long_histories_decode_together_as_TorchSharp_decodes_them_alone()
    {
        // Shared left padding is trimmed by whole events: a batch of a 2-event and a 4-event history reads 4 events.
        var events = GenRec.TestSupport.TestData.Split.Cases(GenRec.Data.SplitTarget.Test)[0].HistoryEvents();
        AssertBatchedDecodingIsTorchSharps(fixture, [.. new[] { 2, 4 }.Select(n => fixture.Torch.EncodeHistory(events.Take(n).ToArray(), fixture.Index))], beams: 8);
    }

    [Fact]
    public void Malformed_event_histories_are_refused_with_the_event_and_field()
    {
        var history = fixture.Histories(1).Single();
        var fields = fixture.Manifest.HistoryFields;
        var badRow = (int[])history.Clone();
        badRow[^fields] = fixture.Manifest.Items.Length + 5;
        var partial = history[1..];

        Assert.Contains("row", Assert.Throws<ArgumentException>(() => fixture.Onnx.Decode([new GenerativeDecodeRequest(badRow, new BeamSearchState(fixture.Index.Trie, fixture.Index.Length, 4))])).Message);
        Assert.Contains("whole events", Assert.Throws<ArgumentException>(() => fixture.Onnx.Decode([new GenerativeDecodeRequest(partial, new BeamSearchState(fixture.Index.Trie, fixture.Index.Length, 4))])).Message);
    }
}

/// <summary>ONNX Runtime must compute what TorchSharp computes, on real histories, for every position and beam.</summary>
public abstract class ParityTests(OnnxFixture fixture)
{
    private const float Tolerance = 1e-4f;

    protected OnnxFixture Fixture => fixture;

    [Fact]
    public void Every_step_matches_TorchSharp_to_1e_4()
    {
        var trie = fixture.Index.Trie;
        var checkedValues = 0;
        foreach (var history in fixture.Histories(12))
        {
            using var torch = fixture.Torch.Start(history);
            using var onnx = fixture.Onnx.Start(history);

            // Drive both with the same beams: the torch model's search picks them.
            var search = new BeamSearchState(trie, fixture.Index.Length, beamWidth: 8);
            while (!search.IsFinished)
            {
                var expected = torch.NextLogProbabilities(search.Beams);
                var actual = onnx.NextLogProbabilities(search.Beams);
                Assert.Equal(expected.Length, actual.Length);
                for (var i = 0; i < expected.Length; i++)
                {
                    Assert.True(Math.Abs(expected[i] - actual[i]) <= Tolerance, $"position {search.Position}, value {i}: TorchSharp {expected[i]}, ONNX Runtime {actual[i]}");
                }

                checkedValues += expected.Length;
                search.Advance(expected);
            }
        }

        Assert.True(checkedValues > 1000, $"only {checkedValues} values compared");
    }

    [Fact]
    public void Batched_decoding_returns_the_TorchSharp_recommendations()
    {
        AssertBatchedDecodingIsTorchSharps(fixture, fixture.Histories(24).ToArray(), beams: 16);
    }

    /// <summary>Decodes the histories in one ONNX Runtime batch; each must give what TorchSharp's search gives alone.</summary>
    protected static void AssertBatchedDecodingIsTorchSharps(OnnxFixture fixture, int[][] histories, int beams)
    {
        var batched = fixture.Onnx.Decode(histories.Select(h => new GenerativeDecodeRequest(h, new BeamSearchState(fixture.Index.Trie, fixture.Index.Length, beams))).ToArray());
        for (var u = 0; u < histories.Length; u++)
        {
            using var session = fixture.Torch.Start(histories[u]);
            var expected = ConstrainedBeamSearch.Search(session, fixture.Index.Trie, fixture.Index.Length, beams);
            Assert.Equal(expected.Select(d => d.Id), batched[u].Select(d => d.Id));
            Assert.All(expected.Zip(batched[u]), p => Assert.Equal(p.First.LogProbability, p.Second.LogProbability, 1e-3));
        }
    }

    [Fact]
    public void Requests_of_different_widths_and_exclusions_decode_together_as_they_do_alone()
    {
        var histories = fixture.Histories(6).ToArray();
        var excluded = fixture.Index.Items.Take(40).Select(i => fixture.Index[i]).ToArray();
        BeamSearchState Search(int u) => new(fixture.Index.Trie, fixture.Index.Length, 4 + (u * 5), u % 2 == 0 ? excluded : null);
        var together = fixture.Onnx.Decode(histories.Select((h, u) => new GenerativeDecodeRequest(h, Search(u))).ToArray());
        for (var u = 0; u < histories.Length; u++)
        {
            var alone = fixture.Onnx.Decode([new GenerativeDecodeRequest(histories[u], Search(u))])[0];
            Assert.Equal(alone.Select(d => d.Id), together[u].Select(d => d.Id));
            Assert.Equal(4 + (u * 5), together[u].Count);
            if (u % 2 == 0)
            {
                Assert.DoesNotContain(together[u], d => excluded.Contains(d.Id));
            }
        }
    }

    [Fact]
    public async Task Concurrent_decodes_on_one_model_give_what_sequential_ones_do()
    {
        var histories = fixture.Histories(16).ToArray();
        BeamSearchState Search() => new(fixture.Index.Trie, fixture.Index.Length, 10);
        var sequential = histories.Select(h => fixture.Onnx.Decode([new GenerativeDecodeRequest(h, Search())])[0]).ToArray();

        var concurrent = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(
            () => (i % 16, fixture.Onnx.Decode([new GenerativeDecodeRequest(histories[i % 16], Search())])[0]),
            TestContext.Current.CancellationToken)));

        Assert.All(concurrent, r => Assert.Equal(sequential[r.Item1].Select(d => d.Id), r.Item2.Select(d => d.Id)));
    }

    [Fact]
    public void The_device_resident_cache_path_gives_the_same_results()
    {
        using var model = OnnxGenerativeModel.Load(fixture.Folder, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu }, null, forceKeyValuesOnDevice: true);
        Assert.True(model.KeyValuesOnDevice);
        var histories = fixture.Histories(8).ToArray();
        BeamSearchState Search() => new(fixture.Index.Trie, fixture.Index.Length, 12);
        var host = fixture.Onnx.Decode(histories.Select(h => new GenerativeDecodeRequest(h, Search())).ToArray());
        var device = model.Decode(histories.Select(h => new GenerativeDecodeRequest(h, Search())).ToArray());
        for (var u = 0; u < histories.Length; u++)
        {
            Assert.Equal(host[u], device[u]);
        }
    }

    [Fact]
    public void Parallel_decoding_returns_catalogue_items_scored_exactly_and_at_least_as_probable_as_stepping()
    {
        // 400 drafts per beam: the small index's items under the first code chosen (a few hundred) are drafted after one
        // step, so requests of several widths draft together, each with its own number of drafts.
        using var drafting = OnnxGenerativeModel.Load(fixture.Folder, new OnnxRuntimeOptions { ExecutionProvider = OnnxFixture.Provider, DraftsPerBeam = 400 });
        Assert.Equal(400, drafting.DraftsPerBeam);
        var histories = fixture.Histories(12).ToArray();
        var excluded = fixture.Index.Items.Take(400).Select(i => fixture.Index[i]).ToArray();
        BeamSearchState Search(int u) => new(fixture.Index.Trie, fixture.Index.Length, 4 + (u % 3 * 4), u % 2 == 0 ? excluded : null);
        var stepped = fixture.Onnx.Decode(histories.Select((h, u) => new GenerativeDecodeRequest(h, Search(u))).ToArray());
        var drafted = drafting.Decode(histories.Select((h, u) => new GenerativeDecodeRequest(h, Search(u))).ToArray());
        Assert.Equal(histories.Length, drafting.SearchesDrafted);
        Assert.True(drafting.DraftsScored > histories.Length * 12, $"{drafting.DraftsScored} drafts scored");
        for (var u = 0; u < histories.Length; u++)
        {
            var ids = drafted[u].Select(d => d.Id).ToArray();
            Assert.Equal(Search(u).BeamWidth, ids.Length);
            Assert.Equal(ids.Length, ids.Distinct().Count());
            Assert.All(ids, id => Assert.True(fixture.Index.TryGetItem(id, out _), $"{id} is no catalogue item"));
            if (u % 2 == 0)
            {
                Assert.DoesNotContain(ids, excluded.Contains);
            }

            // Each score is the item's full log-probability (teacher forcing through the step graph), best first, and
            // rank by rank at least the beam search's: the drafts hold every item the search could still reach.
            var exact = fixture.Onnx.Score(fixture.Onnx.Encode(histories[u]), ids);
            for (var i = 0; i < ids.Length; i++)
            {
                Assert.Equal(exact[i], drafted[u][i].LogProbability, 1e-3);
                Assert.True(i == 0 || drafted[u][i - 1].LogProbability >= drafted[u][i].LogProbability);
                Assert.True(drafted[u][i].LogProbability >= stepped[u][i].LogProbability - 1e-4, $"user {u}, rank {i}: drafted {drafted[u][i].LogProbability}, stepped {stepped[u][i].LogProbability}");
            }

            var alone = drafting.Decode([new GenerativeDecodeRequest(histories[u], Search(u))])[0];
            Assert.Equal(alone.Select(d => d.Id), ids);
        }
    }

    [Fact]
    public void Parallel_decoding_with_a_budget_covering_the_catalogue_finds_the_most_probable_items_of_all()
    {
        using var drafting = OnnxGenerativeModel.Load(fixture.Folder, new OnnxRuntimeOptions { ExecutionProvider = OnnxFixture.Provider, DraftsPerBeam = fixture.Index.Count });
        var history = fixture.Histories(3).Last();
        var all = fixture.Index.Items.Select(i => fixture.Index[i]).ToArray();
        var scores = fixture.Onnx.Score(fixture.Onnx.Encode(history), all);
        var best = scores.OrderDescending().Take(6).ToArray();

        var drafted = drafting.Decode([new GenerativeDecodeRequest(history, new BeamSearchState(fixture.Index.Trie, fixture.Index.Length, 6))])[0];
        Assert.Equal(1, drafting.SearchesDrafted);
        Assert.Equal(fixture.Index.Count, drafting.DraftsScored);

        Assert.Equal(best.Length, drafted.Count);
        Assert.All(best.Zip(drafted), p => Assert.Equal(p.First, p.Second.LogProbability, 1e-3));
    }

    [Fact]
    public async Task Generative_recall_over_ONNX_recommends_what_it_does_over_TorchSharp()
    {
        var options = new GenerativeRecallOptions { BeamWidth = 20 };
        var torch = new GenerativeRecall(fixture.Torch, fixture.Index, options);
        var onnx = new GenerativeRecall(fixture.Onnx, fixture.Index, options);
        foreach (var c in GenRec.TestSupport.TestData.Split.Cases(GenRec.Data.SplitTarget.Test).Take(10))
        {
            var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
            var expected = await torch.RecallAsync(request, 10, TestContext.Current.CancellationToken);
            var actual = await onnx.RecallAsync(request, 10, TestContext.Current.CancellationToken);
            Assert.Equal(expected.Select(x => x.Item), actual.Select(x => x.Item));
        }
    }
}

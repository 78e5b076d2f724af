using System.Text.Json.Nodes;
using GenRec.Generative;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.TestSupport;

namespace GenRec.Inference.Tests;

/// <summary>Bad model folders and bad input get a clear error, and nothing is half-loaded.</summary>
public sealed class ContractTests(OnnxFixture fixture) : IClassFixture<OnnxFixture>
{
    private static readonly OnnxRuntimeOptions Cpu = new() { ExecutionProvider = ExecutionProviderPreference.Cpu };

    [Fact]
    public void A_missing_folder_or_manifest_is_refused()
    {
        Assert.Throws<DirectoryNotFoundException>(() => OnnxGenerativeModel.Load(Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N")), Cpu));
        using var copy = Copy();
        File.Delete(copy.File("manifest.json"));
        var e = Assert.Throws<InvalidDataException>(() => OnnxGenerativeModel.Load(copy.Path, Cpu));
        Assert.Contains("manifest.json", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_or_missing_graph_is_refused_by_its_hash()
    {
        using var copy = Copy();
        var step = copy.File("step.onnx");
        var bytes = File.ReadAllBytes(step);
        File.WriteAllBytes(step, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => OnnxGenerativeModel.Load(copy.Path, Cpu));
        Assert.Contains("SHA-256", e.Message, StringComparison.Ordinal);

        File.Delete(step);
        e = Assert.Throws<InvalidDataException>(() => OnnxGenerativeModel.Load(copy.Path, Cpu));
        Assert.Contains("lacks the graph 'step.onnx'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_graph_ONNX_Runtime_cannot_parse_is_refused()
    {
        using var copy = Copy();
        var step = copy.File("step.onnx");
        File.WriteAllBytes(step, [.. File.ReadAllBytes(step).Take(1000), .. new byte[] { 0xFF, 0xFF, 0xFF }]);
        Edit(copy, m => m["step"]!["sha256"] = OnnxModelManifest.Hash(step));
        var e = Assert.Throws<InvalidDataException>(() => OnnxGenerativeModel.Load(copy.Path, Cpu));
        Assert.Contains("cannot be loaded by ONNX Runtime", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Another_format_or_version_is_refused()
    {
        using var copy = Copy();
        Edit(copy, m => m["formatVersion"] = 2);
        var e = Assert.Throws<InvalidDataException>(() => OnnxGenerativeModel.Load(copy.Path, Cpu));
        Assert.Contains("version 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Graphs_whose_shapes_differ_from_the_manifest_are_refused_naming_the_tensor()
    {
        using var heads = Copy();
        Edit(heads, m =>
        {
            m["heads"] = 4;
            m["headDimension"] = 4;
        });
        var e = Assert.Throws<InvalidDataException>(() => OnnxGenerativeModel.Load(heads.Path, Cpu));
        Assert.Contains("'context_keys' has 2 at dimension 2", e.Message, StringComparison.Ordinal);

        using var codes = Copy();
        Edit(codes, m => m["vocabularySizes"]![0] = fixture.Manifest.VocabularySizes.Max() + 3);
        e = Assert.Throws<InvalidDataException>(() => OnnxGenerativeModel.Load(codes.Path, Cpu));
        Assert.Contains("'log_probs'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Graphs_in_each_others_place_are_refused()
    {
        using var copy = Copy();
        File.Copy(copy.File("step.onnx"), copy.File("context.onnx"), overwrite: true);
        Edit(copy, m => m["context"]!["sha256"] = OnnxModelManifest.Hash(copy.File("context.onnx")));
        var e = Assert.Throws<InvalidDataException>(() => OnnxGenerativeModel.Load(copy.Path, Cpu));
        Assert.Contains("the context graph has no input 'history'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_without_a_draft_graph_decodes_step_by_step_and_a_wrong_draft_graph_is_refused()
    {
        Assert.NotNull(fixture.Manifest.Draft);
        using var older = Copy();
        File.Delete(older.File("draft.onnx"));
        Edit(older, m => m.AsObject().Remove("draft"));
        using (var model = OnnxGenerativeModel.Load(older.Path, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu, DraftsPerBeam = 8 }))
        {
            Assert.Null(model.Manifest.Draft);
            Assert.Equal(0, model.DraftsPerBeam);
            var history = fixture.Histories(1).Single();
            BeamSearchState Search() => new(fixture.Index.Trie, fixture.Index.Length, 6);
            Assert.Equal(fixture.Onnx.Decode([new GenerativeDecodeRequest(history, Search())])[0], model.Decode([new GenerativeDecodeRequest(history, Search())])[0]);
        }

        using var swapped = Copy();
        File.Copy(swapped.File("step.onnx"), swapped.File("draft.onnx"), overwrite: true);
        Edit(swapped, m => m["draft"]!["sha256"] = OnnxModelManifest.Hash(swapped.File("draft.onnx")));
        var e = Assert.Throws<InvalidDataException>(() => OnnxGenerativeModel.Load(swapped.Path, Cpu));
        Assert.Contains("The draft graph", e.Message, StringComparison.Ordinal);
        Assert.Contains("'draft_log_probs'", e.Message, StringComparison.Ordinal);

        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxGenerativeModel.Load(fixture.Folder, new OnnxRuntimeOptions { DraftsPerBeam = -1 }));
    }

    [Fact]
    public void A_model_is_refused_with_another_index()
    {
        var other = new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 2, CodebookSize = 16, MaxIterations = 2 })
            .Fit(new ItemEmbeddings([new ItemId(1), new ItemId(2), new ItemId(3)], [1, 0, 0, 1, 1, 1], 2));
        var e = Assert.Throws<InvalidOperationException>(() => new GenerativeRecall(fixture.Onnx, other));
        Assert.Contains(fixture.Manifest.IndexFingerprint, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_histories_get_a_clear_error_and_an_empty_one_still_decodes()
    {
        var model = fixture.Onnx;
        var tooLong = new int[fixture.Manifest.HistoryTokens + 1];
        tooLong[^1] = SemanticIdVocabulary.Bos;
        Assert.Contains("longer than", Assert.Throws<ArgumentException>(() => model.Start(tooLong)).Message, StringComparison.Ordinal);
        Assert.Contains("outside the model's vocabulary", Assert.Throws<ArgumentException>(() => model.Start([SemanticIdVocabulary.Bos, model.Vocabulary.Size])).Message, StringComparison.Ordinal);

        var empty = model.Vocabulary.EncodeHistory([], fixture.Index, model.MaxHistoryItems, out _);
        var decoded = model.Decode([new GenerativeDecodeRequest(empty, new BeamSearchState(fixture.Index.Trie, fixture.Index.Length, 10))])[0];
        Assert.Equal(10, decoded.Count);
        Assert.All(decoded, d => Assert.True(fixture.Index.TryGetItem(d.Id, out _)));
    }

    [Fact]
    public void Everything_excluded_leaves_the_batch_empty_handed_without_disturbing_the_others()
    {
        var all = fixture.Index.Items.Select(i => fixture.Index[i]).ToArray();
        var histories = fixture.Histories(2).ToArray();
        var results = fixture.Onnx.Decode(
        [
            new GenerativeDecodeRequest(histories[0], new BeamSearchState(fixture.Index.Trie, fixture.Index.Length, 8, all)),
            new GenerativeDecodeRequest(histories[1], new BeamSearchState(fixture.Index.Trie, fixture.Index.Length, 8)),
        ]);
        var alone = fixture.Onnx.Decode([new GenerativeDecodeRequest(histories[1], new BeamSearchState(fixture.Index.Trie, fixture.Index.Length, 8))])[0];

        Assert.Empty(results[0]);
        Assert.Equal(alone.Select(d => d.Id), results[1].Select(d => d.Id));
        Assert.All(alone.Zip(results[1]), p => Assert.Equal(p.First.LogProbability, p.Second.LogProbability, 1e-5));
    }

    [Fact]
    public void The_execution_provider_choice_is_visible()
    {
        using var auto = OnnxGenerativeModel.Load(fixture.Folder, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Auto });
        if (auto.ExecutionProvider == GenRec.Inference.ExecutionProviderPreference.Cuda)
        {
            Assert.Null(auto.FallbackReason);
            using var cuda = OnnxGenerativeModel.Load(fixture.Folder, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cuda });
            Assert.Equal(GenRec.Inference.ExecutionProviderPreference.Cuda, cuda.ExecutionProvider);
        }
        else
        {
            Assert.Equal(GenRec.Inference.ExecutionProviderPreference.Cpu, auto.ExecutionProvider);
            Assert.False(string.IsNullOrWhiteSpace(auto.FallbackReason));
            var e = Assert.Throws<InvalidOperationException>(() => OnnxGenerativeModel.Load(fixture.Folder, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cuda }));
            Assert.Contains("CUDA", e.Message, StringComparison.Ordinal);
        }

        if (OnnxFixture.Provider == ExecutionProviderPreference.Cpu)
        {
            Assert.Equal(GenRec.Inference.ExecutionProviderPreference.Cpu, fixture.Onnx.ExecutionProvider);
            Assert.Null(fixture.Onnx.FallbackReason);
        }
        else if (OnnxFixture.Provider == ExecutionProviderPreference.Cuda)
        {
            Assert.Equal(GenRec.Inference.ExecutionProviderPreference.Cuda, fixture.Onnx.ExecutionProvider);
        }
    }

    private TempFolder Copy()
    {
        var copy = TestData.TempFolder();
        foreach (var file in Directory.GetFiles(fixture.Folder))
        {
            File.Copy(file, copy.File(Path.GetFileName(file)));
        }

        return copy;
    }

    private static void Edit(TempFolder folder, Action<JsonNode> edit)
    {
        var path = folder.File("manifest.json");
        var node = JsonNode.Parse(File.ReadAllText(path))!;
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    [Fact]
    public void A_profiled_model_writes_one_profile_per_graph_with_the_shapes_of_what_ran()
    {
        using var folder = TestData.TempFolder();
        using (var plain = OnnxGenerativeModel.Load(fixture.Folder, Cpu))
        {
            Assert.Throws<InvalidOperationException>(() => plain.EndProfiling());
        }

        using var profiled = OnnxGenerativeModel.Load(fixture.Folder, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu, ProfilePrefix = folder.File("run") });
        var history = fixture.Onnx.EncodeHistory([new UserEvent(new UserId(1), fixture.Index.Items[0], ActionType.View, DateTimeOffset.UnixEpoch)], fixture.Index);
        var expected = fixture.Onnx.Decode([new GenerativeDecodeRequest(history, new BeamSearchState(fixture.Index.Trie, fixture.Index.Length, 4))]);

        var got = profiled.Decode([new GenerativeDecodeRequest(history, new BeamSearchState(fixture.Index.Trie, fixture.Index.Length, 4))]);
        var (context, step) = profiled.EndProfiling();

        Assert.Equal(expected[0].Select(d => d.Id), got[0].Select(d => d.Id)); // profiling changes nothing it computes
        Assert.NotEqual(context, step);
        foreach (var file in new[] { context, step })
        {
            Assert.StartsWith(folder.Path, file, StringComparison.Ordinal);
            var events = JsonNode.Parse(File.ReadAllText(file))!.AsArray();
            Assert.Contains(events, e => e?["cat"]?.GetValue<string>() == "Node" && e["args"]?["op_name"]?.GetValue<string>() is "MatMul" or "Gemm" or "FusedMatMul" && e["args"]?["input_type_shape"] is not null);
        }
    }
}

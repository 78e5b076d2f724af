using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GenRec.Models;

/// <summary>One graph file of a model folder and the SHA-256 of its bytes (checked on load).</summary>
/// <param name="File">The file name, relative to the folder.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the file.</param>
public sealed record OnnxGraphFile(string File, string Sha256);

/// <summary>
/// The manifest of a served generative retrieval model (<c>manifest.json</c>, format
/// <see cref="FormatName"/> version <see cref="CurrentVersion"/>): the shape the graphs must have, the semantic-ID
/// index they were trained on, and the graph files with their hashes. Write one by hand (or from Python) to serve
/// your own <c>torch.onnx.export</c>-ed model; docs/onnx-contract.md shows an example.
/// </summary>
public sealed record OnnxModelManifest
{
    /// <summary>The format name every manifest carries.</summary>
    public const string FormatName = "genrec-generative-onnx";

    /// <summary>The format version this library writes for token histories (it reads this one and <see cref="EventHistoryVersion"/>).</summary>
    public const int CurrentVersion = 1;

    /// <summary>The format version of a model that reads event histories (<see cref="HistoryFields"/> &gt; 0, <see cref="Items"/>): version 1 readers would feed it the wrong history.</summary>
    public const int EventHistoryVersion = 2;

    /// <summary>The format version of a model whose token histories carry each item's action token (<see cref="HistoryActions"/>): older readers would feed it histories without them.</summary>
    public const int ActionHistoryVersion = 3;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>Always <see cref="FormatName"/>.</summary>
    [JsonRequired]
    public string Format { get; init; } = FormatName;

    /// <summary>The format version.</summary>
    [JsonRequired]
    public int FormatVersion { get; init; } = CurrentVersion;

    /// <summary>What produced the graphs (e.g. "GenRec.Training 0.1.0", "torch.onnx 2.5").</summary>
    public string Producer { get; init; } = "";

    /// <summary>The architecture, for people: "DecoderOnly", "EncoderDecoder", or your own name.</summary>
    public string Architecture { get; init; } = "";

    /// <summary>L: the leading dimension of every key/value tensor.</summary>
    public int Layers { get; init; }

    /// <summary>H: attention heads of every key/value tensor.</summary>
    public int Heads { get; init; }

    /// <summary>D: the width of one head.</summary>
    public int HeadDimension { get; init; }

    /// <summary>The most history items the model reads.</summary>
    public int MaxHistoryItems { get; init; }

    /// <summary>Codes at each semantic-ID position; must equal the index's.</summary>
    public int[] VocabularySizes { get; init; } = [];

    /// <summary>The fingerprint of the semantic-ID index the model was trained on.</summary>
    public string IndexFingerprint { get; init; } = "";

    /// <summary>The version of that index.</summary>
    public int IndexVersion { get; init; }

    /// <summary>The ONNX opset the graphs use.</summary>
    public int Opset { get; init; }

    /// <summary>The context graph.</summary>
    public OnnxGraphFile Context { get; init; } = new(GenerativeGraphContract.ContextFile, "");

    /// <summary>The step graph.</summary>
    public OnnxGraphFile Step { get; init; } = new(GenerativeGraphContract.StepFile, "");

    /// <summary>
    /// The draft graph, which scores several semantic-ID positions of many drafts in one run (parallel decoding);
    /// <see langword="null"/> in folders exported before it existed or by exporters that do not write one: such models
    /// decode one position per step. Default: <see langword="null"/>.
    /// </summary>
    public OnnxGraphFile? Draft { get; init; }

    /// <summary>
    /// 0 when the context graph reads semantic-ID tokens (<see cref="Generative.SemanticIdVocabulary.EncodeHistory(System.Collections.Generic.IReadOnlyList{UserEvent}, SemanticIds.SemanticIdIndex, int, bool, out int)"/>);
    /// otherwise the integers per event of an end-to-end model's event history (<see cref="Generative.EventHistoryLayout"/>:
    /// row, one per semantic-ID position, action, age). Default: 0.
    /// </summary>
    public int HistoryFields { get; init; }

    /// <summary>
    /// Token histories only: whether each item's codes are followed by its event's action token
    /// (<see cref="Generative.SemanticIdVocabulary.ActionToken"/>; the graphs' token embedding then has
    /// <see cref="Generative.SemanticIdVocabulary.SizeWithActions"/> rows). Requires <see cref="FormatVersion"/>
    /// <see cref="ActionHistoryVersion"/>. Default: <see langword="false"/>.
    /// </summary>
    public bool HistoryActions { get; init; }

    /// <summary>Event histories only: the items of the model's item-ID table, by row − 1 (row 0 is an item outside it). Default: empty.</summary>
    public long[] Items { get; init; } = [];

    /// <summary>Integers of a full history: BOS and <see cref="MaxHistoryItems"/> items of <c>VocabularySizes.Length</c> codes, or <see cref="MaxHistoryItems"/> events of <see cref="HistoryFields"/> integers.</summary>
    [JsonIgnore]
    public int HistoryLength => HistoryFields > 0 ? MaxHistoryItems * HistoryFields : HistoryTokens;

    /// <summary>Tokens of a full history: BOS and <see cref="MaxHistoryItems"/> items of <c>VocabularySizes.Length</c> codes (and an action token each, with <see cref="HistoryActions"/>).</summary>
    [JsonIgnore]
    public int HistoryTokens => 1 + (MaxHistoryItems * (VocabularySizes.Length + (HistoryActions ? 1 : 0)));

    /// <summary>The widest position's codes: the last dimension of <c>log_probs</c>.</summary>
    [JsonIgnore]
    public int MaxCodes => VocabularySizes.Length == 0 ? 0 : VocabularySizes.Max();

    /// <summary>Writes the manifest into a model folder.</summary>
    /// <param name="directory">The folder.</param>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, GenerativeGraphContract.ManifestFile), JsonSerializer.Serialize(this, Json));
    }

    /// <summary>Reads and checks the manifest of a model folder, and the hashes of the graph files it names.</summary>
    /// <param name="directory">The folder.</param>
    /// <returns>The manifest.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">The manifest is missing, malformed, of another format or version, describes an impossible shape, or a graph file is missing or not the file it names (truncated, replaced).</exception>
    public static OnnxModelManifest Load(string directory)
    {
        var (m, path) = ModelManifests.Read<OnnxModelManifest>(
            directory,
            GenerativeGraphContract.ManifestFile,
            Json,
            $"'{directory}' is not an ONNX generative model folder: it has no {GenerativeGraphContract.ManifestFile} (export one with `genrec export`).",
            "\"genrec-tiger\"",
            $"'{directory}' is a TorchSharp model folder (genrec train tiger), not a served one: run `genrec export --model-path {directory} --out <folder>` and serve that.");
        ModelManifests.CheckFormat(path, m.Format, m.FormatVersion, FormatName, m.HistoryFields > 0 ? EventHistoryVersion : m.HistoryActions ? ActionHistoryVersion : CurrentVersion);
        if (m.HistoryFields > 0 && m.HistoryActions)
        {
            throw new InvalidDataException($"'{path}' describes event histories ({m.HistoryFields} fields) with token actions: an event history carries its actions in its own field.");
        }

        if (m.HistoryFields > 0 && (m.HistoryFields != 3 + m.VocabularySizes.Length || m.Items.Length == 0))
        {
            throw new InvalidDataException($"'{path}' describes event histories of {m.HistoryFields} fields and {m.Items.Length} table items; a model over {m.VocabularySizes.Length}-code semantic IDs reads {3 + m.VocabularySizes.Length} fields and has a non-empty item table.");
        }

        if (m.Layers < 1 || m.Heads < 1 || m.HeadDimension < 1 || m.MaxHistoryItems < 1 || m.VocabularySizes.Length == 0 || m.VocabularySizes.Any(v => v < 1) || string.IsNullOrEmpty(m.IndexFingerprint))
        {
            throw new InvalidDataException($"'{path}' describes an impossible model: layers {m.Layers}, heads {m.Heads}, head dimension {m.HeadDimension}, max history {m.MaxHistoryItems}, vocabulary [{string.Join(", ", m.VocabularySizes)}], index fingerprint '{m.IndexFingerprint}'.");
        }

        ModelManifests.CheckGraphs(directory, hashRequired: false, m.Draft is null ? [m.Context, m.Step] : [m.Context, m.Step, m.Draft]);
        return m;
    }

    /// <summary>The lower-case hex SHA-256 of a file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>Its hash.</returns>
    public static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

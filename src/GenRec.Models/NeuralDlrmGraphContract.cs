using System.Text.Json.Serialization;
using System.Text.Json;

namespace GenRec.Models;

/// <summary>
/// The graph contract of a served neural DLRM (<c>dlrm.onnx</c>): inputs <c>dense</c> float [N, F] (the cascade's
/// features, NaN for missing), <c>items</c>, <c>last_items</c> and <c>channels</c> int64 [N] (embedding rows; 0 for
/// unknown); output <c>scores</c> float [N].
/// </summary>
public static class NeuralDlrmGraphContract
{
    /// <summary>The manifest's file name.</summary>
    public const string ManifestFile = "manifest.json";

    /// <summary>The graph's file name.</summary>
    public const string GraphFile = "dlrm.onnx";

    /// <summary>Input: the dense features, [N, F].</summary>
    public const string Dense = "dense";

    /// <summary>Input: the candidates' item rows, [N].</summary>
    public const string Items = "items";

    /// <summary>Input: the user's last history item's row, [N].</summary>
    public const string LastItems = "last_items";

    /// <summary>Input: the candidates' source-channel rows, [N].</summary>
    public const string Channels = "channels";

    /// <summary>Output: one score per candidate, [N].</summary>
    public const string Scores = "scores";

    /// <summary>The dense feature also read as the sparse source-channel feature.</summary>
    public const string ChannelFeature = "source_channel";

    /// <summary>Source-channel embedding rows (row 0: unknown).</summary>
    public const int ChannelRows = 16;

    /// <summary>The embedding row of a source-channel feature value (−1, unknown or out of range: row 0).</summary>
    /// <param name="value">The feature's value.</param>
    /// <returns>The row.</returns>
    public static long ChannelRow(float value) => float.IsFinite(value) && value >= 0 && value < ChannelRows - 1 ? (long)value + 1 : 0;
}

/// <summary>The manifest of a served neural DLRM folder (<c>manifest.json</c> beside <c>dlrm.onnx</c>).</summary>
public sealed record NeuralDlrmOnnxManifest
{
    /// <summary>The format name.</summary>
    public const string FormatName = "genrec-neural-dlrm-onnx";

    /// <summary>The format version this runtime reads.</summary>
    public const int CurrentVersion = 1;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The format name.</summary>
    [JsonRequired]
    public string Format { get; init; } = FormatName;

    /// <summary>The format version.</summary>
    [JsonRequired]
    public int FormatVersion { get; init; } = CurrentVersion;

    /// <summary>What wrote it.</summary>
    public string Producer { get; init; } = "";

    /// <summary>The items by embedding row − 1.</summary>
    public long[] Items { get; init; } = [];

    /// <summary>The dense features it reads, in order.</summary>
    public string[] Features { get; init; } = [];

    /// <summary>The ONNX opset of the graph.</summary>
    public int Opset { get; init; }

    /// <summary>The graph and its SHA-256.</summary>
    public OnnxGraphFile Graph { get; init; } = new(NeuralDlrmGraphContract.GraphFile, "");

    /// <summary>Writes the manifest into a folder.</summary>
    /// <param name="directory">The folder.</param>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, NeuralDlrmGraphContract.ManifestFile), JsonSerializer.Serialize(this, Json));
    }

    /// <summary>Reads and checks a folder's manifest (format, version, items, the graph's hash).</summary>
    /// <param name="directory">The folder.</param>
    /// <returns>The manifest.</returns>
    /// <exception cref="InvalidDataException">The folder is not a served neural DLRM, or is damaged.</exception>
    public static NeuralDlrmOnnxManifest Load(string directory)
    {
        var (m, path) = ModelManifests.Read<NeuralDlrmOnnxManifest>(
            directory,
            NeuralDlrmGraphContract.ManifestFile,
            Json,
            $"'{directory}' is not a served neural DLRM folder: it has no {NeuralDlrmGraphContract.ManifestFile}.",
            "\"genrec-neural-dlrm\"",
            $"'{directory}' is a TorchSharp neural DLRM, not a served one: export it with NeuralDlrmOnnxExporter.");
        ModelManifests.CheckFormat(path, m.Format, m.FormatVersion, FormatName, CurrentVersion);
        if (m.Items.Length == 0 || m.Items.Distinct().Count() != m.Items.Length || m.Features is not { Length: > 0 })
        {
            throw new InvalidDataException($"'{path}' describes an impossible model: {m.Items.Length} items (ids must be distinct), {m.Features?.Length ?? 0} features.");
        }

        ModelManifests.CheckGraphs(directory, hashRequired: true, m.Graph);
        return m;
    }
}

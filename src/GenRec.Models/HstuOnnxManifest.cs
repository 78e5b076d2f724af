using System.Text.Json;
using System.Text.Json.Serialization;

namespace GenRec.Models;

/// <summary>
/// The manifest of an HSTU ranker served by ONNX Runtime (<see cref="HstuGraphContract"/>): its shape, the items by
/// row, the cross features it reads, and the graph files with their hashes. Checked on load. Format 2 graphs take
/// histories of any length up to the window and add the extend graph; format 1 folders still load (their graphs take
/// exactly the window, and appends are encoded again).
/// </summary>
public sealed record HstuOnnxManifest
{
    /// <summary>The format name written in every manifest.</summary>
    public const string FormatName = "genrec-hstu-onnx";

    /// <summary>The format version this runtime writes (it reads 1 too).</summary>
    public const int CurrentVersion = 2;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>Always <see cref="FormatName"/>.</summary>
    [JsonRequired]
    public string Format { get; init; } = FormatName;

    /// <summary>Always <see cref="CurrentVersion"/>.</summary>
    [JsonRequired]
    public int FormatVersion { get; init; } = CurrentVersion;

    /// <summary>What wrote the graphs.</summary>
    public string Producer { get; init; } = "";

    /// <summary>HSTU layers (Y).</summary>
    public int Layers { get; init; }

    /// <summary>Attention heads (H).</summary>
    public int Heads { get; init; }

    /// <summary>Head width (D).</summary>
    public int HeadDimension { get; init; }

    /// <summary>History events read; the graphs take up to 2 × this many tokens (exactly that many in format 1).</summary>
    public int MaxHistory { get; init; }

    /// <summary>The item ids, by row − 1 (row 0 is padding).</summary>
    public long[] Items { get; init; } = [];

    /// <summary>The cross features the candidates graph reads, in order (empty: none).</summary>
    public string[] CrossFeatures { get; init; } = [];

    /// <summary>Ranking score = logit(interacts) + this × logit(rates ≥ 4).</summary>
    public double RatingWeight { get; init; }

    /// <summary>The ONNX opset of the graphs.</summary>
    public int Opset { get; init; }

    /// <summary>The history graph.</summary>
    public OnnxGraphFile History { get; init; } = new(HstuGraphContract.HistoryFile, "");

    /// <summary>The candidates graph.</summary>
    public OnnxGraphFile Candidates { get; init; } = new(HstuGraphContract.CandidatesFile, "");

    /// <summary>The extend graph (format 2); <see langword="null"/> in format 1.</summary>
    public OnnxGraphFile? Extend { get; init; }

    /// <summary>Whether the graphs take histories shorter than the window (format 2).</summary>
    [JsonIgnore]
    public bool VariableLength => FormatVersion >= 2;

    /// <summary>Tokens per history at most (2 × <see cref="MaxHistory"/>).</summary>
    [JsonIgnore]
    public int Tokens => 2 * MaxHistory;

    /// <summary>Writes the manifest into a model folder.</summary>
    /// <param name="directory">The folder.</param>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, HstuGraphContract.ManifestFile), JsonSerializer.Serialize(this, Json));
    }

    /// <summary>Reads and checks the manifest of a model folder, and the hashes of the graph files it names.</summary>
    /// <param name="directory">The folder.</param>
    /// <returns>The manifest.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">The manifest is missing, malformed, of another format or version, describes an impossible shape, or a graph file is missing or not the file it names.</exception>
    public static HstuOnnxManifest Load(string directory)
    {
        var (m, path) = ModelManifests.Read<HstuOnnxManifest>(
            directory,
            HstuGraphContract.ManifestFile,
            Json,
            $"'{directory}' is not an ONNX HSTU model folder: it has no {HstuGraphContract.ManifestFile} (export one with `genrec export --kind hstu`).",
            "\"genrec-hstu\"",
            $"'{directory}' is a TorchSharp HSTU folder (genrec train hstu), not a served one: run `genrec export --kind hstu --model-path {directory} --out <folder>` and serve that.");
        ModelManifests.CheckFormat(path, m.Format, m.FormatVersion, FormatName, 1, CurrentVersion);
        if (m.Layers < 1 || m.Heads < 1 || m.HeadDimension < 1 || m.MaxHistory < 1 || m.Items.Length == 0 || m.Items.Distinct().Count() != m.Items.Length || m.CrossFeatures is null)
        {
            throw new InvalidDataException($"'{path}' describes an impossible model: layers {m.Layers}, heads {m.Heads}, head dimension {m.HeadDimension}, max history {m.MaxHistory}, {m.Items.Length} items (ids must be distinct).");
        }

        if (m.FormatVersion >= 2 && m.Extend is null)
        {
            throw new InvalidDataException($"'{path}' is format {m.FormatVersion} but names no extend graph; export the model again.");
        }

        ModelManifests.CheckGraphs(directory, hashRequired: true, [m.History, m.Candidates, .. m.Extend is { } e ? [e] : Array.Empty<OnnxGraphFile>()]);
        return m;
    }
}

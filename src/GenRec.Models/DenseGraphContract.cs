using System.Text.Json;
using System.Text.Json.Serialization;

namespace GenRec.Models;

/// <summary>
/// The graph contract of a served dense (two-tower) retriever. <c>user_tower.onnx</c>: input <c>history</c> float
/// [B, T, d] (the unit vectors of the last T ≤ max-history items, right-aligned), <c>valid</c> bool [B, T] (false on
/// padding) and, when the manifest's <see cref="DenseOnnxManifest.ReadsActions"/> is set, <c>actions</c> int64 [B, T]
/// (each event's <see cref="ActionToken"/>, 0 on padding); output <c>user</c> float [B, d], the unit query vector after
/// the last position. <c>item_tower.onnx</c>:
/// inputs <c>content</c> float [N, C] (content vectors) and <c>rows</c> int64 [N] (collaborative ID rows, 0 for an
/// item without one); output <c>vectors</c> float [N, d], unit item vectors. <c>items.emb</c> holds the catalogue's item
/// vectors and <c>content.emb</c> its content vectors (<c>ItemEmbeddingsFile</c> format).
/// </summary>
public static class DenseGraphContract
{
    /// <summary>The manifest's file name.</summary>
    public const string ManifestFile = "dense.json";

    /// <summary>The user tower's file name.</summary>
    public const string UserTowerFile = "user_tower.onnx";

    /// <summary>The item tower's file name.</summary>
    public const string ItemTowerFile = "item_tower.onnx";

    /// <summary>The catalogue's item vectors.</summary>
    public const string ItemVectorsFile = "items.emb";

    /// <summary>The catalogue's content vectors (the item tower's input).</summary>
    public const string ContentFile = "content.emb";

    /// <summary>User tower input: history item vectors, [B, T, d].</summary>
    public const string History = "history";

    /// <summary>User tower input: which history positions hold an item, [B, T].</summary>
    public const string Valid = "valid";

    /// <summary>User tower input of a model that reads actions: each history event's <see cref="ActionToken"/>, [B, T].</summary>
    public const string Actions = "actions";

    /// <summary>Action tokens: 0 is padding, then one per <see cref="ActionType"/> (1 + its value).</summary>
    public const int ActionTokens = 1 + ActionKinds;

    private const int ActionKinds = 8;

    /// <summary>User tower output: the query vectors, [B, d].</summary>
    public const string User = "user";

    /// <summary>Item tower input: content vectors, [N, C].</summary>
    public const string Content = "content";

    /// <summary>Item tower input: collaborative ID rows, [N].</summary>
    public const string Rows = "rows";

    /// <summary>Item tower output: unit item vectors, [N, d].</summary>
    public const string Vectors = "vectors";

    /// <summary>The prefix head's file name (optional).</summary>
    public const string PrefixHeadFile = "prefix_head.onnx";

    /// <summary>Prefix head input: semantic-ID prefixes, [B, P, L].</summary>
    public const string Prefix = "prefix";

    /// <summary>Prefix head output: the query of each prefix, [B, P, d]. (Its other input is <see cref="User"/>, [B, d].)</summary>
    public const string Queries = "queries";

    /// <summary>The source name stored in <see cref="ItemVectorsFile"/>.</summary>
    public const string ItemVectorsSource = "genrec-dense:item-tower";

    /// <summary>The token of an event's action in the user tower's <see cref="Actions"/> input (an unknown action value counts as <see cref="ActionType.View"/>).</summary>
    /// <param name="action">The action.</param>
    /// <returns>A token in [1, <see cref="ActionTokens"/>).</returns>
    public static long ActionToken(ActionType action) => 1 + ((int)action is >= 0 and < ActionKinds ? (int)action : (int)ActionType.View);

    /// <summary>
    /// The user tower's <see cref="Actions"/> row for the history events it reads (those <c>DenseItemCatalogue.KnownHistory</c>
    /// keeps): one token per event, or a single 0 for an empty history (its one padding position).
    /// </summary>
    /// <param name="events">The events read, oldest first.</param>
    /// <returns>Max(1, events) tokens.</returns>
    public static long[] EncodeActions(IReadOnlyList<UserEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        var tokens = new long[Math.Max(1, events.Count)];
        for (var i = 0; i < events.Count; i++)
        {
            tokens[i] = ActionToken(events[i].Action);
        }

        return tokens;
    }
}

/// <summary>The manifest of a served dense retriever folder (<c>dense.json</c>).</summary>
public sealed record DenseOnnxManifest
{
    /// <summary>The format name.</summary>
    public const string FormatName = "genrec-dense-onnx";

    /// <summary>The format version this runtime writes; it reads versions 1 (no prefix head) to this one (3 adds <see cref="ReadsActions"/>).</summary>
    public const int CurrentVersion = 3;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The format name.</summary>
    [JsonRequired]
    public string Format { get; init; } = FormatName;

    /// <summary>The format version.</summary>
    [JsonRequired]
    public int FormatVersion { get; init; } = CurrentVersion;

    /// <summary>What wrote it.</summary>
    public string Producer { get; init; } = "";

    /// <summary>Width of item and user vectors.</summary>
    public int Dimension { get; init; }

    /// <summary>Width of the content vectors the item tower reads.</summary>
    public int ContentDimension { get; init; }

    /// <summary>What made the content vectors (e.g. <c>content:all-MiniLM-L6-v2</c>); new items' content must come from it too.</summary>
    public string ContentSource { get; init; } = "";

    /// <summary>History items the user tower reads.</summary>
    public int MaxHistory { get; init; }

    /// <summary>Whether the user tower reads each history event's action (its <see cref="DenseGraphContract.Actions"/> input).</summary>
    public bool ReadsActions { get; init; }

    /// <summary>The items with a collaborative ID embedding, by row − 1.</summary>
    public long[] TrainedItems { get; init; } = [];

    /// <summary>The ONNX opset of the graphs.</summary>
    public int Opset { get; init; }

    /// <summary>The user tower and its SHA-256.</summary>
    public OnnxGraphFile UserTower { get; init; } = new(DenseGraphContract.UserTowerFile, "");

    /// <summary>The item tower and its SHA-256.</summary>
    public OnnxGraphFile ItemTower { get; init; } = new(DenseGraphContract.ItemTowerFile, "");

    /// <summary>COBRA's dense head (<see cref="DenseGraphContract.PrefixHeadFile"/>), or <see langword="null"/> when the folder has none.</summary>
    public DensePrefixHeadManifest? PrefixHead { get; init; }

    /// <summary>Writes the manifest into a folder.</summary>
    /// <param name="directory">The folder.</param>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, DenseGraphContract.ManifestFile), JsonSerializer.Serialize(this, Json));
    }

    /// <summary>Reads and checks a folder's manifest (format, version, shape, the graphs' hashes).</summary>
    /// <param name="directory">The folder.</param>
    /// <returns>The manifest.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">The folder is not a served dense retriever, or is damaged.</exception>
    public static DenseOnnxManifest Load(string directory)
    {
        var (m, path) = ModelManifests.Read<DenseOnnxManifest>(
            directory,
            DenseGraphContract.ManifestFile,
            Json,
            $"'{directory}' is not a served dense retriever folder: it has no {DenseGraphContract.ManifestFile} (export one with `genrec export --kind dense`).",
            "\"genrec-dense\"",
            $"'{directory}' is a TorchSharp dense retriever, not a served one: export it with `genrec export --kind dense`.");
        ModelManifests.CheckFormat(path, m.Format, m.FormatVersion, FormatName, 1, CurrentVersion);
        if (m.Dimension < 1 || m.ContentDimension < 1 || m.MaxHistory < 1 || string.IsNullOrEmpty(m.ContentSource) || m.TrainedItems.Distinct().Count() != m.TrainedItems.Length
            || (m.ReadsActions && m.FormatVersion < 3))
        {
            throw new InvalidDataException($"'{path}' describes an impossible model: dimension {m.Dimension}, content dimension {m.ContentDimension}, max history {m.MaxHistory}, content source '{m.ContentSource}', trained items distinct, reads actions {m.ReadsActions} (format version {m.FormatVersion}; actions need 3).");
        }

        ModelManifests.CheckGraphs(directory, hashRequired: true, m.UserTower, m.ItemTower);
        if (m.PrefixHead is { } head)
        {
            if (m.FormatVersion < 2 || head.Graph is null || head.Vocabulary is null || head.Levels < 1 || head.Vocabulary.Length != head.Levels || head.Vocabulary.Any(v => v < 1) || string.IsNullOrEmpty(head.IndexFingerprint))
            {
                throw new InvalidDataException($"'{path}' describes an impossible prefix head: levels {head.Levels}, vocabulary [{string.Join(", ", head.Vocabulary ?? [])}], index '{head.IndexFingerprint}' (format version {m.FormatVersion}; heads need 2).");
            }

            ModelManifests.CheckGraphs(directory, hashRequired: true, head.Graph);
        }

        return m;
    }
}

/// <summary>The prefix head of a served dense retriever folder (COBRA's dense head).</summary>
/// <param name="Graph">The graph file and its SHA-256.</param>
/// <param name="Levels">How many leading codes of the semantic ID it reads.</param>
/// <param name="Vocabulary">Codes per level it knows.</param>
/// <param name="IndexFingerprint">The semantic-ID index whose codes it learned.</param>
public sealed record DensePrefixHeadManifest(OnnxGraphFile Graph, int Levels, int[] Vocabulary, string IndexFingerprint);

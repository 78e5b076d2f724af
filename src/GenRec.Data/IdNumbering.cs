using System.Text.Json;
using System.Text.Json.Nodes;

namespace GenRec.Data;

/// <summary>
/// How a log's text ids (UUIDs, SKUs, e-mail hashes) became GenRec's integer ids (<see cref="IdKind.Text"/>): the
/// <c>n</c>-th distinct text met is number <c>n</c> (from 1), so reading the same files always gives the same numbers.
/// <see cref="Save"/> writes it beside a model or a list of recommendations, to turn numbers back into a team's ids.
/// </summary>
public sealed class IdNumbering
{
    /// <summary>The format name of a saved numbering.</summary>
    public const string FormatName = "genrec-id-numbering";

    /// <summary>The format version this build reads and writes.</summary>
    public const int CurrentVersion = 1;

    private readonly List<string> _texts = [];
    private readonly Dictionary<string, long> _numbers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    internal IdNumbering(string kind)
    {
        Kind = kind;
        _lookup = _numbers.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>What is numbered: <c>users</c> or <c>items</c>.</summary>
    public string Kind { get; }

    /// <summary>Distinct ids numbered (the largest number).</summary>
    public int Count => _texts.Count;

    /// <summary>The text id of a number.</summary>
    /// <param name="number">A number from 1 to <see cref="Count"/>.</param>
    /// <exception cref="KeyNotFoundException">No text id has this number.</exception>
    public string this[long number] => number >= 1 && number <= _texts.Count
        ? _texts[(int)(number - 1)]
        : throw new KeyNotFoundException($"No {Kind.TrimEnd('s')} id was numbered {number} (numbers run from 1 to {_texts.Count}).");

    /// <summary>The number of a text id, if it was met.</summary>
    /// <param name="text">The team's id.</param>
    /// <param name="number">Its number.</param>
    /// <returns>Whether the id was met.</returns>
    public bool TryGetNumber(ReadOnlySpan<char> text, out long number) => _lookup.TryGetValue(text, out number);

    /// <summary>The number of a text id, numbering it when it is new.</summary>
    internal long Number(ReadOnlySpan<char> text)
    {
        if (_lookup.TryGetValue(text, out var number))
        {
            return number;
        }

        var id = text.ToString();
        _texts.Add(id);
        number = _texts.Count;
        _numbers.Add(id, number);
        return number;
    }

    /// <summary>Writes the numbering as JSON (<c>format</c>, <c>formatVersion</c>, <c>kind</c>, <c>ids</c>: the text of number 1, 2, …).</summary>
    /// <param name="path">The file; its folder is created.</param>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var json = new JsonObject
        {
            ["format"] = FormatName,
            ["formatVersion"] = CurrentVersion,
            ["kind"] = Kind,
            ["ids"] = new JsonArray([.. _texts.Select(t => (JsonNode)JsonValue.Create(t))]),
        };
        File.WriteAllText(path, json.ToJsonString());
    }

    /// <summary>Reads a numbering <see cref="Save"/> wrote.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The numbering.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a numbering of this version, or lists an id twice.</exception>
    public static IdNumbering Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not a GenRec id numbering (not JSON: {e.Message}).", e);
        }

        if (root?["format"]?.GetValueKind() != JsonValueKind.String || root["format"]!.GetValue<string>() != FormatName)
        {
            throw new InvalidDataException($"'{path}' is not a GenRec id numbering (no \"format\": \"{FormatName}\").");
        }

        var version = root["formatVersion"]?.GetValueKind() == JsonValueKind.Number ? root["formatVersion"]!.GetValue<int>() : -1;
        if (version != CurrentVersion)
        {
            throw new InvalidDataException($"'{path}' is id numbering format version {version}; this build reads version {CurrentVersion}.");
        }

        if (root["ids"] is not JsonArray ids || root["kind"]?.GetValueKind() != JsonValueKind.String)
        {
            throw new InvalidDataException($"'{path}' has no \"kind\" or no \"ids\" array.");
        }

        var numbering = new IdNumbering(root["kind"]!.GetValue<string>());
        foreach (var id in ids)
        {
            if (id?.GetValueKind() != JsonValueKind.String)
            {
                throw new InvalidDataException($"'{path}': id {numbering.Count + 1} is not text.");
            }

            var text = id.GetValue<string>();
            if (numbering.TryGetNumber(text, out var first))
            {
                throw new InvalidDataException($"'{path}': '{text}' is listed twice (numbers {first} and {numbering.Count + 1}).");
            }

            numbering.Number(text);
        }

        return numbering;
    }
}

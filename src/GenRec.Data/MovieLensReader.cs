using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace GenRec.Data;

/// <summary>
/// Reads MovieLens-style rating logs: a CSV file, plain or gzip-compressed, with a header naming at least
/// <c>userId</c>, <c>movieId</c> and <c>timestamp</c>, and optionally <c>rating</c>, <c>title</c>, <c>year</c>
/// and <c>genres</c> (pipe-separated). The bundled file (<c>movieId,title,year,genres,userId,rating,timestamp</c>)
/// carries all of them; the GroupLens <c>ratings.csv</c> (<c>userId,movieId,rating,timestamp</c>) reads too,
/// with empty item metadata.
/// </summary>
public static class MovieLensReader
{
    /// <summary>Reads a rating log.</summary>
    /// <param name="path">The CSV or CSV.GZ file.</param>
    /// <returns>The interactions in file order and the items they name.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The header lacks a required column, or a row is malformed; the message names the line.</exception>
    public static InteractionDataset Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The ratings file '{path}' does not exist.", path);
        }

        using var stream = OpenMaybeCompressed(path);
        return Read(stream, Path.GetFileName(path));
    }

    /// <summary>Reads a rating log from an uncompressed CSV stream.</summary>
    /// <param name="csv">The CSV text.</param>
    /// <param name="sourceName">A name for the source, used in error messages.</param>
    /// <returns>The interactions in file order and the items they name.</returns>
    /// <exception cref="InvalidDataException">The header lacks a required column, or a row is malformed.</exception>
    public static InteractionDataset Read(Stream csv, string sourceName = "ratings.csv")
    {
        ArgumentNullException.ThrowIfNull(csv);
        using var reader = new StreamReader(csv, Encoding.UTF8);
        var header = reader.ReadLine() ?? throw new InvalidDataException($"{sourceName} is empty: expected a header line.");
        var columns = CsvLine.Split(header, sourceName, 1);
        int Column(string name, bool required)
        {
            var index = columns.FindIndex(c => string.Equals(c.Trim(), name, StringComparison.OrdinalIgnoreCase));
            if (index < 0 && required)
            {
                throw new InvalidDataException($"{sourceName}: the header has no '{name}' column (found: {string.Join(", ", columns)}).");
            }

            return index;
        }

        int user = Column("userId", true), movie = Column("movieId", true), time = Column("timestamp", true);
        int rating = Column("rating", false), title = Column("title", false), year = Column("year", false), genres = Column("genres", false);
        var width = columns.Count;

        var interactions = new List<Interaction>(capacity: 1 << 17);
        var items = new Dictionary<ItemId, ItemRecord>();
        var lineNumber = 1;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            var fields = CsvLine.Split(line, sourceName, lineNumber);
            if (fields.Count != width)
            {
                throw new InvalidDataException($"{sourceName} line {lineNumber}: expected {width} fields, found {fields.Count}.");
            }

            var itemId = new ItemId(ParseLong(fields[movie], "movieId", sourceName, lineNumber));
            var interaction = new Interaction(
                new UserId(ParseLong(fields[user], "userId", sourceName, lineNumber)),
                itemId,
                rating >= 0 ? ParseRating(fields[rating], sourceName, lineNumber) : float.NaN,
                ParseLong(fields[time], "timestamp", sourceName, lineNumber),
                interactions.Count);
            interactions.Add(interaction);

            if (!items.ContainsKey(itemId))
            {
                items[itemId] = MakeItem(itemId, fields, title, year, genres);
            }
        }

        if (interactions.Count == 0)
        {
            throw new InvalidDataException($"{sourceName} has a header but no interaction rows.");
        }

        return new InteractionDataset(interactions, items.Values);
    }

    private static ItemRecord MakeItem(ItemId id, List<string> fields, int title, int year, int genres)
    {
        static string? Value(List<string> f, int i) => i >= 0 && f[i] is { Length: > 0 } v && v != "NA" ? v : null;

        var categories = Value(fields, genres) is { } g && g != "(no genres listed)"
            ? g.Split('|', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [];
        DateTimeOffset? published = int.TryParse(Value(fields, year), NumberStyles.Integer, CultureInfo.InvariantCulture, out var y) && y is > 0 and < 10000
            ? new DateTimeOffset(y, 1, 1, 0, 0, 0, TimeSpan.Zero)
            : null;
        return new ItemRecord(id, Value(fields, title) ?? string.Empty, categories) { PublishedAt = published };
    }

    private static long ParseLong(string text, string column, string source, int line) =>
        long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new InvalidDataException($"{source} line {line}: '{column}' is '{text}', not an integer.");

    private static float ParseRating(string text, string source, int line)
    {
        if (text.Length == 0 || text == "NA")
        {
            return float.NaN;
        }

        return float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && float.IsFinite(value)
            ? value
            : throw new InvalidDataException($"{source} line {line}: 'rating' is '{text}', not a number.");
    }

    private static Stream OpenMaybeCompressed(string path)
    {
        var file = File.OpenRead(path);
        var magic = new byte[2];
        var read = file.Read(magic, 0, 2);
        file.Position = 0;
        return read == 2 && magic[0] == 0x1f && magic[1] == 0x8b ? new GZipStream(file, CompressionMode.Decompress) : file;
    }
}

/// <summary>Splits one CSV line (RFC 4180 quoting: fields in double quotes, "" for a quote inside).</summary>
internal static class CsvLine
{
    public static List<string> Split(string line, string source, int lineNumber)
    {
        var fields = new List<string>(8);
        var field = new StringBuilder();
        var i = 0;
        while (true)
        {
            field.Clear();
            if (i < line.Length && line[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= line.Length)
                    {
                        throw new InvalidDataException($"{source} line {lineNumber}: a quoted field is not closed.");
                    }

                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"')
                        {
                            field.Append('"');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    field.Append(line[i++]);
                }

                if (i < line.Length && line[i] != ',')
                {
                    throw new InvalidDataException($"{source} line {lineNumber}: unexpected text after a quoted field at column {i + 1}.");
                }
            }
            else
            {
                while (i < line.Length && line[i] != ',')
                {
                    field.Append(line[i++]);
                }
            }

            fields.Add(field.ToString());
            if (i >= line.Length)
            {
                return fields;
            }

            i++; // the comma
        }
    }
}

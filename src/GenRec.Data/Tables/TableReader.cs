using System.Globalization;
using System.IO.Compression;

namespace GenRec.Data.Tables;

/// <summary>
/// A table read one row at a time (CSV or Parquet), so a reader keeps what it converts and never the file. Fields are
/// addressed by column index; typed getters parse text (CSV) or read the column's own type (Parquet).
/// </summary>
internal abstract class TableReader : IDisposable
{
    protected TableReader(string source) => Source = source;

    /// <summary>The file's name, for messages.</summary>
    public string Source { get; }

    /// <summary>The header: column names in file order.</summary>
    public abstract IReadOnlyList<string> Columns { get; }

    /// <summary>Where the current row is, for messages ("line 12", "row 12").</summary>
    public abstract string Position { get; }

    /// <summary>Bytes of the file consumed so far (compressed bytes for gzip), for progress.</summary>
    public abstract long BytesRead { get; }

    /// <summary>The file's length in bytes, or 0 when unknown.</summary>
    public abstract long Length { get; }

    /// <summary>Advances to the next row; false at the end.</summary>
    public abstract bool MoveNext();

    /// <summary>Whether the field is missing (a null, or one of the schema's null values in CSV).</summary>
    public abstract bool IsMissing(int column);

    /// <summary>The field as an integer, or false when it is not one.</summary>
    public abstract bool TryGetInt64(int column, out long value);

    /// <summary>The field as a number, or false when it is not one.</summary>
    public abstract bool TryGetDouble(int column, out double value);

    /// <summary>The field as a time in Unix seconds when the column is a timestamp type, else false (read it as written).</summary>
    public virtual bool TryGetNativeTime(int column, out long seconds)
    {
        seconds = 0;
        return false;
    }

    /// <summary>The field's text (numbers as invariant-culture text).</summary>
    public abstract string GetText(int column);

    /// <summary>The field's text without a copy where the format allows.</summary>
    public virtual ReadOnlySpan<char> GetSpan(int column) => GetText(column);

    /// <summary>
    /// Whether the reader decodes blocks of rows column by column (Parquet), so that a converter can read whole columns
    /// with <see cref="NextBatch"/> and <see cref="BatchColumn"/> instead of row by row. A reader is read one way or the other.
    /// </summary>
    public virtual bool ReadsBatches => false;

    /// <summary>Advances to the next block of rows, decoding <paramref name="columns"/>; the block's row count, 0 at the end.</summary>
    public virtual int NextBatch(ReadOnlySpan<int> columns) => throw new NotSupportedException($"{GetType().Name} reads rows, not batches.");

    /// <summary>A column of the current batch, decoded whole.</summary>
    public virtual DecodedColumn BatchColumn(int column) => throw new NotSupportedException($"{GetType().Name} reads rows, not batches.");

    /// <summary>
    /// Makes row <paramref name="index"/> of the current batch the current row, so that the row getters read it and
    /// <see cref="Error(int, string)"/> names it: the converter's way with a value its column-wide path does not take.
    /// </summary>
    public virtual void MoveToBatchRow(int index) => throw new NotSupportedException($"{GetType().Name} reads rows, not batches.");

    /// <summary>The index of <paramref name="name"/> (ordinal, then case-insensitive), or −1.</summary>
    public int IndexOf(string name)
    {
        var columns = Columns;
        for (var i = 0; i < columns.Count; i++)
        {
            if (string.Equals(columns[i], name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        for (var i = 0; i < columns.Count; i++)
        {
            if (string.Equals(columns[i], name, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>An error about the current row's <paramref name="column"/>, naming the file, the row and the column.</summary>
    public InvalidDataException Error(int column, string problem) =>
        new($"{Source} {Position}, column '{Columns[column]}': {problem}");

    /// <summary>An error about the current row.</summary>
    public InvalidDataException Error(string problem) => new($"{Source} {Position}: {problem}");

    /// <summary>Opens a file as CSV (plain or gzip) or Parquet, by its first bytes.</summary>
    public static TableReader Open(string path, EventLogSchema schema)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The file '{path}' does not exist.", path);
        }

        var stream = File.OpenRead(path);
        try
        {
            return Open(stream, Path.GetFileName(path), schema, path);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Opens a stream as CSV (plain or gzip) or Parquet, by its first bytes; the reader owns the stream.</summary>
    public static TableReader Open(Stream stream, string source, EventLogSchema schema, string? path = null)
    {
        var magic = new byte[4];
        var read = 0;
        if (stream.CanSeek)
        {
            while (read < 4 && stream.Read(magic, read, 4 - read) is var n && n > 0)
            {
                read += n;
            }

            stream.Position = 0;
        }

        if (read == 4 && magic is [(byte)'P', (byte)'A', (byte)'R', (byte)'1'])
        {
            return new ParquetTableReader(stream, source, path);
        }

        var gzip = read >= 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        return new CsvTableReader(stream, gzip ? new GZipStream(stream, CompressionMode.Decompress) : stream, source, schema);
    }

    /// <summary>Parses an invariant-culture integer.</summary>
    public static bool ParseInt64(ReadOnlySpan<char> text, out long value) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    /// <summary>Parses an invariant-culture number.</summary>
    public static bool ParseDouble(ReadOnlySpan<char> text, out double value) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the file.</summary>
    protected abstract void Dispose(bool disposing);
}

using System.Text;

namespace GenRec.Data.Tables;

/// <summary>
/// CSV with a header line (RFC 4180: fields in double quotes may hold the delimiter, line breaks and "" for a quote).
/// Fields are kept as ranges of the current record and parsed in place; only text that is asked for is copied.
/// </summary>
internal sealed class CsvTableReader : TableReader
{
    private readonly Stream _file;
    private readonly StreamReader _reader;
    private readonly char _delimiter;
    private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _nulls;
    private readonly string[] _columns;
    private readonly List<(int Start, int Length, bool Escaped)> _fields = new(16);
    private readonly StringBuilder _multiLine = new();
    private string _record = string.Empty;
    private long _line;
    private long _recordLine;

    public CsvTableReader(Stream file, Stream text, string source, EventLogSchema schema)
        : base(source)
    {
        _file = file;
        _reader = new StreamReader(text, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        _delimiter = schema.Delimiter;
        _nulls = new HashSet<string>(schema.NullValues, StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
        if (!ReadRecord())
        {
            throw new InvalidDataException($"{source} is empty: expected a header line.");
        }

        _columns = new string[_fields.Count];
        for (var i = 0; i < _fields.Count; i++)
        {
            _columns[i] = Field(i).Trim();
        }
    }

    public override IReadOnlyList<string> Columns => _columns;

    public override string Position => $"line {_recordLine}";

    public override long BytesRead => _file.CanSeek ? _file.Position : 0;

    public override long Length => _file.CanSeek ? _file.Length : 0;

    public override bool MoveNext()
    {
        while (ReadRecord())
        {
            if (_record.Length == 0)
            {
                continue; // blank lines are not rows
            }

            if (_fields.Count != _columns.Length)
            {
                throw Error($"expected {_columns.Length} fields (the header's), found {_fields.Count}.");
            }

            return true;
        }

        return false;
    }

    public override bool IsMissing(int column)
    {
        return _fields[column].Escaped ? _nulls.Contains(Field(column)) : _nulls.Contains(Span(column));
    }

    public override bool TryGetInt64(int column, out long value) => ParseInt64(Span(column), out value);

    public override bool TryGetDouble(int column, out double value) => ParseDouble(Span(column), out value);

    public override string GetText(int column) => Field(column);

    public override ReadOnlySpan<char> GetSpan(int column) => _fields[column].Escaped ? Field(column) : Span(column);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _reader.Dispose();
            _file.Dispose();
        }
    }

    private ReadOnlySpan<char> Span(int column)
    {
        var (start, length, _) = _fields[column];
        return _record.AsSpan(start, length);
    }

    private string Field(int column)
    {
        var (start, length, escaped) = _fields[column];
        var text = _record.Substring(start, length);
        return escaped ? text.Replace("\"\"", "\"", StringComparison.Ordinal) : text;
    }

    // Reads one record (one line, or more when a quoted field holds line breaks) and splits it into field ranges.
    private bool ReadRecord()
    {
        var line = _reader.ReadLine();
        if (line is null)
        {
            return false;
        }

        _line++;
        _recordLine = _line;
        _record = line;
        while (!Split())
        {
            var next = _reader.ReadLine() ?? throw new InvalidDataException($"{Source} line {_recordLine}: a quoted field is not closed before the end of the file.");
            _line++;
            _multiLine.Clear().Append(_record).Append('\n').Append(next);
            _record = _multiLine.ToString();
        }

        return true;
    }

    // Field ranges of _record; false when a quoted field is still open at its end (the record goes on on the next line).
    private bool Split()
    {
        _fields.Clear();
        var record = _record;
        var i = 0;
        while (true)
        {
            if (i < record.Length && record[i] == '"')
            {
                var start = ++i;
                var escaped = false;
                while (true)
                {
                    if (i >= record.Length)
                    {
                        return false;
                    }

                    if (record[i] == '"')
                    {
                        if (i + 1 < record.Length && record[i + 1] == '"')
                        {
                            escaped = true;
                            i += 2;
                            continue;
                        }

                        break;
                    }

                    i++;
                }

                _fields.Add((start, i - start, escaped));
                i++; // the closing quote
                if (i < record.Length && record[i] != _delimiter)
                {
                    throw new InvalidDataException($"{Source} line {_recordLine}: unexpected text after a quoted field at character {i + 1}.");
                }
            }
            else
            {
                var end = record.IndexOf(_delimiter, i);
                end = end < 0 ? record.Length : end;
                _fields.Add((i, end - i, false));
                i = end;
            }

            if (i >= record.Length)
            {
                return true;
            }

            i++; // the delimiter
            if (i == record.Length)
            {
                _fields.Add((i, 0, false)); // a trailing delimiter: one more, empty field
                return true;
            }
        }
    }
}

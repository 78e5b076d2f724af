using System.Globalization;
using System.Text;
using GenRec.Data.Synthetic;
using Parquet;
using Parquet.Schema;

namespace GenRec.Data.Tables;

/// <summary>The kind of a written column.</summary>
internal enum ColumnKind
{
    Int64,
    Text,
    NullableFloat,
}

/// <summary>
/// Writes a table row by row, field by field (<c>Long(…).Text(…).Real(…).EndRow()</c>): CSV straight to the file,
/// Parquet a row group (a million rows) at a time.
/// </summary>
internal abstract class TableWriter : IDisposable
{
    private int _field;

    protected TableWriter((string Name, ColumnKind Kind)[] columns) => Columns = columns;

    protected (string Name, ColumnKind Kind)[] Columns { get; }

    public static TableWriter Create(string path, EventLogFormat format, (string Name, ColumnKind Kind)[] columns) =>
        format == EventLogFormat.Parquet ? new ParquetTableWriter(path, columns) : new CsvTableWriter(path, columns);

    public TableWriter Long(long value)
    {
        WriteLong(Next(ColumnKind.Int64), value);
        return this;
    }

    public TableWriter Text(string value)
    {
        WriteText(Next(ColumnKind.Text), value);
        return this;
    }

    public TableWriter Real(float value)
    {
        WriteReal(Next(ColumnKind.NullableFloat), value);
        return this;
    }

    public void EndRow()
    {
        if (_field != Columns.Length)
        {
            throw new InvalidOperationException($"a row has {_field} fields; the table has {Columns.Length}.");
        }

        _field = 0;
        FinishRow();
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected abstract void WriteLong(int column, long value);

    protected abstract void WriteText(int column, string value);

    protected abstract void WriteReal(int column, float value);

    protected abstract void FinishRow();

    protected abstract void Dispose(bool disposing);

    private int Next(ColumnKind kind)
    {
        if (_field >= Columns.Length || Columns[_field].Kind != kind)
        {
            throw new InvalidOperationException($"field {_field + 1} of a row is {(_field < Columns.Length ? Columns[_field].Kind : "beyond the table")}, not {kind}.");
        }

        return _field++;
    }

    private sealed class CsvTableWriter : TableWriter
    {
        private readonly StreamWriter _writer;

        public CsvTableWriter(string path, (string Name, ColumnKind Kind)[] columns)
            : base(columns)
        {
            _writer = new StreamWriter(path, append: false, new UTF8Encoding(false), bufferSize: 1 << 16);
            _writer.Write(string.Join(',', columns.Select(c => c.Name)));
            _writer.Write('\n');
        }

        protected override void WriteLong(int column, long value)
        {
            Separate(column);
            Span<char> digits = stackalloc char[20];
            value.TryFormat(digits, out var n, default, CultureInfo.InvariantCulture);
            _writer.Write(digits[..n]);
        }

        protected override void WriteText(int column, string value)
        {
            Separate(column);
            if (value.AsSpan().IndexOfAny(",\"\n\r") >= 0)
            {
                _writer.Write('"');
                _writer.Write(value.Replace("\"", "\"\"", StringComparison.Ordinal));
                _writer.Write('"');
            }
            else
            {
                _writer.Write(value);
            }
        }

        protected override void WriteReal(int column, float value)
        {
            Separate(column);
            if (!float.IsNaN(value))
            {
                _writer.Write(value.ToString("R", CultureInfo.InvariantCulture));
            }
        }

        protected override void FinishRow() => _writer.Write('\n');

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _writer.Dispose();
            }
        }

        private void Separate(int column)
        {
            if (column > 0)
            {
                _writer.Write(',');
            }
        }
    }

    private sealed class ParquetTableWriter : TableWriter
    {
        private const int GroupRows = 1 << 20;
        private readonly FileStream _file;
        private readonly ParquetWriter _writer;
        private readonly DataField[] _fields;
        private readonly long[][] _longs;
        private readonly string[][] _texts;
        private readonly float?[][] _reals;
        private int _rows;

        public ParquetTableWriter(string path, (string Name, ColumnKind Kind)[] columns)
            : base(columns)
        {
            _fields = columns.Select(c => c.Kind switch
            {
                ColumnKind.Int64 => (DataField)new DataField<long>(c.Name),
                ColumnKind.Text => new DataField<string>(c.Name),
                _ => new DataField<float?>(c.Name),
            }).ToArray();
            _longs = columns.Select(c => c.Kind == ColumnKind.Int64 ? new long[GroupRows] : []).ToArray();
            _texts = columns.Select(c => c.Kind == ColumnKind.Text ? new string[GroupRows] : []).ToArray();
            _reals = columns.Select(c => c.Kind == ColumnKind.NullableFloat ? new float?[GroupRows] : []).ToArray();
            // Text columns dictionary-encoded where their values repeat (actions, categories), as Arrow, Spark and DuckDB
            // write them by default; Parquet.Net writes plain text unless told (a column of unique titles stays plain).
            var options = new ParquetOptions();
            foreach (var field in _fields.Where((_, c) => columns[c].Kind == ColumnKind.Text))
            {
                options.ColumnEncodingHints[field.Path.ToString()] = EncodingHint.Dictionary;
            }

            _file = File.Create(path);
            _writer = ParquetWriter.CreateAsync(new ParquetSchema(_fields), _file, options).ConfigureAwait(false).GetAwaiter().GetResult();
        }

        protected override void WriteLong(int column, long value) => _longs[column][_rows] = value;

        protected override void WriteText(int column, string value) => _texts[column][_rows] = value;

        protected override void WriteReal(int column, float value) => _reals[column][_rows] = float.IsNaN(value) ? null : value;

        protected override void FinishRow()
        {
            if (++_rows == GroupRows)
            {
                Flush();
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Flush();
                _writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
                _file.Dispose();
            }
        }

        private void Flush()
        {
            if (_rows == 0)
            {
                return;
            }

            using var group = _writer.CreateRowGroup();
            for (var c = 0; c < _fields.Length; c++)
            {
                var write = Columns[c].Kind switch
                {
                    ColumnKind.Int64 => group.WriteAsync<long>(_fields[c], _longs[c].AsMemory(0, _rows)),
                    ColumnKind.Text => group.WriteAsync(_fields[c], new ArraySegment<string>(_texts[c], 0, _rows)),
                    _ => group.WriteAsync<float>(_fields[c], _reals[c].AsMemory(0, _rows)),
                };
                write.GetAwaiter().GetResult();
            }

            _rows = 0;
        }
    }
}

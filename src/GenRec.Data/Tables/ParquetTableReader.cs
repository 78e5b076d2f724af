using System.Globalization;
using System.Numerics;
using Parquet;
using Parquet.Schema;

namespace GenRec.Data.Tables;

/// <summary>
/// A Parquet file read one row group at a time: a column is decoded (into a typed array) the first time a row of its
/// group asks for it, so only the mapped columns are read and memory holds one row group of them. From the second group
/// on, a file on disk has the columns the first group used decoded side by side, each by its own reader of the file.
/// </summary>
internal sealed class ParquetTableReader : TableReader
{
    private readonly Stream _stream;
    private readonly ParquetReader _reader;
    private readonly DataField[] _fields;
    private readonly string[] _columns;
    private readonly Column?[] _loaded;
    private readonly Array?[] _buffers;
    private readonly string? _path;
    private readonly bool[] _wanted;
    private readonly ParquetReader?[] _columnReaders;
    private ParquetRowGroupReader? _group;
    private int _groupIndex = -1;
    private int _rowInGroup;
    private long _groupRows;
    private long _row;

    public ParquetTableReader(Stream stream, string source, string? path)
        : base(source)
    {
        _stream = stream;
        _path = path;
        try
        {
            _reader = ParquetReader.CreateAsync(stream, leaveStreamOpen: true).ConfigureAwait(false).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"{source} is not a complete Parquet file ({e.Message}); a truncated copy lacks its footer.", e);
        }

        _fields = _reader.Schema.GetDataFields();
        _columns = _fields.Select(f => f.Name).ToArray();
        _loaded = new Column?[_fields.Length];
        _buffers = new Array?[_fields.Length * 3];
        _wanted = new bool[_fields.Length];
        _columnReaders = new ParquetReader?[_fields.Length];
    }

    public override IReadOnlyList<string> Columns => _columns;

    public override string Position => $"row {_row}";

    public override long BytesRead => _stream.CanSeek ? _stream.Position : 0;

    public override long Length => _stream.CanSeek ? _stream.Length : 0;

    public override bool MoveNext()
    {
        _rowInGroup++;
        while (_rowInGroup >= _groupRows)
        {
            if (_groupIndex + 1 >= _reader.RowGroupCount)
            {
                return false;
            }

            _groupIndex++;
            _group = _reader.OpenRowGroupReader(_groupIndex);
            _groupRows = _group.RowCount;
            _rowInGroup = 0;
            Array.Clear(_loaded);
            if (_path is not null && _wanted.Count(w => w) > 1 && Environment.ProcessorCount > 1)
            {
                DecodeSideBySide();
            }
        }

        _row++;
        return true;
    }

    public override bool IsMissing(int column) => Load(column).IsNull(_rowInGroup);

    public override bool TryGetInt64(int column, out long value) => Load(column).TryGetInt64(_rowInGroup, out value);

    public override bool TryGetDouble(int column, out double value) => Load(column).TryGetDouble(_rowInGroup, out value);

    public override bool TryGetNativeTime(int column, out long seconds) => Load(column).TryGetTime(_rowInGroup, out seconds);

    public override string GetText(int column) => Load(column).Text(_rowInGroup);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
            foreach (var reader in _columnReaders)
            {
                reader?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            _stream.Dispose();
        }
    }

    private Column Load(int column)
    {
        if (_loaded[column] is { } loaded)
        {
            return loaded;
        }

        _wanted[column] = true;
        return _loaded[column] = Decode(column, _group!);
    }

    // The columns the rows asked for in the previous group, decoded in parallel (libraries decode one column per thread).
    private void DecodeSideBySide()
    {
        var columns = Enumerable.Range(0, _fields.Length).Where(c => _wanted[c]).ToArray();
        try
        {
            Parallel.ForEach(columns, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, column =>
            {
                var reader = _columnReaders[column] ??= ParquetReader.CreateAsync(File.OpenRead(_path!)).ConfigureAwait(false).GetAwaiter().GetResult();
                _loaded[column] = Decode(column, reader.OpenRowGroupReader(_groupIndex));
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }

    private Column Decode(int column, ParquetRowGroupReader group)
    {
        var field = _fields[column];
        var rows = checked((int)_groupRows);
        try
        {
            Column data = field.ClrType switch
            {
                var t when t == typeof(long) => Integers<long>(group, column, field, rows),
                var t when t == typeof(int) => Integers<int>(group, column, field, rows),
                var t when t == typeof(short) => Integers<short>(group, column, field, rows),
                var t when t == typeof(sbyte) => Integers<sbyte>(group, column, field, rows),
                var t when t == typeof(byte) => Integers<byte>(group, column, field, rows),
                var t when t == typeof(ushort) => Integers<ushort>(group, column, field, rows),
                var t when t == typeof(uint) => Integers<uint>(group, column, field, rows),
                var t when t == typeof(ulong) => Integers<ulong>(group, column, field, rows),
                var t when t == typeof(double) => Reals<double>(group, column, field, rows),
                var t when t == typeof(float) => Reals<float>(group, column, field, rows),
                var t when t == typeof(decimal) => Reals<decimal>(group, column, field, rows),
                var t when t == typeof(bool) => Booleans(group, column, field, rows),
                var t when t == typeof(string) || t == typeof(ReadOnlyMemory<char>) => Strings(group, column, field, rows),
                var t when t == typeof(DateTime) => Times<DateTime>(group, column, field, rows, static d => new DateTimeOffset(DateTime.SpecifyKind(d, d.Kind == DateTimeKind.Unspecified ? DateTimeKind.Utc : d.Kind)).ToUnixTimeSeconds()),
                var t when t == typeof(DateTimeOffset) => Times<DateTimeOffset>(group, column, field, rows, static d => d.ToUnixTimeSeconds()),
                var t => throw new InvalidDataException($"{Source}: column '{field.Name}' is of type {t.Name}, which an event log or catalogue column cannot be (integers, numbers, text, booleans or timestamps)."),
            };
            return _loaded[column] = data;
        }
        catch (Exception e) when (e is not (InvalidDataException or OutOfMemoryException))
        {
            throw new InvalidDataException($"{Source}: row group {_groupIndex + 1} of {_reader.RowGroupCount}, column '{field.Name}' cannot be read ({e.Message}); the file may be truncated or damaged.", e);
        }
    }

    private IntegerColumn Integers<T>(ParquetRowGroupReader group, int column, DataField field, int rows)
        where T : struct, INumber<T>
    {
        if (typeof(T) == typeof(long) && !field.IsNullable)
        {
            var values = Rent<long>(column, 0, rows);
            Wait(group.ReadAsync(field, values.AsMemory(0, rows)));
            return new IntegerColumn(values, null);
        }

        var (converted, nulls) = Read<T, long>(group, column, field, rows, static v => long.CreateSaturating(v));
        return new IntegerColumn(converted, nulls);
    }

    private RealColumn Reals<T>(ParquetRowGroupReader group, int column, DataField field, int rows)
        where T : struct, INumber<T>
    {
        var (values, nulls) = Read<T, double>(group, column, field, rows, static v => double.CreateChecked(v));
        return new RealColumn(values, nulls);
    }

    private IntegerColumn Booleans(ParquetRowGroupReader group, int column, DataField field, int rows)
    {
        var (values, nulls) = Read<bool, long>(group, column, field, rows, static v => v ? 1 : 0);
        return new IntegerColumn(values, nulls);
    }

    private TextColumn Strings(ParquetRowGroupReader group, int column, DataField field, int rows)
    {
        var values = Rent<string?>(column, 0, rows);
        Wait(group.ReadAsync(field, values.AsMemory(0, rows)));
        return new TextColumn(values);
    }

    private TimeColumn Times<T>(ParquetRowGroupReader group, int column, DataField field, int rows, Func<T, long> seconds)
        where T : struct
    {
        var (values, nulls) = Read(group, column, field, rows, seconds);
        return new TimeColumn(values, nulls);
    }

    // Reads a column of T (nullable or not) and converts each value; nulls are flagged (the array only when there are any).
    private (TOut[] Values, bool[]? Nulls) Read<T, TOut>(ParquetRowGroupReader group, int column, DataField field, int rows, Func<T, TOut> convert)
        where T : struct
    {
        var values = Rent<TOut>(column, 0, rows);
        bool[]? nulls = null;
        if (field.IsNullable)
        {
            var raw = Rent<T?>(column, 1, rows);
            Wait(group.ReadAsync(field, raw.AsMemory(0, rows)));
            for (var i = 0; i < rows; i++)
            {
                if (raw[i] is { } v)
                {
                    values[i] = convert(v);
                }
                else
                {
                    if (nulls is null)
                    {
                        nulls = Rent<bool>(column, 2, rows);
                        Array.Clear(nulls, 0, rows);
                    }

                    nulls[i] = true;
                }
            }
        }
        else
        {
            var raw = Rent<T>(column, 1, rows);
            Wait(group.ReadAsync(field, raw.AsMemory(0, rows)));
            for (var i = 0; i < rows; i++)
            {
                values[i] = convert(raw[i]);
            }
        }

        return (values, nulls);
    }

    // Column buffers are kept from one row group to the next (a row group's columns are large: fresh ones each time
    // would cost a full garbage collection every few groups).
    private T[] Rent<T>(int column, int slot, int rows)
    {
        var key = (column * 3) + slot;
        if (_buffers[key] is T[] kept && kept.Length >= rows)
        {
            return kept;
        }

        var fresh = new T[rows];
        _buffers[key] = fresh;
        return fresh;
    }

    // Parquet.Net reads asynchronously; a file read has no context to return to, so waiting here cannot deadlock.
    private static void Wait(ValueTask read)
    {
        if (!read.IsCompletedSuccessfully)
        {
            read.AsTask().GetAwaiter().GetResult();
        }
    }

    private abstract class Column
    {
        public abstract bool IsNull(int row);

        public abstract bool TryGetInt64(int row, out long value);

        public abstract bool TryGetDouble(int row, out double value);

        public virtual bool TryGetTime(int row, out long seconds)
        {
            seconds = 0;
            return false;
        }

        public abstract string Text(int row);
    }

    private class IntegerColumn(long[] values, bool[]? nulls) : Column
    {
        protected long[] Values => values;

        public override bool IsNull(int row) => nulls is not null && nulls[row];

        public override bool TryGetInt64(int row, out long value)
        {
            value = values[row];
            return !IsNull(row);
        }

        public override bool TryGetDouble(int row, out double value)
        {
            value = values[row];
            return !IsNull(row);
        }

        public override string Text(int row) => IsNull(row) ? string.Empty : values[row].ToString(CultureInfo.InvariantCulture);
    }

    private sealed class TimeColumn(long[] seconds, bool[]? nulls) : IntegerColumn(seconds, nulls)
    {
        public override bool TryGetTime(int row, out long value) => TryGetInt64(row, out value);

        public override string Text(int row) => IsNull(row) ? string.Empty : DateTimeOffset.FromUnixTimeSeconds(Values[row]).ToString("O", CultureInfo.InvariantCulture);
    }

    private sealed class RealColumn(double[] values, bool[]? nulls) : Column
    {
        public override bool IsNull(int row) => nulls is not null && nulls[row];

        public override bool TryGetInt64(int row, out long value)
        {
            var v = values[row];
            value = (long)v;
            return !IsNull(row) && v == Math.Floor(v) && Math.Abs(v) < 9.2e18;
        }

        public override bool TryGetDouble(int row, out double value)
        {
            value = values[row];
            return !IsNull(row);
        }

        public override string Text(int row) => IsNull(row) ? string.Empty : values[row].ToString(CultureInfo.InvariantCulture);
    }

    private sealed class TextColumn(string?[] values) : Column
    {
        public override bool IsNull(int row) => values[row] is null;

        public override bool TryGetInt64(int row, out long value)
        {
            value = 0;
            return values[row] is { } text && ParseInt64(text, out value);
        }

        public override bool TryGetDouble(int row, out double value)
        {
            value = 0;
            return values[row] is { } text && ParseDouble(text, out value);
        }

        public override string Text(int row) => values[row] ?? string.Empty;
    }
}

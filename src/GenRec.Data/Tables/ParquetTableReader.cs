using System.Globalization;
using System.Numerics;
using Parquet;
using Parquet.Schema;

namespace GenRec.Data.Tables;

/// <summary>
/// A Parquet file read one row group at a time, by rows or as a batch of whole columns (<see cref="NextBatch"/>): a
/// column is decoded (into a typed array) the first time its group is asked for it, so only the mapped columns are read.
/// For a file on disk, the next group's columns (those asked for so far) are decoded in the background, side by side,
/// each by its own reader of the file, while this group is converted: memory holds two row groups of the mapped columns.
/// </summary>
internal sealed class ParquetTableReader : TableReader
{
    private readonly Stream _stream;
    private readonly ParquetReader _reader;
    private readonly DataField[] _fields;
    private readonly string[] _columns;
    private readonly DecodedColumn?[] _loaded;
    private readonly Array?[] _buffers; // two sets, row groups alternating: one read while the next is decoded
    private readonly string? _path;
    private readonly bool[] _wanted;
    private readonly ParquetReader?[] _columnReaders;
    private ParquetRowGroupReader? _group;
    private int _groupIndex = -1;
    private int _rowInGroup;
    private long _groupRows;
    private long _row;
    private long _batchStart; // rows before the current batch
    private Task<DecodedColumn?[]>? _next; // the next row group's columns, decoding

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
        _loaded = new DecodedColumn?[_fields.Length];
        _buffers = new Array?[2 * _fields.Length * 3];
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
            if (!NextGroup())
            {
                return false;
            }
        }

        _row++;
        return true;
    }

    public override bool ReadsBatches => true;

    public override int NextBatch(ReadOnlySpan<int> columns)
    {
        foreach (var column in columns)
        {
            _wanted[column] = true; // known before the first group, so the second decodes in the background from the start
        }

        _row = _batchStart + _groupRows; // past the last batch, wherever MoveToBatchRow left the reader
        do
        {
            if (!NextGroup())
            {
                _groupRows = 0;
                _batchStart = _row;
                return 0;
            }
        }
        while (_groupRows == 0);

        _batchStart = _row;
        _row += _groupRows;
        return checked((int)_groupRows);
    }

    public override DecodedColumn BatchColumn(int column) => Load(column);

    public override void MoveToBatchRow(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _groupRows);
        _rowInGroup = index;
        _row = _batchStart + index + 1;
    }

    // Opens the next row group: its wanted columns come from the decoding started during the previous group (or are
    // decoded side by side now), and the group after it starts decoding in the background.
    private bool NextGroup()
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
        var ahead = _path is not null && Environment.ProcessorCount > 1 && _wanted.Contains(true);
        if (_next is { } next)
        {
            _next = null;
            next.GetAwaiter().GetResult().CopyTo(_loaded, 0); // a decoding failure is thrown here, naming its group
        }
        else if (ahead && _groupIndex > 0)
        {
            // The first group is decoded as its columns are asked for, on this thread: side by side it cost more than it
            // saved (5.4 against 6.2 M events/s on a one-group file) and left buffers pooled on other threads behind.
            DecodeSideBySide(_groupIndex).CopyTo(_loaded, 0);
        }

        if (ahead && _groupIndex + 1 < _reader.RowGroupCount)
        {
            var following = _groupIndex + 1;
            _next = Task.Run(() => DecodeSideBySide(following));
        }

        return true;
    }

    public override bool IsMissing(int column) => Load(column).IsNull(_rowInGroup);

    public override bool TryGetInt64(int column, out long value) => Load(column).TryGetInt64(_rowInGroup, out value);

    public override bool TryGetDouble(int column, out double value) => Load(column).TryGetDouble(_rowInGroup, out value);

    public override bool TryGetNativeTime(int column, out long seconds) => Load(column).TryGetTime(_rowInGroup, out seconds);

    public override string GetText(int column) => Load(column).Text(_rowInGroup);

    public override ReadOnlySpan<char> GetSpan(int column) => Load(column).Span(_rowInGroup);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // A group decoding ahead is not needed any more (nor is its failure): its readers are disposed once it has stopped.
            ((Task?)_next)?.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing).GetAwaiter().GetResult();
            _reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
            foreach (var reader in _columnReaders)
            {
                reader?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            _stream.Dispose();
        }
    }

    private DecodedColumn Load(int column)
    {
        if (_loaded[column] is { } loaded)
        {
            return loaded;
        }

        _wanted[column] = true;
        return _loaded[column] = Decode(column, _group!, _groupIndex);
    }

    // The columns the rows asked for in the previous group, decoded in parallel (libraries decode one column per thread).
    private DecodedColumn?[] DecodeSideBySide(int groupIndex)
    {
        var columns = Enumerable.Range(0, _fields.Length).Where(c => _wanted[c]).ToArray();
        var decoded = new DecodedColumn?[_fields.Length];
        try
        {
            Parallel.ForEach(columns, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, column =>
            {
                var reader = _columnReaders[column] ??= ParquetReader.CreateAsync(File.OpenRead(_path!)).ConfigureAwait(false).GetAwaiter().GetResult();
                decoded[column] = Decode(column, reader.OpenRowGroupReader(groupIndex), groupIndex);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }

        return decoded;
    }

    private DecodedColumn Decode(int column, ParquetRowGroupReader group, int groupIndex)
    {
        var field = _fields[column];
        var rows = checked((int)group.RowCount);
        var slots = ((groupIndex & 1) * _fields.Length) + column; // this group's buffers of the column
        try
        {
            DecodedColumn data = field.ClrType switch
            {
                var t when t == typeof(long) => Integers<long>(group, slots, field, rows),
                var t when t == typeof(int) => Integers<int>(group, slots, field, rows),
                var t when t == typeof(short) => Integers<short>(group, slots, field, rows),
                var t when t == typeof(sbyte) => Integers<sbyte>(group, slots, field, rows),
                var t when t == typeof(byte) => Integers<byte>(group, slots, field, rows),
                var t when t == typeof(ushort) => Integers<ushort>(group, slots, field, rows),
                var t when t == typeof(uint) => Integers<uint>(group, slots, field, rows),
                var t when t == typeof(ulong) => Integers<ulong>(group, slots, field, rows),
                var t when t == typeof(double) => Reals<double>(group, slots, field, rows),
                var t when t == typeof(float) => Reals<float>(group, slots, field, rows),
                var t when t == typeof(decimal) => Reals<decimal>(group, slots, field, rows),
                var t when t == typeof(bool) => Booleans(group, slots, field, rows),
                var t when t == typeof(string) || t == typeof(ReadOnlyMemory<char>) => Strings(group, slots, field, rows),
                var t when t == typeof(DateTime) => Times<DateTime>(group, slots, field, rows, static d => new DateTimeOffset(DateTime.SpecifyKind(d, d.Kind == DateTimeKind.Unspecified ? DateTimeKind.Utc : d.Kind)).ToUnixTimeSeconds()),
                var t when t == typeof(DateTimeOffset) => Times<DateTimeOffset>(group, slots, field, rows, static d => d.ToUnixTimeSeconds()),
                var t => throw new InvalidDataException($"{Source}: column '{field.Name}' is of type {t.Name}, which an event log or catalogue column cannot be (integers, numbers, text, booleans or timestamps)."),
            };
            return data;
        }
        catch (Exception e) when (e is not (InvalidDataException or OutOfMemoryException))
        {
            throw new InvalidDataException($"{Source}: row group {groupIndex + 1} of {_reader.RowGroupCount}, column '{field.Name}' cannot be read ({e.Message}); the file may be truncated or damaged.", e);
        }
    }

    private IntegerColumn Integers<T>(ParquetRowGroupReader group, int slots, DataField field, int rows)
        where T : struct, INumber<T>
    {
        if (typeof(T) == typeof(long) && !field.IsNullable)
        {
            var values = Rent<long>(slots, 0, rows);
            Wait(group.ReadAsync(field, values.AsMemory(0, rows)));
            return new IntegerColumn(values, null);
        }

        var (converted, nulls) = Read<T, long>(group, slots, field, rows, static v => long.CreateSaturating(v));
        return new IntegerColumn(converted, nulls);
    }

    private RealColumn Reals<T>(ParquetRowGroupReader group, int slots, DataField field, int rows)
        where T : struct, INumber<T>
    {
        var (values, nulls) = Read<T, double>(group, slots, field, rows, static v => double.CreateChecked(v));
        return new RealColumn(values, nulls);
    }

    private IntegerColumn Booleans(ParquetRowGroupReader group, int slots, DataField field, int rows)
    {
        var (values, nulls) = Read<bool, long>(group, slots, field, rows, static v => v ? 1 : 0);
        return new IntegerColumn(values, nulls);
    }

    // Text as Parquet.Net decodes it, without a string per row: a dictionary-encoded column (actions, categories) shares
    // its dictionary's characters across rows, so a row group of a few distinct actions allocates nothing per row.
    private TextColumn Strings(ParquetRowGroupReader group, int slots, DataField field, int rows)
    {
        var values = Rent<ReadOnlyMemory<char>>(slots, 0, rows);
        if (field.MaxDefinitionLevel == 0)
        {
            Wait(group.ReadRawAsync(field, values.AsMemory(0, rows), null, null));
            return new TextColumn(values, null);
        }

        // Nullable: the values come packed (non-null ones only) beside a definition level per row; spread them out.
        var levels = Rent<int>(slots, 1, rows);
        Wait(group.ReadRawAsync(field, values.AsMemory(0, rows), levels.AsMemory(0, rows), null));
        var defined = 0;
        for (var i = 0; i < rows; i++)
        {
            defined += levels[i] == field.MaxDefinitionLevel ? 1 : 0;
        }

        bool[]? nulls = null;
        for (var i = rows - 1; i >= 0; i--)
        {
            if (levels[i] == field.MaxDefinitionLevel)
            {
                values[i] = values[--defined];
            }
            else
            {
                if (nulls is null)
                {
                    nulls = Rent<bool>(slots, 2, rows);
                    Array.Clear(nulls, 0, rows);
                }

                nulls[i] = true;
                values[i] = default;
            }
        }

        return new TextColumn(values, nulls);
    }

    private TimeColumn Times<T>(ParquetRowGroupReader group, int slots, DataField field, int rows, Func<T, long> seconds)
        where T : struct
    {
        var (values, nulls) = Read(group, slots, field, rows, seconds);
        return new TimeColumn(values, nulls);
    }

    // Reads a column of T (nullable or not) and converts each value; nulls are flagged (the array only when there are any).
    private (TOut[] Values, bool[]? Nulls) Read<T, TOut>(ParquetRowGroupReader group, int slots, DataField field, int rows, Func<T, TOut> convert)
        where T : struct
    {
        var values = Rent<TOut>(slots, 0, rows);
        bool[]? nulls = null;
        if (field.IsNullable)
        {
            var raw = Rent<T?>(slots, 1, rows);
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
                        nulls = Rent<bool>(slots, 2, rows);
                        Array.Clear(nulls, 0, rows);
                    }

                    nulls[i] = true;
                }
            }
        }
        else
        {
            var raw = Rent<T>(slots, 1, rows);
            Wait(group.ReadAsync(field, raw.AsMemory(0, rows)));
            for (var i = 0; i < rows; i++)
            {
                values[i] = convert(raw[i]);
            }
        }

        return (values, nulls);
    }

    // Column buffers are kept from one row group to the one after the next (two sets alternate); a row group's columns
    // are large: fresh ones each time would cost a full garbage collection every few groups.
    private T[] Rent<T>(int slots, int slot, int rows)
    {
        var key = (slots * 3) + slot;
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
}

using System.Globalization;

namespace GenRec.Data.Tables;

/// <summary>
/// One column of a block of rows, decoded whole (a Parquet row group's column): its values in a typed array and, when
/// any value is null, a flag per row. Rows are read by index; a converter that knows the kind reads the array itself.
/// </summary>
internal abstract class DecodedColumn(bool[]? nulls)
{
    /// <summary>A flag per row, true where the value is null; <see langword="null"/> when no value is.</summary>
    public bool[]? Nulls => nulls;

    public bool IsNull(int row) => nulls is not null && nulls[row];

    public abstract bool TryGetInt64(int row, out long value);

    public abstract bool TryGetDouble(int row, out double value);

    /// <summary>The value as a time in Unix seconds when the column is a timestamp type, else false.</summary>
    public virtual bool TryGetTime(int row, out long seconds)
    {
        seconds = 0;
        return false;
    }

    public abstract string Text(int row);

    public virtual ReadOnlySpan<char> Span(int row) => Text(row);
}

/// <summary>Integers (any width, and booleans as 0 and 1) as <see cref="long"/>.</summary>
internal class IntegerColumn(long[] values, bool[]? nulls) : DecodedColumn(nulls)
{
    /// <summary>The values; a null row's value is unspecified.</summary>
    public long[] Values => values;

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

/// <summary>Timestamps as Unix seconds.</summary>
internal sealed class TimeColumn(long[] seconds, bool[]? nulls) : IntegerColumn(seconds, nulls)
{
    public override bool TryGetTime(int row, out long value) => TryGetInt64(row, out value);

    public override string Text(int row) => IsNull(row) ? string.Empty : DateTimeOffset.FromUnixTimeSeconds(Values[row]).ToString("O", CultureInfo.InvariantCulture);
}

/// <summary>Numbers as <see cref="double"/>.</summary>
internal sealed class RealColumn(double[] values, bool[]? nulls) : DecodedColumn(nulls)
{
    /// <summary>The values; a null row's value is unspecified.</summary>
    public double[] Values => values;

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

/// <summary>
/// Text as the decoder gives it: a dictionary-encoded column's rows share the dictionary's characters, so rows with
/// the same value are the same slice of the same array (a converter can map each distinct value once).
/// </summary>
internal sealed class TextColumn(ReadOnlyMemory<char>[] values, bool[]? nulls) : DecodedColumn(nulls)
{
    /// <summary>The values; a null row's value is empty.</summary>
    public ReadOnlyMemory<char>[] Values => values;

    public override bool TryGetInt64(int row, out long value)
    {
        value = 0;
        return !IsNull(row) && TableReader.ParseInt64(values[row].Span, out value);
    }

    public override bool TryGetDouble(int row, out double value)
    {
        value = 0;
        return !IsNull(row) && TableReader.ParseDouble(values[row].Span, out value);
    }

    public override string Text(int row) => IsNull(row) ? string.Empty : values[row].ToString();

    public override ReadOnlySpan<char> Span(int row) => IsNull(row) ? [] : values[row].Span;
}

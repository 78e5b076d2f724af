namespace GenRec;

/// <summary>
/// Identifies an item of the catalogue (a movie, a product, a video). A team maps its own item keys
/// onto this 64-bit id; the SDK never interprets the value beyond equality and ordering.
/// </summary>
/// <param name="Value">The item's numeric id.</param>
public readonly record struct ItemId(long Value) : IComparable<ItemId>
{
    /// <inheritdoc />
    public int CompareTo(ItemId other) => Value.CompareTo(other.Value);

    /// <inheritdoc />
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Compares two ids by value.</summary>
    public static bool operator <(ItemId left, ItemId right) => left.Value < right.Value;

    /// <summary>Compares two ids by value.</summary>
    public static bool operator >(ItemId left, ItemId right) => left.Value > right.Value;

    /// <summary>Compares two ids by value.</summary>
    public static bool operator <=(ItemId left, ItemId right) => left.Value <= right.Value;

    /// <summary>Compares two ids by value.</summary>
    public static bool operator >=(ItemId left, ItemId right) => left.Value >= right.Value;
}

/// <summary>
/// Identifies a user (or an anonymous visitor). A team maps its own user keys onto this 64-bit id.
/// </summary>
/// <param name="Value">The user's numeric id.</param>
public readonly record struct UserId(long Value) : IComparable<UserId>
{
    /// <inheritdoc />
    public int CompareTo(UserId other) => Value.CompareTo(other.Value);

    /// <inheritdoc />
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Compares two ids by value.</summary>
    public static bool operator <(UserId left, UserId right) => left.Value < right.Value;

    /// <summary>Compares two ids by value.</summary>
    public static bool operator >(UserId left, UserId right) => left.Value > right.Value;

    /// <summary>Compares two ids by value.</summary>
    public static bool operator <=(UserId left, UserId right) => left.Value <= right.Value;

    /// <summary>Compares two ids by value.</summary>
    public static bool operator >=(UserId left, UserId right) => left.Value >= right.Value;
}

using System.Globalization;

namespace GenRec.SemanticIds;

/// <summary>
/// A semantic ID: a short tuple of codes such as &lt;32, 61, 55, 0&gt; — one code per quantization level and a last
/// code that tells apart items whose levels collide. Up to 8 codes, each below 65,536. Compared by value.
/// </summary>
public readonly struct SemanticId : IEquatable<SemanticId>
{
    /// <summary>The most codes a semantic ID holds.</summary>
    public const int MaxLength = 8;

    /// <summary>The largest code value plus one.</summary>
    public const int MaxCode = 1 << 16;

    private readonly UInt128 _packed;

    /// <summary>Creates a semantic ID from its codes.</summary>
    /// <param name="codes">1 to 8 codes, each in [0, 65535].</param>
    /// <exception cref="ArgumentException">Too many or too few codes, or a code out of range.</exception>
    public SemanticId(ReadOnlySpan<int> codes)
    {
        if (codes.Length is 0 or > MaxLength)
        {
            throw new ArgumentException($"A semantic ID has 1 to {MaxLength} codes; got {codes.Length}.", nameof(codes));
        }

        UInt128 packed = 0;
        for (var i = 0; i < codes.Length; i++)
        {
            if ((uint)codes[i] >= MaxCode)
            {
                throw new ArgumentException($"Code {codes[i]} at level {i} is out of range [0, {MaxCode - 1}].", nameof(codes));
            }

            packed |= (UInt128)(uint)codes[i] << (16 * i);
        }

        _packed = packed;
        Length = codes.Length;
    }

    private SemanticId(UInt128 packed, int length)
    {
        _packed = packed;
        Length = length;
    }

    /// <summary>The number of codes.</summary>
    public int Length { get; }

    /// <summary>This ID with the code at <paramref name="level"/> replaced (no allocation).</summary>
    internal SemanticId WithCode(int level, int code)
    {
        var shift = 16 * level;
        return new SemanticId((_packed & ~((UInt128)0xFFFF << shift)) | ((UInt128)(ushort)code << shift), Length);
    }

    /// <summary>A key whose order is the lexicographic order of the codes (for IDs of one length).</summary>
    internal UInt128 SortKey()
    {
        UInt128 key = 0;
        for (var i = 0; i < Length; i++)
        {
            key = (key << 16) | (ushort)(_packed >> (16 * i));
        }

        return key;
    }

    /// <summary>The code at <paramref name="level"/>.</summary>
    /// <param name="level">0-based level, below <see cref="Length"/>.</param>
    public int this[int level] =>
        (uint)level < (uint)Length ? (int)(ushort)(_packed >> (16 * level)) : throw new ArgumentOutOfRangeException(nameof(level));

    /// <summary>The codes as an array.</summary>
    /// <returns>A new array of <see cref="Length"/> codes.</returns>
    public int[] ToArray()
    {
        var codes = new int[Length];
        for (var i = 0; i < Length; i++)
        {
            codes[i] = this[i];
        }

        return codes;
    }

    /// <summary>Parses <c>&lt;32, 61, 55, 0&gt;</c> or <c>32,61,55,0</c>.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The semantic ID.</returns>
    /// <exception cref="FormatException">The text is not a list of codes.</exception>
    public static SemanticId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Trim().TrimStart('<').TrimEnd('>').Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var codes = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out codes[i]))
            {
                throw new FormatException($"'{text}' is not a semantic ID: '{parts[i]}' is not a code.");
            }
        }

        try
        {
            return new SemanticId(codes);
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"'{text}' is not a semantic ID: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public bool Equals(SemanticId other) => _packed == other._packed && Length == other.Length;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is SemanticId other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => (int)Hashing.Mix((ulong)_packed ^ Hashing.Mix((ulong)(_packed >> 64) + (ulong)Length));

    /// <inheritdoc />
    public override string ToString() => "<" + string.Join(", ", ToArray()) + ">";

    /// <summary>Compares two semantic IDs by value.</summary>
    public static bool operator ==(SemanticId left, SemanticId right) => left.Equals(right);

    /// <summary>Compares two semantic IDs by value.</summary>
    public static bool operator !=(SemanticId left, SemanticId right) => !left.Equals(right);
}

/// <summary>Hash mixing for packed integer keys, whose raw bits cluster badly in hash tables.</summary>
internal static class Hashing
{
    /// <summary>The splitmix64 finaliser: every input bit affects every output bit.</summary>
    public static ulong Mix(ulong x)
    {
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9UL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebUL;
        return x ^ (x >> 31);
    }
}

/// <summary>An equality comparer for packed <see cref="long"/> keys with a mixed hash.</summary>
internal sealed class MixedLongComparer : IEqualityComparer<long>
{
    public static readonly MixedLongComparer Instance = new();

    public bool Equals(long x, long y) => x == y;

    public int GetHashCode(long obj) => (int)Hashing.Mix((ulong)obj);
}

using System.Globalization;

namespace Heed;

/// <summary>
/// The bfloat16 format: sign, 8 exponent bits and 7 mantissa bits, i.e. the upper half of a <see cref="float"/>.
/// </summary>
/// <remarks>
/// Written here because the base library has no bfloat16 type. Conversions round to nearest, ties to even,
/// and keep NaN a NaN (quiet) with its sign.
/// </remarks>
public readonly struct BFloat16 : IEquatable<BFloat16>
{
    private BFloat16(ushort bits) => RawValue = bits;

    /// <summary>The 16 stored bits.</summary>
    public ushort RawValue { get; }

    /// <summary>Wraps stored bits without conversion.</summary>
    public static BFloat16 FromBits(ushort bits) => new(bits);

    /// <summary>Rounds a float to the nearest bfloat16, ties to even.</summary>
    public static explicit operator BFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return new BFloat16((ushort)((bits >> 16) | 0x0040));
        }

        uint roundingBias = 0x7FFFu + ((bits >> 16) & 1u);
        return new BFloat16((ushort)((bits + roundingBias) >> 16));
    }

    /// <summary>
    /// Rounds a double to the nearest bfloat16 in one step (no double rounding): the double is first rounded
    /// to float with round-to-odd, which is exact enough for the second rounding to be correct.
    /// </summary>
    public static explicit operator BFloat16(double value)
    {
        float f = (float)value;
        if (!double.IsNaN(value) && !float.IsInfinity(f) && f != value)
        {
            // Round toward zero, then set the sticky (lowest) bit: round-to-odd.
            if (Math.Abs((double)f) > Math.Abs(value))
            {
                f = MathF.BitDecrement(Math.Abs(f)) * MathF.Sign(f);
            }

            f = BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(f) | 1u);
        }

        return (BFloat16)f;
    }

    /// <summary>Widens to float exactly.</summary>
    public static explicit operator float(BFloat16 value) => BitConverter.UInt32BitsToSingle((uint)value.RawValue << 16);

    /// <summary>Widens to double exactly.</summary>
    public static explicit operator double(BFloat16 value) => (float)value;

    /// <summary>Widens to float exactly.</summary>
    public float ToSingle() => (float)this;

    /// <inheritdoc />
    public bool Equals(BFloat16 other) => RawValue == other.RawValue;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => RawValue;

    /// <summary>Bitwise equality.</summary>
    public static bool operator ==(BFloat16 left, BFloat16 right) => left.Equals(right);

    /// <summary>Bitwise inequality.</summary>
    public static bool operator !=(BFloat16 left, BFloat16 right) => !left.Equals(right);

    /// <inheritdoc />
    public override string ToString() => ((float)this).ToString(CultureInfo.InvariantCulture);
}

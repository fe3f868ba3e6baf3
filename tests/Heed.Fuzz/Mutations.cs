using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace Heed.Fuzz;

/// <summary>
/// The mutations every target shares: byte-level ones (bit flips, interesting integers and floats written over the
/// input, truncation, deleted, duplicated and inserted ranges) and text-level ones for the JSON and Python-literal
/// headers (numbers replaced by boundary values and literals beyond float64, nesting thousands deep, long repeated
/// lists, strings swapped, structural characters deleted or inserted).
/// </summary>
internal static partial class Mutations
{
    /// <summary>Integers that sit on a boundary a reader has to check: 0, −1, 2³¹−1, −2³¹, 2¹⁶ and small counts.</summary>
    public static readonly int[] Int32s = [0, -1, 1, 2, 3, 7, 255, 65535, 65536, int.MaxValue, int.MinValue, int.MaxValue - 1, 1 << 30, 0x7FFF, 0x8000];

    /// <summary>As <see cref="Int32s"/>, 64-bit: 2⁶², 2⁶³−1, −1 (2⁶⁴−1 unsigned), 2³², 2³¹.</summary>
    public static readonly long[] Int64s = [0, -1, 1, 2, int.MaxValue, 1L << 31, 1L << 32, 1L << 62, long.MaxValue, long.MinValue, (1L << 32) - 1, 1L << 40];

    /// <summary>Literals that replace a number in a JSON or Python-literal header.</summary>
    private static readonly string[] NumberLiterals =
    [
        "0", "-1", "1", "2", "2147483647", "2147483648", "-2147483648", "4294967296", "4611686018427387904",
        "9223372036854775807", "18446744073709551615", "18446744073709551616", "1e400", "-1e400", "1e-400", "1.5", "-0",
        "NaN", "Infinity", "-Infinity", "nan", "inf", "0x10", "1_000", "2.", "+3", "1e", "--1", new string('9', 400),
        "null", "true", "\"2\"", "[]", "{}", "[2]", "[[2]]", "{\"a\": 1}", "None", "()", "(2,)",
    ];

    /// <summary>Strings that replace a string in a header: type names of every format, empty, control bytes, long.</summary>
    private static readonly string[] StringLiterals =
    [
        "\"\"", "\"F32\"", "\"F16\"", "\"BF16\"", "\"F64\"", "\"I64\"", "\"I32\"", "\"U8\"", "\"I8\"", "\"BOOL\"", "\"F8_E4M3\"",
        "\"<f4\"", "\">f8\"", "\"|b1\"", "\"<c8\"", "\"<U3\"", "\"|O\"", "\"<i8\"", "\"<f2\"", "\"<V8\"", "\"|S0\"",
        "'<f4'", "'>i4'", "'|u1'", "'<f8'", "'O'", "\"__metadata__\"", "\"\\u0000\"", "\"\\n\\r\"", "\"\\ud800\"",
        "\"" + new string('x', 5000) + "\"", "1", "null", "[]", "{}",
    ];

    private static readonly string[] Structural = ["{", "}", "[", "]", "(", ")", ",", ":", "\"", "'", "\\", "\n", "\0", " ", "-", "e", "."];

    /// <summary>One byte-level mutation of <paramref name="data"/> (a new array; the input is left alone).</summary>
    public static byte[] Bytes(byte[] data, Random rng)
    {
        var list = new List<byte>(data);
        int n = list.Count;
        switch (rng.Next(10))
        {
            case 0 when n > 0:
                {
                    int at = rng.Next(n);
                    list[at] ^= (byte)(1 << rng.Next(8));
                    break;
                }

            case 1 when n > 0:
                list[rng.Next(n)] = (byte)(rng.Next(4) switch { 0 => 0, 1 => 0xFF, 2 => 0x7F, _ => 0x80 });
                break;
            case 2 when n >= 4:
                {
                    byte[] result = [.. list];
                    WriteInt32(result, rng.Next(n - 3), Pick(Int32s, rng));
                    return result;
                }

            case 3 when n >= 8:
                {
                    byte[] result = [.. list];
                    WriteInt64(result, rng.Next(n - 7), Pick(Int64s, rng));
                    return result;
                }

            case 4 when n >= 4:
                {
                    byte[] result = [.. list];
                    int at = rng.Next(n - 3);
                    BinaryPrimitives.WriteSingleLittleEndian(result.AsSpan(at), rng.Next(3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.MaxValue });
                    return result;
                }

            case 5 when n > 0:
                return data[..rng.Next(n)];
            case 6 when n > 1:
                {
                    int at = rng.Next(n), length = Math.Min(n - at, 1 + rng.Next(Math.Max(1, n / 8)));
                    list.RemoveRange(at, length);
                    break;
                }

            case 7 when n > 1:
                {
                    int at = rng.Next(n), length = Math.Min(n - at, 1 + rng.Next(Math.Max(1, n / 4)));
                    list.InsertRange(rng.Next(n), data.AsSpan(at, length).ToArray());
                    break;
                }

            case 8:
                {
                    var bytes = new byte[1 + rng.Next(16)];
                    rng.NextBytes(bytes);
                    list.InsertRange(n == 0 ? 0 : rng.Next(n), bytes);
                    break;
                }

            default:
                {
                    var bytes = new byte[1 + rng.Next(64)];
                    rng.NextBytes(bytes);
                    list.AddRange(bytes);
                    break;
                }
        }

        return [.. list];
    }

    /// <summary>One text-level mutation of a JSON or Python-literal header.</summary>
    public static string Text(string text, Random rng)
    {
        switch (rng.Next(8))
        {
            case 0:
            case 1:
                return ReplaceToken(text, NumberPattern(), rng, _ => Pick(NumberLiterals, rng));
            case 2:
                return ReplaceToken(text, StringPattern(), rng, _ => Pick(StringLiterals, rng));
            case 3:
                {
                    // Nesting the reader's recursion (if any) would follow: [[[[…2…]]]] thousands deep.
                    int depth = Pick([2, 10, 65, 100, 1000, 10_000, 100_000], rng);
                    return ReplaceToken(text, NumberPattern(), rng, v => new string('[', depth) + v + new string(']', depth));
                }

            case 4:
                {
                    // A long list: a shape of thousands of axes, a row of thousands of values.
                    int count = Pick([63, 64, 65, 100, 1000, 100_000], rng);
                    return ReplaceToken(text, NumberPattern(), rng, v => string.Join(", ", Enumerable.Repeat(v, count)));
                }

            case 5:
                {
                    int at = text.Length == 0 ? 0 : rng.Next(text.Length);
                    return text.Remove(at, Math.Min(text.Length - at, 1 + rng.Next(3)));
                }

            case 6:
                return text.Insert(text.Length == 0 ? 0 : rng.Next(text.Length), Pick(Structural, rng));
            default:
                return ReplaceToken(text, NumberPattern(), rng, v => rng.Next(2) == 0 ? "-" + v : v + v);
        }
    }

    /// <summary>A random element of <paramref name="items"/>.</summary>
    public static T Pick<T>(IReadOnlyList<T> items, Random rng) => items[rng.Next(items.Count)];

    /// <summary>Writes a little-endian int32 at <paramref name="at"/>.</summary>
    public static void WriteInt32(byte[] data, int at, int value) => BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(at), value);

    /// <summary>Writes a little-endian int64 at <paramref name="at"/>.</summary>
    public static void WriteInt64(byte[] data, int at, long value) => BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(at), value);

    /// <summary>A boundary value for an integer field of <paramref name="bytes"/> bytes, or a value near its current one.</summary>
    public static long FieldValue(int bytes, long current, Random rng) => rng.Next(4) switch
    {
        0 => current + rng.Next(-3, 4),
        1 => current * 2,
        _ => bytes == 8 ? Pick(Int64s, rng) : Pick(Int32s, rng),
    };

    /// <summary>Writes <paramref name="value"/> as a little-endian integer of <paramref name="bytes"/> (2, 4 or 8) bytes.</summary>
    public static void WriteField(byte[] data, int at, int bytes, long value)
    {
        switch (bytes)
        {
            case 2: BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(at), unchecked((ushort)value)); break;
            case 4: BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(at), unchecked((int)value)); break;
            default: BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(at), value); break;
        }
    }

    /// <summary>Reads a little-endian integer of <paramref name="bytes"/> (2, 4 or 8) bytes.</summary>
    public static long ReadField(byte[] data, int at, int bytes) => bytes switch
    {
        2 => BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(at)),
        4 => BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at)),
        _ => BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(at)),
    };

    /// <summary>UTF-8 without a byte order mark.</summary>
    public static readonly Encoding Utf8 = new UTF8Encoding(false);

    private static string ReplaceToken(string text, Regex pattern, Random rng, Func<string, string> replace)
    {
        MatchCollection matches = pattern.Matches(text);
        if (matches.Count == 0) return text.Insert(text.Length == 0 ? 0 : rng.Next(text.Length), Pick(NumberLiterals, rng));
        Match m = matches[rng.Next(matches.Count)];
        return string.Concat(text.AsSpan(0, m.Index), replace(m.Value), text.AsSpan(m.Index + m.Length));
    }

    [GeneratedRegex(@"-?\d+(\.\d+)?([eE][+-]?\d+)?")]
    private static partial Regex NumberPattern();

    [GeneratedRegex(@"""(?:[^""\\]|\\.)*""|'[^']*'")]
    private static partial Regex StringPattern();
}

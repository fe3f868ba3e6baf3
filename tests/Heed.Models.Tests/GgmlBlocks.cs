using System.Buffers.Binary;

namespace Heed.Models.Tests;

/// <summary>
/// ggml's tensor types written for the tests from the published block layouts, independently of Heed.Models.Gguf:
/// random stored bytes for a matrix, and the value of every element in float64, one element at a time by its index.
/// </summary>
internal static class GgmlBlocks
{
    public const uint F32 = 0, F16 = 1, Q8_0 = 8, Q4_K = 12, Q6_K = 14, BF16 = 30;

    public static readonly uint[] All = [F32, F16, BF16, Q8_0, Q4_K, Q6_K];

    public static int BlockElements(uint type) => type switch { Q8_0 => 32, Q4_K or Q6_K => 256, _ => 1 };

    public static int BlockBytes(uint type) => type switch { F32 => 4, F16 or BF16 => 2, Q8_0 => 2 + 32, Q4_K => 2 + 2 + 12 + 128, Q6_K => 128 + 64 + 16 + 2, _ => throw new ArgumentOutOfRangeException(nameof(type)) };

    public static string Name(uint type) => type switch { F32 => "F32", F16 => "F16", BF16 => "BF16", Q8_0 => "Q8_0", Q4_K => "Q4_K", Q6_K => "Q6_K", _ => type.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    /// <summary>Random stored bytes of a [rows, columns] matrix, values of roughly ±<paramref name="range"/>; float16 data includes subnormals and zeros.</summary>
    public static byte[] Random(uint type, int rows, int columns, Random random, double range = 0.5)
    {
        int count = rows * columns;
        switch (type)
        {
            case F32:
                return [.. Enumerable.Range(0, count).SelectMany(_ => BitConverter.GetBytes((float)(((random.NextDouble() * 2) - 1) * range)))];
            case F16:
                return [.. Enumerable.Range(0, count).SelectMany(i => BitConverter.GetBytes(BitConverter.HalfToUInt16Bits((Half)(i % 37 == 0 ? 0 : ((random.NextDouble() * 2) - 1) * (i % 11 == 0 ? 1e-6 : range)))))];
            case BF16:
                return [.. Enumerable.Range(0, count).SelectMany(_ => BitConverter.GetBytes((ushort)(BitConverter.SingleToUInt32Bits((float)(((random.NextDouble() * 2) - 1) * range)) >> 16)))];
        }

        var bytes = new byte[count / BlockElements(type) * BlockBytes(type)];
        random.NextBytes(bytes);
        int size = BlockBytes(type);
        for (int at = 0; at < bytes.Length; at += size)
        {
            // Scales of a sensible size: a random float16 bit pattern would often be huge, infinite or NaN.
            double unit = range / (type == Q8_0 ? 127 : type == Q4_K ? 15 * 63 : 32 * 127);
            ushort Half() => BitConverter.HalfToUInt16Bits((Half)(unit * (0.5 + random.NextDouble())));
            switch (type)
            {
                case Q8_0:
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at), Half());
                    break;
                case Q4_K:
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at), Half());
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at + 2), Half());
                    break;
                case Q6_K:
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at + 208), Half());
                    break;
            }
        }

        return bytes;
    }

    /// <summary>Element <paramref name="index"/> of a row stored as <paramref name="row"/>, in float64.</summary>
    public static double Value(uint type, ReadOnlySpan<byte> row, int index)
    {
        int n = BlockElements(type);
        ReadOnlySpan<byte> b = row.Slice(index / n * BlockBytes(type), BlockBytes(type));
        int i = index % n;
        switch (type)
        {
            case F32:
                return BitConverter.ToSingle(b);
            case F16:
                return (double)BitConverter.ToHalf(b);
            case BF16:
                return BitConverter.UInt32BitsToSingle((uint)BitConverter.ToUInt16(b) << 16);
            case Q8_0:
                return (double)BitConverter.ToHalf(b) * (sbyte)b[2 + i];
            case Q4_K:
                {
                    // Sub-block j = i / 32 of eight; 64 values share 32 quant bytes: low nibbles first, then high.
                    double d = (double)BitConverter.ToHalf(b), dmin = (double)BitConverter.ToHalf(b[2..]);
                    ReadOnlySpan<byte> s = b.Slice(4, 12);
                    int j = i / 32;
                    byte packed = b[16 + (32 * (i / 64)) + (i % 32)];
                    int q = i % 64 < 32 ? packed % 16 : packed / 16;
                    int scale = j < 4 ? s[j] % 64 : (s[j + 4] % 16) + (16 * (s[j - 4] / 64));
                    int min = j < 4 ? s[j + 4] % 64 : (s[j + 4] / 16) + (16 * (s[j] / 64));
                    return (d * scale * q) - (dmin * min);
                }

            case Q6_K:
                {
                    // Value i: half h = i / 128, within it group k = (i % 128) / 32 and lane l = i % 32; scale i / 16.
                    int h = i / 128, k = i % 128 / 32, l = i % 32;
                    byte low = b[(64 * h) + l + (32 * (k % 2))];
                    int q = (k < 2 ? low % 16 : low / 16) + (16 * ((b[128 + (32 * h) + l] >> (2 * k)) % 4)) - 32;
                    return (double)BitConverter.ToHalf(b[208..]) * (sbyte)b[192 + (i / 16)] * q;
                }

            default:
                throw new ArgumentOutOfRangeException(nameof(type));
        }
    }

    /// <summary>Every element of a [rows, columns] matrix in float64.</summary>
    public static double[] Values(uint type, byte[] data, int rows, int columns)
    {
        int rowBytes = columns / BlockElements(type) * BlockBytes(type);
        var values = new double[rows * columns];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++) values[(r * columns) + c] = Value(type, data.AsSpan(r * rowBytes, rowBytes), c);
        }

        return values;
    }
}

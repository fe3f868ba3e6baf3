using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Heed.Models.Gguf;

/// <summary>
/// ggml's block formats turned back into float32, written plainly, one element at a time: the specification the fast
/// products in <see cref="Blocks.WeightMatrix"/> are tested against. Every formula evaluates in float32 in the order
/// ggml's reference dequantization does, so the values are ggml's bit for bit.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1707:Identifiers should not contain underscores", Justification = "ggml's type names (Q8_0, Q4_K, Q6_K) are kept verbatim, like checkpoint names")]
public static class Dequantize
{
    /// <summary>A float16 (IEEE binary16, little-endian) as float32; exact.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Half(ReadOnlySpan<byte> bytes) => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(bytes));

    /// <summary>A bfloat16 (little-endian) as float32: its 16 bits become the upper half of the float32; exact.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BFloat16(ReadOnlySpan<byte> bytes) => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes) << 16);

    /// <summary>
    /// row [n] → y [n]: <paramref name="row"/> holds n / BlockElements(type) blocks of <paramref name="type"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The lengths do not fit the type's blocks.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the decode path: a quantized embedding's row per token
    public static void Row(GgmlType type, ReadOnlySpan<byte> row, Span<float> y)
    {
        int block = GgmlTypes.BlockElements(type), bytes = GgmlTypes.BlockBytes(type);
        if (y.Length % block != 0 || row.Length < (long)y.Length / block * bytes)
        {
            throw new ArgumentException($"dequantize {type}: {y.Length} outputs from {row.Length} bytes");
        }

        for (int b = 0; b < y.Length / block; b++)
        {
            ReadOnlySpan<byte> data = row.Slice(b * bytes, bytes);
            Span<float> output = y.Slice(b * block, block);
            switch (type)
            {
                case GgmlType.F32: output[0] = BinaryPrimitives.ReadSingleLittleEndian(data); break;
                case GgmlType.F16: output[0] = Half(data); break;
                case GgmlType.BF16: output[0] = BFloat16(data); break;
                case GgmlType.Q8_0: Q8_0(data, output); break;
                case GgmlType.Q4_K: Q4_K(data, output); break;
                case GgmlType.Q6_K: Q6_K(data, output); break;
                default: throw new ArgumentOutOfRangeException(nameof(type));
            }
        }
    }

    /// <summary>One Q8_0 block (34 bytes) → 32 values: y[i] = d·q[i], d float16 at byte 0, q int8 at bytes 2..33.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the decode path: a quantized embedding's row per token
    public static void Q8_0(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Half(block);
        for (int i = 0; i < 32; i++) y[i] = d * (sbyte)block[2 + i];
    }

    /// <summary>
    /// Sub-block <paramref name="j"/> (0..7) of a Q4_K or Q5_K block's 12 scale bytes: its 6-bit scale and 6-bit min.
    /// Sub-blocks 0..3 keep both in the low 6 bits of bytes j and j+4; sub-blocks 4..7 take their low 4 bits from byte
    /// j+4 (scale: low nibble, min: high nibble) and their top 2 bits from the top bits of bytes j−4 (scale) and j (min).
    /// </summary>
    public static (int Scale, int Min) ScaleMinK4(int j, ReadOnlySpan<byte> scales)
    {
        if (j < 4)
        {
            return (scales[j] & 63, scales[j + 4] & 63);
        }

        return ((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4), (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }

    /// <summary>
    /// One Q4_K block (144 bytes) → 256 values. Bytes: d (float16), dmin (float16), 12 scale bytes, 128 quant bytes.
    /// The 256 values are four groups of 64; group g reads quant bytes 32g..32g+31, whose low nibbles are sub-block 2g
    /// and high nibbles sub-block 2g+1; y = (d·scale)·q − (dmin·min).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the decode path: a quantized embedding's row per token
    public static void Q4_K(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Half(block), dmin = Half(block[2..]);
        ReadOnlySpan<byte> scales = block.Slice(4, 12), q = block.Slice(16, 128);
        for (int g = 0; g < 4; g++)
        {
            (int s0, int m0) = ScaleMinK4(2 * g, scales);
            (int s1, int m1) = ScaleMinK4((2 * g) + 1, scales);
            float d0 = d * s0, min0 = dmin * m0, d1 = d * s1, min1 = dmin * m1;
            for (int l = 0; l < 32; l++)
            {
                y[(64 * g) + l] = (d0 * (q[(32 * g) + l] & 0xF)) - min0;
                y[(64 * g) + 32 + l] = (d1 * (q[(32 * g) + l] >> 4)) - min1;
            }
        }
    }

    /// <summary>
    /// One Q6_K block (210 bytes) → 256 values. Bytes: 128 of low nibbles (ql), 64 of 2-bit high parts (qh), 16 int8
    /// scales, d (float16). Each half of 128 values uses 64 ql bytes and 32 qh bytes: value l + 32k (k = 0..3, l = 0..31)
    /// has its low 4 bits in ql[l + 32·(k mod 2)] (low nibble for k &lt; 2, high nibble otherwise) and its high 2 bits at
    /// bits 2k..2k+1 of qh[l]; y = (d·scale)·(q − 32) with the scale of its group of 16.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // on the decode path: a quantized embedding's row per token
    public static void Q6_K(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Half(block[208..]);
        for (int half = 0; half < 2; half++)
        {
            ReadOnlySpan<byte> ql = block.Slice(64 * half, 64), qh = block.Slice(128 + (32 * half), 32);
            ReadOnlySpan<byte> scales = block.Slice(192 + (8 * half), 8);
            for (int l = 0; l < 32; l++)
            {
                for (int k = 0; k < 4; k++)
                {
                    int low = k < 2 ? ql[l + (32 * k)] & 0xF : ql[l + (32 * (k - 2))] >> 4;
                    int q = (low | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                    float scale = d * (sbyte)scales[(l / 16) + (2 * k)];
                    y[(128 * half) + (32 * k) + l] = scale * q;
                }
            }
        }
    }
}

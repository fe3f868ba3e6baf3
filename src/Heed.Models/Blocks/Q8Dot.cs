using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Heed.Models.Blocks;

/// <summary>
/// Integer products of Q8_0 weights (blocks of 32 int8 values and a float16 scale) with activations quantized the same way,
/// as llama.cpp's decode does: per block of 32, d_x = max|x|/127 and q_x = round(x/d_x) (kept as float32 here, where
/// llama.cpp rounds d_x to float16). Each block's Σ q·q_x is exact in int32 (<c>vpdpbusd</c> on |q| and q_x with q's sign);
/// eight blocks' sums are gathered into one register and scaled by d·d_x in one multiply-add, where the float path
/// (<see cref="QuantizedLinear"/>'s DotQ8_0Avx512) converts every weight to float32 and scales every block on its own.
/// The activations' rounding moves a product by at most Σ|w|·d_x/2 (the tests assert it).
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1707:Identifiers should not contain underscores", Justification = "ggml's type names (Q8_0) are kept verbatim")]
internal static unsafe class Q8Dot
{
    /// <summary>Values per block.</summary>
    public const int Block = 32;

    private const int BlockBytes = 34;

    /// <summary>Whether this machine runs <see cref="Dot(byte*, int, ReadOnlySpan{sbyte}, ReadOnlySpan{float})"/> (AVX-VNNI on 256-bit registers and AVX2).</summary>
    public static bool IsSupported => AvxVnni.IsSupported && Avx2.IsSupported;

    /// <summary>
    /// x [n] → q [n] int8 and d [n/32]: per block of 32, d = max|x|/127 and q = round(x·127/max|x|) (ties to even), 0 for a
    /// block of zeros. n is a multiple of 32.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Quantize(ReadOnlySpan<float> x, Span<sbyte> q, Span<float> d)
    {
        int blocks = x.Length / Block;
        if (x.Length % Block != 0 || q.Length < x.Length || d.Length < blocks)
        {
            throw new ArgumentException($"Q8_0 quantization: {x.Length} values into {q.Length}, {d.Length} scales");
        }

        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<float> block = x.Slice(b * Block, Block);
            if (Avx512F.IsSupported)
            {
                ref float rx = ref MemoryMarshal.GetReference(block);
                Vector512<float> v0 = Vector512.LoadUnsafe(ref rx), v1 = Vector512.LoadUnsafe(ref rx, 16);
                Vector512<float> m = Vector512.Max(Vector512.Abs(v0), Vector512.Abs(v1));
                Vector256<float> h = Vector256.Max(m.GetLower(), m.GetUpper());
                Vector128<float> g = Vector128.Max(h.GetLower(), h.GetUpper());
                float top = Math.Max(Math.Max(g[0], g[1]), Math.Max(g[2], g[3]));
                d[b] = top / 127;
                var scale = Vector512.Create(top > 0 ? 127 / top : 0);
                ref sbyte rq = ref MemoryMarshal.GetReference(q.Slice(b * Block, Block));
                Avx512F.ConvertToVector128SByte(Vector512.ConvertToInt32(Vector512.Round(v0 * scale))).StoreUnsafe(ref rq);
                Avx512F.ConvertToVector128SByte(Vector512.ConvertToInt32(Vector512.Round(v1 * scale))).StoreUnsafe(ref rq, 16);
                continue;
            }

            float max = 0;
            foreach (float v in block) max = Math.Max(max, Math.Abs(v));
            float inverse = max > 0 ? 127 / max : 0;
            d[b] = max / 127;
            for (int i = 0; i < Block; i++) q[(b * Block) + i] = (sbyte)(int)MathF.Round(block[i] * inverse);
        }
    }

    /// <summary>
    /// Σ w·x for one Q8_0 row of <paramref name="blocks"/> blocks at <paramref name="row"/> (pinned by the caller) against
    /// x quantized by <see cref="Quantize"/>. Requires <see cref="IsSupported"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* row, int blocks, ReadOnlySpan<sbyte> q, ReadOnlySpan<float> d)
    {
        if (q.Length < blocks * Block || d.Length < blocks)
        {
            throw new ArgumentException($"Q8_0 product: {blocks} blocks against {q.Length} values and {d.Length} scales");
        }

        return Dot(row, blocks, ref MemoryMarshal.GetReference(q), ref MemoryMarshal.GetReference(d));
    }

    /// <summary>
    /// <see cref="Dot(byte*, int, ReadOnlySpan{sbyte}, ReadOnlySpan{float})"/> without the length checks, for a decode loop
    /// over the rows of a product whose operands the caller checked.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* row, int blocks, ref sbyte rq, ref float rd)
    {
        Vector256<float> acc = Vector256<float>.Zero;
        int b = 0;
        for (; b + 8 <= blocks; b += 8)
        {
            byte* group = row + ((long)b * BlockBytes);
            ref sbyte xq = ref Unsafe.Add(ref rq, b * Block);
            Vector256<int> p0 = BlockDot(group, ref xq, 0), p1 = BlockDot(group, ref xq, 1), p2 = BlockDot(group, ref xq, 2), p3 = BlockDot(group, ref xq, 3);
            Vector256<int> p4 = BlockDot(group, ref xq, 4), p5 = BlockDot(group, ref xq, 5), p6 = BlockDot(group, ref xq, 6), p7 = BlockDot(group, ref xq, 7);

            // Lane j of the sum is block j's Σ q·q_x: pairwise adds within 128-bit lanes, then the two lanes added.
            Vector256<int> s0123 = Avx2.HorizontalAdd(Avx2.HorizontalAdd(p0, p1), Avx2.HorizontalAdd(p2, p3));
            Vector256<int> s4567 = Avx2.HorizontalAdd(Avx2.HorizontalAdd(p4, p5), Avx2.HorizontalAdd(p6, p7));
            Vector256<int> sums = Avx2.Permute2x128(s0123, s4567, 0x20) + Avx2.Permute2x128(s0123, s4567, 0x31);

            // The eight blocks' float16 d, sign-extended and converted as QuantizedLinear.HalfToSingle does.
            Vector256<int> bits = Vector256.Create(*(short*)group, *(short*)(group + 34), *(short*)(group + 68), *(short*)(group + 102), *(short*)(group + 136), *(short*)(group + 170), *(short*)(group + 204), *(short*)(group + 238));
            Vector256<float> dw = (((bits << 16) >> 16 << 13) & Vector256.Create(QuantizedLinear.HalfMask)).AsSingle() * Vector256.Create(QuantizedLinear.HalfRebias);
            acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sums), dw * Vector256.LoadUnsafe(ref rd, (nuint)b), acc);
        }

        float total = Vector256.Sum(acc);
        for (; b < blocks; b++)
        {
            byte* block = row + ((long)b * BlockBytes);
            total += Vector256.Sum(BlockDot(block, ref Unsafe.Add(ref rq, b * Block), 0)) * (QuantizedLinear.HalfToSingle(*(ushort*)block) * Unsafe.Add(ref rd, b));
        }

        return total;
    }

    // Block j of a group: |q| (unsigned) by q_x with q's sign (vpsignb zeroes q_x where q is 0), four products per int32 lane.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> BlockDot(byte* group, ref sbyte xq, int j)
    {
        Vector256<sbyte> w = Avx.LoadVector256((sbyte*)(group + (j * BlockBytes) + 2));
        Vector256<sbyte> x = Vector256.LoadUnsafe(ref xq, (nuint)(j * Block));
        return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Avx2.Abs(w), Avx2.Sign(x, w));
    }
}

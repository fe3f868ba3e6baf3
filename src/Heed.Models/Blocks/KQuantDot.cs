using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Heed.Models.Gguf;

namespace Heed.Models.Blocks;

/// <summary>
/// Integer products of k-quant weights (Q4_K, Q6_K) with activations quantized per block of 256 to int8, the scheme
/// llama.cpp calls Q8_K: for each block a float scale d_x = max|x|/127, values q_x = round(x/d_x), and the sum of every 16
/// q_x (which carries Q4_K's mins and Q6_K's −32 offset, so that the weights stay unsigned in the byte products). Within a
/// block every product is exact in int32; one float multiply-add per block applies d·d_x. The activations' rounding moves
/// a product by at most Σ|w|·d_x/2 (the tests assert it).
/// Tiers: AVX-512BW (64 weights per <c>vpmaddubsw</c> + <c>vpmaddwd</c> by the scales), AVX2 (32 per pair), scalar.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1707:Identifiers should not contain underscores", Justification = "ggml's type names (Q4_K, Q6_K) are kept verbatim")]
internal static class KQuantDot
{
    /// <summary>Values per quantized activation block (and per k-quant super-block).</summary>
    public const int Block = 256;

    // How far ahead the Q4_K decode pairs prefetch, in pairs of rows. A pass over the 110M shape's Q4_K weights from memory
    // (one thread): 33–35 G weights/s without, 41.8 one pair ahead, 42.6–42.8 two, 43.2–43.4 four; the same for Q6_K rows and
    // Q8_0 blocks was no faster (docs/kernels.md, GGUF entry 17).
    private const int PrefetchPairs = 4;

    // vpermw controls that spread 8 int16 scales over the 32 int16 lanes of one vpmaddubsw result. Q4_K, the 64 bytes of
    // half h of a block's packed values: their low nibbles are sub-blocks 4h (bytes 0..31, lanes 0..15) and 4h+2 (bytes
    // 32..63, lanes 16..31), their high nibbles 4h+1 and 4h+3. Q6_K, 64 weights at offset 64·k of the block: lane i takes
    // the scale of group 4k + i/8 of 16 weights.
    private static readonly Vector512<short>[] Q4Controls = [Q4Control(0, 2), Q4Control(1, 3), Q4Control(4, 6), Q4Control(5, 7)];
    private static readonly Vector512<short>[] Q6Controls = [.. Enumerable.Range(0, 4).Select(k => Control(i => (short)((4 * k) + (i / 8))))];

    // vpshufb controls (AVX2 tier) that take int16 scale 2m into the low 128-bit lane and 2m+1 into the high one, from a
    // vector whose two lanes both hold 8 scales.
    private static readonly Vector256<byte>[] PairControls = [.. Enumerable.Range(0, 4).Select(m => Vector256.Create(
        Vector128.Create((ushort)(((4 * m) + 1) << 8 | (4 * m))).AsByte(),
        Vector128.Create((ushort)(((4 * m) + 3) << 8 | ((4 * m) + 2))).AsByte()))];

    private static Vector512<short> Q4Control(short first, short second) => Control(i => i < 16 ? first : second);

    private static Vector512<short> Control(Func<int, short> lane)
    {
        var values = new short[32];
        for (int i = 0; i < 32; i++) values[i] = lane(i);
        return Vector512.Create(values);
    }

    /// <summary>
    /// x [n] → q [n] int8, d [n/256], sums [n/16]: per block of 256, d = max|x|/127 and q = round(x/d) (ties to even);
    /// sums[i] = Σ q over values 16i..16i+15. n is a multiple of 256.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Quantize(ReadOnlySpan<float> x, Span<sbyte> q, Span<float> d, Span<short> sums)
    {
        int blocks = x.Length / Block;
        if (x.Length % Block != 0 || q.Length < x.Length || d.Length < blocks || sums.Length < x.Length / 16)
        {
            throw new ArgumentException($"Q8_K quantization: {x.Length} values into {q.Length}, {d.Length} scales, {sums.Length} sums");
        }

        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<float> block = x.Slice(b * Block, Block);
            float max = MaxMagnitude(block);
            float inverse = max > 0 ? 127 / max : 0;
            d[b] = max / 127;
            if (Avx512F.IsSupported)
            {
                ref float rx = ref MemoryMarshal.GetReference(block);
                ref sbyte rq = ref MemoryMarshal.GetReference(q.Slice(b * Block, Block));
                Vector512<float> scale = Vector512.Create(inverse);
                for (int i = 0; i < Block; i += 16)
                {
                    Vector512<int> v = Vector512.ConvertToInt32(Vector512.Round(Vector512.LoadUnsafe(ref rx, (nuint)i) * scale));
                    Avx512F.ConvertToVector128SByte(v).StoreUnsafe(ref rq, (nuint)i);
                    sums[(b * 16) + (i / 16)] = (short)Vector512.Sum(v);
                }

                continue;
            }

            for (int i = 0; i < Block; i += 16)
            {
                int sum = 0;
                for (int j = i; j < i + 16; j++)
                {
                    int v = (int)MathF.Round(block[j] * inverse);
                    q[(b * Block) + j] = (sbyte)v;
                    sum += v;
                }

                sums[(b * 16) + (i / 16)] = (short)sum;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float MaxMagnitude(ReadOnlySpan<float> block)
    {
        int i = 0;
        float max = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref float r = ref MemoryMarshal.GetReference(block);
            Vector512<float> m = Vector512<float>.Zero;
            for (; i <= block.Length - 16; i += 16) m = Vector512.Max(m, Vector512.Abs(Vector512.LoadUnsafe(ref r, (nuint)i)));
            for (int lane = 0; lane < 16; lane++) max = MathF.Max(max, m[lane]);
        }

        for (; i < block.Length; i++) max = MathF.Max(max, MathF.Abs(block[i]));
        return max;
    }

    /// <summary>Σ w·x for one Q4_K row [n] against x quantized by <see cref="Quantize"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float DotQ4_K(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> q, ReadOnlySpan<float> d, ReadOnlySpan<short> sums)
    {
        if (Avx512BW.IsSupported) return DotQ4_KAvx512(row, q, d, sums);
        if (Avx2.IsSupported) return DotQ4_KAvx2(row, q, d, sums);
        return DotQ4_KScalar(row, q, d, sums);
    }

    /// <summary>Σ w·x for one Q6_K row [n] against x quantized by <see cref="Quantize"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float DotQ6_K(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> q, ReadOnlySpan<float> d, ReadOnlySpan<short> sums)
    {
        if (Avx512BW.IsSupported) return DotQ6_KAvx512(row, q, d, sums);
        if (Avx2.IsSupported) return DotQ6_KAvx2(row, q, d, sums);
        return DotQ6_KScalar(row, q, d, sums);
    }

    private static int Blocks(ReadOnlySpan<byte> row, int blockBytes, ReadOnlySpan<sbyte> q, ReadOnlySpan<float> d, ReadOnlySpan<short> sums)
    {
        int blocks = q.Length / Block;
        if (q.Length % Block != 0 || row.Length < (long)blocks * blockBytes || d.Length < blocks || sums.Length < blocks * 16)
        {
            throw new ArgumentException($"k-quant product: {q.Length} activations against {row.Length} bytes");
        }

        return blocks;
    }

    /// <summary>
    /// The 8 scales and 8 mins of a Q4_K block's 12 scale bytes as bytes of two ulongs (the unpacking of
    /// <see cref="Dequantize.ScaleMinK4"/>, four sub-blocks per 32-bit word).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (ulong Scales, ulong Mins) ScalesMinsK4(ref byte scales)
    {
        uint a = Unsafe.ReadUnaligned<uint>(ref scales), b = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref scales, 4));
        uint c = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref scales, 8));

        // sub-blocks 0..3: low 6 bits of bytes 0..3 (scales) and 4..7 (mins); 4..7: a nibble of bytes 8..11 below the top
        // 2 bits of bytes 0..3 (scales) or 4..7 (mins), moved from bits 6..7 to bits 4..5.
        ulong sc = (a & 0x3F3F3F3Fu) | ((ulong)((c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u)) << 32);
        ulong mn = (b & 0x3F3F3F3Fu) | ((ulong)(((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u)) << 32);
        return (sc, mn);
    }

    /// <summary>The scalar tier, also the plain statement of the integer product: per block d_x·(d·Σ_j sc_j·Σ q·q_x − dmin·Σ_j m_j·Σ q_x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotQ4_KScalar(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> q, ReadOnlySpan<float> d, ReadOnlySpan<short> sums)
    {
        int blocks = Blocks(row, 144, q, d, sums);
        float total = 0;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = row.Slice(b * 144, 144);
            ReadOnlySpan<byte> scales = block.Slice(4, 12), packed = block.Slice(16, 128);
            ReadOnlySpan<sbyte> xq = q.Slice(b * Block, Block);
            int dot = 0, mins = 0;
            for (int j = 0; j < 8; j++)
            {
                (int scale, int min) = Dequantize.ScaleMinK4(j, scales);
                int shift = 4 * (j % 2), s = 0;
                for (int l = 0; l < 32; l++) s += ((packed[(32 * (j / 2)) + l] >> shift) & 0xF) * xq[(32 * j) + l];
                dot += scale * s;
                mins += min * (sums[(16 * b) + (2 * j)] + sums[(16 * b) + (2 * j) + 1]);
            }

            total += d[b] * ((Dequantize.Half(block) * dot) - (Dequantize.Half(block[2..]) * mins));
        }

        return total;
    }

    /// <summary>The scalar tier of Q6_K: per block d_x·d·Σ sc_g·Σ (q − 32)·q_x over the 16 groups of 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotQ6_KScalar(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> q, ReadOnlySpan<float> d, ReadOnlySpan<short> sums)
    {
        int blocks = Blocks(row, 210, q, d, sums);
        float total = 0;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = row.Slice(b * 210, 210);
            ReadOnlySpan<sbyte> xq = q.Slice(b * Block, Block);
            int dot = 0;
            for (int half = 0; half < 2; half++)
            {
                ReadOnlySpan<byte> ql = block.Slice(64 * half, 64), qh = block.Slice(128 + (32 * half), 32);
                for (int k = 0; k < 4; k++)
                {
                    for (int l = 0; l < 32; l++)
                    {
                        int low = k < 2 ? ql[l + (32 * k)] & 0xF : ql[l + (32 * (k - 2))] >> 4;
                        int value = (low | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                        int scale = (sbyte)block[192 + (8 * half) + (2 * k) + (l / 16)];
                        dot += scale * value * xq[(128 * half) + (32 * k) + l];
                    }
                }
            }

            total += d[b] * Dequantize.Half(block[208..]) * dot;
        }

        return total;
    }

    /// <summary>
    /// AVX-512BW: per half of a block (64 bytes of packed values, 128 weights), one load gives two registers of nibbles: the
    /// low ones are sub-blocks 4h and 4h+2, the high ones 4h+1 and 4h+3, against q_x rearranged to match (two 128-bit lane
    /// shuffles per 128 values, <see cref="Q4Activations"/>). <c>vpmaddubsw</c> of the nibbles by q_x, <c>vpmaddwd</c> by the
    /// sub-blocks' scales; the mins take one <c>vpmaddwd</c> of the 16 sums by the 8 mins (each twice) per block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotQ4_KAvx512(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> q, ReadOnlySpan<float> d, ReadOnlySpan<short> sums)
    {
        int blocks = Blocks(row, 144, q, d, sums);
        ref byte w = ref MemoryMarshal.GetReference(row);
        ref sbyte rq = ref MemoryMarshal.GetReference(q);
        ref float rd = ref MemoryMarshal.GetReference(d);
        ref short rs = ref MemoryMarshal.GetReference(sums);
        Vector512<short> c0 = Q4Controls[0], c1 = Q4Controls[1], c2 = Q4Controls[2], c3 = Q4Controls[3];
        Vector512<float> acc = Vector512<float>.Zero;
        Vector256<float> accMins = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            Q4Activations(ref Unsafe.Add(ref rq, Block * b), out Vector512<sbyte> x0, out Vector512<sbyte> x1, out Vector512<sbyte> x2, out Vector512<sbyte> x3);
            Q4Block(ref acc, ref accMins, ref Unsafe.Add(ref w, 144 * b), x0, x1, x2, x3, Vector256.LoadUnsafe(ref rs, (nuint)(16 * b)), Unsafe.Add(ref rd, b), c0, c1, c2, c3);
        }

        return Vector512.Sum(acc) - Vector256.Sum(accMins);
    }

    /// <summary>
    /// <see cref="DotQ4_KAvx512"/> for two consecutive rows (<paramref name="rowBytes"/> apart) against the same x: each
    /// block's activations are loaded and rearranged once for both rows, and the two rows' chains of work interleave. Each sum
    /// is the single-row kernel's, bit for bit (the same operations in the same order per row). The rows are trusted to hold
    /// <paramref name="blocks"/> blocks each, and x, d and sums as many (the caller checked the product); the rows are pinned.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void DotQ4_KAvx512Pair(ref byte w, int rowBytes, int blocks, ref sbyte rq, ref float rd, ref short rs, out float s0, out float s1)
    {
        Vector512<short> c0 = Q4Controls[0], c1 = Q4Controls[1], c2 = Q4Controls[2], c3 = Q4Controls[3];
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        Vector256<float> mins0 = Vector256<float>.Zero, mins1 = Vector256<float>.Zero;
        ref byte w1 = ref Unsafe.Add(ref w, rowBytes);

        // The pair's 2·rowBytes are one run of memory; each step asks for the 288 bytes as far ahead as PrefetchPairs pairs
        // (a pointer, not a reference: past the matrix's last row it points outside the array, and a prefetch never faults).
        byte* ahead = (byte*)Unsafe.AsPointer(ref w) + (2L * rowBytes * PrefetchPairs);
        for (int b = 0; b < blocks; b++, ahead += 288)
        {
            Sse.Prefetch0(ahead);
            Sse.Prefetch0(ahead + 64);
            Sse.Prefetch0(ahead + 128);
            Sse.Prefetch0(ahead + 192);
            Sse.Prefetch0(ahead + 256);
            Q4Activations(ref Unsafe.Add(ref rq, Block * b), out Vector512<sbyte> x0, out Vector512<sbyte> x1, out Vector512<sbyte> x2, out Vector512<sbyte> x3);
            Vector256<short> sums = Vector256.LoadUnsafe(ref rs, (nuint)(16 * b));
            float dx = Unsafe.Add(ref rd, b);
            Q4Block(ref acc0, ref mins0, ref Unsafe.Add(ref w, 144 * b), x0, x1, x2, x3, sums, dx, c0, c1, c2, c3);
            Q4Block(ref acc1, ref mins1, ref Unsafe.Add(ref w1, 144 * b), x0, x1, x2, x3, sums, dx, c0, c1, c2, c3);
        }

        s0 = Vector512.Sum(acc0) - Vector256.Sum(mins0);
        s1 = Vector512.Sum(acc1) - Vector256.Sum(mins1);
    }

    /// <summary>
    /// A block's q_x in the order of the packed nibbles: x0 = values 0..31 and 64..95, x1 = 32..63 and 96..127, x2 and x3
    /// the same for 128..255 (a <c>vshufi64x2</c> of two 64-byte loads each).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4Activations(ref sbyte xq, out Vector512<sbyte> x0, out Vector512<sbyte> x1, out Vector512<sbyte> x2, out Vector512<sbyte> x3)
    {
        Vector512<int> a = Vector512.LoadUnsafe(ref xq).AsInt32(), b = Vector512.LoadUnsafe(ref xq, 64).AsInt32();
        Vector512<int> c = Vector512.LoadUnsafe(ref xq, 128).AsInt32(), d = Vector512.LoadUnsafe(ref xq, 192).AsInt32();
        x0 = Avx512F.Shuffle4x128(a, b, 0x44).AsSByte();
        x1 = Avx512F.Shuffle4x128(a, b, 0xEE).AsSByte();
        x2 = Avx512F.Shuffle4x128(c, d, 0x44).AsSByte();
        x3 = Avx512F.Shuffle4x128(c, d, 0xEE).AsSByte();
    }

    // One block of one row: its scales and mins decoded once, d and dmin converted together, the dots into acc and the
    // mins' term into mins (both scaled by d_x).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4Block(ref Vector512<float> acc, ref Vector256<float> mins, ref byte block, Vector512<sbyte> x0, Vector512<sbyte> x1, Vector512<sbyte> x2, Vector512<sbyte> x3, Vector256<short> sums, float dx, Vector512<short> c0, Vector512<short> c1, Vector512<short> c2, Vector512<short> c3)
    {
        (ulong sc, ulong mn) = ScalesMinsK4(ref Unsafe.Add(ref block, 4));
        Vector512<short> scales = Sse41.ConvertToVector128Int16(Vector128.CreateScalar(sc).AsByte()).ToVector256Unsafe().ToVector512Unsafe();
        ref byte packed = ref Unsafe.Add(ref block, 16);
        Vector512<int> dots = Q4Half(ref packed, 0, x0, x1, scales, c0, c1) + Q4Half(ref packed, 1, x2, x3, scales, c2, c3);

        // d and dmin together, then times d_x. The short conversion reads the shifted bits as the float32 2^-112·value and
        // multiplies by 2^112 (exact); for a float16 subnormal or zero that float32 is subnormal, and a multiply with a subnormal
        // input made the whole block about 2.7 times as long here (GGUF entry 21), so those blocks take the conversion
        // without one (QuantizedLinear.HalfToSingle), which costs the others a fifth of the kernel's speed if used for all.
        uint bits = Unsafe.ReadUnaligned<uint>(ref block);
        Vector128<int> halves = Sse41.ConvertToVector128Int32(Vector128.CreateScalar(bits).AsInt16());
        Vector128<float> factors = ((bits & 0x7C00u) == 0 || (bits & 0x7C000000u) == 0
            ? QuantizedLinear.HalfToSingle(halves)
            : ((halves << 13) & Vector128.Create(QuantizedLinear.HalfMask)).AsSingle() * Vector128.Create(QuantizedLinear.HalfRebias)) * Vector128.Create(dx);
        acc = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(dots), Vector512.Create(factors.ToScalar()), acc);
        Vector128<byte> m = Vector128.CreateScalar(mn).AsByte();
        Vector256<int> minDots = Avx2.MultiplyAddAdjacent(sums, Avx2.ConvertToVector256Int16(Sse2.UnpackLow(m, m)));
        mins = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(minDots), Vector256.Create(factors.GetElement(1)), mins);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Q4Half(ref byte packed, int h, Vector512<sbyte> xLow, Vector512<sbyte> xHigh, Vector512<short> scales, Vector512<short> cLow, Vector512<short> cHigh)
    {
        Vector512<byte> bytes = Vector512.LoadUnsafe(ref packed, (nuint)(64 * h)), nibble = Vector512.Create((byte)0x0F);
        Vector512<short> low = Avx512BW.MultiplyAddAdjacent(bytes & nibble, xLow);
        Vector512<short> high = Avx512BW.MultiplyAddAdjacent((bytes.AsUInt16() >>> 4).AsByte() & nibble, xHigh);
        return Avx512BW.MultiplyAddAdjacent(low, Avx512BW.PermuteVar32x16(scales, cLow)) + Avx512BW.MultiplyAddAdjacent(high, Avx512BW.PermuteVar32x16(scales, cHigh));
    }

    /// <summary>
    /// AVX-512BW: per half block of 128, one 64-byte load of low bits and one 32-byte load of high bits give two registers of
    /// 64 unsigned 6-bit values (positions 0..63 and 64..127 of the half); <c>vpmaddubsw</c> by q_x, <c>vpmaddwd</c> by the
    /// groups' scales. The −32 offset is subtracted once per block as 32·Σ_g sc_g·Σ q_x.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotQ6_KAvx512(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> q, ReadOnlySpan<float> d, ReadOnlySpan<short> sums)
    {
        int blocks = Blocks(row, 210, q, d, sums);
        return DotQ6_KAvx512(ref MemoryMarshal.GetReference(row), blocks, ref MemoryMarshal.GetReference(q), ref MemoryMarshal.GetReference(d), ref MemoryMarshal.GetReference(sums));
    }

    /// <summary>
    /// <see cref="DotQ6_KAvx512(ReadOnlySpan{byte}, ReadOnlySpan{sbyte}, ReadOnlySpan{float}, ReadOnlySpan{short})"/> without
    /// the length checks, for a decode loop over the rows of a product whose operands the caller checked.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotQ6_KAvx512(ref byte w, int blocks, ref sbyte rq, ref float rd, ref short rs)
    {
        float y = 0;
        DotQ6_KRowsAvx512(ref w, 0, 1, blocks, ref rq, ref rd, ref rs, ref y, accumulate: false);
        return y;
    }

    /// <summary>
    /// The rows of a decode product one after another, y[r] = (or +=) row r · x, each with the bits of the one-row kernel:
    /// the controls are loaded once per call rather than once per row, and each row's sums fold in eight instructions.
    /// At 768 columns a row is three blocks, and the per-row work outside the blocks was as long as the blocks.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void DotQ6_KRowsAvx512(ref byte w, int rowBytes, int rows, int blocks, ref sbyte rq, ref float rd, ref short rs, ref float y, bool accumulate)
    {
        Vector512<short> c0 = Q6Controls[0], c1 = Q6Controls[1], c2 = Q6Controls[2], c3 = Q6Controls[3];
        for (int r = 0; r < rows; r++)
        {
            ref byte row = ref Unsafe.Add(ref w, (nint)r * rowBytes);
            Vector512<float> acc = Vector512<float>.Zero;
            Vector256<float> accOffset = Vector256<float>.Zero;
            for (int b = 0; b < blocks; b++)
            {
                ref sbyte xq = ref Unsafe.Add(ref rq, Block * b);
                Vector512<sbyte> x0 = Vector512.LoadUnsafe(ref xq), x1 = Vector512.LoadUnsafe(ref xq, 64), x2 = Vector512.LoadUnsafe(ref xq, 128), x3 = Vector512.LoadUnsafe(ref xq, 192);
                Q6Block(ref acc, ref accOffset, ref Unsafe.Add(ref row, 210 * b), x0, x1, x2, x3, Vector256.LoadUnsafe(ref rs, (nuint)(16 * b)), Unsafe.Add(ref rd, b), c0, c1, c2, c3);
            }

            // Σ acc − 32·Σ accOffset, folded together.
            float s = VectorMath.SumAcross(acc.GetLower() + acc.GetUpper() - (accOffset * 32));
            ref float out0 = ref Unsafe.Add(ref y, r);
            out0 = accumulate ? out0 + s : s;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6Block(ref Vector512<float> acc, ref Vector256<float> accOffset, ref byte block, Vector512<sbyte> x0, Vector512<sbyte> x1, Vector512<sbyte> x2, Vector512<sbyte> x3, Vector256<short> sums, float dx, Vector512<short> c0, Vector512<short> c1, Vector512<short> c2, Vector512<short> c3)
    {
        float scale = QuantizedLinear.HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref block, 208))) * dx;
        Vector256<short> groupScales = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 192)).AsSByte());
        Vector512<short> scales = groupScales.ToVector512Unsafe();
        Vector512<int> dots = Q6Half(ref block, 0, x0, x1, scales, c0, c1) + Q6Half(ref block, 1, x2, x3, scales, c2, c3);
        acc = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(dots), Vector512.Create(scale), acc);
        Vector256<int> offset = Avx2.MultiplyAddAdjacent(sums, groupScales);
        accOffset = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(offset), Vector256.Create(scale), accOffset);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Q6Half(ref byte block, int half, Vector512<sbyte> xa, Vector512<sbyte> xc, Vector512<short> scales, Vector512<short> first, Vector512<short> second)
    {
        Vector512<byte> low = Vector512.LoadUnsafe(ref block, (nuint)(64 * half));
        Vector256<byte> high = Vector256.LoadUnsafe(ref block, (nuint)(128 + (32 * half)));

        // high bits for positions 0..31 sit at bits 0..1 of qh, 32..63 at bits 2..3, 64..95 at 4..5, 96..127 at 6..7:
        // with qh and qh >> 2 side by side, bits 0..1 (moved to 4..5) serve positions 0..63 and bits 4..5 positions 64..127.
        Vector512<byte> both = Avx512F.InsertVector256(high.ToVector512Unsafe(), (high.AsUInt16() >>> 2).AsByte(), 1);
        Vector512<byte> nibble = Vector512.Create((byte)0x0F), top = Vector512.Create((byte)0x30);
        Vector512<byte> a = (low & nibble) | ((both.AsUInt16() << 4).AsByte() & top);
        Vector512<byte> c = ((low.AsUInt16() >>> 4).AsByte() & nibble) | (both & top);
        Vector512<short> pa = Avx512BW.MultiplyAddAdjacent(a, xa);
        Vector512<short> pc = Avx512BW.MultiplyAddAdjacent(c, xc);
        return Avx512BW.MultiplyAddAdjacent(pa, Avx512BW.PermuteVar32x16(scales, first))
            + Avx512BW.MultiplyAddAdjacent(pc, Avx512BW.PermuteVar32x16(scales, second));
    }

    /// <summary>AVX2: the AVX-512 scheme on 32 weights per register (one sub-block, one broadcast scale).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotQ4_KAvx2(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> q, ReadOnlySpan<float> d, ReadOnlySpan<short> sums)
    {
        int blocks = Blocks(row, 144, q, d, sums);
        ref byte w = ref MemoryMarshal.GetReference(row);
        ref sbyte rq = ref MemoryMarshal.GetReference(q);
        ref float rd = ref MemoryMarshal.GetReference(d);
        ref short rs = ref MemoryMarshal.GetReference(sums);
        Vector256<byte> nibble = Vector256.Create((byte)0x0F);
        Vector256<float> acc = Vector256<float>.Zero, accMins = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            ref byte block = ref Unsafe.Add(ref w, 144 * b);
            ref sbyte xq = ref Unsafe.Add(ref rq, Block * b);
            float dx = Unsafe.Add(ref rd, b);
            (ulong sc, ulong mn) = ScalesMinsK4(ref Unsafe.Add(ref block, 4));
            ref byte packed = ref Unsafe.Add(ref block, 16);
            Vector256<int> dots = Vector256<int>.Zero;
            for (int g = 0; g < 4; g++)
            {
                Vector256<byte> bytes = Vector256.LoadUnsafe(ref packed, (nuint)(32 * g));
                Vector256<short> lo = Avx2.MultiplyAddAdjacent(bytes & nibble, Vector256.LoadUnsafe(ref xq, (nuint)(64 * g)));
                Vector256<short> hi = Avx2.MultiplyAddAdjacent((bytes.AsUInt16() >>> 4).AsByte() & nibble, Vector256.LoadUnsafe(ref xq, (nuint)((64 * g) + 32)));
                dots += Avx2.MultiplyAddAdjacent(lo, Vector256.Create((short)(byte)(sc >> (16 * g))));
                dots += Avx2.MultiplyAddAdjacent(hi, Vector256.Create((short)(byte)(sc >> ((16 * g) + 8))));
            }

            acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(dots), Vector256.Create(QuantizedLinear.HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref block)) * dx), acc);
            Vector128<byte> m = Vector128.CreateScalar(mn).AsByte();
            Vector256<int> mins = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref rs, (nuint)(16 * b)), Avx2.ConvertToVector256Int16(Sse2.UnpackLow(m, m)));
            accMins = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(mins), Vector256.Create(QuantizedLinear.HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref block, 2))) * dx), accMins);
        }

        return Vector256.Sum(acc) - Vector256.Sum(accMins);
    }

    /// <summary>AVX2: per 32 values (two groups of 16) one <c>vpmaddubsw</c> and one <c>vpmaddwd</c> by the two groups' scales.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotQ6_KAvx2(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> q, ReadOnlySpan<float> d, ReadOnlySpan<short> sums)
    {
        int blocks = Blocks(row, 210, q, d, sums);
        ref byte w = ref MemoryMarshal.GetReference(row);
        ref sbyte rq = ref MemoryMarshal.GetReference(q);
        ref float rd = ref MemoryMarshal.GetReference(d);
        ref short rs = ref MemoryMarshal.GetReference(sums);
        Vector256<byte> nibble = Vector256.Create((byte)0x0F), top = Vector256.Create((byte)0x30);
        Vector256<byte> p0 = PairControls[0], p1 = PairControls[1], p2 = PairControls[2], p3 = PairControls[3];
        Vector256<float> acc = Vector256<float>.Zero, accOffset = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            ref byte block = ref Unsafe.Add(ref w, 210 * b);
            ref sbyte xq = ref Unsafe.Add(ref rq, Block * b);
            float scale = QuantizedLinear.HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref block, 208))) * Unsafe.Add(ref rd, b);
            Vector256<short> groupScales = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 192)).AsSByte());
            Vector256<int> dots = Vector256<int>.Zero;
            // both 128-bit lanes hold one half's 8 scales; each pair control picks scale 2m for the low lane, 2m+1 for the high.
            Vector256<byte> first = Avx2.Permute2x128(groupScales, groupScales, 0x00).AsByte();
            Vector256<byte> second = Avx2.Permute2x128(groupScales, groupScales, 0x11).AsByte();
            for (int half = 0; half < 2; half++)
            {
                Vector256<byte> eight = half == 0 ? first : second;
                Vector256<byte> l0 = Vector256.LoadUnsafe(ref block, (nuint)(64 * half)), l1 = Vector256.LoadUnsafe(ref block, (nuint)((64 * half) + 32));
                Vector256<byte> h = Vector256.LoadUnsafe(ref block, (nuint)(128 + (32 * half)));
                Vector256<byte> v0 = (l0 & nibble) | ((h.AsUInt16() << 4).AsByte() & top);
                Vector256<byte> v1 = (l1 & nibble) | ((h.AsUInt16() << 2).AsByte() & top);
                Vector256<byte> v2 = ((l0.AsUInt16() >>> 4).AsByte() & nibble) | (h & top);
                Vector256<byte> v3 = ((l1.AsUInt16() >>> 4).AsByte() & nibble) | ((h.AsUInt16() >>> 2).AsByte() & top);
                ref sbyte xh = ref Unsafe.Add(ref xq, 128 * half);
                dots += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(v0, Vector256.LoadUnsafe(ref xh)), Avx2.Shuffle(eight, p0).AsInt16());
                dots += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(v1, Vector256.LoadUnsafe(ref xh, 32)), Avx2.Shuffle(eight, p1).AsInt16());
                dots += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(v2, Vector256.LoadUnsafe(ref xh, 64)), Avx2.Shuffle(eight, p2).AsInt16());
                dots += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(v3, Vector256.LoadUnsafe(ref xh, 96)), Avx2.Shuffle(eight, p3).AsInt16());
            }

            acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(dots), Vector256.Create(scale), acc);
            Vector256<int> offset = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref rs, (nuint)(16 * b)), groupScales);
            accOffset = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(offset), Vector256.Create(scale), accOffset);
        }

        return Vector256.Sum(acc) - (32 * Vector256.Sum(accOffset));
    }
}

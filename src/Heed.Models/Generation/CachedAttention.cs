using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Heed.Models.Blocks;

namespace Heed.Models.Generation;

/// <summary>
/// One decode step of causal grouped-query attention over a KV cache as the cache stores it (K and V [Hkv, capacity, D],
/// one row per position): the semantics of <see cref="Attention.Compute"/> with <c>is_causal</c> for a single query row
/// (every filled position is visible), without its per-call set-up. A small model's step is a few thousand multiply-adds per
/// head, less than the general operator spends validating and preparing a call, so the decode loop of a session runs this instead.
/// </summary>
/// <remarks>
/// Each head reads its keys and values as one contiguous run of rows, so a step streams what it reads and writes one row per
/// kv head. The scores are dot products of q with key rows, four rows at a time, their four sums reduced together; the output
/// is Σ p_j·V[j] with the head's D values held in accumulators along the rows. Only the S filled rows are ever read.
/// </remarks>
internal static class CachedAttention
{
    /// <summary>A key-axis length rounded up to whole vectors (at least 16, so any vector width fits): the scores scratch.</summary>
    public static int PaddedLength(int length)
    {
        int block = Math.Max(16, Vector<float>.Count);
        return (int)Math.Min(Array.MaxLength, ((long)length + block - 1) / block * block);
    }

    /// <summary>
    /// y = softmax(q·Kᵀ/√D)·V per head over keys 0..length−1:
    /// q [H·D], K and V [Hkv, capacity, D], scores scratch [≥ PaddedLength(length)] → y [H·D].
    /// Query head h reads kv head h / (H / Hkv).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Decode(
        ReadOnlySpan<float> q,
        ReadOnlySpan<float> keys,
        ReadOnlySpan<float> values,
        Span<float> y,
        int numHeads,
        int kvNumHeads,
        int headSize,
        int capacity,
        int length,
        Span<float> scores) => DecodeHeads(q, keys, values, y, numHeads, kvNumHeads, headSize, capacity, length, scores, 0, numHeads);

    /// <summary>
    /// <see cref="Decode"/> for query heads [<paramref name="firstHead"/>, <paramref name="endHead"/>) only (a part of a step split across threads:
    /// each head's arithmetic is the same whichever thread runs it). <paramref name="portable"/> scores with the
    /// <see cref="Vector{T}"/> loop that machines without AVX run, whatever this one has (for the tests).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DecodeHeads(
        ReadOnlySpan<float> q,
        ReadOnlySpan<float> keys,
        ReadOnlySpan<float> values,
        Span<float> y,
        int numHeads,
        int kvNumHeads,
        int headSize,
        int capacity,
        int length,
        Span<float> scores,
        int firstHead,
        int endHead,
        bool portable = false)
    {
        int lanes = Vector<float>.Count, vectors = (length + lanes - 1) / lanes;
        long cache = (long)kvNumHeads * capacity * headSize;
        if (q.Length < numHeads * headSize || y.Length < numHeads * headSize || scores.Length < vectors * lanes
            || keys.Length < cache || values.Length < cache || length <= 0 || length > capacity || numHeads % kvNumHeads != 0
            || firstHead < 0 || endHead > numHeads)
        {
            throw new ArgumentException($"decode attention: q {q.Length}, y {y.Length}, scores {scores.Length}, cache {keys.Length} and {values.Length} for H {numHeads}, Hkv {kvNumHeads}, D {headSize}, capacity {capacity}, S {length}");
        }

        bool avx = !portable && Avx.IsSupported && Fma.IsSupported;
        float scale = (float)(1 / Math.Sqrt(headSize));
        int group = numHeads / kvNumHeads;
        ref float s0 = ref MemoryMarshal.GetReference(scores);

        Span<float> pastEnd = scores[length..(vectors * lanes)];
        for (int h = firstHead; h < endHead; h++)
        {
            // Lanes past S hold −∞ (the previous head left 0 there), so their exp is exactly 0 and the sums see only the S scores.
            pastEnd.Fill(float.NegativeInfinity);
            int kvHead = h / group;
            ref float k0 = ref Unsafe.AsRef(in keys[(int)((long)kvHead * capacity * headSize)]);
            ref float v0 = ref Unsafe.AsRef(in values[(int)((long)kvHead * capacity * headSize)]);
            ref float qh = ref Unsafe.AsRef(in q[h * headSize]);

            // pass 1: s_j = (q·K[j])·scale, and their max.
            float m = avx ? ScoresAvx(ref qh, ref k0, ref s0, headSize, length, scale) : ScoresPortable(ref qh, ref k0, ref s0, headSize, length, scale);

            // pass 2: p = exp(s − max), sum (max-subtracted softmax).
            Vector<float> mv = new(m), total = Vector<float>.Zero;
            for (int c = 0; c < vectors; c++)
            {
                nuint at = (nuint)(c * lanes);
                Vector<float> p = VectorMath.Exp(Vector.LoadUnsafe(ref s0, at) - mv);
                p.StoreUnsafe(ref s0, at);
                total += p;
            }

            // pass 3: y = Σ_j p_j·V[j] / sum.
            Weigh(ref s0, ref v0, y.Slice(h * headSize, headSize), headSize, length, 1 / Vector.Sum(total));
        }
    }

    // Four key rows at a time: four accumulators along D, reduced together by three horizontal adds.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ScoresAvx(ref float q, ref float k0, ref float s0, int d, int length, float scale)
    {
        int full = d & ~7;
        bool wide = Avx512F.IsSupported && d % 16 == 0;
        Vector128<float> max = Vector128.Create(float.NegativeInfinity), scaleV = Vector128.Create(scale);
        int j = 0;
        for (; j + 4 <= length; j += 4)
        {
            ref float r0 = ref Unsafe.Add(ref k0, j * d);
            ref float r1 = ref Unsafe.Add(ref r0, d);
            ref float r2 = ref Unsafe.Add(ref r1, d);
            ref float r3 = ref Unsafe.Add(ref r2, d);
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            int e0 = 0;
            if (wide)
            {
                // 16 values per load; the halves of each accumulator are added before the 256-bit reduction.
                Vector512<float> w0 = Vector512<float>.Zero, w1 = w0, w2 = w0, w3 = w0;
                for (; e0 < d; e0 += 16)
                {
                    Vector512<float> qe = Vector512.LoadUnsafe(ref q, (nuint)e0);
                    w0 = Avx512F.FusedMultiplyAdd(qe, Vector512.LoadUnsafe(ref r0, (nuint)e0), w0);
                    w1 = Avx512F.FusedMultiplyAdd(qe, Vector512.LoadUnsafe(ref r1, (nuint)e0), w1);
                    w2 = Avx512F.FusedMultiplyAdd(qe, Vector512.LoadUnsafe(ref r2, (nuint)e0), w2);
                    w3 = Avx512F.FusedMultiplyAdd(qe, Vector512.LoadUnsafe(ref r3, (nuint)e0), w3);
                }

                (a0, a1, a2, a3) = (w0.GetLower() + w0.GetUpper(), w1.GetLower() + w1.GetUpper(), w2.GetLower() + w2.GetUpper(), w3.GetLower() + w3.GetUpper());
            }

            for (int e = e0; e < full; e += 8)
            {
                Vector256<float> qe = Vector256.LoadUnsafe(ref q, (nuint)e);
                a0 = Fma.MultiplyAdd(qe, Vector256.LoadUnsafe(ref r0, (nuint)e), a0);
                a1 = Fma.MultiplyAdd(qe, Vector256.LoadUnsafe(ref r1, (nuint)e), a1);
                a2 = Fma.MultiplyAdd(qe, Vector256.LoadUnsafe(ref r2, (nuint)e), a2);
                a3 = Fma.MultiplyAdd(qe, Vector256.LoadUnsafe(ref r3, (nuint)e), a3);
            }

            Vector256<float> sums = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
            Vector128<float> s = sums.GetLower() + sums.GetUpper();
            if (full < d)
            {
                float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
                for (int e = full; e < d; e++)
                {
                    float qe = Unsafe.Add(ref q, e);
                    t0 += qe * Unsafe.Add(ref r0, e);
                    t1 += qe * Unsafe.Add(ref r1, e);
                    t2 += qe * Unsafe.Add(ref r2, e);
                    t3 += qe * Unsafe.Add(ref r3, e);
                }

                s += Vector128.Create(t0, t1, t2, t3);
            }

            s *= scaleV;
            s.StoreUnsafe(ref s0, (nuint)j);
            max = Vector128.MaxNative(max, s); // the scores are finite: no NaN or −0 rules needed
        }

        float m = Math.Max(Math.Max(max[0], max[1]), Math.Max(max[2], max[3]));
        for (; j < length; j++)
        {
            float s = Dot(ref q, ref Unsafe.Add(ref k0, j * d), d) * scale;
            Unsafe.Add(ref s0, j) = s;
            m = Math.Max(m, s);
        }

        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ScoresPortable(ref float q, ref float k0, ref float s0, int d, int length, float scale)
    {
        float m = float.NegativeInfinity;
        for (int j = 0; j < length; j++)
        {
            float s = Dot(ref q, ref Unsafe.Add(ref k0, j * d), d) * scale;
            Unsafe.Add(ref s0, j) = s;
            m = Math.Max(m, s);
        }

        return m;
    }

    // One key row against q: Linear's dot product (512-, 256- and 128-bit steps, then single values) over the two runs.
    private static float Dot(ref float a, ref float b, int d) =>
        Linear.Dot(MemoryMarshal.CreateReadOnlySpan(ref a, d), MemoryMarshal.CreateReadOnlySpan(ref b, d));

    // y[0..D) = scale·Σ_j p_j·V[j, 0..D): whole groups of four vectors of D with two rows in flight (eight accumulators), then
    // single vectors with four rows in flight, then the last D mod lanes values one at a time.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Weigh(ref float p0, ref float v0, Span<float> y, int d, int length, float scale)
    {
        int lanes = Vector<float>.Count, e = 0;
        ref float y0 = ref MemoryMarshal.GetReference(y);
        if (Vector512.IsHardwareAccelerated && d % 16 == 0 && Vector<float>.Count < 16)
        {
            Weigh512(ref p0, ref v0, ref y0, d, length, scale);
            return;
        }

        for (; e + (4 * lanes) <= d; e += 4 * lanes)
        {
            Vector<float> a0 = Vector<float>.Zero, a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            ref float column = ref Unsafe.Add(ref v0, e);
            int j = 0;
            for (; j + 2 <= length; j += 2)
            {
                ref float r = ref Unsafe.Add(ref column, j * d);
                ref float t = ref Unsafe.Add(ref r, d);
                Vector<float> pj = new(Unsafe.Add(ref p0, j)), pk = new(Unsafe.Add(ref p0, j + 1));
                a0 = Vector.FusedMultiplyAdd(pj, Vector.LoadUnsafe(ref r), a0);
                a1 = Vector.FusedMultiplyAdd(pj, Vector.LoadUnsafe(ref r, (nuint)lanes), a1);
                a2 = Vector.FusedMultiplyAdd(pj, Vector.LoadUnsafe(ref r, (nuint)(2 * lanes)), a2);
                a3 = Vector.FusedMultiplyAdd(pj, Vector.LoadUnsafe(ref r, (nuint)(3 * lanes)), a3);
                b0 = Vector.FusedMultiplyAdd(pk, Vector.LoadUnsafe(ref t), b0);
                b1 = Vector.FusedMultiplyAdd(pk, Vector.LoadUnsafe(ref t, (nuint)lanes), b1);
                b2 = Vector.FusedMultiplyAdd(pk, Vector.LoadUnsafe(ref t, (nuint)(2 * lanes)), b2);
                b3 = Vector.FusedMultiplyAdd(pk, Vector.LoadUnsafe(ref t, (nuint)(3 * lanes)), b3);
            }

            if (j < length)
            {
                ref float r = ref Unsafe.Add(ref column, j * d);
                Vector<float> pj = new(Unsafe.Add(ref p0, j));
                a0 = Vector.FusedMultiplyAdd(pj, Vector.LoadUnsafe(ref r), a0);
                a1 = Vector.FusedMultiplyAdd(pj, Vector.LoadUnsafe(ref r, (nuint)lanes), a1);
                a2 = Vector.FusedMultiplyAdd(pj, Vector.LoadUnsafe(ref r, (nuint)(2 * lanes)), a2);
                a3 = Vector.FusedMultiplyAdd(pj, Vector.LoadUnsafe(ref r, (nuint)(3 * lanes)), a3);
            }

            ((a0 + b0) * scale).StoreUnsafe(ref y0, (nuint)e);
            ((a1 + b1) * scale).StoreUnsafe(ref y0, (nuint)(e + lanes));
            ((a2 + b2) * scale).StoreUnsafe(ref y0, (nuint)(e + (2 * lanes)));
            ((a3 + b3) * scale).StoreUnsafe(ref y0, (nuint)(e + (3 * lanes)));
        }

        for (; e + lanes <= d; e += lanes)
        {
            Vector<float> a0 = Vector<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            ref float column = ref Unsafe.Add(ref v0, e);
            int j = 0;
            for (; j + 4 <= length; j += 4)
            {
                ref float r = ref Unsafe.Add(ref column, j * d);
                a0 = Vector.FusedMultiplyAdd(new Vector<float>(Unsafe.Add(ref p0, j)), Vector.LoadUnsafe(ref r), a0);
                a1 = Vector.FusedMultiplyAdd(new Vector<float>(Unsafe.Add(ref p0, j + 1)), Vector.LoadUnsafe(ref r, (nuint)d), a1);
                a2 = Vector.FusedMultiplyAdd(new Vector<float>(Unsafe.Add(ref p0, j + 2)), Vector.LoadUnsafe(ref r, (nuint)(2 * d)), a2);
                a3 = Vector.FusedMultiplyAdd(new Vector<float>(Unsafe.Add(ref p0, j + 3)), Vector.LoadUnsafe(ref r, (nuint)(3 * d)), a3);
            }

            for (; j < length; j++)
            {
                a0 = Vector.FusedMultiplyAdd(new Vector<float>(Unsafe.Add(ref p0, j)), Vector.LoadUnsafe(ref column, (nuint)(j * d)), a0);
            }

            (((a0 + a1) + (a2 + a3)) * scale).StoreUnsafe(ref y0, (nuint)e);
        }

        for (; e < d; e++)
        {
            float sum = 0;
            for (int j = 0; j < length; j++) sum += Unsafe.Add(ref p0, j) * Unsafe.Add(ref v0, (j * d) + e);
            Unsafe.Add(ref y0, e) = sum * scale;
        }
    }

    // Weigh with 512-bit vectors for D a multiple of 16: four vectors (64 values) with two rows in flight, then single vectors
    // with four rows in flight.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Weigh512(ref float p0, ref float v0, ref float y0, int d, int length, float scale)
    {
        int e = 0;
        for (; e + 64 <= d; e += 64)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            ref float column = ref Unsafe.Add(ref v0, e);
            int j = 0;
            for (; j + 2 <= length; j += 2)
            {
                ref float r = ref Unsafe.Add(ref column, j * d);
                ref float t = ref Unsafe.Add(ref r, d);
                Vector512<float> pj = Vector512.Create(Unsafe.Add(ref p0, j)), pk = Vector512.Create(Unsafe.Add(ref p0, j + 1));
                a0 = Vector512.FusedMultiplyAdd(pj, Vector512.LoadUnsafe(ref r), a0);
                a1 = Vector512.FusedMultiplyAdd(pj, Vector512.LoadUnsafe(ref r, 16), a1);
                a2 = Vector512.FusedMultiplyAdd(pj, Vector512.LoadUnsafe(ref r, 32), a2);
                a3 = Vector512.FusedMultiplyAdd(pj, Vector512.LoadUnsafe(ref r, 48), a3);
                b0 = Vector512.FusedMultiplyAdd(pk, Vector512.LoadUnsafe(ref t), b0);
                b1 = Vector512.FusedMultiplyAdd(pk, Vector512.LoadUnsafe(ref t, 16), b1);
                b2 = Vector512.FusedMultiplyAdd(pk, Vector512.LoadUnsafe(ref t, 32), b2);
                b3 = Vector512.FusedMultiplyAdd(pk, Vector512.LoadUnsafe(ref t, 48), b3);
            }

            if (j < length)
            {
                ref float r = ref Unsafe.Add(ref column, j * d);
                Vector512<float> pj = Vector512.Create(Unsafe.Add(ref p0, j));
                a0 = Vector512.FusedMultiplyAdd(pj, Vector512.LoadUnsafe(ref r), a0);
                a1 = Vector512.FusedMultiplyAdd(pj, Vector512.LoadUnsafe(ref r, 16), a1);
                a2 = Vector512.FusedMultiplyAdd(pj, Vector512.LoadUnsafe(ref r, 32), a2);
                a3 = Vector512.FusedMultiplyAdd(pj, Vector512.LoadUnsafe(ref r, 48), a3);
            }

            ((a0 + b0) * scale).StoreUnsafe(ref y0, (nuint)e);
            ((a1 + b1) * scale).StoreUnsafe(ref y0, (nuint)(e + 16));
            ((a2 + b2) * scale).StoreUnsafe(ref y0, (nuint)(e + 32));
            ((a3 + b3) * scale).StoreUnsafe(ref y0, (nuint)(e + 48));
        }

        for (; e < d; e += 16)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            ref float column = ref Unsafe.Add(ref v0, e);
            int j = 0;
            for (; j + 4 <= length; j += 4)
            {
                ref float r = ref Unsafe.Add(ref column, j * d);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref p0, j)), Vector512.LoadUnsafe(ref r), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref p0, j + 1)), Vector512.LoadUnsafe(ref r, (nuint)d), a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref p0, j + 2)), Vector512.LoadUnsafe(ref r, (nuint)(2 * d)), a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref p0, j + 3)), Vector512.LoadUnsafe(ref r, (nuint)(3 * d)), a3);
            }

            for (; j < length; j++)
            {
                a0 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref p0, j)), Vector512.LoadUnsafe(ref column, (nuint)(j * d)), a0);
            }

            (((a0 + a1) + (a2 + a3)) * scale).StoreUnsafe(ref y0, (nuint)e);
        }
    }
}

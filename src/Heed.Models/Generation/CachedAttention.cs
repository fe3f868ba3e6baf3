using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Heed.Models.Blocks;

namespace Heed.Models.Generation;

/// <summary>
/// One decode step of causal grouped-query attention over a KV cache held transposed: the semantics of
/// <see cref="Attention.Compute"/> with <c>is_causal</c> for a single query row (every filled position is visible),
/// without its per-call set-up. A small model's step is a few thousand multiply-adds per head, less than the
/// general operator spends validating and preparing a call, so the decode loop of a session runs this instead.
/// </summary>
/// <remarks>
/// With K stored as Kᵀ [Hkv, D, S] the scores of one head are D vector multiply-adds along the key axis
/// (s[0..S) += q[e]·Kᵀ[e, 0..S)), and with V stored as Vᵀ [Hkv, Dv, S] each output element is one dot product along
/// the key axis, so the loops are vectorized along S whatever D is (stories260K has D = 8). The last vector of the key
/// axis is masked: its scores past S are −∞ and its values are never multiplied in.
/// </remarks>
internal static class CachedAttention
{
    /// <summary>Vector lanes of the key axis (System.Numerics.Vector: 8 floats with AVX2 or AVX-512, 4 with SSE/NEON).</summary>
    private static int Lanes => Vector<float>.Count;

    /// <summary>A key-axis length rounded up to whole vectors (at least 16, so any vector width fits).</summary>
    public static int PaddedLength(int length)
    {
        int block = Math.Max(16, Vector<float>.Count);
        return (int)Math.Min(Array.MaxLength, ((long)length + block - 1) / block * block);
    }

    /// <summary>
    /// y = softmax(q·Kᵀ/√D)·V per head over keys 0..length−1:
    /// q [H·D], Kᵀ and Vᵀ [Hkv, D, stride], scores scratch [≥ PaddedLength(length)] → y [H·D].
    /// Query head h reads kv head h / (H / Hkv).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Decode(
        ReadOnlySpan<float> q,
        ReadOnlySpan<float> keysTransposed,
        ReadOnlySpan<float> valuesTransposed,
        Span<float> y,
        int numHeads,
        int kvNumHeads,
        int headSize,
        int stride,
        int length,
        Span<float> scores) => DecodeHeads(q, keysTransposed, valuesTransposed, y, numHeads, kvNumHeads, headSize, stride, length, scores, 0, numHeads);

    /// <summary>
    /// <see cref="Decode"/> for query heads [<paramref name="firstHead"/>, <paramref name="endHead"/>) only (a part of a step split across threads:
    /// each head's arithmetic is the same whichever thread runs it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DecodeHeads(
        ReadOnlySpan<float> q,
        ReadOnlySpan<float> keysTransposed,
        ReadOnlySpan<float> valuesTransposed,
        Span<float> y,
        int numHeads,
        int kvNumHeads,
        int headSize,
        int stride,
        int length,
        Span<float> scores,
        int firstHead,
        int endHead)
    {
        int lanes = Lanes, vectors = (length + lanes - 1) / lanes, tail = length - ((vectors - 1) * lanes);
        if (q.Length < numHeads * headSize || y.Length < numHeads * headSize || scores.Length < vectors * lanes
            || keysTransposed.Length < kvNumHeads * headSize * stride || valuesTransposed.Length < kvNumHeads * headSize * stride
            || length <= 0 || vectors * lanes > stride || numHeads % kvNumHeads != 0 || firstHead < 0 || endHead > numHeads)
        {
            throw new ArgumentException($"decode attention: q {q.Length}, y {y.Length}, scores {scores.Length}, cache {keysTransposed.Length} for H {numHeads}, Hkv {kvNumHeads}, D {headSize}, stride {stride}, S {length}");
        }

        // The lanes of the last vector that hold keys < S.
        Vector<int> lane = Vector<int>.Indices;
        Vector<float> inside = Vector.As<int, float>(Vector.LessThan(lane, new Vector<int>(tail)));
        Vector<float> minusInfinity = new(float.NegativeInfinity);
        float scale = (float)(1 / Math.Sqrt(headSize));
        int group = numHeads / kvNumHeads;
        ref float s0 = ref MemoryMarshal.GetReference(scores);
        for (int h = firstHead; h < endHead; h++)
        {
            int kvHead = h / group;
            ref float k0 = ref Unsafe.AsRef(in keysTransposed[kvHead * headSize * stride]);
            ref float v0 = ref Unsafe.AsRef(in valuesTransposed[kvHead * headSize * stride]);
            ReadOnlySpan<float> qh = q.Slice(h * headSize, headSize);

            // pass 1: s = (q·scale)·Kᵀ along the key axis; masked lanes −∞; running max.
            Vector<float> max = minusInfinity;
            for (int c = 0; c < vectors; c++)
            {
                nuint at = (nuint)(c * lanes);
                Vector<float> s = Vector.LoadUnsafe(ref k0, at) * (qh[0] * scale);
                for (int e = 1; e < headSize; e++)
                {
                    s = Vector.FusedMultiplyAdd(Vector.LoadUnsafe(ref k0, at + (nuint)(e * stride)), new Vector<float>(qh[e] * scale), s);
                }

                if (c == vectors - 1)
                {
                    s = Vector.ConditionalSelect(inside, s, minusInfinity);
                }

                s.StoreUnsafe(ref s0, at);
                max = Vector.Max(max, s);
            }

            // pass 2: p = exp(s − max), sum (max-subtracted softmax; masked lanes give exactly 0).
            float m = HorizontalMax(max);
            Vector<float> mv = new(m), total = Vector<float>.Zero;
            for (int c = 0; c < vectors; c++)
            {
                nuint at = (nuint)(c * lanes);
                Vector<float> p = VectorMath.Exp(Vector.LoadUnsafe(ref s0, at) - mv);
                p.StoreUnsafe(ref s0, at);
                total += p;
            }

            float inverse = 1 / Vector.Sum(total);

            // pass 3: y[e] = Σ_j p[j]·Vᵀ[e, j] / sum; stale values past S never enter.
            Span<float> yh = y.Slice(h * headSize, headSize);
            for (int e = 0; e < headSize; e++)
            {
                ref float row = ref Unsafe.Add(ref v0, e * stride);
                Vector<float> acc = Vector<float>.Zero;
                for (int c = 0; c < vectors - 1; c++)
                {
                    nuint at = (nuint)(c * lanes);
                    acc = Vector.FusedMultiplyAdd(Vector.LoadUnsafe(ref s0, at), Vector.LoadUnsafe(ref row, at), acc);
                }

                nuint lastAt = (nuint)((vectors - 1) * lanes);
                acc += Vector.ConditionalSelect(inside, Vector.LoadUnsafe(ref s0, lastAt) * Vector.LoadUnsafe(ref row, lastAt), Vector<float>.Zero);
                yh[e] = Vector.Sum(acc) * inverse;
            }
        }
    }

    private static float HorizontalMax(Vector<float> v)
    {
        float m = v[0];
        for (int i = 1; i < Vector<float>.Count; i++) m = Math.Max(m, v[i]);
        return m;
    }
}

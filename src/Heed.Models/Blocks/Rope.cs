using System.Runtime.CompilerServices;
namespace Heed.Models.Blocks;

/// <summary>
/// Rotary position embeddings (RoPE). Element pairs of each head are rotated by angle = position · θ^(−2i/D).
/// Two conventions pair the elements differently: <see cref="ApplyInterleaved"/> rotates adjacent pairs (2i, 2i+1)
/// as llama2.c and Meta's Llama code do; <see cref="ApplyRotateHalf"/> rotates (i, i + D/2) as Hugging Face's
/// <c>rotate_half</c> does. A checkpoint converted between the two has its Q/K rows permuted accordingly.
/// </summary>
public static class Rope
{
    /// <summary>
    /// Rotates adjacent pairs inside every head of every row: x [T, heads·D] at positions start..start+T−1.
    /// (a, b) → (a·cos − b·sin, a·sin + b·cos) with angle = pos / θ^(j/D), j the even index within the head.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ApplyInterleaved(Span<float> x, int rows, int heads, int headSize, int startPosition, float theta = 10000f)
    {
        CheckEven(headSize);
        int width = heads * headSize;
        for (int t = 0; t < rows; t++)
        {
            int pos = startPosition + t;
            for (int j = 0; j < headSize; j += 2)
            {
                float freq = 1f / MathF.Pow(theta, j / (float)headSize);
                float angle = pos * freq;
                float cos = MathF.Cos(angle), sin = MathF.Sin(angle);
                for (int h = 0; h < heads; h++)
                {
                    int at = (t * width) + (h * headSize) + j;
                    float a = x[at], b = x[at + 1];
                    x[at] = (a * cos) - (b * sin);
                    x[at + 1] = (a * sin) + (b * cos);
                }
            }
        }
    }

    /// <summary>
    /// Rotates pairs (i, i + D/2) inside every head of every row (Hugging Face's <c>rotate_half</c> convention):
    /// x [T, heads·D] at positions start..start+T−1, angle = pos / θ^(2i/D).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ApplyRotateHalf(Span<float> x, int rows, int heads, int headSize, int startPosition, float theta = 10000f)
    {
        CheckEven(headSize);
        int width = heads * headSize, half = headSize / 2;
        for (int t = 0; t < rows; t++)
        {
            int pos = startPosition + t;
            for (int i = 0; i < half; i++)
            {
                float freq = 1f / MathF.Pow(theta, 2 * i / (float)headSize);
                float angle = pos * freq;
                float cos = MathF.Cos(angle), sin = MathF.Sin(angle);
                for (int h = 0; h < heads; h++)
                {
                    int at = (t * width) + (h * headSize) + i;
                    float a = x[at], b = x[at + half];
                    x[at] = (a * cos) - (b * sin);
                    x[at + half] = (b * cos) + (a * sin);
                }
            }
        }
    }

    private static void CheckEven(int headSize)
    {
        if (headSize <= 0 || headSize % 2 != 0)
        {
            throw new HeedException($"RoPE needs an even head size D; got {headSize}");
        }
    }
}

/// <summary>
/// The cos and sin of RoPE angles for positions 0..positions−1, computed once with the formulas of <see cref="Rope"/>,
/// so applying the table gives bit for bit what <see cref="Rope.ApplyInterleaved"/> and <see cref="Rope.ApplyRotateHalf"/>
/// give, without a power and two trigonometric functions per pair and position.
/// </summary>
public sealed class RopeTable
{
    private readonly float[] _cos;
    private readonly float[] _sin;

    /// <summary>
    /// Tabulates angle = (pos·<paramref name="positionScale"/>) / (θ^(2i/D)·factor[i]) for pos in 0..<paramref name="positions"/>−1
    /// and i in 0..D/2−1 (the factors, GGUF's <c>rope_freqs</c>, are 1 when not given; D is the number of rotated elements).
    /// </summary>
    /// <exception cref="HeedException">The head size is not even and positive, or positions is not positive, or the factors are not D/2.</exception>
    public RopeTable(int headSize, int positions, float theta = 10000f, float positionScale = 1f, float[]? factors = null)
    {
        if (headSize <= 0 || headSize % 2 != 0 || positions <= 0)
        {
            throw new HeedException($"RoPE table: head size D {headSize} (must be even and > 0), positions {positions} (must be > 0)");
        }

        if (factors is not null && factors.Length != headSize / 2)
        {
            throw new HeedException($"RoPE table: {factors.Length} frequency factors for {headSize / 2} frequencies");
        }

        HeadSize = headSize;
        Positions = positions;
        int half = headSize / 2;
        _cos = new float[positions * half];
        _sin = new float[positions * half];
        for (int i = 0; i < half; i++)
        {
            // Written as in Rope: j = 2i is the even index within the head.
            float freq = 1f / MathF.Pow(theta, 2 * i / (float)headSize);
            if (factors is not null) freq /= factors[i];
            for (int pos = 0; pos < positions; pos++)
            {
                float angle = pos * positionScale * freq;
                _cos[(pos * half) + i] = MathF.Cos(angle);
                _sin[(pos * half) + i] = MathF.Sin(angle);
            }
        }
    }

    /// <summary>D.</summary>
    public int HeadSize { get; }

    /// <summary>The number of positions tabulated.</summary>
    public int Positions { get; }

    /// <summary>As <see cref="Rope.ApplyInterleaved"/>: adjacent pairs of x [T, heads·D] at positions start..start+T−1.</summary>
    /// <exception cref="HeedException">A position is outside the table.</exception>
    public void ApplyInterleaved(Span<float> x, int rows, int heads, int startPosition) => ApplyInterleaved(x, rows, heads, startPosition, HeadSize);

    /// <summary>
    /// Adjacent pairs of the first D elements of each head of x [T, heads·<paramref name="headStride"/>], heads
    /// <paramref name="headStride"/> ≥ D apart (partial rotary embeddings leave the rest of each head as it is).
    /// </summary>
    /// <exception cref="HeedException">A position is outside the table or the stride is below D.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ApplyInterleaved(Span<float> x, int rows, int heads, int startPosition, int headStride)
    {
        CheckPositions(startPosition, rows);
        if (headStride < HeadSize)
        {
            throw new HeedException($"RoPE table: head stride {headStride} is below the {HeadSize} rotated elements");
        }

        int d = HeadSize, half = d / 2, width = heads * headStride;
        for (int t = 0; t < rows; t++)
        {
            ReadOnlySpan<float> cos = _cos.AsSpan((startPosition + t) * half, half), sin = _sin.AsSpan((startPosition + t) * half, half);
            Span<float> row = x.Slice(t * width, width);
            for (int h = 0; h < heads; h++)
            {
                Span<float> head = row.Slice(h * headStride, d);
                for (int i = 0; i < half; i++)
                {
                    float a = head[2 * i], b = head[(2 * i) + 1];
                    head[2 * i] = (a * cos[i]) - (b * sin[i]);
                    head[(2 * i) + 1] = (a * sin[i]) + (b * cos[i]);
                }
            }
        }
    }

    /// <summary>As <see cref="Rope.ApplyRotateHalf"/>: pairs (i, i + D/2) of x [T, heads·D] at positions start..start+T−1.</summary>
    /// <exception cref="HeedException">A position is outside the table.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ApplyRotateHalf(Span<float> x, int rows, int heads, int startPosition)
    {
        CheckPositions(startPosition, rows);
        int d = HeadSize, half = d / 2, width = heads * d;
        for (int t = 0; t < rows; t++)
        {
            ReadOnlySpan<float> cos = _cos.AsSpan((startPosition + t) * half, half), sin = _sin.AsSpan((startPosition + t) * half, half);
            Span<float> row = x.Slice(t * width, width);
            for (int h = 0; h < heads; h++)
            {
                Span<float> head = row.Slice(h * d, d);
                for (int i = 0; i < half; i++)
                {
                    float a = head[i], b = head[i + half];
                    head[i] = (a * cos[i]) - (b * sin[i]);
                    head[i + half] = (b * cos[i]) + (a * sin[i]);
                }
            }
        }
    }

    private void CheckPositions(int startPosition, int rows)
    {
        if (startPosition < 0 || rows < 0 || (long)startPosition + rows > Positions)
        {
            throw new HeedException($"RoPE table: positions {startPosition}..{startPosition + rows - 1} are outside 0..{Positions - 1}");
        }
    }
}

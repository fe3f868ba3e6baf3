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

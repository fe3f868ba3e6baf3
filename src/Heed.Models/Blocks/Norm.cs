namespace Heed.Models.Blocks;

/// <summary>Row normalizations: RMSNorm (Llama) and LayerNorm (GPT-2).</summary>
public static class Norm
{
    /// <summary>
    /// RMSNorm of each row: y = x / sqrt(mean(x²) + ε) ⊙ weight. x [T, C], weight [C] → y [T, C] (y may be x).
    /// </summary>
    public static void Rms(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int rows, int width, float epsilon)
    {
        for (int t = 0; t < rows; t++)
        {
            ReadOnlySpan<float> xr = x.Slice(t * width, width);
            Span<float> yr = y.Slice(t * width, width);
            float ss = Linear.Dot(xr, xr) / width;
            float inv = 1f / MathF.Sqrt(ss + epsilon);
            for (int j = 0; j < width; j++)
            {
                yr[j] = weight[j] * (inv * xr[j]);
            }
        }
    }

    /// <summary>
    /// LayerNorm of each row: y = (x − mean) / sqrt(var + ε) ⊙ weight + bias, with the biased variance (as PyTorch).
    /// x [T, C], weight [C], bias [C] → y [T, C] (y may be x).
    /// </summary>
    public static void Layer(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y, int rows, int width, float epsilon)
    {
        for (int t = 0; t < rows; t++)
        {
            ReadOnlySpan<float> xr = x.Slice(t * width, width);
            Span<float> yr = y.Slice(t * width, width);
            double mean = 0;
            for (int j = 0; j < width; j++) mean += xr[j];
            mean /= width;
            double variance = 0;
            for (int j = 0; j < width; j++)
            {
                double d = xr[j] - mean;
                variance += d * d;
            }

            variance /= width;
            float inv = (float)(1 / Math.Sqrt(variance + epsilon));
            float m = (float)mean;
            for (int j = 0; j < width; j++)
            {
                yr[j] = ((xr[j] - m) * inv * weight[j]) + bias[j];
            }
        }
    }
}

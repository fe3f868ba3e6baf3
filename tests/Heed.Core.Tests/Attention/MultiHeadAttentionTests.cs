using static Heed.Core.Tests.TestTensors;

namespace Heed.Core.Tests.Attention;

public class MultiHeadAttentionTests
{
    /// <summary>The seed's self_attention in plain loops: softmax(xWq (xWk)ᵀ/√16)(xWv)·W_lin + x.</summary>
    private static double[] SeedSelfAttention(double[] x, int tokens, int width, double[] wq, double[] wk, double[] wv, double[] wo, int d)
    {
        double[] Mul(double[] a, int rows, int inner, double[] b, int cols)
        {
            var c = new double[rows * cols];
            for (int r = 0; r < rows; r++)
                for (int col = 0; col < cols; col++)
                    for (int i = 0; i < inner; i++)
                        c[(r * cols) + col] += a[(r * inner) + i] * b[(i * cols) + col];
            return c;
        }

        double[] q = Mul(x, tokens, width, wq, d), k = Mul(x, tokens, width, wk, d), v = Mul(x, tokens, width, wv, d);
        var weights = new double[tokens * tokens];
        for (int i = 0; i < tokens; i++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < tokens; j++)
            {
                double s = 0;
                for (int e = 0; e < d; e++) s += q[(i * d) + e] * k[(j * d) + e];
                weights[(i * tokens) + j] = s / Math.Sqrt(d);
                max = Math.Max(max, weights[(i * tokens) + j]);
            }

            double sum = 0;
            for (int j = 0; j < tokens; j++) sum += weights[(i * tokens) + j] = Math.Exp(weights[(i * tokens) + j] - max);
            for (int j = 0; j < tokens; j++) weights[(i * tokens) + j] /= sum;
        }

        double[] y = Mul(Mul(weights, tokens, tokens, v, d), tokens, d, wo, width);
        for (int n = 0; n < y.Length; n++) y[n] += x[n];
        return y;
    }

    [Fact]
    public void Seed_self_attention_7_tokens_by_128_with_16_wide_qkv_and_residual()
    {
        // 001: "Terry loves to eat Mango Greek Yogurt": 7 tokens × 128, Q/K/V 16 wide, output 7 × 128 with the residual.
        const int Tokens = 7, Width = 128, D = 16;
        double[] x = Random(1, Tokens * Width), wq = Random(2, Width * D), wk = Random(3, Width * D), wv = Random(4, Width * D), wo = Random(5, D * Width);
        var layer = new MultiHeadAttention(F64(wq, Width, D), F64(wk, Width, D), F64(wv, Width, D), numHeads: 1, outputWeight: F64(wo, D, Width), residual: true);
        var result = layer.Forward(F64(x, Tokens, Width), weights: AttentionWeightsMode.PerHead);
        Assert.Equal([Tokens, Width], result.Output.Shape.ToArray());
        Assert.Equal(16, layer.HeadSize);
        Assert.Equal([1, Tokens, Tokens], result.Weights!.Shape.ToArray());
        Close(SeedSelfAttention(x, Tokens, Width, wq, wk, wv, wo, D), result.Output, 1e-9);
    }

    [Fact]
    public void Heads_split_the_projection_and_weights_average()
    {
        // H = 2, D = 1: head h uses column h of each projection; identity-like weights make it checkable by hand.
        var x = F64([1, 0, 0, 1], 1, 2, 2);                   // (B=1, T=2, C=2)
        var eye = F64([1, 0, 0, 1], 2, 2);
        var layer = new MultiHeadAttention(eye, eye, eye, numHeads: 2, outputWeight: eye);
        var r = layer.Forward(x, weights: AttentionWeightsMode.PerHead);
        // head 0 scores: q0 = [1, 0] against k0 = [1, 0] → softmax([1, 0]) for token 0, softmax([0, 0]) for token 1.
        double a = E1(), h = 0.5;
        Close([a, 1 - a, h, h, h, h, 1 - a, a], r.Weights!);
        var avg = layer.Forward(x, weights: AttentionWeightsMode.Averaged);
        Close([(a + h) / 2, (1 - a + h) / 2, (h + 1 - a) / 2, (h + a) / 2], avg.Weights!);
        // output head 0 = weights·v0 with v0 = [1, 0]; head 1 with v1 = [0, 1].
        Close([a, h, h, a], r.Output);
    }

    private static double E1() => Math.E / (1 + Math.E);

    [Fact]
    public void Key_padding_mask_true_means_ignored()
    {
        var x = F64([1, 0, 0, 1], 1, 2, 2);
        var eye = F64([1, 0, 0, 1], 2, 2);
        var layer = new MultiHeadAttention(eye, eye, eye, numHeads: 1);
        var r = layer.Forward(x, keyPaddingMask: Bool([false, true], 1, 2));
        Close([1, 0, 1, 0], r.Output); // every query sees only token 0, whose value is [1, 0]
    }

    [Fact]
    public void From_pytorch_transposes_out_in_weights()
    {
        // in_proj_weight rows: W_q (2×2), W_k, W_v in PyTorch's [out, in] layout.
        double[] inProj = [1, 2, 3, 4, 0, 1, 1, 0, 2, 0, 0, 2];
        var layer = MultiHeadAttention.FromPyTorch(F64(inProj, 6, 2), F64([0.1, 0.2, 0, 0, 0.5, -0.5], 6), F64([1, 0, 0, 1], 2, 2), null, numHeads: 1);
        var heed = new MultiHeadAttention(F64([1, 3, 2, 4], 2, 2), F64([0, 1, 1, 0], 2, 2), F64([2, 0, 0, 2], 2, 2), 1, null, F64([1, 0, 0, 1], 2, 2), F64([0.1, 0.2], 2), null, F64([0.5, -0.5], 2));
        var x = F64(Random(9, 6), 3, 2);
        Close(heed.Forward(x).Output.ToDoubleArray(), layer.Forward(x).Output);
    }

    [Fact]
    public void Shape_errors_name_the_weight()
    {
        var ex = Assert.Throws<HeedException>(() => new MultiHeadAttention(F64(new double[6], 2, 3), F64(new double[6], 2, 3), F64(new double[6], 2, 3), numHeads: 2));
        Assert.Contains("W_q has 3 output columns, not divisible by numHeads 2", ex.Message, StringComparison.Ordinal);
        var layer = new MultiHeadAttention(F64(new double[4], 2, 2), F64(new double[4], 2, 2), F64(new double[4], 2, 2), numHeads: 1);
        var bad = Assert.Throws<HeedException>(() => layer.Forward(F64(new double[3], 1, 3)));
        Assert.Contains("expected 2 (the rows of W_q)", bad.Message, StringComparison.Ordinal);
    }
}

using Heed.Models.Gpt2;
using Heed.Models.Training;

namespace Heed.Models.Tests.Training;

/// <summary>
/// Every layer's backward pass against central finite differences of its own forward pass, in float64: for a random R, the
/// scalar f = Σ forward(x) ⊙ R has ∂f/∂x = backward(dy = R); each checked input and parameter element is perturbed by ±h and
/// (f(+h) − f(−h)) / 2h compared with the analytic gradient. Tolerance: 1e-6 · max(1, |gradient|), with h = 1e-5
/// (the truncation error of a central difference is O(h²), rounding O(ε/h) ≈ 1e-11).
/// </summary>
public sealed class LayerGradientTests
{
    private const double H = 1e-5;
    private const double Tolerance = 1e-6;

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 5, 7)]
    [InlineData(6, 17, 9)]
    public void Dense_backward_matches_finite_differences(int rows, int inFeatures, int outFeatures)
    {
        var random = new TrainingRandom(11);
        double[] x = Normal(random, rows * inFeatures), w = Normal(random, outFeatures * inFeatures), b = Normal(random, outFeatures);
        double[] r = Normal(random, rows * outFeatures);
        double F()
        {
            var y = new double[rows * outFeatures];
            DenseLayer.Forward(x, w, b, y, rows, inFeatures, outFeatures);
            return Dot(y, r);
        }

        double[] dx = new double[x.Length], dw = new double[w.Length], db = new double[b.Length];
        DenseLayer.Backward(r, x, w, dx, dw, db, rows, inFeatures, outFeatures, threads: 2);
        Check(F, x, dx, "dx");
        Check(F, w, dw, "dW");
        Check(F, b, db, "db");
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(4, 9)]
    [InlineData(3, 32)]
    public void LayerNorm_backward_matches_finite_differences(int rows, int width)
    {
        var random = new TrainingRandom(12);
        double[] x = Normal(random, rows * width), gamma = Normal(random, width), beta = Normal(random, width), r = Normal(random, rows * width);
        double F()
        {
            double[] y = new double[x.Length], mean = new double[rows], rstd = new double[rows];
            NormLayer.LayerForward(x, gamma, beta, y, mean, rstd, rows, width, 1e-5);
            return Dot(y, r);
        }

        double[] y0 = new double[x.Length], m = new double[rows], s = new double[rows];
        NormLayer.LayerForward(x, gamma, beta, y0, m, s, rows, width, 1e-5);
        double[] dx = new double[x.Length], dg = new double[width], dbeta = new double[width];
        NormLayer.LayerBackward(r, x, gamma, m, s, dx, dg, dbeta, rows, width);
        Check(F, x, dx, "dx");
        Check(F, gamma, dg, "dγ");
        Check(F, beta, dbeta, "dβ");
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(5, 16)]
    public void RmsNorm_backward_matches_finite_differences(int rows, int width)
    {
        var random = new TrainingRandom(13);
        double[] x = Normal(random, rows * width), gamma = Normal(random, width), r = Normal(random, rows * width);
        double F()
        {
            double[] y = new double[x.Length], rms = new double[rows];
            NormLayer.RmsForward(x, gamma, y, rms, rows, width, 1e-6);
            return Dot(y, r);
        }

        double[] y0 = new double[x.Length], s = new double[rows];
        NormLayer.RmsForward(x, gamma, y0, s, rows, width, 1e-6);
        double[] dx = new double[x.Length], dg = new double[width];
        NormLayer.RmsBackward(r, x, gamma, s, dx, dg, rows, width);
        Check(F, x, dx, "dx");
        Check(F, gamma, dg, "dγ");
    }

    [Fact]
    public void Gelu_and_SwiGlu_backward_match_finite_differences()
    {
        var random = new TrainingRandom(14);
        double[] x = [.. Normal(random, 40).Select(v => v * 3)], a = [.. Normal(random, 40).Select(v => v * 3)], b = Normal(random, 40), r = Normal(random, 40);
        double Gelu()
        {
            var y = new double[x.Length];
            ActivationLayer.GeluForward(x, y);
            return Dot(y, r);
        }

        double SwiGlu()
        {
            var y = new double[a.Length];
            ActivationLayer.SwiGluForward(a, b, y);
            return Dot(y, r);
        }

        var dx = new double[x.Length];
        ActivationLayer.GeluBackward(r, x, dx);
        Check(Gelu, x, dx, "GELU dx");
        double[] da = new double[a.Length], db = new double[b.Length];
        ActivationLayer.SwiGluBackward(r, a, b, da, db);
        Check(SwiGlu, a, da, "SwiGLU da");
        Check(SwiGlu, b, db, "SwiGLU db");
    }

    [Fact]
    public void Embedding_backward_matches_finite_differences()
    {
        var random = new TrainingRandom(15);
        int batch = 2, length = 5, width = 4, vocab = 3;
        int[] tokens = [0, 2, 2, 1, 0, 1, 1, 0, 2, 2];
        double[] wte = Normal(random, vocab * width), wpe = Normal(random, 6 * width), r = Normal(random, batch * length * width);
        double F()
        {
            var x = new double[batch * length * width];
            EmbeddingLayer.Forward(tokens, wte, wpe, x, batch, length, width);
            return Dot(x, r);
        }

        double[] dwte = new double[wte.Length], dwpe = new double[wpe.Length];
        EmbeddingLayer.Backward(tokens, r, dwte, dwpe, batch, length, width);
        Check(F, wte, dwte, "dwte");
        Check(F, wpe, dwpe, "dwpe");
    }

    [Fact]
    public void Cross_entropy_gradient_matches_finite_differences_and_ignores_uncounted_rows()
    {
        var random = new TrainingRandom(16);
        int rows = 5, vocab = 7;
        double[] logits = [.. Normal(random, rows * vocab).Select(v => v * 4)];
        int[] targets = [3, CrossEntropyLoss.Ignore, 0, 6, CrossEntropyLoss.Ignore];
        var grad = new double[logits.Length];
        double loss = CrossEntropyLoss.Compute(logits, targets, grad, rows, vocab);
        Check(() => CrossEntropyLoss.Compute(logits, targets, new double[logits.Length], rows, vocab), logits, grad, "dlogits");

        // the loss itself: the mean of −log p(target) over the three counted rows, computed plainly
        double expected = 0;
        foreach (int row in (int[])[0, 2, 3])
        {
            double sum = 0;
            for (int v = 0; v < vocab; v++) sum += Math.Exp(logits[(row * vocab) + v]);
            expected -= Math.Log(Math.Exp(logits[(row * vocab) + targets[row]]) / sum);
        }

        Assert.Equal(expected / 3, loss, 12);
        Assert.All(grad.AsSpan(vocab, vocab).ToArray(), g => Assert.Equal(0, g));
    }

    /// <summary>
    /// The whole model, float64: the gradient of the mean next-token loss with respect to every parameter tensor (a sample of
    /// up to 12 elements of each, always including the first and last) against central differences. This covers the
    /// multi-head attention layer (W_Q, W_K, W_V in c_attn, W_O in c_proj, their biases and the residual) with the attention
    /// core's backward from Heed.Core, both LayerNorms, the MLP, the tied head and the embeddings.
    /// </summary>
    [Theory]
    [InlineData(1, 2, 8, 5, 7, 1)]
    [InlineData(2, 4, 16, 9, 11, 2)]
    public void Every_parameter_gradient_of_a_small_gpt2_matches_finite_differences(int layers, int heads, int width, int length, int vocab, int batch)
    {
        var config = new Gpt2Config(width, heads, layers, length + 2, vocab) { InnerWidth = 4 * width };
        TrainableGpt2<double> model = TrainableGpt2.Create<double>(config, 21);
        var random = new TrainingRandom(22);

        // larger than GPT-2's initial weights, so attention is far from uniform and every path carries gradient
        foreach (Parameter<double> p in model.Parameters)
        {
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] += 0.3 * random.NextNormal();
        }

        int[] tokens = [.. Enumerable.Range(0, batch * length).Select(_ => random.NextInt(vocab))];
        int[] targets = [.. Enumerable.Range(0, batch * length).Select(i => i % 4 == 3 ? CrossEntropyLoss.Ignore : random.NextInt(vocab))];
        model.LossAndGradients(tokens, targets, batch, length);
        foreach (Parameter<double> p in model.Parameters)
        {
            double[] grad = (double[])p.Grad.Clone();
            int[] picks = [.. new[] { 0, p.Value.Length - 1 }.Concat(Enumerable.Range(0, 10).Select(_ => random.NextInt(p.Value.Length))).Distinct()];
            Check(() => model.Loss(tokens, targets, batch, length), p.Value, grad, p.Name, picks);
        }
    }

    /// <summary>The float32 model (Heed.Core's flash attention backward) against the float64 one (the reference backward).</summary>
    [Fact]
    public void Float32_gradients_match_the_float64_path()
    {
        var config = new Gpt2Config(32, 4, 2, 24, 13) { InnerWidth = 128 };
        TrainableGpt2<float> single = TrainableGpt2.Create<float>(config, 5);
        TrainableGpt2<double> exact = TrainableGpt2.FromTensors<double>(config, single.ToTensors());
        var random = new TrainingRandom(6);
        int batch = 3, length = 24;
        int[] tokens = [.. Enumerable.Range(0, batch * length).Select(_ => random.NextInt(13))];
        int[] targets = [.. Enumerable.Range(0, batch * length).Select(_ => random.NextInt(13))];
        single.Threads = 2;
        double l32 = single.LossAndGradients(tokens, targets, batch, length);
        double l64 = exact.LossAndGradients(tokens, targets, batch, length);
        Assert.True(Math.Abs(l32 - l64) < 1e-5, $"loss float32 {l32} vs float64 {l64}");
        for (int n = 0; n < single.Parameters.Count; n++)
        {
            float[] g32 = single.Parameters[n].Grad;
            double[] g64 = exact.Parameters[n].Grad;
            double scale = Math.Max(1e-3, g64.Max(Math.Abs)), worst = 0;
            for (int i = 0; i < g32.Length; i++) worst = Math.Max(worst, Math.Abs(g32[i] - g64[i]));
            Assert.True(worst <= 1e-3 * scale, $"{single.Parameters[n].Name}: max |float32 − float64| {worst:E3}, largest gradient {scale:E3}");
        }
    }

    private static void Check(Func<double> f, double[] values, double[] analytic, string what, int[]? indices = null)
    {
        foreach (int i in indices ?? Enumerable.Range(0, values.Length))
        {
            double saved = values[i];
            values[i] = saved + H;
            double plus = f();
            values[i] = saved - H;
            double minus = f();
            values[i] = saved;
            double numeric = (plus - minus) / (2 * H);
            double allowed = Tolerance * Math.Max(1, Math.Abs(numeric));
            Assert.True(Math.Abs(numeric - analytic[i]) <= allowed, $"{what}[{i}]: analytic {analytic[i]:G10}, finite difference {numeric:G10} (allowed {allowed:G2})");
        }
    }

    private static double[] Normal(TrainingRandom random, int n) => [.. Enumerable.Range(0, n).Select(_ => random.NextNormal())];

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}

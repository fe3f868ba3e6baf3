using Heed.Models.Gpt2;
using Heed.Models.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch.nn.functional;
using TorchTensor = TorchSharp.torch.Tensor;

namespace Heed.Models.TorchTests;

/// <summary>
/// Training parity with libtorch: a small GPT-2 built from the same weights in libtorch (through TorchSharp), the mean
/// next-token cross-entropy (ignore_index −1) backpropagated by autograd, and every parameter gradient compared with Heed's
/// backward; then gradient clipping (<c>clip_grad_norm_</c>) and AdamW steps compared with TorchSharp's <c>optim.AdamW</c>.
/// </summary>
public sealed class TrainingTorchParityTests
{
    /// <summary>
    /// libtorch autograd in float64 against Heed's float64 model (its attention backward is Heed.Core's float64 reference):
    /// to 1e-9 of each tensor's largest gradient; against Heed's float32 model (Heed.Core's flash backward kernel and the
    /// float32 layers): to 2e-3 of it.
    /// </summary>
    [Theory]
    [InlineData(2, 4, 32, 16, 13, 3, 1)]
    [InlineData(1, 2, 16, 9, 7, 2, 2)]
    [InlineData(3, 8, 64, 20, 29, 2, 3)]
    public void Every_parameter_gradient_matches_libtorch_autograd(int layers, int heads, int width, int length, int vocab, int batch, int seed)
    {
        var config = new Gpt2Config(width, heads, layers, length + 3, vocab) { InnerWidth = 4 * width };
        TrainableGpt2<float> single = TrainableGpt2.Create<float>(config, (ulong)seed);
        var random = new TrainingRandom((ulong)seed + 100);
        foreach (Parameter<float> p in single.Parameters)
        {
            // larger than GPT-2's initial weights, so attention is far from uniform and every path carries gradient
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] += (float)(0.2 * random.NextNormal());
        }

        TrainableGpt2<double> exact = TrainableGpt2.FromTensors<double>(config, single.ToTensors());
        int[] tokens = [.. Enumerable.Range(0, batch * length).Select(_ => random.NextInt(vocab))];
        int[] targets = [.. Enumerable.Range(0, batch * length).Select(i => i % 5 == 4 ? Heed.Models.Training.CrossEntropyLoss.Ignore : random.NextInt(vocab))];
        single.Threads = 2;
        double loss32 = single.LossAndGradients(tokens, targets, batch, length);
        double loss64 = exact.LossAndGradients(tokens, targets, batch, length);

        using var scope = torch.NewDisposeScope();
        Dictionary<string, TorchTensor> w = single.ToTensors().ToDictionary(
            p => p.Key, p => torch.tensor(p.Value.ToDoubleArray(), [.. p.Value.Shape.ToArray().Select(n => (long)n)], torch.float64).requires_grad_(true));
        TorchTensor loss = TorchLoss(w, tokens, targets, batch, length, heads, layers);
        loss.backward();
        double torchLoss = loss.item<double>();
        Assert.True(Math.Abs(torchLoss - loss64) < 1e-10, $"loss: libtorch {torchLoss:G15}, Heed float64 {loss64:G15}");
        Assert.True(Math.Abs(torchLoss - loss32) < 1e-5, $"loss: libtorch {torchLoss:G15}, Heed float32 {loss32:G15}");

        for (int n = 0; n < exact.Parameters.Count; n++)
        {
            Parameter<double> p = exact.Parameters[n];
            double[] expected = w[p.Name].grad!.contiguous().data<double>().ToArray(); // the checkpoint layout: Conv1D [in, out]
            Close(expected, FileLayout(p.Grad, p), 1e-9, p.Name + " (float64)");
            Close(expected, FileLayout([.. single.Parameters[n].Grad.Select(g => (double)g)], p), 2e-3, p.Name + " (float32)");
        }
    }

    /// <summary>
    /// Three steps of global-norm clipping and AdamW (decay on matrices and embeddings only, as two TorchSharp optimizers with and
    /// without weight decay) from the same weights and the same gradients: every parameter within 1e-6 (absolute; the steps
    /// move parameters by about lr = 1e-2).
    /// </summary>
    [Fact]
    public void Clipping_and_AdamW_steps_match_torch()
    {
        var config = new Gpt2Config(16, 2, 2, 12, 11) { InnerWidth = 64 };
        TrainableGpt2<float> model = TrainableGpt2.Create<float>(config, 9);
        var optimizer = new AdamW<float>(model.Parameters);
        const double Lr = 1e-2, Decay = 0.1, MaxNorm = 0.3;

        using var scope = torch.NewDisposeScope();
        Dictionary<string, Parameter> torchParams = model.Parameters.ToDictionary(
            p => p.Name, p => new Parameter(torch.tensor((float[])p.Value.Clone(), [.. p.Shape.Select(n => (long)n)], torch.float32)));
        Parameter[] all = [.. model.Parameters.Select(p => torchParams[p.Name])];
        var decayed = torch.optim.AdamW(model.Parameters.Where(p => p.Decay).Select(p => torchParams[p.Name]), lr: Lr, weight_decay: Decay);
        var plain = torch.optim.AdamW(model.Parameters.Where(p => !p.Decay).Select(p => torchParams[p.Name]), lr: Lr, weight_decay: 0);

        var random = new TrainingRandom(10);
        for (int step = 0; step < 3; step++)
        {
            int[] tokens = [.. Enumerable.Range(0, 2 * 12).Select(_ => random.NextInt(11))];
            int[] targets = [.. Enumerable.Range(0, 2 * 12).Select(_ => random.NextInt(11))];
            model.LossAndGradients(tokens, targets, 2, 12);

            // torch gets the same gradients: backward of Σ p ⊙ g leaves exactly g in p.grad
            decayed.zero_grad();
            plain.zero_grad();
            TorchTensor surrogate = torch.zeros(1, torch.float32);
            foreach (Parameter<float> p in model.Parameters)
            {
                surrogate = surrogate + (torchParams[p.Name] * torch.tensor((float[])p.Grad.Clone(), [.. p.Shape.Select(n => (long)n)], torch.float32)).sum();
            }

            surrogate.backward();
            double torchNorm = torch.nn.utils.clip_grad_norm_(all, MaxNorm);
            double heedNorm = GradientClipping.ClipGradNorm(model.Parameters, MaxNorm);
            Assert.True(Math.Abs(torchNorm - heedNorm) < 1e-5 * heedNorm, $"step {step}: global norm libtorch {torchNorm}, Heed {heedNorm}");
            Assert.True(heedNorm > MaxNorm, "the test should clip");
            decayed.step();
            plain.step();
            optimizer.Step(Lr, Decay);

            foreach (Parameter<float> p in model.Parameters)
            {
                float[] expected = torchParams[p.Name].detach().contiguous().data<float>().ToArray();
                double worst = 0;
                for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - p.Value[i]));
                Assert.True(worst <= 1e-6, $"step {step}, {p.Name}: max |torch − Heed| {worst:E3}");
            }
        }
    }

    // Hugging Face's GPT2LMHeadModel with tied head, batched: tokens [B, T] → mean cross-entropy over targets ≠ −1.
    private static TorchTensor TorchLoss(Dictionary<string, TorchTensor> w, int[] tokens, int[] targets, int batch, int length, int heads, int layers)
    {
        long width = w["wte.weight"].shape[1], headSize = width / heads, vocab = w["wte.weight"].shape[0];
        TorchTensor Conv1D(TorchTensor input, string name) => input.matmul(w[name + ".weight"]) + w[name + ".bias"]; // x·W + b, W [in, out]
        TorchTensor ids = torch.tensor(tokens.Select(t => (long)t).ToArray(), [batch, length]);
        TorchTensor x = w["wte.weight"].index_select(0, ids.view(-1)).view(batch, length, width) + w["wpe.weight"][..length];
        for (int l = 0; l < layers; l++)
        {
            string h = $"h.{l}.";
            TorchTensor a = layer_norm(x, [width], w[h + "ln_1.weight"], w[h + "ln_1.bias"], 1e-5);
            TorchTensor[] qkv = Conv1D(a, h + "attn.c_attn").split(width, dim: 2);
            TorchTensor Heads(TorchTensor t) => t.view(batch, length, heads, headSize).transpose(1, 2); // (B, T, C) → (B, H, T, D)
            TorchTensor y = scaled_dot_product_attention(Heads(qkv[0]), Heads(qkv[1]), Heads(qkv[2]), null, 0.0, true);
            x = x + Conv1D(y.transpose(1, 2).reshape(batch, length, width), h + "attn.c_proj");
            TorchTensor m = layer_norm(x, [width], w[h + "ln_2.weight"], w[h + "ln_2.bias"], 1e-5);
            x = x + Conv1D(gelu(Conv1D(m, h + "mlp.c_fc"), GELU.Approximate.tanh), h + "mlp.c_proj");
        }

        TorchTensor logits = layer_norm(x, [width], w["ln_f.weight"], w["ln_f.bias"], 1e-5).matmul(w["wte.weight"].t()); // (B, T, V)
        TorchTensor target = torch.tensor(targets.Select(t => (long)t).ToArray(), [batch * length]);
        return cross_entropy(logits.view(-1, vocab), target, ignore_index: -1);
    }

    // A gradient held [out, in] as the checkpoint stores it: Conv1D weights transposed to [in, out].
    private static double[] FileLayout(double[] grad, Parameter<double> p)
    {
        if (!p.IsConv1D) return grad;
        int outFeatures = p.Shape[0], inFeatures = p.Shape[1];
        var t = new double[grad.Length];
        for (int o = 0; o < outFeatures; o++)
        {
            for (int i = 0; i < inFeatures; i++) t[(i * outFeatures) + o] = grad[(o * inFeatures) + i];
        }

        return t;
    }

    /// <summary>max |expected − actual| ≤ tolerance · max |expected|, with the worst element in the message.</summary>
    private static void Close(double[] expected, double[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double largest = expected.Max(Math.Abs), worst = 0;
        int at = 0;
        for (int n = 0; n < actual.Length; n++)
        {
            double diff = Math.Abs(expected[n] - actual[n]);
            if (!(diff <= worst))
            {
                worst = diff;
                at = n;
            }
        }

        Assert.True(largest > 0, $"{what}: libtorch's gradient is all zero");
        Assert.True(worst <= tolerance * largest, $"{what}: max difference {worst:G6} at element {at} (libtorch {expected[at]:G9}, Heed {actual[at]:G9}); allowed {tolerance * largest:G3}");
    }
}

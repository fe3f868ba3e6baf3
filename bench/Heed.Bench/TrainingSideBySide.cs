using System.Diagnostics;
using System.Globalization;
using Heed.Models.Gpt2;
using Heed.Models.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch.nn.functional;

namespace Heed.Bench;

/// <summary>
/// Training throughput of the same small GPT-2 in Heed (Heed.Models' trainer: its layers, Heed.Core's attention backward,
/// clipping, AdamW) and in libtorch through TorchSharp (autograd, SDPA, clip_grad_norm_, TorchSharp's AdamW), float32 on the
/// CPU, same weights, same batches (drawn from Heed's induction task), same threads, in alternating rounds of S steps each.
/// One step = forward, cross-entropy, backward, clipping and an AdamW update. Tokens/s = B·T·S / the round's time. The first
/// round's losses of the two are compared step by step (they start from the same weights and see the same data).
/// </summary>
internal static class TrainingSideBySide
{
    public static void Run(int threads, int rounds)
    {
        Console.WriteLine($"threads {threads}, rounds {rounds} (Heed, then libtorch, alternating), steps per round as listed; tokens/s = B*T*steps / round time; best and median over the rounds");
        Console.WriteLine();
        Console.WriteLine("| model | B x T | contender | best tok/s | median tok/s | Heed / libtorch (best) | max |loss difference| over round 1 |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        Table(layers: 2, heads: 2, width: 32, context: 16, batch: 16, steps: 40, threads, rounds);
        Table(layers: 2, heads: 4, width: 64, context: 64, batch: 16, steps: 10, threads, rounds);
        Table(layers: 4, heads: 4, width: 128, context: 128, batch: 8, steps: 4, threads, rounds);
    }

    private static void Table(int layers, int heads, int width, int context, int batch, int steps, int threads, int rounds)
    {
        const double Lr = 1e-3, Decay = 0.01, Clip = 1.0;
        var options = new TrainingOptions
        {
            Task = "induction",
            Steps = int.MaxValue,
            BatchSize = batch,
            LearningRate = Lr,
            WeightDecay = Decay,
            Clip = Clip,
            Layers = layers,
            Heads = heads,
            Width = width,
            Context = context,
            VocabSize = 16,
            Seed = 1,
            Threads = threads,
        };
        Trainer heed = Trainer.Create(options);
        var task = new InductionTask(16);
        var data = new TrainingRandom(77);
        int[] tokens = new int[batch * context], targets = new int[batch * context];

        torch.set_num_threads(threads);
        using var scope = torch.NewDisposeScope();
        Gpt2Config config = heed.Model.Config;
        Dictionary<string, Parameter> w = heed.Model.ToTensors().ToDictionary(
            p => p.Key, p => new Parameter(torch.tensor(((Tensor<float>)p.Value).Data, [.. p.Value.Shape.ToArray().Select(n => (long)n)])));
        string[] decayed = [.. heed.Model.Parameters.Where(p => p.Decay).Select(p => p.Name)];
        var withDecay = torch.optim.AdamW(decayed.Select(n => w[n]), lr: Lr, weight_decay: Decay);
        var without = torch.optim.AdamW(w.Keys.Except(decayed).Select(n => w[n]), lr: Lr, weight_decay: 0);
        Parameter[] all = [.. w.Values];

        double TorchStep()
        {
            using var inner = torch.NewDisposeScope();
            withDecay.zero_grad();
            without.zero_grad();
            torch.Tensor loss = TorchLoss(w, tokens, targets, batch, context, heads, layers, width, config.VocabSize);
            loss.backward();
            torch.nn.utils.clip_grad_norm_(all, Clip);
            withDecay.step();
            without.step();
            return loss.item<float>();
        }

        double HeedStep()
        {
            double loss = heed.Model.LossAndGradients(tokens, targets, batch, context);
            GradientClipping.ClipGradNorm(heed.Model.Parameters, Clip);
            heed.Optimizer.Step(Lr, Decay);
            return loss;
        }

        var heedRates = new List<double>();
        var torchRates = new List<double>();
        double lossDiff = 0;
        for (int round = 0; round <= rounds; round++)
        {
            // the same batches for both: drawn once per round
            var batches = new List<(int[], int[])>();
            for (int s = 0; s < steps; s++)
            {
                task.Sample(data, tokens, targets, batch, context);
                batches.Add(((int[])tokens.Clone(), (int[])targets.Clone()));
            }

            var heedLosses = new double[steps];
            var torchLosses = new double[steps];
            long start = Stopwatch.GetTimestamp();
            for (int s = 0; s < steps; s++)
            {
                (int[] t, int[] g) = batches[s];
                t.CopyTo(tokens, 0);
                g.CopyTo(targets, 0);
                heedLosses[s] = HeedStep();
            }

            double heedSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            start = Stopwatch.GetTimestamp();
            for (int s = 0; s < steps; s++)
            {
                (int[] t, int[] g) = batches[s];
                t.CopyTo(tokens, 0);
                g.CopyTo(targets, 0);
                torchLosses[s] = TorchStep();
            }

            double torchSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (round == 0)
            {
                // round 0 warms both up (JIT, allocations) and checks that they train the same model
                for (int s = 0; s < steps; s++) lossDiff = Math.Max(lossDiff, Math.Abs(heedLosses[s] - torchLosses[s]));
                continue;
            }

            heedRates.Add((double)batch * context * steps / heedSeconds);
            torchRates.Add((double)batch * context * steps / torchSeconds);
        }

        heedRates.Sort();
        torchRates.Sort();
        string model = $"L={layers} H={heads} C={width}";
        string shape = $"{batch} x {context}";
        double ratio = heedRates[^1] / torchRates[^1];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {model} | {shape} | Heed | {heedRates[^1]:F0} | {heedRates[heedRates.Count / 2]:F0} | {ratio:F2}x | {lossDiff:G3} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {model} | {shape} | libtorch (TorchSharp) | {torchRates[^1]:F0} | {torchRates[torchRates.Count / 2]:F0} | | |"));
    }

    // GPT-2 with the tied head, batched: tokens [B, T] → mean cross-entropy over targets ≠ −1 (as the parity tests build it).
    private static torch.Tensor TorchLoss(Dictionary<string, Parameter> w, int[] tokens, int[] targets, int batch, int length, int heads, int layers, long width, long vocab)
    {
        long headSize = width / heads;
        torch.Tensor Conv1D(torch.Tensor input, string name) => input.matmul(w[name + ".weight"]) + w[name + ".bias"];
        torch.Tensor ids = torch.tensor(tokens.Select(t => (long)t).ToArray(), [batch * length]);
        torch.Tensor x = w["wte.weight"].index_select(0, ids).view(batch, length, width) + w["wpe.weight"][..length];
        for (int l = 0; l < layers; l++)
        {
            string h = $"h.{l}.";
            torch.Tensor a = layer_norm(x, [width], w[h + "ln_1.weight"], w[h + "ln_1.bias"], 1e-5);
            torch.Tensor[] qkv = Conv1D(a, h + "attn.c_attn").split(width, dim: 2);
            torch.Tensor Heads(torch.Tensor t) => t.view(batch, length, heads, headSize).transpose(1, 2);
            torch.Tensor y = scaled_dot_product_attention(Heads(qkv[0]), Heads(qkv[1]), Heads(qkv[2]), null, 0.0, true);
            x = x + Conv1D(y.transpose(1, 2).reshape(batch, length, width), h + "attn.c_proj");
            torch.Tensor m = layer_norm(x, [width], w[h + "ln_2.weight"], w[h + "ln_2.bias"], 1e-5);
            x = x + Conv1D(gelu(Conv1D(m, h + "mlp.c_fc"), GELU.Approximate.tanh), h + "mlp.c_proj");
        }

        torch.Tensor logits = layer_norm(x, [width], w["ln_f.weight"], w["ln_f.bias"], 1e-5).matmul(w["wte.weight"].t());
        torch.Tensor target = torch.tensor(targets.Select(t => (long)t).ToArray(), [batch * length]);
        return cross_entropy(logits.view(-1, vocab), target, ignore_index: -1);
    }
}

using System.Globalization;
using Heed.Kernels;
using TorchSharp;

namespace Heed.Bench;

/// <summary>
/// The attention backward side by side with libtorch's scaled_dot_product_attention backward on the CPU (through TorchSharp),
/// same inputs, same threads, calls interleaved: B = 1, H = 8, D = 64, T = S ∈ {512, 2048, 4096}, causal and not.
/// Heed is timed four ways: the backward given the forward's Y and log-sum-exp (<see cref="Attention.ComputeForBackward"/>, as
/// libtorch's backward reuses what its forward saved), the forward for the backward plus that backward, the backward that
/// recomputes Y and L itself, and the same with its second pass split by key blocks (the arrangement before the fused one);
/// libtorch twice: its backward alone (torch.autograd.grad with the forward's graph kept, so its saved output and log-sum-exp
/// are reused) and forward + backward. GFLOP/s counts the backward as 2.5× the forward's 4·B·H·T·S·D (halved when causal).
/// </summary>
internal static class BackwardSideBySide
{
    public static void Run(int threads, int rounds)
    {
        Console.WriteLine($"threads {threads}, tier {AttentionKernels.Tier}, rounds {rounds}, each round 3 calls per contender in a row with the first not counted; best (min) of the counted calls; GFLOP/s = 2.5 x 4*B*H*T*S*D (halved when causal) / time");
        Console.WriteLine();
        Console.WriteLine("| shape | contender | best ms | median ms | GFLOP/s (best) | libtorch backward / contender | max abs diff of dQ, dK, dV vs Heed |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (int length in new[] { 512, 2048, 4096 })
        {
            foreach (bool causal in new[] { false, true })
            {
                Table(new AttentionBenchmarkSize(1, 8, 8, length, length, 64, 64, causal, DType.Float32, Backward: true), threads, length >= 4096 ? Math.Max(2, rounds / 2) : rounds);
            }
        }
    }

    private static void Table(AttentionBenchmarkSize size, int threads, int rounds)
    {
        AttentionInputs inputs = (size with { Causal = false }).CreateInputs();
        var rng = new Random(4);
        float[] dyData = new float[size.Batch * size.Heads * size.QueryLength * size.ValueHeadSize];
        for (int i = 0; i < dyData.Length; i++) dyData[i] = (float)((rng.NextDouble() * 2) - 1);
        int[] yShape = [size.Batch, size.Heads, size.QueryLength, size.ValueHeadSize];
        Tensor dy = Tensor.Create(dyData, yShape);
        var options = new AttentionOptions { IsCausal = size.Causal, MaxThreads = threads };

        torch.set_num_threads(threads);
        using var scope = torch.NewDisposeScope();
        torch.Tensor q = Torch(inputs.Query).requires_grad_(true);
        torch.Tensor k = Torch(inputs.Key).requires_grad_(true);
        torch.Tensor v = Torch(inputs.Value).requires_grad_(true);
        torch.Tensor dyTorch = torch.tensor(dyData, [.. yShape.Select(n => (long)n)]);
        torch.Tensor y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_casual: size.Causal);

        AttentionForwardState state = AttentionKernels.ComputeForBackward(inputs, options);
        AttentionGradients heed = AttentionKernels.ComputeBackward(inputs, dy, options, saved: state);
        IList<torch.Tensor> reference = torch.autograd.grad([y], [q, k, v], [dyTorch], retain_graph: true);
        double diff = Math.Max(MaxDifference(heed.GradQuery, reference[0]), Math.Max(MaxDifference(heed.GradKey, reference[1]), MaxDifference(heed.GradValue, reference[2])));

        (string Name, Action Run)[] contenders =
        [
            ("Heed backward given Y, L", () => AttentionKernels.ComputeBackward(inputs, dy, options, saved: state)),
            ("libtorch SDPA backward alone", () =>
            {
                using var inner = torch.NewDisposeScope();
                torch.autograd.grad([y], [q, k, v], [dyTorch], retain_graph: true);
            }),
            ("libtorch SDPA forward + backward", () =>
            {
                using var inner = torch.NewDisposeScope();
                torch.Tensor fresh = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_casual: size.Causal);
                torch.autograd.grad([fresh], [q, k, v], [dyTorch]);
            }),
            ("Heed forward for backward + backward", () => AttentionKernels.ComputeBackward(inputs, dy, options, saved: AttentionKernels.ComputeForBackward(inputs, options))),
            ("Heed backward (recomputes Y, L)", () => AttentionKernels.ComputeBackward(inputs, dy, options)),
            ("Heed backward (recomputes Y, L), split pass 2", () => AttentionKernels.ComputeBackward(inputs, dy, options, fused: false)),
        ];

        List<double>[] times = SideBySide.Rounds([.. contenders.Select(c => c.Run)], rounds, threads);
        double torchBackward = times[1].Min();
        string shape = $"T=S={size.QueryLength} H={size.Heads}{(size.Causal ? " causal" : "")}";
        for (int c = 0; c < contenders.Length; c++)
        {
            times[c].Sort();
            double best = times[c][0], median = times[c][times[c].Count / 2];
            string difference = c == 0 ? "-" : c == 1 ? diff.ToString("G3", CultureInfo.InvariantCulture) : "";
            string versus = c == 3 ? $"{times[2].Min() / best:F2}x of libtorch forward + backward" : $"{torchBackward / best:F2}x";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {shape} | {contenders[c].Name} | {best:F2} | {median:F2} | {size.Flops / best / 1e6:F1} | {versus} | {difference} |"));
        }
    }

    private static torch.Tensor Torch(Tensor t) => torch.tensor(((Tensor<float>)t).Data, [.. t.Shape.ToArray().Select(n => (long)n)]);

    private static double MaxDifference(Tensor heed, torch.Tensor reference)
    {
        float[] a = ((Tensor<float>)heed).Data, b = reference.contiguous().data<float>().ToArray();
        double worst = 0;
        for (int i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - b[i]));
        return worst;
    }
}

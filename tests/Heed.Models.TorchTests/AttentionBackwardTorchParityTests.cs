using Heed.Reference;
using TorchSharp;
using TorchTensor = TorchSharp.torch.Tensor;

namespace Heed.Models.TorchTests;

/// <summary>
/// The attention backward against libtorch autograd: scaled_dot_product_attention on float64 tensors with requires_grad,
/// y.backward(dY), and the gradients compared with Heed's float64 reference backward (to 1e-10) and with the float32 flash
/// backward kernel (to 2e-4 of the tensor's largest gradient). GQA goes through repeat_interleave of K and V on the head
/// axis (this TorchSharp's SDPA has no enable_gqa), so autograd sums the shared heads' gradients exactly as the semantics do.
/// </summary>
public sealed class AttentionBackwardTorchParityTests
{
    public enum MaskKind
    {
        None,
        Bool,     // [T, S], true = attend, every row with at least one key
        Additive, // [B, 1, T, S] float
    }

    [Theory]
    [InlineData(2, 4, 4, 37, 37, 16, 16, MaskKind.None, true, 1)]
    [InlineData(1, 8, 2, 50, 70, 32, 24, MaskKind.Bool, false, 2)]
    [InlineData(2, 6, 3, 20, 33, 8, 8, MaskKind.Additive, false, 3)]
    [InlineData(1, 4, 1, 130, 130, 64, 64, MaskKind.None, true, 4)]
    [InlineData(1, 2, 2, 9, 200, 64, 32, MaskKind.Bool, false, 5)]
    public void Gradients_match_libtorch_autograd(int batch, int heads, int kvHeads, int queryLength, int kvLength, int headSize, int valueHeadSize, MaskKind maskKind, bool causal, int seed)
    {
        torch.manual_seed(seed);
        using var scope = torch.NewDisposeScope();
        TorchTensor q = torch.randn([batch, heads, queryLength, headSize], torch.float64).requires_grad_(true);
        TorchTensor k = torch.randn([batch, kvHeads, kvLength, headSize], torch.float64).requires_grad_(true);
        TorchTensor v = torch.randn([batch, kvHeads, kvLength, valueHeadSize], torch.float64).requires_grad_(true);
        TorchTensor dy = torch.randn([batch, heads, queryLength, valueHeadSize], torch.float64);
        TorchTensor? mask = maskKind switch
        {
            MaskKind.Bool => BoolMask(queryLength, kvLength),
            MaskKind.Additive => torch.randn([batch, 1, queryLength, kvLength], torch.float64) * 2,
            _ => null,
        };

        int group = heads / kvHeads;
        TorchTensor y = torch.nn.functional.scaled_dot_product_attention(
            q, k.repeat_interleave(group, dim: 1), v.repeat_interleave(group, dim: 1), mask, 0.0, causal);
        y.backward([dy]);

        Tensor heedMask = maskKind switch
        {
            MaskKind.Bool => Tensor.Create(mask!.data<bool>().ToArray(), queryLength, kvLength),
            MaskKind.Additive => Tensor.Create(mask!.data<double>().ToArray(), batch, 1, queryLength, kvLength),
            _ => null!,
        };
        var options = new AttentionOptions { IsCausal = causal };
        AttentionInputs exact = new(ToHeed(q), ToHeed(k), ToHeed(v)) { AttnMask = maskKind == MaskKind.None ? null : heedMask };
        AttentionGradients reference = ReferenceAttentionBackward.Compute(exact, ToHeed(dy), options);
        Close(Values(y), reference.Output, 1e-10, "Y (reference)");
        Close(Values(q.grad!), reference.GradQuery, 1e-10, "dQ (reference)");
        Close(Values(k.grad!), reference.GradKey, 1e-10, "dK (reference)");
        Close(Values(v.grad!), reference.GradValue, 1e-10, "dV (reference)");

        AttentionInputs single = new(Single(exact.Query), Single(exact.Key), Single(exact.Value)) { AttnMask = exact.AttnMask };
        AttentionGradients fast = Attention.Backward(single, Single(ToHeed(dy)), options);
        Close(Values(q.grad!), fast.GradQuery, 2e-4, "dQ (flash backward, float32)");
        Close(Values(k.grad!), fast.GradKey, 2e-4, "dK (flash backward, float32)");
        Close(Values(v.grad!), fast.GradValue, 2e-4, "dV (flash backward, float32)");

        // The forward that keeps Y and the log-sum-exp, and the backward that takes them; L against libtorch's logsumexp of the
        // same biased scores.
        AttentionForwardState state = Attention.ComputeForBackward(single, options);
        AttentionGradients given = Attention.Backward(single, Single(ToHeed(dy)), state, options);
        TorchTensor scores = q.detach().matmul(k.detach().repeat_interleave(group, dim: 1).transpose(-2, -1)) / Math.Sqrt(headSize);
        scores = maskKind switch
        {
            MaskKind.Bool => scores.masked_fill(mask!.logical_not(), double.NegativeInfinity),
            MaskKind.Additive => scores + mask!,
            _ => scores,
        };
        if (causal)
        {
            scores = scores.masked_fill(torch.ones([queryLength, kvLength], torch.@bool).triu(1), double.NegativeInfinity);
        }

        Close(Values(torch.logsumexp(scores, -1)), state.LogSumExp, 1e-5, "L (forward for the backward, float32)");
        Close(Values(y), state.Output, 1e-5, "Y (forward for the backward, float32)");
        Close(Values(q.grad!), given.GradQuery, 2e-4, "dQ (flash backward given Y and L)");
        Close(Values(k.grad!), given.GradKey, 2e-4, "dK (flash backward given Y and L)");
        Close(Values(v.grad!), given.GradValue, 2e-4, "dV (flash backward given Y and L)");
    }

    /// <summary>A random [T, S] boolean mask in which every query keeps at least one key.</summary>
    private static TorchTensor BoolMask(int queryLength, int kvLength)
    {
        TorchTensor mask = torch.rand([queryLength, kvLength], torch.float64) < 0.6;
        mask[.., 0] = torch.tensor(true);
        return mask;
    }

    private static double[] Values(TorchTensor t) => t.contiguous().data<double>().ToArray();

    private static Tensor<double> ToHeed(TorchTensor t) =>
        Tensor.Create(Values(t.detach()), [.. t.shape.Select(n => (int)n)]);

    private static Tensor Single(Tensor t) => Tensor.FromDoubles(DType.Float32, t.Shape, t.ToDoubleArray());

    /// <summary>max |expected − actual| ≤ tolerance · max(1, max |expected|), with the worst element in the message.</summary>
    private static void Close(double[] expected, Tensor actual, double tolerance, string what)
    {
        double[] a = actual.ToDoubleArray();
        Assert.Equal(expected.Length, a.Length);
        double largest = Math.Max(1, expected.Max(Math.Abs)), worst = 0;
        int at = 0;
        for (int n = 0; n < a.Length; n++)
        {
            double diff = Math.Abs(expected[n] - a[n]);
            if (!(diff <= worst))
            {
                worst = diff;
                at = n;
            }
        }

        Assert.True(worst <= tolerance * largest, $"{what}: max difference {worst:G6} at element {at} (libtorch {expected[at]:G9}, Heed {a[at]:G9}); allowed {tolerance * largest:G3}");
    }
}

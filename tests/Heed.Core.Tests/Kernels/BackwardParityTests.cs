using Heed.Kernels;
using Heed.Reference;

namespace Heed.Core.Tests.Kernels;

/// <summary>
/// The flash backward kernel against the float64 reference backward on the forward kernels' grid (shapes, masks, GQA,
/// softcap, windows, nonpad lengths, fully masked rows, float16 and bfloat16): Y, dQ, dK and dV. The forward's cases with
/// a past cache run with the cache folded into K and V (the backward takes no cache). Tolerances are the forward's
/// (absolute + relative·|expected|) with the absolute part scaled by the largest |expected| of the tensor, since a
/// gradient is a sum over up to S (dQ) or H·T (dK, dV) terms: float32 2e-4, float16 2e-3, bfloat16 1.6e-2.
/// </summary>
public class BackwardParityTests
{
    public static TheoryData<string> Shapes => KernelCases.Names(KernelCases.Shapes());

    public static TheoryData<string> Features => KernelCases.Names(KernelCases.Features());

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Grid_shapes_match_the_reference_backward(string name) => Check(Fold(KernelCases.Find(name)), null);

    [Theory]
    [MemberData(nameof(Features))]
    public void Every_rule_matches_the_reference_backward(string name) => Check(Fold(KernelCases.Find(name)), null);

    [Theory]
    [InlineData(SimdTier.Vector256)]
    [InlineData(SimdTier.Vector128)]
    [InlineData(SimdTier.Scalar)]
    public void Narrower_tiers_match_the_reference_backward(SimdTier tier)
    {
        foreach (string name in new[] { "bool2d_fully_masked_rows", "softcap_causal_mask", "packed_3d_gqa", "window_left_right", "nonpad_below_T_masks_rows", "d1_dv1" })
        {
            Check(Fold(KernelCases.Find(name)), tier);
        }
    }

    [Fact]
    public void The_result_does_not_depend_on_the_thread_count()
    {
        KernelCase c = KernelCases.Find("softcap_causal_mask");
        AttentionInputs inputs = c.Inputs();
        Tensor dy = GradOutput(c, inputs);
        foreach (bool fused in new[] { false, true })
        {
            AttentionGradients one = AttentionKernels.ComputeBackward(inputs, dy, c.Options(threads: 1), fused: fused);
            AttentionGradients three = AttentionKernels.ComputeBackward(inputs, dy, c.Options(threads: 3), fused: fused);
            KernelCases.AssertClose(one.GradQuery, three.GradQuery, (0, 0), $"dQ, 1 vs 3 threads, fused {fused}");
            KernelCases.AssertClose(one.GradKey, three.GradKey, (0, 0), $"dK, 1 vs 3 threads, fused {fused}");
            KernelCases.AssertClose(one.GradValue, three.GradValue, (0, 0), $"dV, 1 vs 3 threads, fused {fused}");
        }
    }

    [Fact]
    public void Fully_masked_rows_give_zero_gradients_on_the_kernel()
    {
        // nonpad_below_T_masks_rows: batch 0 has 30 keys and T = 64 under a causal mask, so its first 34 rows are closed.
        KernelCase c = KernelCases.Find("nonpad_below_T_masks_rows");
        AttentionInputs inputs = c.Inputs();
        AttentionGradients grads = Heed.Attention.Backward(inputs, GradOutput(c, inputs), c.Options());
        double[] dq = grads.GradQuery.ToDoubleArray();
        Assert.DoesNotContain(dq, double.IsNaN);
        for (int n = 0; n < 34 * c.HeadSize; n++) Assert.Equal(0, dq[n]);
    }

    [Fact]
    public void A_saved_state_of_the_wrong_shape_or_type_is_refused()
    {
        KernelCase c = KernelCases.Find("packed_3d_gqa");
        AttentionInputs inputs = c.Inputs();
        Tensor dy = GradOutput(c, inputs);
        AttentionForwardState state = Heed.Attention.ComputeForBackward(inputs, c.Options());
        Tensor shortL = Tensor.Zeros(DType.Float32, [c.Batch, c.Heads, c.QueryLength - 1]);
        HeedException e = Assert.Throws<HeedException>(() => Heed.Attention.Backward(inputs, dy, state with { LogSumExp = shortL }, c.Options()));
        Assert.Contains("log-sum-exp: expected", e.Message, StringComparison.Ordinal);
        Tensor doubleL = Tensor.Zeros(DType.Float64, [c.Batch, c.Heads, c.QueryLength]);
        e = Assert.Throws<HeedException>(() => Heed.Attention.Backward(inputs, dy, state with { LogSumExp = doubleL }, c.Options()));
        Assert.Contains("of float32", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<HeedException>(() => Heed.Attention.Backward(inputs, dy, state with { Output = Tensor.Zeros(DType.Float32, [1]) }, c.Options()));
        Assert.Contains("saved forward's Y", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_past_cache_is_refused()
    {
        KernelCase c = KernelCases.Find("causal_past_cache");
        AttentionInputs inputs = c.Inputs();
        HeedException e = Assert.Throws<HeedException>(() => Heed.Attention.Backward(inputs, GradOutput(c, inputs), c.Options()));
        Assert.Contains("not differentiated", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<HeedException>(() => Heed.Attention.ComputeForBackward(inputs, c.Options()));
        Assert.Contains("not differentiated", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A forward case with a past cache becomes the same keys given as K and V (the backward takes no cache).</summary>
    private static KernelCase Fold(KernelCase c) => c.Past == 0 ? c : c with { NewKeys = c.KvLength, Past = 0 };

    private static Tensor GradOutput(KernelCase c, AttentionInputs inputs)
    {
        int[] shape = c.Packed ? [c.Batch, c.QueryLength, c.Heads * c.ValueHeadSize] : [c.Batch, c.Heads, c.QueryLength, c.ValueHeadSize];
        int length = shape.Aggregate(1, (a, x) => a * x);
        return Tensor.FromDoubles(inputs.Query.DType, shape, TestTensors.Random(77, length));
    }

    /// <summary>
    /// Every arrangement of the kernel against the reference: the second pass split by key blocks and fused per kv head, each
    /// recomputing Y and L and each given them by <see cref="AttentionKernels.ComputeForBackward"/>, whose Y and L are checked too.
    /// </summary>
    private static void Check(KernelCase c, SimdTier? tier)
    {
        AttentionInputs inputs = c.Inputs();
        Tensor dy = GradOutput(c, inputs);
        AttentionGradients expected = ReferenceAttentionBackward.Compute(inputs, dy, c.Options());
        AttentionForwardState exactState = AttentionKernels.ComputeForBackward(inputs, c.Options() with { UseReference = true });
        AttentionForwardState state = AttentionKernels.ComputeForBackward(inputs, c.Options(), tier);
        string kernel = $"flash backward ({tier?.ToString() ?? AttentionKernels.Tier.ToString()}) on {c.Name}";
        KernelCases.AssertClose(expected.Output, state.Output, KernelCases.Tolerance(c.Type), kernel + ", forward for the backward, Y");
        AssertLogSumExpClose(exactState.LogSumExp, state.LogSumExp, kernel + ", forward for the backward, L");
        foreach (bool fused in new[] { false, true })
        {
            foreach (AttentionForwardState? saved in new[] { null, state })
            {
                AttentionGradients actual = AttentionKernels.ComputeBackward(inputs, dy, c.Options(), tier, saved, fused);
                string what = $"{kernel} ({(fused ? "fused" : "split")}{(saved is null ? "" : ", given Y and L")})";
                (double abs, double rel) = c.Type switch
                {
                    DType.BFloat16 => (1.6e-2, 1.6e-2),
                    DType.Float16 => (2e-3, 2e-3),
                    _ => (2e-4, 2e-4),
                };
                KernelCases.AssertClose(expected.Output, actual.Output, KernelCases.Tolerance(c.Type), what + " Y");
                KernelCases.AssertClose(expected.GradQuery, actual.GradQuery, (abs * Largest(expected.GradQuery), rel), what + " dQ");
                KernelCases.AssertClose(expected.GradKey, actual.GradKey, (abs * Largest(expected.GradKey), rel), what + " dK");
                KernelCases.AssertClose(expected.GradValue, actual.GradValue, (abs * Largest(expected.GradValue), rel), what + " dV");
            }
        }
    }

    /// <summary>
    /// L within float32 rounding of the scores (1e-5 of max(1, |L|)), +∞ exactly where the reference has it; rows whose reference
    /// L is NaN (a NaN among the scores) are skipped: the kernel gives them +∞, so that their gradients are 0.
    /// </summary>
    private static void AssertLogSumExpClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        Assert.Equal(DType.Float32, actual.DType);
        double[] e = expected.ToDoubleArray(), a = actual.ToDoubleArray();
        for (int n = 0; n < e.Length; n++)
        {
            if (double.IsNaN(e[n]))
            {
                continue;
            }

            if (double.IsInfinity(e[n]))
            {
                Assert.True(e[n].Equals(a[n]), $"{what}: row {n}, expected {e[n]}, got {a[n]}");
            }
            else
            {
                Assert.True(Math.Abs(a[n] - e[n]) <= 1e-5 * Math.Max(1, Math.Abs(e[n])), $"{what}: row {n}, expected {e[n]:R}, got {a[n]:R}");
            }
        }
    }

    private static double Largest(Tensor t) => Math.Max(1, t.ToDoubleArray().Select(Math.Abs).DefaultIfEmpty(0).Max());
}

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
        AttentionGradients one = AttentionKernels.ComputeBackward(inputs, dy, c.Options(threads: 1));
        AttentionGradients three = AttentionKernels.ComputeBackward(inputs, dy, c.Options(threads: 3));
        KernelCases.AssertClose(one.GradQuery, three.GradQuery, (0, 0), "dQ, 1 vs 3 threads");
        KernelCases.AssertClose(one.GradKey, three.GradKey, (0, 0), "dK, 1 vs 3 threads");
        KernelCases.AssertClose(one.GradValue, three.GradValue, (0, 0), "dV, 1 vs 3 threads");
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
    public void A_past_cache_is_refused()
    {
        KernelCase c = KernelCases.Find("causal_past_cache");
        AttentionInputs inputs = c.Inputs();
        HeedException e = Assert.Throws<HeedException>(() => Heed.Attention.Backward(inputs, GradOutput(c, inputs), c.Options()));
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

    private static void Check(KernelCase c, SimdTier? tier)
    {
        AttentionInputs inputs = c.Inputs();
        Tensor dy = GradOutput(c, inputs);
        AttentionGradients expected = ReferenceAttentionBackward.Compute(inputs, dy, c.Options());
        AttentionGradients actual = AttentionKernels.ComputeBackward(inputs, dy, c.Options(), tier);
        string what = $"flash backward ({tier?.ToString() ?? AttentionKernels.Tier.ToString()}) on {c.Name}";
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

    private static double Largest(Tensor t) => Math.Max(1, t.ToDoubleArray().Select(Math.Abs).DefaultIfEmpty(0).Max());
}

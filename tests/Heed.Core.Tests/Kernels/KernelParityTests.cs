using Heed.Kernels;

namespace Heed.Core.Tests.Kernels;

/// <summary>
/// Every kernel against the float64 reference on the grid of issue 3: T ∈ {1, 2, 7, 64, 129, 300}, S ∈ {T, T+17, 1000},
/// heads 8/8, 8/2, 3/1, D ∈ {1, 3, 8, 64, 80, 128}, Dv ≠ D, every mask kind, windows, cache offsets, fully masked rows,
/// float16 and bfloat16. Tolerances (absolute + relative·|expected|): float32 1e-4 + 1e-4, float16 1e-3 + 2e-3,
/// bfloat16 1e-2 + 1.6e-2 (one or two units in the last place of the output type); a float16 softmax_precision 2e-3 + 2e-3,
/// a bfloat16 one 2e-2 + 2e-2 (the probabilities themselves are rounded). These runs use the machine's widest vector tier;
/// .ci/run repeats them with AVX-512, AVX2 and all intrinsics switched off.
/// </summary>
public class KernelParityTests
{
    public static TheoryData<string> Shapes => KernelCases.Names(KernelCases.Shapes());

    public static TheoryData<string> Features => KernelCases.Names(KernelCases.Features());

    public static TheoryData<string> Materialized => KernelCases.Names(KernelCases.Materialized());

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Grid_shapes_match_the_reference_on_every_kernel(string name) => EveryKernel(KernelCases.Find(name));

    [Theory]
    [MemberData(nameof(Features))]
    public void Every_rule_matches_the_reference_on_every_kernel(string name) => EveryKernel(KernelCases.Find(name));

    [Theory]
    [MemberData(nameof(Materialized))]
    public void Qk_output_and_softmax_precision_match_the_reference(string name)
    {
        KernelCase c = KernelCases.Find(name);
        if (c.Precision is SoftmaxPrecision.Float)
        {
            // float32 softmax is what the fused kernels compute anyway: no rows needed.
            Assert.Equal(AttentionKernel.Flash, AttentionKernels.Choose(c.Inputs(), c.Options()));
            EveryKernel(c);
            return;
        }

        Assert.Equal(AttentionKernel.Materialized, AttentionKernels.Choose(c.Inputs(), c.Options()));
        KernelCases.CheckKernel(c, KernelCases.Reference(c), AttentionKernel.Materialized);
    }

    private static void EveryKernel(KernelCase c)
    {
        AttentionResult expected = KernelCases.Reference(c);
        foreach (AttentionKernel kernel in new[] { AttentionKernel.Flash, AttentionKernel.Decode, AttentionKernel.Materialized })
        {
            KernelCases.CheckKernel(c, expected, kernel);
        }
    }
}

using System.Globalization;
using Heed.Core.Tests.Kernels;

namespace Heed.Core.Tests.Attention;

/// <summary>
/// An observer of the probabilities alone (<see cref="AttentionCaptureContent.Probabilities"/>) gets the kernels' float32
/// probabilities, renormalized in float64: within 1e-5 of the reference's on every float32 rule of the parity grid (masks with
/// fully masked rows, padding, GQA, causal with a cache, windows, softcap, 3-D inputs) and on scores of order ±30; rows
/// summing to 1 to 1e-12; masked keys exactly 0; and the traced call's Y bit for bit the untraced one's.
/// </summary>
public class KernelCaptureTests
{
    private const double Bound = 1e-5;

    public static TheoryData<string> Cases => KernelCases.Names(Float32Cases());

    private static IEnumerable<KernelCase> Float32Cases() =>
        KernelCases.Features().Concat(KernelCases.Materialized()).Where(c => c.Type == DType.Float32 && c.Precision is null)
            .Append(new KernelCase("one_sentence_bert", 1, 12, 12, 19, 19, 32, 32, Nonpad: [19]))
            .Append(new KernelCase("padded_batch_bert", 2, 12, 12, 24, 24, 32, 32, Nonpad: [24, 9]));

    private sealed class Collector(AttentionCaptureContent content) : IAttentionObserver
    {
        public List<AttentionCapture> Captures { get; } = [];

        public AttentionCaptureContent Content => content;

        public void OnAttention(AttentionCapture capture) => Captures.Add(capture);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Kernel_probabilities_stay_within_the_bound_of_the_reference(string name)
    {
        KernelCase c = Float32Cases().Single(k => k.Name == name);
        Check(c, c.Options());
    }

    [Theory]
    [InlineData("one_sentence_bert")]
    [InlineData("bool2d_fully_masked_rows")]
    [InlineData("causal_past_cache_decode")]
    [InlineData("packed_3d_gqa")]
    public void Kernel_probabilities_hold_the_bound_when_scores_reach_thirty(string name)
    {
        // Scale 4/√D puts the scores at about ±30 (these inputs are uniform in [−2, 2)): their float32 rounding, not the
        // softmax, sets the difference.
        KernelCase c = Float32Cases().Single(k => k.Name == name);
        Check(c, c.Options() with { Scale = 4 / Math.Sqrt(c.HeadSize) });
    }

    [Theory]
    [InlineData("one_sentence_bert")]
    [InlineData("padded_batch_bert")]
    public void The_flash_kernel_hands_over_the_probabilities_of_one_tile_calls_on_the_way(string name)
    {
        // The encoder's calls: every block's keys in one tile, so the flash kernel writes P during the call, with the same Y.
        KernelCase c = Float32Cases().Single(k => k.Name == name);
        AttentionInputs inputs = c.Inputs();
        Assert.Equal(Heed.Kernels.AttentionKernel.Flash, Heed.Kernels.AttentionKernels.Choose(inputs, c.Options()));
        AttentionResult traced = Heed.Kernels.AttentionKernels.Compute(inputs, c.Options(), out Tensor<double>? handed, out AttentionGeometry g);
        double[] buffer = Assert.IsType<Tensor<double>>(handed).Data;
        Assert.Equal([g.Batch, g.NumHeads, g.QueryLength, g.KvLength], handed.Shape.ToArray());
        AttentionResult plain = Heed.Kernels.AttentionKernels.Compute(inputs, c.Options());
        Assert.Equal(((Tensor<float>)plain.Output).Data, ((Tensor<float>)traced.Output).Data);
        double[] exact = ReferenceAttentionProbabilities(inputs, c.Options());
        double worst = 0;
        for (int i = 0; i < exact.Length; i++)
        {
            // Masked keys and closed rows must read exactly 0.
            Assert.True(exact[i] != 0 || buffer[i] == 0, $"element {i} is {buffer[i]} where the reference has 0");
            worst = Math.Max(worst, Math.Abs(buffer[i] - exact[i]));
        }

        Assert.True(worst <= Bound, $"max |flash probabilities - reference| = {worst:E2}");
    }

    private static double[] ReferenceAttentionProbabilities(AttentionInputs inputs, AttentionOptions options)
    {
        var collector = new Collector(AttentionCaptureContent.Everything);
        Heed.Attention.Compute(inputs, options with { Observer = collector });
        return collector.Captures.Single().Probabilities.Data;
    }

    [Fact]
    public void The_reference_captures_when_the_call_runs_on_it_q_is_not_float32_or_a_softmax_precision_is_set()
    {
        KernelCase c = Float32Cases().Single(k => k.Name == "bool2d_fully_masked_rows");
        var asked = new Collector(AttentionCaptureContent.Probabilities);
        var everything = new Collector(AttentionCaptureContent.Everything);
        Heed.Attention.Compute(c.Inputs(), c.Options() with { UseReference = true, Observer = asked });
        Heed.Attention.Compute(c.Inputs(), c.Options() with { Observer = everything });
        AttentionCapture reference = Assert.Single(asked.Captures);
        Assert.True(reference.IsReference);
        Assert.Equal(Assert.Single(everything.Captures).Probabilities.Data, reference.Probabilities.Data); // bit for bit

        KernelCase half = KernelCases.Features().Single(k => k.Name == "float16");
        var narrow = new Collector(AttentionCaptureContent.Probabilities);
        Heed.Attention.Compute(half.Inputs(), half.Options() with { Observer = narrow });
        Assert.True(Assert.Single(narrow.Captures).IsReference);

        KernelCase rounded = KernelCases.Materialized().Single(k => k.Name == "precision_Float16");
        var precise = new Collector(AttentionCaptureContent.Probabilities);
        Heed.Attention.Compute(rounded.Inputs(), rounded.Options() with { Observer = precise });
        Assert.True(Assert.Single(precise.Captures).IsReference);
    }

    private static void Check(KernelCase c, AttentionOptions options)
    {
        var kernel = new Collector(AttentionCaptureContent.Probabilities);
        var reference = new Collector(AttentionCaptureContent.Everything);
        AttentionResult untraced = Heed.Attention.Compute(c.Inputs(), options);
        AttentionResult traced = Heed.Attention.Compute(c.Inputs(), options with { Observer = kernel });
        Heed.Attention.Compute(c.Inputs(), options with { Observer = reference });
        Assert.Equal(untraced.Output.ToDoubleArray(), traced.Output.ToDoubleArray()); // the capture only reads

        AttentionCapture fast = Assert.Single(kernel.Captures), exact = Assert.Single(reference.Captures);
        Assert.False(fast.IsReference);
        Assert.Null(fast.Query);
        Assert.Equal(exact.Probabilities.Shape.ToArray(), fast.Probabilities.Shape.ToArray());
        double[] e = exact.Probabilities.Data, a = fast.Probabilities.Data;
        int s = fast.Geometry.KvLength;
        double worst = 0;
        int at = 0;
        for (int n = 0; n < e.Length; n++)
        {
            if (e[n] == 0)
            {
                Assert.True(a[n] == 0, $"{c.Name}: element {n} is {a[n]} where the reference has 0 (a masked key or a closed row)");
            }

            double diff = Math.Abs(a[n] - e[n]);
            if (diff > worst) (worst, at) = (diff, n);
        }

        Assert.True(
            worst <= Bound,
            string.Create(CultureInfo.InvariantCulture, $"{c.Name}: max difference {worst:G6} at element {at} (row {at / s}, key {at % s}): reference {e[at]:G9}, kernel {a[at]:G9}"));
        for (int row = 0; row * s < a.Length; row++)
        {
            double sum = 0, referenceSum = 0;
            for (int j = 0; j < s; j++)
            {
                sum += a[(row * s) + j];
                referenceSum += e[(row * s) + j];
            }

            Assert.Equal(referenceSum, sum, 1e-12); // 1, or 0 for a fully masked row
        }
    }
}

using Heed.Core.Tests.Kernels;
using Heed.Reference;

namespace Heed.Core.Tests.Reference;

/// <summary>
/// The reference backward against central finite differences of the reference forward: for the loss L = Σ dY ∘ Y, every
/// element x of Q, K and V gets (L(x + h) − L(x − h)) / 2h with h = 1e-5 on float64 inputs, which must equal the backward's
/// dx within 1e-6 (the difference quotient's own error is about h²·|L'''| + ε·|L|/h, near 1e-9 here).
/// </summary>
public class ReferenceAttentionBackwardTests
{
    private const double Step = 1e-5;
    private const double Tolerance = 1e-6;

    /// <summary>Small cases, each rule of the semantics at least once, all float64.</summary>
    public static IEnumerable<(KernelCase Case, double? Scale)> Cases()
    {
        yield return (new("plain", 1, 2, 2, 3, 4, 3, 3, Type: DType.Float64), null);
        yield return (new("gqa_causal_dv_differs", 1, 4, 2, 5, 6, 3, 2, Type: DType.Float64, Causal: true), null);
        yield return (new("gqa_3_to_1_scale", 2, 3, 1, 3, 5, 2, 4, Type: DType.Float64), 0.7);
        yield return (new("softcap_bool2d_fully_masked", 1, 2, 1, 6, 5, 3, 3, Type: DType.Float64, Mask: MaskKind.Bool2D, Softcap: 1.5), null);
        yield return (new("additive_short_mask_causal", 1, 2, 2, 4, 8, 2, 3, Type: DType.Float64, Mask: MaskKind.Float4DShort, Causal: true), null);
        yield return (new("bool3d_heads", 1, 2, 1, 4, 5, 3, 2, Type: DType.Float64, Mask: MaskKind.Bool3DHeads), null);
        yield return (new("padding_column_batch2", 2, 2, 1, 3, 7, 2, 2, Type: DType.Float64, Mask: MaskKind.BoolColumn), null);
        yield return (new("window_left_right", 1, 2, 2, 6, 7, 2, 2, Type: DType.Float64, Left: 1, Right: 2), null);
        yield return (new("nonpad_causal_masks_rows", 2, 2, 1, 4, 6, 2, 3, Type: DType.Float64, Causal: true, Nonpad: [2, 6]), null);
        yield return (new("packed_3d_gqa_softcap", 2, 4, 2, 3, 4, 2, 3, Type: DType.Float64, Packed: true, Softcap: 2), null);
    }

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach ((KernelCase c, _) in Cases()) data.Add(c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Gradients_match_central_finite_differences_of_the_forward(string name)
    {
        (KernelCase c, double? scale) = Cases().Single(x => x.Case.Name == name);
        AttentionOptions options = c.Options() with { Scale = scale };
        AttentionInputs inputs = c.Inputs();
        AttentionResult forward = ReferenceAttention.Compute(inputs, options);
        double[] dy = TestTensors.Random(99, forward.Output.Length);
        Tensor gradOutput = Tensor.FromDoubles(DType.Float64, forward.Output.Shape.ToArray(), dy);

        AttentionGradients grads = ReferenceAttentionBackward.Compute(inputs, gradOutput, options);
        TestTensors.Close(forward.Output.ToDoubleArray(), grads.Output, 1e-12);

        double Loss(AttentionInputs changed)
        {
            double[] y = ReferenceAttention.Compute(changed, options).Output.ToDoubleArray();
            double sum = 0;
            for (int n = 0; n < y.Length; n++) sum += dy[n] * y[n];
            return sum;
        }

        TestTensors.Close(Numeric(inputs.Query, x => Loss(inputs with { Query = x })), grads.GradQuery, Tolerance);
        TestTensors.Close(Numeric(inputs.Key, x => Loss(inputs with { Key = x })), grads.GradKey, Tolerance);
        TestTensors.Close(Numeric(inputs.Value, x => Loss(inputs with { Value = x })), grads.GradValue, Tolerance);
        Assert.Equal(inputs.Query.Shape.ToArray(), grads.GradQuery.Shape.ToArray());
        Assert.Equal(inputs.Key.Shape.ToArray(), grads.GradKey.Shape.ToArray());
        Assert.Equal(inputs.Value.Shape.ToArray(), grads.GradValue.Shape.ToArray());
    }

    [Fact]
    public void Fully_masked_rows_give_zero_gradients_not_nan()
    {
        // Bool2D closes every fifth row (i % 5 == 3); an infinite Q element in that row must not leak either.
        KernelCase c = new("closed", 1, 2, 1, 6, 5, 3, 3, Type: DType.Float64, Mask: MaskKind.Bool2D);
        AttentionInputs inputs = c.Inputs();
        double[] q = inputs.Query.ToDoubleArray();
        q[3 * 3] = double.PositiveInfinity; // head 0, row 3, d 0
        inputs = inputs with { Query = Tensor.FromDoubles(DType.Float64, inputs.Query.Shape.ToArray(), q) };
        Tensor dy = Tensor.FromDoubles(DType.Float64, [1, 2, 6, 3], TestTensors.Random(5, 36));

        AttentionGradients grads = ReferenceAttentionBackward.Compute(inputs, dy, c.Options());

        double[] dq = grads.GradQuery.ToDoubleArray();
        for (int h = 0; h < 2; h++)
        {
            for (int d = 0; d < 3; d++) Assert.Equal(0, dq[(((h * 6) + 3) * 3) + d]);
        }

        Assert.DoesNotContain(grads.GradKey.ToDoubleArray(), double.IsNaN);
        Assert.DoesNotContain(grads.GradValue.ToDoubleArray(), double.IsNaN);
    }

    [Fact]
    public void Gqa_sums_the_gradients_of_the_heads_sharing_a_kv_head()
    {
        // Two query heads on one kv head equal two separate single-head calls whose dK and dV are added.
        KernelCase shared = new("shared", 1, 2, 1, 3, 4, 2, 2, Type: DType.Float64);
        AttentionInputs inputs = shared.Inputs();
        Tensor dy = Tensor.FromDoubles(DType.Float64, [1, 2, 3, 2], TestTensors.Random(8, 12));
        AttentionGradients together = ReferenceAttentionBackward.Compute(inputs, dy, shared.Options());

        double[] q = inputs.Query.ToDoubleArray(), g = dy.ToDoubleArray();
        var dk = new double[8];
        var dv = new double[8];
        for (int h = 0; h < 2; h++)
        {
            var single = inputs with { Query = Tensor.FromDoubles(DType.Float64, [1, 1, 3, 2], q.AsSpan(h * 6, 6)) };
            Tensor dyh = Tensor.FromDoubles(DType.Float64, [1, 1, 3, 2], g.AsSpan(h * 6, 6));
            AttentionGradients one = ReferenceAttentionBackward.Compute(single, dyh);
            double[] k1 = one.GradKey.ToDoubleArray(), v1 = one.GradValue.ToDoubleArray();
            for (int n = 0; n < 8; n++)
            {
                dk[n] += k1[n];
                dv[n] += v1[n];
            }
        }

        TestTensors.Close(dk, together.GradKey, 1e-12);
        TestTensors.Close(dv, together.GradValue, 1e-12);
    }

    [Fact]
    public void A_past_cache_or_a_misshapen_dy_is_refused()
    {
        KernelCase c = new("past", 1, 2, 2, 3, 4, 2, 2, Past: 2, Type: DType.Float64);
        Tensor dy = Tensor.FromDoubles(DType.Float64, [1, 2, 3, 2], new double[12]);
        HeedException cache = Assert.Throws<HeedException>(() => ReferenceAttentionBackward.Compute(c.Inputs(), dy, c.Options()));
        Assert.Contains("not differentiated", cache.Message, StringComparison.Ordinal);

        KernelCase plain = c with { Past = 0 };
        Tensor wrong = Tensor.FromDoubles(DType.Float64, [1, 2, 3, 3], new double[18]);
        HeedException shape = Assert.Throws<HeedException>(() => ReferenceAttentionBackward.Compute(plain.Inputs(), wrong, plain.Options()));
        Assert.Contains("[1, 2, 3, 2]", shape.Message, StringComparison.Ordinal);
    }

    /// <summary>∂L/∂x for every element of <paramref name="x"/> by central differences.</summary>
    private static double[] Numeric(Tensor x, Func<Tensor, double> loss)
    {
        double[] data = x.ToDoubleArray();
        var gradient = new double[data.Length];
        int[] shape = x.Shape.ToArray();
        for (int n = 0; n < data.Length; n++)
        {
            double keep = data[n];
            data[n] = keep + Step;
            double up = loss(Tensor.FromDoubles(DType.Float64, shape, data));
            data[n] = keep - Step;
            double down = loss(Tensor.FromDoubles(DType.Float64, shape, data));
            data[n] = keep;
            gradient[n] = (up - down) / (2 * Step);
        }

        return gradient;
    }
}

using Heed.Reference;
using static Heed.Core.Tests.TestTensors;

namespace Heed.Core.Tests.Reference;

/// <summary>The reference against hand-computed cases, one or more per rule of the semantics page.</summary>
public class ReferenceAttentionTests
{
    private static readonly double E = Math.E;
    private static readonly double NegInf = double.NegativeInfinity;

    private static AttentionResult Run(Tensor q, Tensor k, Tensor v, AttentionOptions? options = null, Tensor? mask = null, Tensor? pastKey = null, Tensor? pastValue = null, Tensor? nonpad = null) =>
        ReferenceAttention.Compute(new AttentionInputs(q, k, v) { AttnMask = mask, PastKey = pastKey, PastValue = pastValue, NonpadKvSeqlen = nonpad }, options);

    /// <summary>One head, one query, keys 0..S-1 with K[j] = j and V[j] = 10·(j+1), D = 1, scale 1: scores are q·j.</summary>
    private static (Tensor Q, Tensor K, Tensor V) Line(int queries, int keys, double q = 1)
    {
        var qd = new double[queries];
        Array.Fill(qd, q);
        var kd = new double[keys];
        var vd = new double[keys];
        for (int j = 0; j < keys; j++)
        {
            kd[j] = j;
            vd[j] = 10 * (j + 1);
        }

        return (F64(qd, 1, 1, queries, 1), F64(kd, 1, 1, keys, 1), F64(vd, 1, 1, keys, 1));
    }

    /// <summary>Expected output of <see cref="Line"/> when query q attends the keys in <paramref name="allowed"/>.</summary>
    private static double LineOutput(double q, params int[] allowed)
    {
        double num = 0, den = 0;
        foreach (int j in allowed)
        {
            num += Math.Exp(q * j) * 10 * (j + 1);
            den += Math.Exp(q * j);
        }

        return allowed.Length == 0 ? 0 : num / den;
    }

    [Fact]
    public void Two_keys_by_hand()
    {
        // scores [1·1, 1·2] (scale 1/√1), softmax [1/(1+e), e/(1+e)], y = 10/(1+e) + 20e/(1+e)
        var r = Run(F64([1], 1, 1, 1, 1), F64([1, 2], 1, 1, 2, 1), F64([10, 20], 1, 1, 2, 1));
        Close([(10 + (20 * E)) / (1 + E)], r.Output);
        Assert.Equal([1, 1, 1, 1], r.Output.Shape.ToArray());
    }

    [Fact]
    public void Seed_scores_minus3_0_3_are_the_scaled_product_with_scale_1()
    {
        // 003: q = [2, 1, 3] against keys [-1, 2, -1], [1.5, 0, -1], [4, -2, -1]
        var q = F64([2, 1, 3], 1, 1, 1, 3);
        var k = F64([-1, 2, -1, 1.5, 0, -1, 4, -2, -1], 1, 1, 3, 3);
        var v = F64([0, 0, 0], 1, 1, 3, 1);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1, ComputeQkMatmulOutput = true });
        Close([-3, 0, 3], r.QkMatmulOutput!);
    }

    [Fact]
    public void Seed_softmax_4_minus1_2point1()
    {
        double[] row = [4.0, -1.0, 2.1];
        ReferenceAttention.Softmax(row);
        Close([0.8648, 0.0058, 0.1294], row, 5e-5);
        Close([1.0], [row.Sum()]);
    }

    [Fact]
    public void Seed_fruit_lookup_blends_values_0point6_and_0point4_into_8()
    {
        // 003: attention weights 0.6 (apple), 0.4 (banana), 0 (chair) over values 10, 5, 2 give 8.
        var q = F64([1], 1, 1, 1, 1);
        var k = F64([Math.Log(0.6), Math.Log(0.4), 0], 1, 1, 3, 1);
        var v = F64([10, 5, 2], 1, 1, 3, 1);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1 }, mask: Bool([true, true, false], 1, 3));
        Close([8], r.Output);
    }

    [Fact]
    public void Default_scale_is_one_over_sqrt_d()
    {
        // D = 4, q = k = [1, 1, 1, 1]: q·k = 4, scale 1/2 → scores [2, 0] against a zero key.
        var q = F64([1, 1, 1, 1], 1, 1, 1, 4);
        var k = F64([1, 1, 1, 1, 0, 0, 0, 0], 1, 1, 2, 4);
        var v = F64([1, 0], 1, 1, 2, 1);
        var r = Run(q, k, v, new AttentionOptions { ComputeQkMatmulOutput = true });
        Close([2, 0], r.QkMatmulOutput!);
        Close([Math.Exp(2) / (Math.Exp(2) + 1)], r.Output);
    }

    [Fact]
    public void Boolean_mask_true_attends_false_masks()
    {
        var (q, k, v) = Line(2, 3);
        var mask = Bool([true, false, true, false, true, true], 2, 3);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1 }, mask);
        Close([LineOutput(1, 0, 2), LineOutput(1, 1, 2)], r.Output);
    }

    [Fact]
    public void Additive_mask_is_added_to_the_scores()
    {
        var (q, k, v) = Line(1, 3);
        var mask = F64([0.5, NegInf, -1], 1, 3);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1 }, mask);
        double w0 = Math.Exp(0 + 0.5), w2 = Math.Exp(2 - 1);
        Close([((w0 * 10) + (w2 * 30)) / (w0 + w2)], r.Output);
    }

    [Fact]
    public void Float32_additive_mask_works_with_float64_inputs()
    {
        var (q, k, v) = Line(1, 2);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1 }, F32([0, float.NegativeInfinity], 1, 2));
        Close([10], r.Output);
    }

    [Fact]
    public void Short_mask_masks_the_missing_trailing_columns()
    {
        var (q, k, v) = Line(1, 4);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1 }, Bool([true, true], 1, 2));
        Close([LineOutput(1, 0, 1)], r.Output);
    }

    [Fact]
    public void Rank3_mask_is_per_head_and_rank4_mask_is_per_batch()
    {
        // Two heads share K and V (GQA 2/1); the [H, T, S] mask lets head 0 see key 0 only and head 1 key 1 only.
        var q = F64([1, 1], 1, 2, 1, 1);
        var k = F64([0, 1], 1, 1, 2, 1);
        var v = F64([10, 20], 1, 1, 2, 1);
        var r3 = Run(q, k, v, mask: Bool([true, false, false, true], 2, 1, 2));
        Close([10, 20], r3.Output);

        // Two batch entries; the [B, 1, T, S] mask masks differently per batch entry and broadcasts over heads.
        var q2 = F64([1, 1], 2, 1, 1, 1);
        var k2 = F64([0, 1, 0, 1], 2, 1, 2, 1);
        var v2 = F64([10, 20, 30, 40], 2, 1, 2, 1);
        var r4 = Run(q2, k2, v2, mask: Bool([false, true, true, false], 2, 1, 1, 2));
        Close([20, 30], r4.Output);
    }

    [Fact]
    public void Mask_broadcasts_over_the_query_axis()
    {
        var (q, k, v) = Line(3, 2);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1 }, Bool([false, true], 1, 1, 1, 2));
        Close([20, 20, 20], r.Output);
    }

    [Fact]
    public void Causal_without_cache_is_aligned_top_left()
    {
        // T = 2 queries, S = 4 keys, offset 0: query 0 sees key 0, query 1 sees keys 0 and 1.
        var (q, k, v) = Line(2, 4);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1, IsCausal = true });
        Close([LineOutput(1, 0), LineOutput(1, 0, 1)], r.Output);
    }

    [Fact]
    public void Causal_with_cache_is_offset_by_the_past_length()
    {
        // P = 2 cached keys + 2 new: query i sits at position 2 + i.
        var (q, k, v) = Line(2, 4);
        var pastK = F64([0, 1], 1, 1, 2, 1);
        var pastV = F64([10, 20], 1, 1, 2, 1);
        var newK = F64([2, 3], 1, 1, 2, 1);
        var newV = F64([30, 40], 1, 1, 2, 1);
        var r = Run(q, newK, newV, new AttentionOptions { Scale = 1, IsCausal = true }, pastKey: pastK, pastValue: pastV);
        Close([LineOutput(1, 0, 1, 2), LineOutput(1, 0, 1, 2, 3)], r.Output);
        Close(k.ToDoubleArray(), r.PresentKey);
        Close(v.ToDoubleArray(), r.PresentValue);
        Assert.Equal([1, 1, 4, 1], r.PresentKey.Shape.ToArray());
    }

    [Fact]
    public void Causal_with_negative_offset_masks_whole_rows()
    {
        // nonpad_kv_seqlen = 1 with T = 3: offset 1 − 3 = −2, so queries 0 and 1 see no key (zeros), query 2 sees key 0.
        var (q, k, v) = Line(3, 3);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1, IsCausal = true, ComputeQkMatmulOutput = true, QkMatmulOutputMode = QkMatmulOutputMode.Probabilities }, nonpad: I64([1], 1));
        Close([0, 0, 10], r.Output);
        Close([0, 0, 0, 0, 0, 0, 1, 0, 0], r.QkMatmulOutput!);
    }

    [Fact]
    public void Nonpad_kv_seqlen_masks_keys_per_batch_entry()
    {
        var q = F64([1, 1], 2, 1, 1, 1);
        var k = F64([0, 1, 2, 0, 1, 2], 2, 1, 3, 1);
        var v = F64([10, 20, 30, 10, 20, 30], 2, 1, 3, 1);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1 }, nonpad: I64([3, 1], 2));
        Close([LineOutput(1, 0, 1, 2), 10], r.Output);
    }

    [Fact]
    public void Sliding_window_left_and_right()
    {
        // T = S = 4, no causal: left 1, right 0 → query i sees keys i−1..i.
        var (q, k, v) = Line(4, 4);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1, LeftWindowSize = 1, RightWindowSize = 0 });
        Close([LineOutput(1, 0), LineOutput(1, 0, 1), LineOutput(1, 1, 2), LineOutput(1, 2, 3)], r.Output);

        // right 1 only: query i sees keys 0..i+1.
        var r2 = Run(q, k, v, new AttentionOptions { Scale = 1, RightWindowSize = 1 });
        Close([LineOutput(1, 0, 1), LineOutput(1, 0, 1, 2), LineOutput(1, 0, 1, 2, 3), LineOutput(1, 0, 1, 2, 3)], r2.Output);
    }

    [Fact]
    public void Window_combines_with_causal_and_cache_offset()
    {
        // P = 3, T = 1: the query is at position 3; causal + left 1 → keys 2, 3.
        var pastK = F64([0, 1, 2], 1, 1, 3, 1);
        var pastV = F64([10, 20, 30], 1, 1, 3, 1);
        var r = Run(F64([1], 1, 1, 1, 1), F64([3], 1, 1, 1, 1), F64([40], 1, 1, 1, 1), new AttentionOptions { Scale = 1, IsCausal = true, LeftWindowSize = 1 }, pastKey: pastK, pastValue: pastV);
        Close([LineOutput(1, 2, 3)], r.Output);
    }

    [Fact]
    public void Causal_and_mask_both_apply()
    {
        var (q, k, v) = Line(2, 2);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1, IsCausal = true }, Bool([true, true, false, true], 2, 2));
        Close([10, 20], r.Output);
    }

    [Fact]
    public void Gqa_maps_query_heads_0_0_1_1()
    {
        // H = 4, Hkv = 2: kv head 0 has values 1, kv head 1 has values 2. Heads 0, 1 read kv head 0; heads 2, 3 read kv head 1.
        var q = F64(Random(1, 4 * 3 * 2), 1, 4, 3, 2);
        var k = F64(Random(2, 2 * 5 * 2), 1, 2, 5, 2);
        var vData = new double[2 * 5];
        Array.Fill(vData, 1, 0, 5);
        Array.Fill(vData, 2, 5, 5);
        var r = Run(q, k, F64(vData, 1, 2, 5, 1));
        Close([1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2], r.Output);

        // And each query head equals a plain attention against its kv head.
        var v = F64(Random(3, 2 * 5 * 3), 1, 2, 5, 3);
        var full = Run(q, k, v).Output.ToDoubleArray();
        double[] qd = q.ToDoubleArray(), kd = k.ToDoubleArray(), vd = v.ToDoubleArray();
        for (int h = 0; h < 4; h++)
        {
            int kvh = h / 2;
            var single = Run(F64(qd[(h * 6)..((h + 1) * 6)], 1, 1, 3, 2), F64(kd[(kvh * 10)..((kvh + 1) * 10)], 1, 1, 5, 2), F64(vd[(kvh * 15)..((kvh + 1) * 15)], 1, 1, 5, 3));
            Close(single.Output.ToDoubleArray(), full.AsSpan(h * 9, 9));
        }
    }

    [Fact]
    public void Value_head_size_may_differ_from_key_head_size()
    {
        // D = 1, Dv = 3: each output row is the weighted sum of 3-wide values.
        var q = F64([1], 1, 1, 1, 1);
        var k = F64([0, 1], 1, 1, 2, 1);
        var v = F64([1, 2, 3, 10, 20, 30], 1, 1, 2, 3);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1 });
        double w0 = 1 / (1 + E), w1 = E / (1 + E);
        Close([w0 + (10 * w1), (2 * w0) + (20 * w1), (3 * w0) + (30 * w1)], r.Output);
        Assert.Equal([1, 1, 1, 3], r.Output.Shape.ToArray());
    }

    [Fact]
    public void Packed_3d_inputs_equal_the_4d_layout()
    {
        // B = 2, T = 3, S = 4, H = 2, Hkv = 1, D = 2, Dv = 3.
        double[] q4 = Random(10, 2 * 2 * 3 * 2), k4 = Random(11, 2 * 1 * 4 * 2), v4 = Random(12, 2 * 1 * 4 * 3);
        var r4 = Run(F64(q4, 2, 2, 3, 2), F64(k4, 2, 1, 4, 2), F64(v4, 2, 1, 4, 3), new AttentionOptions { IsCausal = true });
        var r3 = Run(
            F64(SwapAxes12(q4, 2, 2, 3, 2), 2, 3, 4),
            F64(SwapAxes12(k4, 2, 1, 4, 2), 2, 4, 2),
            F64(SwapAxes12(v4, 2, 1, 4, 3), 2, 4, 3),
            new AttentionOptions { IsCausal = true, QNumHeads = 2, KvNumHeads = 1 });
        Assert.Equal([2, 3, 6], r3.Output.Shape.ToArray());
        Close(SwapAxes12(r4.Output.ToDoubleArray(), 2, 2, 3, 3), r3.Output);
        Close(r4.PresentKey.ToDoubleArray(), r3.PresentKey);
    }

    private static double[] SwapAxes12(double[] x, int n0, int n1, int n2, int n3)
    {
        var y = new double[x.Length];
        for (int a = 0; a < n0; a++)
            for (int b = 0; b < n1; b++)
                for (int c = 0; c < n2; c++)
                    for (int d = 0; d < n3; d++)
                        y[(((a * n2) + c) * n1 + b) * n3 + d] = x[(((a * n1) + b) * n2 + c) * n3 + d];
        return y;
    }

    [Fact]
    public void Softcap_is_applied_before_the_mask()
    {
        // scores [0, 2, 4] (q = 2, k = 0, 1, 2, scale 1), softcap 2 → 2·tanh(s/2); key 1 masked.
        var (q, k, v) = Line(1, 3, q: 2);
        var mask = Bool([true, false, true], 1, 3);
        double[] capped = [0, 2 * Math.Tanh(1), 2 * Math.Tanh(2)];
        AttentionResult Mode(QkMatmulOutputMode m) => Run(q, k, v, new AttentionOptions { Scale = 1, Softcap = 2, ComputeQkMatmulOutput = true, QkMatmulOutputMode = m }, mask);
        Close([0, 2, 4], Mode(QkMatmulOutputMode.Scaled).QkMatmulOutput!);
        Close(capped, Mode(QkMatmulOutputMode.Softcapped).QkMatmulOutput!);
        Close([capped[0], NegInf, capped[2]], Mode(QkMatmulOutputMode.Biased).QkMatmulOutput!);
        double w0 = Math.Exp(capped[0]), w2 = Math.Exp(capped[2]);
        Close([w0 / (w0 + w2), 0, w2 / (w0 + w2)], Mode(QkMatmulOutputMode.Probabilities).QkMatmulOutput!);
        Close([((10 * w0) + (30 * w2)) / (w0 + w2)], Mode(QkMatmulOutputMode.Probabilities).Output);
    }

    [Fact]
    public void Mode_1_without_softcap_equals_mode_0()
    {
        var (q, k, v) = Line(2, 3, q: 3);
        var m0 = Run(q, k, v, new AttentionOptions { ComputeQkMatmulOutput = true, QkMatmulOutputMode = QkMatmulOutputMode.Scaled });
        var m1 = Run(q, k, v, new AttentionOptions { ComputeQkMatmulOutput = true, QkMatmulOutputMode = QkMatmulOutputMode.Softcapped });
        Close(m0.QkMatmulOutput!.ToDoubleArray(), m1.QkMatmulOutput!);
        Close([0, 3, 6, 0, 3, 6], m0.QkMatmulOutput!);
    }

    [Fact]
    public void Mode_2_includes_additive_bias_and_causal()
    {
        var (q, k, v) = Line(2, 2);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1, IsCausal = true, ComputeQkMatmulOutput = true, QkMatmulOutputMode = QkMatmulOutputMode.Biased }, F64([0.5, 0.25, 1, 2], 2, 2));
        Close([0.5, NegInf, 1, 3], r.QkMatmulOutput!);
    }

    [Fact]
    public void Fully_masked_rows_give_zeros_with_boolean_and_additive_masks()
    {
        var (q, k, v) = Line(2, 2);
        var opts = new AttentionOptions { Scale = 1, ComputeQkMatmulOutput = true, QkMatmulOutputMode = QkMatmulOutputMode.Probabilities };
        var boolean = Run(q, k, v, opts, Bool([false, false, true, true], 2, 2));
        Close([0, LineOutput(1, 0, 1)], boolean.Output);
        Close([0, 0, 1 / (1 + E), E / (1 + E)], boolean.QkMatmulOutput!);
        var additive = Run(q, k, v, opts, F64([NegInf, NegInf, 0, 0], 2, 2));
        Close([0, LineOutput(1, 0, 1)], additive.Output);
    }

    [Fact]
    public void Fully_masked_row_stays_zero_even_with_infinite_scores()
    {
        // Q = +∞ makes the scores ±∞/NaN; the row is masked everywhere, so the decision on the bias gives zeros.
        var q = F64([double.PositiveInfinity], 1, 1, 1, 1);
        var k = F64([1, -1], 1, 1, 2, 1);
        var v = F64([1, 2], 1, 1, 2, 1);
        var r = Run(q, k, v, mask: Bool([false, false], 1, 2));
        Close([0], r.Output);
    }

    [Fact]
    public void Nan_and_infinity_flow_by_ieee_rules()
    {
        // NaN in a query makes its row NaN; +∞ score dominates (∞ − ∞ = NaN in the max-subtracted softmax).
        var q = F64([double.NaN, 1], 1, 1, 2, 1);
        var k = F64([0, 1], 1, 1, 2, 1);
        var v = F64([10, 20], 1, 1, 2, 1);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1 });
        double[] y = r.Output.ToDoubleArray();
        Assert.True(double.IsNaN(y[0]));
        Assert.Equal(LineOutput(1, 0, 1), y[1], 12);

        var inf = Run(F64([1], 1, 1, 1, 1), F64([0, double.PositiveInfinity], 1, 1, 2, 1), v, new AttentionOptions { Scale = 1 });
        Assert.True(double.IsNaN(inf.Output.ToDoubleArray()[0]));

        // −∞ score on one key just removes it.
        var negInf = Run(F64([1], 1, 1, 1, 1), F64([0, double.NegativeInfinity], 1, 1, 2, 1), v, new AttentionOptions { Scale = 1 });
        Close([10], negInf.Output);
    }

    [Fact]
    public void Masked_key_with_nan_value_does_not_leak()
    {
        var r = Run(F64([1], 1, 1, 1, 1), F64([0, 1], 1, 1, 2, 1), F64([10, double.NaN], 1, 1, 2, 1), mask: Bool([true, false], 1, 2));
        Close([10], r.Output);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float16)]
    [InlineData(DType.BFloat16)]
    public void Narrow_types_round_trip_and_output_in_the_query_type(DType dtype)
    {
        double[] qd = Random(20, 2 * 3 * 4), kd = Random(21, 2 * 5 * 4), vd = Random(22, 2 * 5 * 4);
        Tensor q = Tensor.FromDoubles(dtype, [1, 2, 3, 4], qd), k = Tensor.FromDoubles(dtype, [1, 2, 5, 4], kd), v = Tensor.FromDoubles(dtype, [1, 2, 5, 4], vd);
        var r = Run(q, k, v, new AttentionOptions { IsCausal = true });
        Assert.Equal(dtype, r.Output.DType);
        Assert.Equal(dtype, r.PresentKey.DType);

        // Exact: the float64 computation on the rounded inputs, rounded once to the output type.
        var wide = Run(F64(q.ToDoubleArray(), 1, 2, 3, 4), F64(k.ToDoubleArray(), 1, 2, 5, 4), F64(v.ToDoubleArray(), 1, 2, 5, 4), new AttentionOptions { IsCausal = true });
        double[] expected = wide.Output.ToDoubleArray().Select(x => DTypes.Round(x, dtype)).ToArray();
        Close(expected, r.Output, 0);
        Close(k.ToDoubleArray(), r.PresentKey, 0);
    }

    [Theory]
    [InlineData(SoftmaxPrecision.Float16, DType.Float16)]
    [InlineData(SoftmaxPrecision.BFloat16, DType.BFloat16)]
    [InlineData(SoftmaxPrecision.Float, DType.Float32)]
    public void Softmax_precision_rounds_the_probabilities(SoftmaxPrecision precision, DType type)
    {
        var (q, k, v) = Line(1, 3);
        var r = Run(q, k, v, new AttentionOptions { Scale = 1, SoftmaxPrecision = precision, ComputeQkMatmulOutput = true, QkMatmulOutputMode = QkMatmulOutputMode.Probabilities });
        double[] p = r.QkMatmulOutput!.ToDoubleArray();
        foreach (double x in p)
        {
            Assert.Equal(DTypes.Round(x, type), x);
        }

        double sum = 1 + E + (E * E);
        Close([1 / sum, E / sum, E * E / sum], p, type == DType.Float32 ? 1e-7 : 4e-3);
        var exact = Run(q, k, v, new AttentionOptions { Scale = 1, SoftmaxPrecision = SoftmaxPrecision.Double, ComputeQkMatmulOutput = true, QkMatmulOutputMode = QkMatmulOutputMode.Probabilities });
        Close([1 / sum, E / sum, E * E / sum], exact.QkMatmulOutput!);
    }

    [Fact]
    public void No_keys_gives_zeros()
    {
        var r = Run(F64([1, 2], 1, 1, 1, 2), F64([], 1, 1, 0, 2), F64([], 1, 1, 0, 3));
        Close([0, 0, 0], r.Output);
    }
}

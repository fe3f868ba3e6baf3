using static Heed.Core.Tests.TestTensors;

namespace Heed.Core.Tests.Attention;

/// <summary>Every rule an input can break is reported before any arithmetic, naming the input, axis, value and expectation.</summary>
public class AttentionErrorTests
{
    private static readonly Tensor Q = F64(new double[1 * 8 * 2 * 4], 1, 8, 2, 4);
    private static readonly Tensor K = F64(new double[1 * 2 * 3 * 4], 1, 2, 3, 4);
    private static readonly Tensor V = F64(new double[1 * 2 * 3 * 5], 1, 2, 3, 5);

    private static string Fail(AttentionInputs inputs, AttentionOptions? options = null) =>
        Assert.Throws<HeedException>(() => Heed.Attention.Compute(inputs, options)).Message;

    [Fact]
    public void Head_count_not_a_multiple()
    {
        var k = F64(new double[3 * 3 * 4], 1, 3, 3, 4);
        var v = F64(new double[3 * 3 * 5], 1, 3, 3, 5);
        Assert.Equal("K has 3 heads but Q has 8: query heads must be a multiple of key/value heads", Fail(new(Q, k, v)));
    }

    [Fact]
    public void Head_size_mismatch_names_axis_and_values()
    {
        var k = F64(new double[2 * 3 * 6], 1, 2, 3, 6);
        string message = Fail(new(Q, k, V));
        Assert.Contains("K [1, 2, 3, 6] has 6 on axis 3; expected 4 (the head size of Q)", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Batch_mismatch()
    {
        var k = F64(new double[2 * 2 * 3 * 4], 2, 2, 3, 4);
        Assert.Contains("has 2 on axis 0; expected 1 (the batch size of Q)", Fail(new(Q, k, V)), StringComparison.Ordinal);
    }

    [Fact]
    public void Value_length_mismatch()
    {
        var v = F64(new double[2 * 4 * 5], 1, 2, 4, 5);
        Assert.Contains("V [1, 2, 4, 5] has 4 on axis 2; expected 3 (the sequence length of K)", Fail(new(Q, K, v)), StringComparison.Ordinal);
    }

    [Fact]
    public void Mask_not_broadcastable()
    {
        var mask = Bool(new bool[3 * 2 * 3], 3, 2, 3);
        Assert.Contains("attn_mask [3, 2, 3] has 3 on axis 0; expected 1 or 8 (H)", Fail(new(Q, K, V) { AttnMask = mask }), StringComparison.Ordinal);
        var wide = Bool(new bool[2 * 4], 2, 4);
        Assert.Contains("4 columns on its last axis; expected 1..3", Fail(new(Q, K, V) { AttnMask = wide }), StringComparison.Ordinal);
        var ints = I64(new long[2 * 3], 2, 3);
        Assert.Contains("attn_mask has element type int64", Fail(new(Q, K, V) { AttnMask = ints }), StringComparison.Ordinal);
    }

    [Fact]
    public void Head_counts_with_4d_input()
    {
        Assert.Contains("q_num_heads and kv_num_heads are only for 3-D inputs", Fail(new(Q, K, V), new AttentionOptions { QNumHeads = 8, KvNumHeads = 2 }), StringComparison.Ordinal);
    }

    [Fact]
    public void Packed_input_needs_head_counts_that_divide_the_hidden_size()
    {
        var q = F64(new double[2 * 6], 1, 2, 6);
        var k = F64(new double[3 * 6], 1, 3, 6);
        Assert.Contains("need both q_num_heads and kv_num_heads", Fail(new(q, k, k)), StringComparison.Ordinal);
        Assert.Contains("Q hidden size 6 (axis 2) is not divisible by q_num_heads 4", Fail(new(q, k, k), new AttentionOptions { QNumHeads = 4, KvNumHeads = 2 }), StringComparison.Ordinal);
    }

    [Fact]
    public void Past_key_without_past_value()
    {
        var pk = F64(new double[2 * 1 * 4], 1, 2, 1, 4);
        Assert.Equal("past_key is given without past_value: give both or neither", Fail(new(Q, K, V) { PastKey = pk }));
    }

    [Fact]
    public void Nonpad_with_past_cache()
    {
        var pk = F64(new double[2 * 1 * 4], 1, 2, 1, 4);
        var pv = F64(new double[2 * 1 * 5], 1, 2, 1, 5);
        Assert.Equal("nonpad_kv_seqlen cannot be combined with past_key/past_value", Fail(new(Q, K, V) { PastKey = pk, PastValue = pv, NonpadKvSeqlen = I64([1], 1) }));
    }

    [Fact]
    public void Nonpad_out_of_range_and_wrong_type()
    {
        Assert.Contains("nonpad_kv_seqlen[0] = 4 is outside 0..3", Fail(new(Q, K, V) { NonpadKvSeqlen = I64([4], 1) }), StringComparison.Ordinal);
        Assert.Contains("nonpad_kv_seqlen has element type float64; expected int64", Fail(new(Q, K, V) { NonpadKvSeqlen = F64([1], 1) }), StringComparison.Ordinal);
    }

    [Fact]
    public void Window_below_minus_one()
    {
        Assert.Contains("left_window_size -2", Fail(new(Q, K, V), new AttentionOptions { LeftWindowSize = -2 }), StringComparison.Ordinal);
    }

    [Fact]
    public void Past_shapes_are_checked()
    {
        var pk = F64(new double[2 * 1 * 4], 1, 2, 1, 4);
        var pv = F64(new double[2 * 2 * 5], 1, 2, 2, 5);
        Assert.Contains("past_value [1, 2, 2, 5] has 2 on axis 2; expected 1 (the past length of past_key)", Fail(new(Q, K, V) { PastKey = pk, PastValue = pv }), StringComparison.Ordinal);
    }

    [Fact]
    public void Integer_query_is_refused()
    {
        var q = I64(new long[8 * 2 * 4], 1, 8, 2, 4);
        Assert.Contains("Q has element type int64; expected float32, float16, bfloat16 or float64", Fail(new(q, K, V)), StringComparison.Ordinal);
    }

    [Fact]
    public void A_qk_matmul_output_over_the_array_limit_is_refused_before_it_is_allocated()
    {
        // [B, H, T, S] = [1, 1, 50000, 50000]: 2.5e9 elements. Once an ArgumentException from Tensor.Zeros.
        var x = Tensor.Create(new float[50_000], 1, 1, 50_000, 1);
        foreach (bool reference in (bool[])[false, true])
        {
            HeedAssert.Fails(
                () => Heed.Attention.Compute(new(x, x, x), new AttentionOptions { ComputeQkMatmulOutput = true, UseReference = reference }),
                "qk_matmul_output [B, H, T, S] = [1, 1, 50000, 50000] would hold 2500000000 elements, more than one array can hold (2147483591)");
        }
    }

    [Fact]
    public void Outputs_over_the_array_limit_are_refused_before_they_are_allocated()
    {
        // Y [B, H, T, Dv] takes T from Q and Dv from V: each input is small, their product is not.
        var q = Tensor.Create(new float[50_000], 1, 1, 50_000, 1);
        var k = Tensor.Create(new float[1], 1, 1, 1, 1);
        var v = Tensor.Create(new float[50_000], 1, 1, 1, 50_000);
        HeedAssert.Fails(() => Heed.Attention.Compute(new(q, k, v)), "Y [B, H, T, Dv] = [1, 1, 50000, 50000] would hold 2500000000 elements");

        // The reference materializes each head's (T, S) scores even without qk_matmul_output.
        HeedAssert.Fails(
            () => Heed.Attention.Compute(new(q, q, q), new AttentionOptions { UseReference = true }),
            "the reference materializes each head's [T, S] = [50000, 50000] scores, 2500000000 elements");
    }

    [Fact]
    public void Mixed_ranks_are_refused()
    {
        var k = F64(new double[3 * 8], 1, 3, 8);
        Assert.Contains("must all be 3-D", Fail(new(Q, k, V)), StringComparison.Ordinal);
    }
}

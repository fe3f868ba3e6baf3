using Heed.Kernels;
using Heed.Reference;

namespace Heed.Core.Tests.Kernels;

/// <summary>
/// The edge rules of the semantics on every kernel: NaN/∞ inputs, fully masked rows, online-softmax rescaling across
/// tiles, every vector tier, thread counts, and the dispatcher's choices.
/// </summary>
public class KernelEdgeTests
{
    private static readonly AttentionKernel[] FusedKernels = [AttentionKernel.Flash, AttentionKernel.Decode, AttentionKernel.Materialized];

    public static TheoryData<SimdTier> Tiers => [SimdTier.Vector512, SimdTier.Vector256, SimdTier.Vector128, SimdTier.Scalar];

    private static void MatchesReference(AttentionInputs inputs, AttentionOptions options, string what)
    {
        AttentionResult expected = ReferenceAttention.Compute(inputs, options);
        foreach (AttentionKernel kernel in FusedKernels)
        {
            AttentionResult actual = AttentionKernels.Compute(inputs, options, kernel, null);
            KernelCases.AssertClose(expected.Output, actual.Output, KernelCases.Tolerance(inputs.Query.DType), $"{kernel} on {what}");
        }
    }

    private static Tensor<float> F32(int seed, params int[] shape)
    {
        int n = 1;
        foreach (int s in shape) n *= s;
        return (Tensor<float>)Tensor.FromDoubles(DType.Float32, shape, TestTensors.Random(seed, n));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(1000)]
    [InlineData(5000)]
    public void Finiteness_scan_finds_every_non_finite_value_at_every_position(int length)
    {
        float[] data = new float[length];
        for (int i = 0; i < length; i++) data[i] = (i % 5 == 0 ? -1 : 1) * (i % 3 == 0 ? float.MaxValue : i * 0.37f);
        Assert.True(TensorRows.AllFinite(data));
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, BitConverter.Int32BitsToSingle(-1) })
        {
            for (int at = 0; at < length; at += Math.Max(1, length / 37))
            {
                float old = data[at];
                data[at] = bad;
                Assert.False(TensorRows.AllFinite(data), $"{bad} at {at} of {length}");
                data[at] = old;
            }

            data[length - 1] = bad;
            Assert.False(TensorRows.AllFinite(data), $"{bad} at the last of {length}");
            data[length - 1] = 1;
        }
    }

    [Theory]
    [InlineData(DType.Float16, 1)]
    [InlineData(DType.Float16, 3000)]
    [InlineData(DType.BFloat16, 1)]
    [InlineData(DType.BFloat16, 3000)]
    [InlineData(DType.Float64, 1)]
    [InlineData(DType.Float64, 3000)]
    public void Finiteness_scan_of_every_float_type_finds_every_non_finite_value(DType type, int length)
    {
        double[] data = new double[length];
        for (int i = 0; i < length; i++) data[i] = (i % 5 == 0 ? -1 : 1) * (i % 3 == 0 ? 60000 : i * 0.37);
        Assert.True(TensorRows.AllFinite(Tensor.FromDoubles(type, [length], data)));
        foreach (double bad in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity })
        {
            for (int at = 0; at < length; at += Math.Max(1, length / 23))
            {
                double old = data[at];
                data[at] = bad;
                Assert.False(TensorRows.AllFinite(Tensor.FromDoubles(type, [length], data)), $"{type} {bad} at {at} of {length}");
                data[at] = old;
            }
        }
    }

    [Fact]
    public void Vector_half_to_float_conversion_is_exact_for_every_bit_pattern()
    {
        for (uint h = 0; h < 65536; h += 4)
        {
            System.Runtime.Intrinsics.Vector128<float> actual = TensorRows.HalfToSingle(System.Runtime.Intrinsics.Vector128.Create(h, h + 1, h + 2, h + 3));
            for (uint k = 0; k < 4; k++)
            {
                float expected = (float)BitConverter.UInt16BitsToHalf((ushort)(h + k));
                float got = actual[(int)k];
                Assert.True(
                    float.IsNaN(expected) ? float.IsNaN(got) : BitConverter.SingleToUInt32Bits(got) == BitConverter.SingleToUInt32Bits(expected),
                    $"half bits 0x{h + k:X4}: expected {expected}, got {got}");
            }
        }
    }

    [Fact]
    public void NaN_and_infinity_in_masked_values_do_not_leak()
    {
        // Keys 70..99 masked by the bool mask and by causality; their values are NaN and ±∞.
        Tensor<float> q = F32(1, 1, 2, 80, 64), k = F32(2, 1, 2, 100, 64), v = F32(3, 1, 2, 100, 64);
        for (int h = 0; h < 2; h++)
        {
            for (int j = 80; j < 100; j++)
            {
                for (int e = 0; e < 64; e++) v.Data[(((h * 100) + j) * 64) + e] = e % 3 == 0 ? float.NaN : (e % 3 == 1 ? float.PositiveInfinity : float.NegativeInfinity);
            }
        }

        var mask = new bool[80 * 100];
        for (int i = 0; i < 80; i++)
        {
            for (int j = 0; j < 100; j++) mask[(i * 100) + j] = j < 70 || j % 2 == 0;
        }

        var inputs = new AttentionInputs(q, k, v) { AttnMask = TestTensors.Bool(mask, 80, 100) };
        MatchesReference(inputs, new AttentionOptions { IsCausal = true }, "masked NaN/inf values");
        AttentionResult y = AttentionKernels.Compute(inputs, new AttentionOptions { IsCausal = true }, AttentionKernel.Flash, null);
        Assert.All(((Tensor<float>)y.Output).Data, x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void NaN_and_infinity_in_open_inputs_flow_as_in_the_reference()
    {
        // Q row 3 holds +∞ (scores ±∞ → NaN row); V row 5 holds NaN (every query that sees key 5 gets NaN in column 0);
        // an additive mask of +∞ at (10, 2) makes row 10 NaN; K row 60 is NaN and masked by causality for rows < 60
        // (NaN − ∞ is NaN: the reference poisons those rows too, so tiles must not be skipped).
        Tensor<float> q = F32(4, 1, 1, 64, 16), k = F32(5, 1, 1, 64, 16), v = F32(6, 1, 1, 64, 8);
        q.Data[(3 * 16) + 2] = float.PositiveInfinity;
        v.Data[5 * 8] = float.NaN;
        var maskData = new float[64 * 64];
        maskData[(10 * 64) + 2] = float.PositiveInfinity;
        var inputs = new AttentionInputs(q, k, v) { AttnMask = TestTensors.F32(maskData, 64, 64) };
        MatchesReference(inputs, new AttentionOptions { IsCausal = true }, "open NaN/inf");
        k.Data[60 * 16] = float.NaN;
        MatchesReference(inputs, new AttentionOptions { IsCausal = true }, "NaN key behind the causal mask");
    }

    [Fact]
    public void Fully_masked_rows_are_zero_even_with_infinite_scores()
    {
        // Row 1 is closed by the mask although its scores are +∞; nonpad 0 closes batch 1 entirely.
        Tensor<float> q = F32(7, 2, 2, 3, 8), k = F32(8, 2, 2, 40, 8), v = F32(9, 2, 2, 40, 8);
        for (int d = 0; d < 8; d++) q.Data[8 + d] = float.PositiveInfinity;
        var mask = new bool[3 * 40];
        for (int j = 0; j < 40; j++)
        {
            mask[j] = true;
            mask[80 + j] = j % 7 == 0;
        }

        var inputs = new AttentionInputs(q, k, v) { AttnMask = TestTensors.Bool(mask, 3, 40), NonpadKvSeqlen = TestTensors.I64([40, 0], 2) };
        MatchesReference(inputs, new AttentionOptions(), "fully masked rows");
        float[] y = ((Tensor<float>)AttentionKernels.Compute(inputs, new AttentionOptions(), AttentionKernel.Flash, null).Output).Data;
        Assert.All(y.AsSpan(8, 8).ToArray(), x => Assert.Equal(0f, x));       // b0 h0 row 1
        Assert.All(y.AsSpan(48, 48).ToArray(), x => Assert.Equal(0f, x));     // batch 1
    }

    [Fact]
    public void Online_rescaling_survives_scores_that_jump_by_hundreds_across_tiles()
    {
        // Scores grow along the keys from about −400 to +400: every new tile's maximum dwarfs the last (e^(m−m') underflows to 0).
        var q = TestTensors.F32([20f, 20f, 20f, 20f], 1, 1, 1, 4);
        var kd = new float[300 * 4];
        for (int j = 0; j < 300; j++)
        {
            for (int d = 0; d < 4; d++) kd[(j * 4) + d] = (j - 150) / 15f;
        }

        Tensor<float> v = F32(10, 1, 1, 300, 16);
        var inputs = new AttentionInputs(TestTensors.F32([20f, 20f, 20f, 20f, -20f, 20f, -20f, 20f], 1, 1, 2, 4), TestTensors.F32(kd, 1, 1, 300, 4), v);
        MatchesReference(inputs, new AttentionOptions(), "growing scores");
        MatchesReference(new AttentionInputs(q, TestTensors.F32(kd, 1, 1, 300, 4), v), new AttentionOptions { Scale = 3 }, "growing scores, scale 3");
    }

    [Fact]
    public void A_score_far_above_the_rest_is_the_maximum_at_every_position_of_a_tile()
    {
        // Three query rows (one register of rows) against one tile of 144 keys, which the product computes in groups of 8 keys
        // and whose column maxima come from its registers: one key scores 800 above the others, in turn at each position of the
        // first and the last group and in between. A maximum that missed it would leave 2^(s − m) to overflow and the row NaN.
        foreach (int at in new[] { 0, 1, 2, 3, 4, 5, 6, 7, 70, 71, 136, 137, 138, 139, 140, 141, 142, 143 })
        {
            var kd = new float[144 * 4];
            for (int j = 0; j < 144; j++)
            {
                for (int d = 0; d < 4; d++) kd[(j * 4) + d] = j == at ? 20f : ((((j * 7) + d) % 13) - 6) / 100f;
            }

            var q = TestTensors.F32([20f, 20f, 20f, 20f, 20f, -1f, 20f, 1f, 20f, 20f, 20f, 19f], 1, 1, 3, 4);
            MatchesReference(new AttentionInputs(q, TestTensors.F32(kd, 1, 1, 144, 4), F32(at, 1, 1, 144, 16)), new AttentionOptions(), $"a spike at key {at}");
        }
    }

    [Theory]
    [MemberData(nameof(Tiers))]
    public void Every_vector_tier_matches_the_reference(SimdTier tier)
    {
        // Tiers wider than the hardware run in software: slow but exact, so every code path runs on any machine.
        foreach (string name in new[] { "bool2d_fully_masked_rows", "window_left_right", "float16_decode_mask", "qk_mode3_past_window", "softcap_causal_mask", "d1_dv1" })
        {
            KernelCase c = KernelCases.Find(name);
            AttentionResult expected = KernelCases.Reference(c);
            AttentionKernel[] kernels = c.QkMode is null ? FusedKernels : [AttentionKernel.Materialized];
            foreach (AttentionKernel kernel in kernels) KernelCases.CheckKernel(c, expected, kernel, tier);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(16)]
    public void Thread_counts_give_the_reference_result(int threads)
    {
        foreach (string name in new[] { "causal_past_cache_decode", "nonpad_causal", "padding_column_mask_batch3", "qk_mode3_past_window" })
        {
            KernelCase c = KernelCases.Find(name);
            AttentionResult expected = KernelCases.Reference(c);
            AttentionKernel[] kernels = c.QkMode is null ? FusedKernels : [AttentionKernel.Materialized];
            foreach (AttentionKernel kernel in kernels) KernelCases.CheckKernel(c, expected, kernel, threads: threads);
        }
    }

    [Fact]
    public void Decode_splits_the_keys_and_merges_them_exactly_like_one_pass()
    {
        // 1 batch × 2 kv heads with 4096 keys: 4 work items per thread means several slices per head.
        var c = new KernelCase("decode_split", 1, 8, 2, 1, 4096, 64, 64, Causal: true, Left: 3000);
        Assert.True(DecodeAttention.Slices(AttentionGeometry.Resolve(c.Inputs(), c.Options()), 2) > 1);
        AttentionResult expected = KernelCases.Reference(c);
        KernelCases.CheckKernel(c, expected, AttentionKernel.Decode, threads: 2);
        KernelCases.CheckKernel(c, expected, AttentionKernel.Decode, threads: 1);
    }

    [Fact]
    public void Decode_of_keys_beyond_the_cache_uses_short_blocks_and_matches_the_reference()
    {
        // 4 kv heads × 16401 keys × (64 + 64) floats = 33.6 MB of K and V: the streaming block size, with a window so some
        // blocks are partly open, and a ragged last block.
        var c = new KernelCase("decode_streaming", 1, 16, 4, 1, 16401, 64, 64, Causal: true, Left: 12000);
        AttentionGeometry g = AttentionGeometry.Resolve(c.Inputs(), c.Options());
        Assert.Equal(DecodeAttention.StreamingKeyBlock, DecodeAttention.KeyBlockFor(g));
        Assert.Equal(DecodeAttention.CachedKeyBlock, DecodeAttention.KeyBlockFor(g with { KvLength = 4096 }));
        AttentionResult expected = KernelCases.Reference(c);
        KernelCases.CheckKernel(c, expected, AttentionKernel.Decode, threads: 1);
        KernelCases.CheckKernel(c, expected, AttentionKernel.Decode, threads: 2);
    }

    [Fact]
    public void The_dispatcher_picks_decode_flash_materialized_and_reference()
    {
        Tensor<float> q1 = F32(1, 1, 8, 1, 64), q64 = F32(1, 1, 8, 64, 64), k = F32(2, 1, 2, 100, 64), v = F32(3, 1, 2, 100, 64);
        Assert.Equal(AttentionKernel.Decode, AttentionKernels.Choose(new AttentionInputs(q1, k, v), new AttentionOptions()));
        Assert.Equal(AttentionKernel.Flash, AttentionKernels.Choose(new AttentionInputs(q64, k, v), new AttentionOptions()));
        Assert.Equal(AttentionKernel.Materialized, AttentionKernels.Choose(new AttentionInputs(q64, k, v), new AttentionOptions { ComputeQkMatmulOutput = true }));
        Assert.Equal(AttentionKernel.Materialized, AttentionKernels.Choose(new AttentionInputs(q64, k, v), new AttentionOptions { SoftmaxPrecision = SoftmaxPrecision.BFloat16 }));
        Assert.Equal(AttentionKernel.Reference, AttentionKernels.Choose(new AttentionInputs(q64, k, v), new AttentionOptions { UseReference = true }));
        Tensor q64d = Tensor.FromDoubles(DType.Float64, [1, 8, 64, 64], q64.ToDoubleArray());
        Assert.Equal(AttentionKernel.Reference, AttentionKernels.Choose(new AttentionInputs(q64d, k, v), new AttentionOptions()));
        var ex = Assert.Throws<HeedException>(() => AttentionKernels.Compute(new AttentionInputs(q64, k, v), new AttentionOptions { ComputeQkMatmulOutput = true }, AttentionKernel.Flash, null));
        Assert.Contains("Materialized", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_vector_tier_follows_the_DOTNET_switches_CI_sets()
    {
        // .ci/run reruns these tests with each switch at 0: this proves the switch reached the test process.
        SimdTier tier = AttentionKernels.Tier;
        if (Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") == "0") Assert.Equal(SimdTier.Scalar, tier);
        if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0") Assert.True(tier <= SimdTier.Vector128, $"tier {tier} with AVX2 off");
        if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX512") == "0") Assert.True(tier <= SimdTier.Vector256, $"tier {tier} with AVX-512 off");
    }

    [Fact]
    public void MaxThreads_below_one_is_refused_with_one_line()
    {
        Tensor<float> q = F32(1, 1, 1, 2, 4), k = F32(2, 1, 1, 3, 4), v = F32(3, 1, 1, 3, 4);
        var ex = Assert.Throws<HeedException>(() => Heed.Attention.Compute(new AttentionInputs(q, k, v), new AttentionOptions { MaxThreads = 0 }));
        Assert.Equal("MaxThreads (--threads) must be at least 1; got 0", ex.Message);
    }

    [Fact]
    public void Float64_inputs_run_on_the_reference_and_match_it_exactly()
    {
        Tensor q = Tensor.FromDoubles(DType.Float64, [1, 2, 5, 8], TestTensors.Random(1, 80));
        Tensor k = Tensor.FromDoubles(DType.Float64, [1, 2, 9, 8], TestTensors.Random(2, 144));
        Tensor v = Tensor.FromDoubles(DType.Float64, [1, 2, 9, 8], TestTensors.Random(3, 144));
        var inputs = new AttentionInputs(q, k, v);
        Assert.Equal(ReferenceAttention.Compute(inputs).Output.ToDoubleArray(), Heed.Attention.Compute(inputs).Output.ToDoubleArray());
    }

    [Fact]
    public void A_past_of_another_element_type_is_used_at_its_own_precision()
    {
        // past float32, new keys float16: the reference computes with the float32 past, present_key is float16.
        Tensor q = Tensor.FromDoubles(DType.Float16, [1, 2, 3, 8], TestTensors.Random(1, 48));
        Tensor k = Tensor.FromDoubles(DType.Float16, [1, 2, 3, 8], TestTensors.Random(2, 48));
        Tensor v = Tensor.FromDoubles(DType.Float16, [1, 2, 3, 8], TestTensors.Random(3, 48));
        var inputs = new AttentionInputs(q, k, v) { PastKey = F32(4, 1, 2, 50, 8), PastValue = F32(5, 1, 2, 50, 8) };
        MatchesReference(inputs, new AttentionOptions { IsCausal = true }, "float32 past, float16 keys");
        Assert.Equal(DType.Float16, Heed.Attention.Compute(inputs, new AttentionOptions { IsCausal = true }).PresentKey.DType);
    }

    [Fact]
    public void Without_a_cache_present_key_is_the_input_itself_no_copy()
    {
        Tensor<float> q = F32(1, 1, 1, 2, 4), k = F32(2, 1, 1, 3, 4), v = F32(3, 1, 1, 3, 4);
        AttentionResult r = Heed.Attention.Compute(new AttentionInputs(q, k, v));
        Assert.Same(k, r.PresentKey);
        Assert.Same(v, r.PresentValue);
    }

    [Fact]
    public void Empty_query_and_empty_keys_give_empty_and_zero_outputs()
    {
        MatchesReference(new AttentionInputs(F32(1, 1, 2, 0, 4), F32(2, 1, 2, 5, 4), F32(3, 1, 2, 5, 4)), new AttentionOptions(), "T = 0");
        MatchesReference(new AttentionInputs(F32(1, 1, 2, 3, 4), F32(2, 1, 2, 0, 4), F32(3, 1, 2, 0, 4)), new AttentionOptions(), "S = 0");
        MatchesReference(new AttentionInputs(F32(1, 1, 2, 3, 4), F32(2, 1, 2, 5, 4), F32(3, 1, 2, 5, 0)), new AttentionOptions(), "Dv = 0");
    }
}

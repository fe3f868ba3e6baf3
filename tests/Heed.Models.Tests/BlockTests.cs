using Heed.Models.Blocks;

namespace Heed.Models.Tests;

/// <summary>The transformer blocks against plain float64 formulas.</summary>
public class BlockTests
{
    [Fact]
    public void Every_finite_float16_converts_exactly_without_a_subnormal_float32_on_the_way()
    {
        // .NET's own conversion is the reference; subnormals, ±0 and the largest values included. The vector form is checked
        // lane by lane with the bits sign-extended, as the kernels load them.
        for (int bits = 0; bits <= 0xFFFF; bits++)
        {
            if ((bits & 0x7C00) == 0x7C00) continue; // ∞ and NaN: the loader refuses them
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(QuantizedLinear.HalfToSingle((ushort)bits)));
            System.Runtime.Intrinsics.Vector128<float> lanes = QuantizedLinear.HalfToSingle(System.Runtime.Intrinsics.Vector128.Create((int)(short)bits, bits, 0, unchecked((short)0x8000)));
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(lanes[0]));
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(lanes[1]));
            Assert.Equal(0, BitConverter.SingleToInt32Bits(lanes[2]));
            Assert.Equal(int.MinValue, BitConverter.SingleToInt32Bits(lanes[3]));
        }
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(2, 3, 17)]
    [InlineData(3, 9, 64)]
    [InlineData(4, 16, 80)]
    [InlineData(5, 7, 13)]
    [InlineData(6, 16, 64)]
    [InlineData(7, 33, 65)]
    [InlineData(11, 40, 127)]
    [InlineData(13, 64, 130)]
    [InlineData(19, 384, 1152)]
    [InlineData(23, 5, 200)]
    [InlineData(97, 384, 1536)] // above the parallel threshold: two threads split the strips
    public void Packed_products_match_a_plain_double_loop(int rows, int inFeatures, int outFeatures)
    {
        var random = new Random((rows * 1000) + outFeatures);
        float[] x = RandomData.Floats(random, rows * inFeatures), w = RandomData.Floats(random, inFeatures * outFeatures), bias = RandomData.Floats(random, outFeatures);
        float[] start = RandomData.Floats(random, rows * outFeatures), other = RandomData.Floats(random, rows * outFeatures);
        var packed = new Heed.Models.Blocks.PackedMatrix(w, inFeatures, outFeatures);
        Assert.Equal(w, packed.ToArray());

        // Residual from Y itself (accumulation) and from another array; GELU; none; each with and without a bias.
        foreach ((DenseOutput output, bool inPlace) in ((DenseOutput, bool)[])[(DenseOutput.Plain, false), (DenseOutput.Gelu, false), (DenseOutput.Residual, true), (DenseOutput.Residual, false)])
        {
            foreach (bool withBias in (bool[])[true, false])
            {
                foreach (int threads in (int[])[1, 2])
                {
                    float[] y = [.. start];
                    float[] residual = inPlace ? y : other;
                    float[] before = [.. residual];
                    Gemm.Multiply(x, packed, withBias ? bias : [], y, rows, output, output == DenseOutput.Residual ? residual : default, threads);
                    double max = 0;
                    for (int r = 0; r < rows; r++)
                    {
                        for (int o = 0; o < outFeatures; o++)
                        {
                            double sum = withBias ? bias[o] : 0;
                            for (int i = 0; i < inFeatures; i++) sum += x[(r * inFeatures) + i] * (double)w[(i * outFeatures) + o];
                            double expected = output switch
                            {
                                DenseOutput.Gelu => 0.5 * sum * (1 + Activation.Erf(sum / Math.Sqrt(2))),
                                DenseOutput.Residual => sum + before[(r * outFeatures) + o],
                                _ => sum,
                            };
                            max = Math.Max(max, Math.Abs(expected - y[(r * outFeatures) + o]));
                        }
                    }

                    Assert.True(max <= 1e-5 * Math.Sqrt(inFeatures), $"{rows}×{inFeatures}×{outFeatures}, {output} (in place {inPlace}), bias {withBias}, threads {threads}: max |diff| {max}");
                }
            }
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(2, 16)]
    [InlineData(4, 17)]
    [InlineData(1, 33)]
    [InlineData(5, 384)]
    [InlineData(2, 385)]
    public void LayerNorm_matches_float64_on_awkward_widths(int rows, int width)
    {
        var random = new Random((rows * 100) + width);
        float[] x = [.. RandomData.Floats(random, rows * width).Select(v => (v * 3) + 20)]; // a large mean, as residual streams have
        float[] weight = RandomData.Floats(random, width), bias = RandomData.Floats(random, width);
        float[] y = new float[rows * width], inPlace = [.. x];
        Norm.Layer(x, weight, bias, y, rows, width, 1e-12f);
        Norm.Layer(inPlace, weight, bias, inPlace, rows, width, 1e-12f);
        Assert.Equal(y, inPlace);
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int j = 0; j < width; j++) mean += x[(r * width) + j];
            mean /= width;
            for (int j = 0; j < width; j++) variance += (x[(r * width) + j] - mean) * (x[(r * width) + j] - mean);
            variance /= width;
            for (int j = 0; j < width; j++)
            {
                double expected = ((x[(r * width) + j] - mean) / Math.Sqrt(variance + 1e-12) * weight[j]) + bias[j];
                Assert.True(Math.Abs(expected - y[(r * width) + j]) <= 1e-5 * (1 + Math.Abs(expected)), $"{rows}×{width} [{r}, {j}]: {y[(r * width) + j]} vs {expected}");
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1000)]
    public void Gelu_erf_in_vectors_stays_within_1e7_of_the_double_precision_form(int length)
    {
        float[] x = [.. Enumerable.Range(0, length).Select(i => (float)((i - (length / 2.0)) * 12.0 / Math.Max(1, length)))];
        float[] fast = [.. x], exact = [.. x];
        Heed.Models.Blocks.Activation.GeluErfFast(fast);
        Heed.Models.Blocks.Activation.GeluErf(exact);
        for (int i = 0; i < length; i++)
        {
            Assert.True(Math.Abs(fast[i] - exact[i]) <= 1e-7 * (1 + Math.Abs(x[i])) + 1e-7, $"x = {x[i]}: {fast[i]} vs {exact[i]}");
        }
    }

    [Theory]
    [InlineData(1, 64, 64)]
    [InlineData(1, 64, 512)]
    [InlineData(1, 172, 64)]
    [InlineData(3, 1, 5)]
    [InlineData(2, 7, 3)]
    [InlineData(5, 29, 13)]
    [InlineData(4, 45, 9)]
    [InlineData(1, 300, 2)]
    [InlineData(1, 79, 7)] // one row (decode): 64 at a time, then 15 one at a time
    [InlineData(1, 144, 5)] // 128 by 64, then 16
    [InlineData(1, 2049, 3)]
    [InlineData(1, 768, 258)] // above the parallel threshold: two threads split the rows
    [InlineData(2, 768, 258)]
    [InlineData(16, 64, 67)] // prefill from Gemm.PrefillRows rows on: strips of 64 rows of W (the last holding 3)
    [InlineData(17, 45, 9)] // a width that is not a multiple of 16: the strip is packed one value at a time
    [InlineData(23, 768, 130)]
    [InlineData(37, 96, 2100)]
    public void MatMul_matches_float64_with_bias_and_accumulation(int rows, int inFeatures, int outFeatures)
    {
        foreach (int threads in (int[])[1, 2])
        {
            MatMulMatchesFloat64(rows, inFeatures, outFeatures, threads);
        }
    }

    private static void MatMulMatchesFloat64(int rows, int inFeatures, int outFeatures, int threads)
    {
        var random = new Random((rows * 7919) + (inFeatures * 31) + outFeatures);
        float[] x = RandomData.Floats(random, rows * inFeatures), w = RandomData.Floats(random, outFeatures * inFeatures), bias = RandomData.Floats(random, outFeatures);
        float[] y = RandomData.Floats(random, rows * outFeatures);
        float[] start = (float[])y.Clone();
        Linear.MatMul(x, w, bias, y, rows, inFeatures, outFeatures, accumulate: true, threads: threads);
        double max = 0;
        for (int t = 0; t < rows; t++)
        {
            for (int o = 0; o < outFeatures; o++)
            {
                double expected = start[(t * outFeatures) + o] + bias[o];
                for (int i = 0; i < inFeatures; i++) expected += (double)x[(t * inFeatures) + i] * w[(o * inFeatures) + i];
                max = Math.Max(max, Math.Abs(expected - y[(t * outFeatures) + o]));
            }
        }

        Assert.True(max < 1e-5 * Math.Sqrt(inFeatures), $"{threads} threads: max |MatMul − float64| = {max:E3}");
    }

    [Theory]
    [InlineData(-87f, 0f)]
    [InlineData(-20f, 20f)]
    [InlineData(0f, 88.5f)]
    public void Vector_exp_is_within_a_few_ulp(float from, float to)
    {
        int lanes = System.Numerics.Vector<float>.Count;
        const int Count = 20000;
        double worst = 0;
        var batch = new float[lanes];
        for (int i = 0; i < Count; i += lanes)
        {
            for (int j = 0; j < lanes; j++) batch[j] = from + ((to - from) * (i + j) / (Count - 1));
            System.Numerics.Vector<float> e = VectorMath.Exp(new System.Numerics.Vector<float>(batch));
            for (int j = 0; j < lanes; j++)
            {
                double exact = Math.Exp(batch[j]);
                worst = Math.Max(worst, Math.Abs(e[j] - exact) / exact);
            }
        }

        Assert.True(worst < 4e-7, $"worst relative error {worst:E3} (float32 ulp is 1.2e-7 relative at most)");
    }

    [Fact]
    public void Vector_exp_edges_are_zero_infinity_and_nan()
    {
        float[] x = [float.NegativeInfinity, -1000f, -88f, 0f, 89f, float.PositiveInfinity, float.NaN, 1f];
        float[] expected = [0f, 0f, 0f, 1f, float.PositiveInfinity, float.PositiveInfinity, float.NaN, MathF.E];
        int lanes = System.Numerics.Vector<float>.Count;
        for (int i = 0; i < x.Length; i++)
        {
            float e = VectorMath.Exp(new System.Numerics.Vector<float>(x[i]))[lanes - 1];
            Assert.True(e.Equals(expected[i]) || Math.Abs(e - expected[i]) <= 2e-7 * expected[i], $"exp({x[i]}) = {e}; expected {expected[i]}");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(31)]
    [InlineData(172)]
    public void SwiGlu_matches_float64_on_every_length(int length)
    {
        var random = new Random(length);
        float[] gate = RandomData.Floats(random, length, 12), up = RandomData.Floats(random, length);
        float[] start = (float[])gate.Clone();
        Activation.SwiGlu(gate, up);
        for (int i = 0; i < length; i++)
        {
            double g = start[i], expected = g / (1 + Math.Exp(-g)) * up[i];
            Assert.True(Math.Abs(gate[i] - expected) <= 1e-6 * Math.Max(1, Math.Abs(expected)), $"swiglu({g}, {up[i]}) = {gate[i]}; expected {expected}");
        }
    }

    [Theory]
    [InlineData(8, 4, 3, 5)]
    [InlineData(16, 2, 1, 40)]
    [InlineData(2, 3, 7, 0)]
    public void Rope_table_gives_the_bits_of_the_direct_rotation(int headSize, int heads, int rows, int start)
    {
        var random = new Random(headSize + start);
        float[] x = RandomData.Floats(random, rows * heads * headSize, 3);
        var table = new RopeTable(headSize, 64, 10000f);
        float[] direct = (float[])x.Clone(), tabled = (float[])x.Clone();
        Rope.ApplyInterleaved(direct, rows, heads, headSize, start);
        table.ApplyInterleaved(tabled, rows, heads, start);
        Assert.Equal(direct, tabled);

        direct = (float[])x.Clone();
        tabled = (float[])x.Clone();
        Rope.ApplyRotateHalf(direct, rows, heads, headSize, start);
        table.ApplyRotateHalf(tabled, rows, heads, start);
        Assert.Equal(direct, tabled);
    }

    [Fact]
    public void Rope_table_refuses_positions_it_does_not_hold_and_odd_head_sizes()
    {
        var table = new RopeTable(4, 10);
        HeedAssert.Fails(() => table.ApplyInterleaved(new float[8], 2, 1, 9), "positions 9..10", "0..9");
        HeedAssert.Fails(() => _ = new RopeTable(5, 10), "head size D 5");
    }
}

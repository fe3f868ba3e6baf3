using Heed.Models.Blocks;
using Heed.Models.Generation;
using Heed.Models.Gguf;
using Heed.Models.Llama;
using Heed.Models.Tokenizers;

namespace Heed.Models.Tests;

/// <summary>ggml's tensor types: every stored block against the published formulas, every product against float64.</summary>
public class GgmlTypeTests
{
    public static TheoryData<uint> Types => [.. GgmlBlocks.All];

    [Theory]
    [MemberData(nameof(Types))]
    public void Every_dequantized_element_matches_the_block_formula(uint type)
    {
        const int Rows = 5, Columns = 512;
        byte[] data = GgmlBlocks.Random(type, Rows, Columns, new Random((int)type + 1));
        WeightMatrix w = Matrix(type, data, Rows, Columns);
        double[] expected = GgmlBlocks.Values(type, data, Rows, Columns);
        var row = new float[Columns];
        double worst = 0, scale = expected.Max(Math.Abs);
        for (int r = 0; r < Rows; r++)
        {
            w.DequantizeRow(r, row);
            for (int c = 0; c < Columns; c++) worst = Math.Max(worst, Math.Abs(row[c] - expected[(r * Columns) + c]));
        }

        // float32 rounding of d·scale and of the product: a few ulps of the largest value.
        Assert.True(worst <= 4e-7 * scale, $"{GgmlBlocks.Name(type)}: max |dequantized − formula| = {worst:E3} (largest value {scale:E3})");
    }

    [Theory]
    [InlineData(0u, 1, 1)]
    [InlineData(1u, 1, 1)]
    [InlineData(30u, 1, 1)]
    [InlineData(8u, 1, 1)]
    [InlineData(12u, 1, 1)]
    [InlineData(14u, 1, 1)]
    [InlineData(1u, 3, 2)]
    [InlineData(30u, 3, 2)]
    [InlineData(8u, 3, 2)]
    [InlineData(12u, 3, 2)]
    [InlineData(14u, 3, 2)]
    [InlineData(14u, 7, 4)]
    [InlineData(0u, 9, 2)]
    [InlineData(1u, 8, 1)]
    [InlineData(30u, 5, 2)]
    [InlineData(8u, 4, 1)]
    [InlineData(12u, 8, 2)]
    [InlineData(12u, 13, 1)]
    [InlineData(14u, 6, 1)]
    [InlineData(0u, 17, 1)] // from Gemm.PrefillRows rows on: strips of 64 weight rows (67 = 64 + 3) through the encoder's tiles
    [InlineData(1u, 23, 2)]
    [InlineData(30u, 16, 1)]
    [InlineData(8u, 29, 2)]
    [InlineData(12u, 17, 2)]
    [InlineData(12u, 40, 1)]
    [InlineData(14u, 19, 2)]
    public void Products_match_the_float64_product_of_the_dequantized_weights(uint type, int tokens, int threads)
    {
        const int Rows = 67, Columns = 768;
        var random = new Random(((int)type * 31) + tokens);
        byte[] data = GgmlBlocks.Random(type, Rows, Columns, random);
        WeightMatrix w = Matrix(type, data, Rows, Columns);
        double[] weights = GgmlBlocks.Values(type, data, Rows, Columns);
        float[] x = RandomData.Floats(random, tokens * Columns);
        float[] y = RandomData.Floats(random, tokens * Rows);
        float[] before = [.. y];
        w.MatMul(x, y, tokens, accumulate: true, threads: threads);
        bool integer = type is GgmlBlocks.Q4_K or GgmlBlocks.Q6_K && WeightMatrix.QuantizeActivations && tokens < Gemm.PrefillRows;
        int block = 256;
        if (type == GgmlBlocks.Q8_0 && WeightMatrix.QuantizeActivations && Q8Dot.IsSupported && tokens < 4)
        {
            integer = true; // decode products (under 4 rows) of Q8_0 round x to int8 per block of 32
            block = 32;
        }

        double worst = 0;
        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < Rows; r++)
            {
                double sum = before[(t * Rows) + r], magnitude = Math.Abs(sum), rounding = 0;
                for (int c = 0; c < Columns; c++)
                {
                    double term = weights[(r * Columns) + c] * x[(t * Columns) + c];
                    sum += term;
                    magnitude += Math.Abs(term);

                    // The integer products round x to int8 per block of 256 (k-quants) or 32 (Q8_0): x moves by at most
                    // max|x|/254 of its block.
                    if (integer) rounding += Math.Abs(weights[(r * Columns) + c]) * x.Skip((t * Columns) + (c / block * block)).Take(block).Max(Math.Abs) / 254;
                }

                worst = Math.Max(worst, (Math.Abs(y[(t * Rows) + r] - sum) - rounding) / magnitude);
            }
        }

        // float32 accumulation over 768 terms: relative to Σ|w·x|, a bound of ~n·ε/8 holds with a wide margin (beyond the
        // activations' rounding where the product quantizes them).
        Assert.True(worst < 1e-5, $"{GgmlBlocks.Name(type)}, T={tokens}: max (|y − float64| − rounding) / Σ|w·x| = {worst:E3}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(13)] // one group of 8 blocks, then 5 one at a time
    [InlineData(24)]
    public unsafe void The_integer_Q8_0_product_is_the_exact_sum_over_the_quantized_activations(int blocks)
    {
        if (!Q8Dot.IsSupported) return;
        var random = new Random(blocks);
        byte[] row = GgmlBlocks.Random(GgmlBlocks.Q8_0, 1, blocks * 32, random);
        row[2] = 0x80; // a −128 weight: ggml's quantizer writes −127..127, a file may hold −128
        double[] weights = GgmlBlocks.Values(GgmlBlocks.Q8_0, row, 1, blocks * 32);
        float[] x = RandomData.Floats(random, blocks * 32);
        var q = new sbyte[blocks * 32];
        var d = new float[blocks];
        Q8Dot.Quantize(x, q, d);
        double exact = 0, magnitude = 0;
        for (int i = 0; i < x.Length; i++)
        {
            Assert.True(Math.Abs(q[i]) <= 127 && Math.Abs(x[i] - (q[i] * (double)d[i / 32])) <= (0.5 + 1e-5) * d[i / 32], $"x[{i}] = {x[i]} → {q[i]}·{d[i / 32]}");
            exact += weights[i] * q[i] * d[i / 32];
            magnitude += Math.Abs(weights[i] * q[i] * d[i / 32]);
        }

        float product;
        fixed (byte* p = row) product = Q8Dot.Dot(p, blocks, q, d);
        Assert.True(Math.Abs(product - exact) < 1e-6 * magnitude, $"{product} vs {exact}");
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void The_portable_tier_gives_the_products_of_the_vector_tier(uint type)
    {
        if (type == GgmlBlocks.F32) return; // float32 takes Linear.MatMul, tested with the blocks
        const int Columns = 1024;
        var random = new Random(7);
        byte[] data = GgmlBlocks.Random(type, 1, Columns, random);
        double[] weights = GgmlBlocks.Values(type, data, 1, Columns);
        float[] x = RandomData.Floats(random, Columns);
        double expected = 0, magnitude = 0;
        for (int c = 0; c < Columns; c++)
        {
            expected += weights[c] * x[c];
            magnitude += Math.Abs(weights[c] * x[c]);
        }

        float portable = QuantizedLinear.DotByBlocks((GgmlType)type, data, x);
        float dispatched = QuantizedLinear.Dot((GgmlType)type, data, x);
        Assert.True(Math.Abs(portable - expected) < 1e-5 * magnitude, $"portable {portable} vs {expected}");
        Assert.True(Math.Abs(dispatched - expected) < 1e-5 * magnitude, $"dispatched {dispatched} vs {expected}");
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Rows_expanded_for_the_prefill_tiles_equal_the_plain_dequantization(uint type)
    {
        if (type == GgmlBlocks.F32) return;
        const int Rows = 3, Columns = 768;
        byte[] data = GgmlBlocks.Random(type, Rows, Columns, new Random((int)type + 9));
        int rowBytes = data.Length / Rows;
        float[] plain = new float[Columns], expanded = new float[Columns];
        for (int r = 0; r < Rows; r++)
        {
            Dequantize.Row((GgmlType)type, data.AsSpan(r * rowBytes, rowBytes), plain);
            QuantizedLinear.ExpandRow((GgmlType)type, data.AsSpan(r * rowBytes, rowBytes), expanded);
            Assert.Equal(plain, expanded);
        }
    }

    /// <summary>The tiers of the integer k-quant products that this machine runs (the scalar one always).</summary>
    public static TheoryData<uint, string, int, double> IntegerCases
    {
        get
        {
            // Weights of ±0.5, and of ±0.002, whose block scales d (and dmin) are float16 subnormals, as they are in real
            // Q6_K tensors: the kernels convert those without a subnormal float32 on the way.
            var data = new TheoryData<uint, string, int, double>();
            foreach (uint type in new[] { GgmlBlocks.Q4_K, GgmlBlocks.Q6_K })
            {
                foreach (string tier in new[] { "scalar", "avx2", "avx512", "dispatched" })
                {
                    foreach (int columns in new[] { 256, 768, 2048, 2816 }) data.Add(type, tier, columns, 0.5);
                    data.Add(type, tier, 768, 0.002);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(IntegerCases))]
    public void Integer_k_quant_products_stay_within_the_rounding_of_their_8_bit_activations(uint type, string tier, int columns, double range)
    {
        Func<ReadOnlySpan<byte>, ReadOnlySpan<sbyte>, ReadOnlySpan<float>, ReadOnlySpan<short>, float>? dot = (type, tier) switch
        {
            (GgmlBlocks.Q4_K, "scalar") => KQuantDot.DotQ4_KScalar,
            (GgmlBlocks.Q6_K, "scalar") => KQuantDot.DotQ6_KScalar,
            (GgmlBlocks.Q4_K, "avx2") when System.Runtime.Intrinsics.X86.Avx2.IsSupported => KQuantDot.DotQ4_KAvx2,
            (GgmlBlocks.Q6_K, "avx2") when System.Runtime.Intrinsics.X86.Avx2.IsSupported => KQuantDot.DotQ6_KAvx2,
            (GgmlBlocks.Q4_K, "avx512") when System.Runtime.Intrinsics.X86.Avx512BW.IsSupported => KQuantDot.DotQ4_KAvx512,
            (GgmlBlocks.Q6_K, "avx512") when System.Runtime.Intrinsics.X86.Avx512BW.IsSupported => KQuantDot.DotQ6_KAvx512,
            (GgmlBlocks.Q4_K, "dispatched") => KQuantDot.DotQ4_K,
            (GgmlBlocks.Q6_K, "dispatched") => KQuantDot.DotQ6_K,
            _ => null,
        };
        if (dot is null) return; // this machine lacks the tier; CI reruns with the wider ones switched off
        const int Rows = 7;
        var random = new Random((int)type + columns + tier.Length);
        byte[] data = GgmlBlocks.Random(type, Rows, columns, random, range);
        double[] weights = GgmlBlocks.Values(type, data, Rows, columns);
        if (range < 0.01)
        {
            int scaleAt = type == GgmlBlocks.Q4_K ? 0 : 208, size = type == GgmlBlocks.Q4_K ? 144 : 210;
            Assert.True(BitConverter.ToHalf(data, scaleAt) < (Half)6.1e-5, "the case meant to have float16-subnormal block scales has normal ones");
            Assert.Contains(weights, w => w != 0);
            Assert.Equal(data.Length / size, Enumerable.Range(0, data.Length / size).Count(b => (BitConverter.ToUInt16(data, (b * size) + scaleAt) & 0x7C00) == 0));
        }

        float[] x = AwkwardActivations(random, columns);
        var xq = new sbyte[columns];
        float[] scale = new float[columns / 256];
        short[] sums = new short[columns / 16];
        KQuantDot.Quantize(x, xq, scale, sums);
        for (int i = 0; i < columns; i++)
        {
            double step = x.Skip(i / 256 * 256).Take(256).Max(v => Math.Abs((double)v)) / 127;
            Assert.True(Math.Abs((xq[i] * (double)scale[i / 256]) - x[i]) <= (step * 0.5000001) + 1e-30, $"x[{i}] = {x[i]} quantized to {xq[i]}·{scale[i / 256]}");
        }

        for (int i = 0; i < columns / 16; i++) Assert.Equal(xq.Skip(16 * i).Take(16).Sum(v => (int)v), sums[i]);

        int rowBytes = columns / 256 * (type == GgmlBlocks.Q4_K ? 144 : 210);
        for (int r = 0; r < Rows; r++)
        {
            // Each activation moves by at most half its block's step d_x, so the product moves by at most Σ|w|·d_x/2;
            // on top, float32 rounding of the per-block scales and sums (relative to Σ|w·x|).
            double exact = 0, bound = 0, magnitude = 0;
            for (int c = 0; c < columns; c++)
            {
                double w = weights[(r * columns) + c];
                exact += w * x[c];
                magnitude += Math.Abs(w * x[c]);
                bound += Math.Abs(w) * scale[c / 256] / 2;
            }

            float product = dot(data.AsSpan(r * rowBytes, rowBytes), xq, scale, sums);
            Assert.True(Math.Abs(product - exact) <= bound + (1e-5 * magnitude), $"{GgmlBlocks.Name(type)} {tier} [{columns}] row {r}: {product} vs {exact}, bound {bound:E3}");

            float reference = (type == GgmlBlocks.Q4_K ? KQuantDot.DotQ4_KScalar(data.AsSpan(r * rowBytes, rowBytes), xq, scale, sums) : KQuantDot.DotQ6_KScalar(data.AsSpan(r * rowBytes, rowBytes), xq, scale, sums));
            Assert.True(Math.Abs(product - reference) <= 1e-5 * magnitude, $"{GgmlBlocks.Name(type)} {tier} [{columns}] row {r}: {product} vs the scalar tier's {reference}");
        }
    }

    [Theory]
    [InlineData(GgmlBlocks.Q4_K, 7, 768, 1)]
    [InlineData(GgmlBlocks.Q4_K, 7, 768, 2)]
    [InlineData(GgmlBlocks.Q4_K, 2, 256, 1)]
    [InlineData(GgmlBlocks.Q4_K, 131, 2048, 2)]
    [InlineData(GgmlBlocks.Q6_K, 9, 768, 2)]
    [InlineData(GgmlBlocks.Q6_K, 33, 768, 1)]
    [InlineData(GgmlBlocks.Q4_K, 9, 768, 1, 0.002)]
    [InlineData(GgmlBlocks.Q6_K, 9, 768, 1, 0.002)]
    [InlineData(GgmlBlocks.F16, 9, 768, 1)]
    [InlineData(GgmlBlocks.F16, 5, 200, 2)]
    public void A_decode_product_gives_each_row_the_bits_of_the_one_row_kernel(uint type, int rows, int columns, int threads, double range = 0.5)
    {
        // Q4_K decode runs rows two at a time (an odd last row alone) and Q6_K all of a part's rows in one call; every output
        // must be what one row at a time gives, float16-subnormal block scales included (range 0.002).
        var random = new Random(rows + columns + threads);
        byte[] data = GgmlBlocks.Random(type, rows, columns, random, range);
        WeightMatrix w = Matrix(type, data, rows, columns);
        float[] x = AwkwardActivations(random, columns);
        if (type == GgmlBlocks.F16)
        {
            // F16 decode runs a part's rows in one call against x·2^112 (|x| < 2^15 here); each row as the one-row kernel gives it.
            if (!System.Runtime.Intrinsics.X86.Avx512BW.IsSupported) return;
            float[] f16 = new float[rows];
            w.MatMul(x, f16, 1, threads: threads);
            float[] scaled = [.. x.Select(v => v * QuantizedLinear.HalfRebias)];
            for (int r = 0; r < rows; r++) Assert.Equal(QuantizedLinear.DotF16Scaled(data.AsSpan(r * 2 * columns, 2 * columns), scaled), f16[r]);
            return;
        }

        var xq = new sbyte[columns];
        float[] scale = new float[columns / 256];
        short[] sums = new short[columns / 16];
        KQuantDot.Quantize(x, xq, scale, sums);
        float[] y = new float[rows];
        w.MatMul(x, y, 1, threads: threads);
        int rowBytes = w.RowBytes;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<byte> row = data.AsSpan(r * rowBytes, rowBytes);
            float alone = type == GgmlBlocks.Q4_K ? KQuantDot.DotQ4_K(row, xq, scale, sums) : KQuantDot.DotQ6_K(row, xq, scale, sums);
            Assert.Equal(alone, y[r]);
        }
    }

    // Random values with a block of zeros, a block dominated by one large value, and tiny and negative runs.
    private static float[] AwkwardActivations(Random random, int columns)
    {
        float[] x = RandomData.Floats(random, columns);
        for (int i = 0; i < Math.Min(256, columns); i++) x[i] = 0;
        if (columns > 256)
        {
            x[300] = -75f;
            for (int i = 512; i < Math.Min(768, columns); i++) x[i] = 1e-30f * (i % 3 - 1);
        }

        return x;
    }

    [Fact]
    public void The_packed_Q4_K_scale_unpacking_matches_the_per_sub_block_formula()
    {
        var random = new Random(5);
        var bytes = new byte[12];
        for (int trial = 0; trial < 1000; trial++)
        {
            random.NextBytes(bytes);
            (ulong scales, ulong mins) = KQuantDot.ScalesMinsK4(ref bytes[0]);
            for (int j = 0; j < 8; j++)
            {
                (int scale, int min) = Dequantize.ScaleMinK4(j, bytes);
                Assert.Equal(scale, (int)((scales >> (8 * j)) & 0xFF));
                Assert.Equal(min, (int)((mins >> (8 * j)) & 0xFF));
            }
        }
    }

    [Fact]
    public void F16_products_of_activations_beyond_the_scaled_range_take_the_exact_path()
    {
        const int Rows = 5, Columns = 96;
        var random = new Random(3);
        byte[] data = GgmlBlocks.Random(GgmlBlocks.F16, Rows, Columns, random);
        double[] weights = GgmlBlocks.Values(GgmlBlocks.F16, data, Rows, Columns);
        float[] x = RandomData.Floats(random, Columns);
        x[17] = 1e6f;
        var y = new float[Rows];
        Matrix(GgmlBlocks.F16, data, Rows, Columns).MatMul(x, y, 1);
        for (int r = 0; r < Rows; r++)
        {
            double exact = 0, magnitude = 0;
            for (int c = 0; c < Columns; c++)
            {
                exact += weights[(r * Columns) + c] * x[c];
                magnitude += Math.Abs(weights[(r * Columns) + c] * x[c]);
            }

            Assert.True(Math.Abs(y[r] - exact) < 1e-5 * magnitude, $"row {r}: {y[r]} vs {exact}");
        }
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(1, 3)]
    [InlineData(5, 2)]
    [InlineData(2, 2)]
    [InlineData(17, 2)]
    public void A_group_of_products_run_as_one_team_job_gives_each_product_bit_for_bit(int tokens, int threads)
    {
        // Three matrices of different types and heights over one X (Q, K and V of a Q4_K_M file mix Q4_K and Q6_K), and a pair;
        // each output against its own MatMul on one thread.
        const int Columns = 768;
        var random = new Random(tokens * 7);
        (uint Type, int Rows)[] shapes = [(GgmlBlocks.Q4_K, 131), (GgmlBlocks.Q6_K, 64), (GgmlBlocks.F32, 77), (GgmlBlocks.Q8_0, 90), (GgmlBlocks.F16, 45)];
        WeightMatrix[] w = [.. shapes.Select(s => Matrix(s.Type, GgmlBlocks.Random(s.Type, s.Rows, Columns, random), s.Rows, Columns))];
        float[] x = RandomData.Floats(random, tokens * Columns);
        float[][] alone = [.. w.Select(m => new float[tokens * m.Rows])];
        for (int i = 0; i < w.Length; i++) w[i].MatMul(x, alone[i], tokens);

        float[][] grouped = [.. w.Select(m => new float[tokens * m.Rows])];
        WeightMatrix.MatMulGroup(x, tokens, threads, w[0], grouped[0], w[1], grouped[1], w[2], grouped[2]);
        WeightMatrix.MatMulGroup(x, tokens, threads, w[3], grouped[3], w[4], grouped[4]);
        for (int i = 0; i < w.Length; i++) Assert.Equal(alone[i], grouped[i]);
    }

    internal static WeightMatrix Matrix(uint type, byte[] data, int rows, int columns) => type == GgmlBlocks.F32
        ? WeightMatrix.FromFloats([.. Enumerable.Range(0, rows * columns).Select(i => BitConverter.ToSingle(data, i * 4))], rows, columns)
        : WeightMatrix.FromBlocks((GgmlType)type, data, rows, columns);
}

/// <summary>GGUF files of the llama architecture: the real stories260K conversion, random files of every type, and broken files.</summary>
public class GgufModelTests
{
    private const string Model = "models/stories260K/stories260K.f32.gguf";

    private static string Stories => TestPaths.Shared("models", "stories260K", "stories260K.f32.gguf");

    [SharedFact(Model)]
    public void Stories260K_gguf_greedy_decodes_llama2c_golden_text_with_its_own_tokenizer()
    {
        ICausalLanguageModel model = ModelFiles.LoadModel(Stories);
        ITokenizer tokenizer = ModelFiles.LoadTokenizer(ModelFiles.FindTokenizer(Stories));
        byte[] expected = File.ReadAllBytes(TestPaths.Shared("models", "stories260K", "expected-empty-prompt-200.txt"));
        using var streamed = new MemoryStream();
        GenerationResult result = TextGenerator.Generate(model, tokenizer, "", new GenerationOptions { Steps = 200 }, piece => streamed.Write(piece));

        Assert.Equal(System.Text.Encoding.UTF8.GetString(expected), result.Text);
        Assert.Equal(expected, streamed.ToArray());
    }

    [SharedFact(Model)]
    public void Stories260K_gguf_reads_the_hyperparameters_and_gives_the_checkpoint_logits()
    {
        var gguf = (LlamaModel)ModelFiles.LoadModel(Stories);
        LlamaModel bin = LlamaModel.Load(SharedData.Stories260K);
        Assert.Equal(bin.Config with { SharedClassifier = false }, gguf.Config);
        Assert.Equal(8, gguf.Config.RopeDimensions);
        int[] tokens = [1, 403, 407, 261, 378, 365, 281];
        Assert.Equal(bin.Forward(tokens).Logits.Data, gguf.Forward(tokens).Logits.Data);
        ModelFileInfo info = ModelFiles.Describe(Stories);
        Assert.Equal("gguf llama", info.Kind);
        Assert.Contains("F32 ×48", info.Details, StringComparison.Ordinal);
    }

    public static TheoryData<uint, bool> TypesAndTying
    {
        get
        {
            var data = new TheoryData<uint, bool>();
            foreach (uint t in GgmlBlocks.All)
            {
                data.Add(t, true);
                data.Add(t, false);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndTying))]
    public void A_random_llama_file_of_each_type_matches_the_float64_forward_pass(uint type, bool tied)
    {
        using var folder = new TempFolder();
        string path = folder.File("m.gguf");
        File.WriteAllBytes(path, RandomLlama(type, tied).ToArray());
        var model = (LlamaModel)ModelFiles.LoadModel(path);
        Assert.Equal(tied, model.Config.SharedClassifier);
        Assert.Equal((GgmlType)type, model.Weights.Layers[1].W2.Type);

        // The embedding stays in the file's type (a row is expanded per token), and a tied classifier is the same matrix.
        Assert.Equal((GgmlType)type, model.Weights.TokenEmbedding.Type);
        Assert.Equal(tied, ReferenceEquals(model.Weights.TokenEmbedding, model.Weights.Classifier));
        if (type == GgmlBlocks.F32)
        {
            // float32 matrices start on a cache line, the classifier too
            foreach (WeightMatrix m in model.Weights.Layers.SelectMany(l => new[] { l.Wq, l.Wk, l.Wv, l.Wo, l.W1, l.W2, l.W3 }).Append(model.Weights.Classifier))
            {
                Assert.Equal(0, LlamaCheckpointTests.Address(m.Floats) % 64);
            }
        }

        int[] tokens = [1, 7, 299, 42, 0, 100];
        double[][] expected = LlamaReference.Logits(model, tokens);
        DecoderSession session = model.CreateSession(tokens.Length);
        session.Threads = 2;
        Tensor<float> logits = session.ForwardAll(tokens);
        double worst = 0, scale = 0;
        int agree = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            for (int i = 0; i < model.VocabSize; i++)
            {
                worst = Math.Max(worst, Math.Abs(expected[t][i] - logits.Data[(t * model.VocabSize) + i]));
                scale = Math.Max(scale, Math.Abs(expected[t][i]));
            }

            int mine = logits.Data.AsSpan(t * model.VocabSize, model.VocabSize).IndexOf(logits.Data.AsSpan(t * model.VocabSize, model.VocabSize).ToArray().Max());
            if (mine == Array.IndexOf(expected[t], expected[t].Max())) agree++;
        }

        // Q4_K and Q6_K products round the activations to int8 per block of 256, Q8_0's per block of 32 (as llama.cpp does):
        // every layer's inputs move by up to 1/254 of their block's largest value, which these random 2-layer files turn into
        // logits within 3% of the largest logit; the other types carry float32 rounding alone.
        if (WeightMatrix.QuantizeActivations && (type is GgmlBlocks.Q4_K or GgmlBlocks.Q6_K || (type == GgmlBlocks.Q8_0 && Q8Dot.IsSupported)))
        {
            Assert.True(worst < 3e-2 * scale, $"{GgmlBlocks.Name(type)}: max |logit − float64| = {worst:E3}, {worst / scale:E3} of the largest logit");
            Assert.True(agree >= tokens.Length - 1, $"{GgmlBlocks.Name(type)}: top-1 agrees at {agree} of {tokens.Length} positions");
            return;
        }

        Assert.True(worst < 1e-3, $"{GgmlBlocks.Name(type)}: max |logit − float64| = {worst:E3}");
    }

    [Fact]
    public void Files_with_mutated_headers_load_or_are_refused_with_one_line_never_a_crash()
    {
        using var folder = new TempFolder();
        byte[] good = RandomLlama(GgmlBlocks.Q8_0, tied: false).ToArray();
        int header = (int)Tokenizers.GgufFile.Parse(good).DataOffset;
        var random = new Random(16);
        int loaded = 0, refused = 0;
        for (int i = 0; i < 300; i++)
        {
            byte[] bytes = [.. good];
            for (int m = random.Next(1, 4); m > 0; m--)
            {
                // A byte of the header (counts, lengths, types, extents, offsets, values) set to a random or boundary value.
                int at = random.Next(header);
                bytes[at] = random.Next(3) switch { 0 => 0, 1 => 0xFF, _ => (byte)random.Next(256) };
            }

            string path = folder.File($"m{i}.gguf");
            File.WriteAllBytes(path, bytes);
            try
            {
                ModelFiles.LoadModel(path).CreateSession(4).Forward([1, 2]);
                loaded++;
            }
            catch (HeedException ex)
            {
                Assert.DoesNotContain('\n', ex.Message);
                refused++;
            }

            File.Delete(path);
        }

        Assert.True(refused > 100 && loaded > 10, $"{loaded} loaded, {refused} refused");
    }

    [Theory]
    [InlineData(1u, 1)]
    [InlineData(8u, 1)]
    [InlineData(12u, 1)]
    [InlineData(14u, 2)]
    [InlineData(30u, 2)]
    [InlineData(0u, 2)]
    public void A_decode_step_allocates_nothing(uint type, int threads)
    {
        using var folder = new TempFolder();
        string path = folder.File("m.gguf");
        File.WriteAllBytes(path, RandomLlama(type, tied: true).ToArray());
        DecoderSession session = ModelFiles.LoadModel(path).CreateSession(16);
        session.Threads = threads;
        session.Forward([1, 5, 9]);
        for (int i = 0; i < 4; i++) session.Forward([20 + i]); // first calls: JIT, lazy tables, the thread team
        int token = 40;
        AllocationAssert.NothingPerCall(() => session.Forward([token++]), calls: 3); // the model's context is 16
    }

    [Fact]
    public void Broken_files_are_refused_with_one_line_naming_the_problem()
    {
        using var folder = new TempFolder();
        string Save(string name, byte[] bytes)
        {
            string path = folder.File(name);
            File.WriteAllBytes(path, bytes);
            return path;
        }

        byte[] good = RandomLlama(GgmlBlocks.Q8_0, tied: true).ToArray();
        HeedAssert.Fails(() => ModelFiles.LoadModel(Save("cut.gguf", good[..^100])), "cut.gguf", "output_norm.weight", "past the end");
        HeedAssert.Fails(() => ModelFiles.LoadModel(Save("head.gguf", good[..300])), "head.gguf", "20 tensors cannot fit");
        HeedAssert.Fails(() => ModelFiles.LoadModel(Save("q5.gguf", RandomLlama(GgmlBlocks.Q8_0, tied: true, layerType: 13).ToArray())), "q5.gguf", "is Q5_K", "Heed reads");
        HeedAssert.Fails(() => ModelFiles.LoadModel(Save("arch.gguf", RandomLlama(GgmlBlocks.F32, tied: true, architecture: "gemma").ToArray())), "arch.gguf", "architecture \"gemma\"");
        HeedAssert.Fails(() => ModelFiles.LoadModel(Save("heads.gguf", RandomLlama(GgmlBlocks.F32, tied: true, heads: 3).ToArray())), "heads.gguf", "not a multiple");
        HeedAssert.Fails(() => ModelFiles.LoadModel(Save("shape.gguf", RandomLlama(GgmlBlocks.F32, tied: false, vocabOut: 12).ToArray())), "shape.gguf", "output.weight", "expected [256, 300]");
        byte[] infinite = GgmlBlocks.Random(GgmlBlocks.F16, 256, 256, new Random(3));
        infinite[(2 * 256 * 7) + 10] = 0x00;
        infinite[(2 * 256 * 7) + 11] = 0x7C; // +∞ in row 7
        GgufWriter withInfinity = RandomLlamaFile.Create(RandomLlamaShape.Tiny, GgmlBlocks.F16, new Random(4), tensor: name => name == "blk.0.attn_q.weight" ? ([256, 256], GgmlBlocks.F16, infinite) : null);
        HeedAssert.Fails(() => ModelFiles.LoadModel(Save("inf.gguf", withInfinity.ToArray())), "inf.gguf", "blk.0.attn_q.weight", "∞ or NaN in row 7");
        foreach (string name in new[] { "cut.gguf", "q5.gguf" })
        {
            ModelFileInfo info = ModelFiles.Describe(folder.File(name));
            Assert.Equal("unknown", info.Kind);
        }
    }

    [Fact]
    public void The_rope_scaling_factor_applies_as_llama_cpp_reads_it_with_or_without_the_type_and_under_the_legacy_key()
    {
        // llama.cpp: the type defaults to "linear", the factor falls back to rope.scale_linear, 0 means none, "none" never scales.
        using var folder = new TempFolder();
        int[] tokens = [1, 7, 299, 42, 0, 100];
        float[] Logits(string name, float scale, Action<GgufWriter>? metadata)
        {
            string path = folder.File(name);
            File.WriteAllBytes(path, RandomLlamaFile.Create(RandomLlamaShape.Tiny, GgmlBlocks.F32, new Random(5), tied: true, metadata: metadata).ToArray());
            var model = (LlamaModel)ModelFiles.LoadModel(path);
            Assert.Equal(scale, model.Config.RopeScale);
            return model.Forward(tokens).Logits.Data;
        }

        float[] plain = Logits("plain.gguf", 1f, null);
        float[] linear = Logits("linear.gguf", 0.25f, w => w.String("llama.rope.scaling.type", "linear").Float32("llama.rope.scaling.factor", 4f));
        double moved = plain.Zip(linear, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(moved > 1e-2, $"scaling by 1/4 moved the logits by at most {moved:E3}: the cases below could not fail");

        Assert.Equal(linear, Logits("factor.gguf", 0.25f, w => w.Float32("llama.rope.scaling.factor", 4f)));
        Assert.Equal(linear, Logits("legacy.gguf", 0.25f, w => w.Float32("llama.rope.scale_linear", 4f)));
        Assert.Equal(linear, Logits("both.gguf", 0.25f, w => w.Float32("llama.rope.scaling.factor", 4f).Float32("llama.rope.scale_linear", 2f)));
        Assert.Equal(plain, Logits("none.gguf", 1f, w => w.String("llama.rope.scaling.type", "none").Float32("llama.rope.scaling.factor", 4f)));
        Assert.Equal(plain, Logits("zero.gguf", 1f, w => w.String("llama.rope.scaling.type", "linear").Float32("llama.rope.scaling.factor", 0f)));
        Assert.Equal(plain, Logits("yarn.gguf", 1f, w => w.String("llama.rope.scaling.type", "yarn")));
    }

    [Theory]
    [InlineData("llama.rope.scaling.factor", float.NaN, null, "llama.rope.scaling.factor is NaN")]
    [InlineData("llama.rope.scaling.factor", -4f, null, "llama.rope.scaling.factor is -4")]
    [InlineData("llama.rope.scale_linear", float.PositiveInfinity, null, "llama.rope.scale_linear is Infinity")]
    [InlineData("llama.rope.scale_linear", -1f, "linear", "llama.rope.scale_linear is -1")]
    [InlineData("llama.rope.scaling.factor", 4f, "yarn", "llama.rope.scaling.type \"yarn\" with llama.rope.scaling.factor 4")]
    [InlineData("llama.rope.scale_linear", 8f, "longrope", "llama.rope.scaling.type \"longrope\" with llama.rope.scale_linear 8")]
    [InlineData("llama.rope.scaling.factor", 1f, "ntk", "llama.rope.scaling.type \"ntk\"")]
    [InlineData("llama.rope.scaling.attn_factor", 2f, null, "llama.rope.scaling.attn_factor is 2")]
    public void Rope_scaling_that_Heed_would_not_apply_is_refused_naming_the_key(string key, float value, string? type, string expected)
    {
        using var folder = new TempFolder();
        string path = folder.File("rope.gguf");
        GgufWriter file = RandomLlamaFile.Create(RandomLlamaShape.Tiny, GgmlBlocks.F32, new Random(5), tied: true, metadata: w =>
        {
            if (type is not null) w.String("llama.rope.scaling.type", type);
            w.Float32(key, value);
        });
        File.WriteAllBytes(path, file.ToArray());
        HeedAssert.Fails(() => ModelFiles.LoadModel(path), "rope.gguf", expected);
    }

    [Theory]
    [InlineData("blk.0.attn_q.bias", 256L)]
    [InlineData("blk.0.attn_k.bias", 128L)]
    [InlineData("blk.1.attn_output.bias", 256L)]
    [InlineData("blk.0.ffn_gate_inp.weight", 256L)]
    [InlineData("blk.2.attn_norm.weight", 256L)]
    [InlineData("rope_factors_long.weight", 32L)]
    public void A_tensor_the_llama_architecture_does_not_use_is_refused_by_name(string name, long length)
    {
        // A bias or a router Heed would skip makes the model run silently wrong; llama.cpp refuses tensors it does not create.
        using var folder = new TempFolder();
        string path = folder.File("extra.gguf");
        GgufWriter file = RandomLlamaFile.Create(RandomLlamaShape.Tiny, GgmlBlocks.F32, new Random(5), tied: true)
            .Tensor(name, [length], GgmlBlocks.F32, new byte[length * 4]);
        File.WriteAllBytes(path, file.ToArray());
        HeedAssert.Fails(() => ModelFiles.LoadModel(path), "extra.gguf", $"tensor \"{name}\" is not part of the llama architecture Heed runs");
        HeedAssert.Fails(() => LlamaGguf.ReadConfig(path), $"tensor \"{name}\"");
    }

    [Fact]
    public void Optional_tensors_llama_cpp_reads_still_load_and_a_mixture_of_experts_is_refused()
    {
        using var folder = new TempFolder();
        string path = folder.File("freqs.gguf");
        byte[] ones = [.. Enumerable.Range(0, 32).SelectMany(_ => BitConverter.GetBytes(1f))];
        File.WriteAllBytes(path, RandomLlamaFile.Create(RandomLlamaShape.Tiny, GgmlBlocks.F32, new Random(5), tied: false).Tensor("rope_freqs.weight", [32], GgmlBlocks.F32, ones).ToArray());
        var model = (LlamaModel)ModelFiles.LoadModel(path);
        Assert.False(model.Config.SharedClassifier);
        Assert.NotNull(model.Weights.RopeFactors);

        string moe = folder.File("moe.gguf");
        File.WriteAllBytes(moe, RandomLlamaFile.Create(RandomLlamaShape.Tiny, GgmlBlocks.F32, new Random(5), metadata: w => w.UInt32("llama.expert_count", 8)).ToArray());
        HeedAssert.Fails(() => ModelFiles.LoadModel(moe), "moe.gguf", "llama.expert_count is 8", "mixture-of-experts");

        string dense = folder.File("dense.gguf");
        File.WriteAllBytes(dense, RandomLlamaFile.Create(RandomLlamaShape.Tiny, GgmlBlocks.F32, new Random(5), metadata: w => w.UInt32("llama.expert_count", 0)).ToArray());
        Assert.Equal(1f, LlamaGguf.ReadConfig(dense).RopeScale);
    }

    /// <summary>
    /// A llama GGUF file with random weights in <see cref="RandomLlamaShape.Tiny"/>'s shape (width 256, feed-forward 512,
    /// 2 layers, 4 heads over 2 kv heads, vocabulary 300, context 16), every matrix in <paramref name="type"/>, and a
    /// broken detail when asked: layer 1's attn_q in another type, another architecture, a head count, a classifier height.
    /// </summary>
    internal static GgufWriter RandomLlama(uint type, bool tied, uint? layerType = null, string? architecture = null, uint? heads = null, int? vocabOut = null) =>
        RandomLlamaFile.Create(
            RandomLlamaShape.Tiny,
            type,
            new Random((int)type + (tied ? 100 : 0)),
            tied,
            metadata: w =>
            {
                if (architecture is not null) w.String("general.architecture", architecture);
                if (heads is uint h) w.UInt32("llama.attention.head_count", h);
            },
            tensor: name => name switch
            {
                "blk.1.attn_q.weight" when layerType is uint other => ([256, 256], other, new byte[256 / 256 * 176 * 256]),
                "output.weight" when vocabOut is int rows => ([256, rows], type, GgmlBlocks.Random(type, rows, 256, new Random(1))),
                _ => null,
            });
}

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
        double worst = 0;
        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < Rows; r++)
            {
                double sum = before[(t * Rows) + r], magnitude = Math.Abs(sum);
                for (int c = 0; c < Columns; c++)
                {
                    double term = weights[(r * Columns) + c] * x[(t * Columns) + c];
                    sum += term;
                    magnitude += Math.Abs(term);
                }

                worst = Math.Max(worst, Math.Abs(y[(t * Rows) + r] - sum) / magnitude);
            }
        }

        // float32 accumulation over 768 terms: relative to Σ|w·x|, a bound of ~n·ε/8 holds with a wide margin.
        Assert.True(worst < 1e-5, $"{GgmlBlocks.Name(type)}, T={tokens}: max |y − float64| / Σ|w·x| = {worst:E3}");
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

    [Fact]
    public void The_integer_Q4_K_product_stays_within_the_rounding_of_its_8_bit_activations()
    {
        if (!System.Runtime.Intrinsics.X86.Avx512BW.IsSupported) return; // the integer path exists on AVX-512BW machines only
        const int Rows = 9, Columns = 1024;
        var random = new Random(11);
        byte[] data = GgmlBlocks.Random(GgmlBlocks.Q4_K, Rows, Columns, random);
        double[] weights = GgmlBlocks.Values(GgmlBlocks.Q4_K, data, Rows, Columns);
        float[] x = RandomData.Floats(random, Columns);
        var xq = new sbyte[Columns];
        float[] scale = new float[Columns / 32], sum = new float[Columns / 32];
        QuantizedLinear.QuantizeBlocks(x, xq, scale, sum);
        for (int i = 0; i < Columns; i++)
        {
            double step = x.Skip(i / 32 * 32).Take(32).Max(v => Math.Abs((double)v)) / 127;
            Assert.True(Math.Abs((xq[i] * (double)scale[i / 32]) - x[i]) <= (step / 2) + 1e-7, $"x[{i}] = {x[i]} quantized to {xq[i]}·{scale[i / 32]}");
        }

        int rowBytes = Columns / 256 * 144;
        for (int r = 0; r < Rows; r++)
        {
            // Each activation moves by at most half its block's step, so the product moves by at most Σ|w|·step/2.
            double exact = 0, bound = 0, magnitude = 0;
            for (int c = 0; c < Columns; c++)
            {
                double w = weights[(r * Columns) + c];
                exact += w * x[c];
                magnitude += Math.Abs(w * x[c]);
                bound += Math.Abs(w) * x.Skip(c / 32 * 32).Take(32).Max(v => Math.Abs((double)v)) / 127 / 2;
            }

            float product = QuantizedLinear.DotQ4_KInt8(data.AsSpan(r * rowBytes, rowBytes), xq, scale, sum);
            Assert.True(Math.Abs(product - exact) <= bound + (1e-5 * magnitude), $"row {r}: {product} vs {exact}, bound {bound:E3}");
        }
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
        int[] tokens = [1, 7, 299, 42, 0, 100];
        double[][] expected = LlamaReference.Logits(model, tokens);
        DecoderSession session = model.CreateSession(tokens.Length);
        session.Threads = 2;
        Tensor<float> logits = session.ForwardAll(tokens);
        double worst = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            for (int i = 0; i < model.VocabSize; i++) worst = Math.Max(worst, Math.Abs(expected[t][i] - logits.Data[(t * model.VocabSize) + i]));
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
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 8; i++) session.Forward([40 + i]);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
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

using Heed.Models.Generation;
using Heed.Models.Llama;
using Heed.Models.Tests;
using Heed.Models.Tokenizers;
using LLama;
using LLama.Common;
using LLama.Native;

namespace Heed.Models.LlamaCppTests;

/// <summary>
/// Heed's logits against llama.cpp's (LLamaSharp 0.30.0, CPU backend) on the same GGUF files, every position of a
/// prompt: flash attention off and the KV cache in F32 in llama.cpp (its defaults differ), one thread in both.
/// llama.cpp rounds the activations of BF16 products to bfloat16 and quantizes those of Q8_0 and k-quant products to
/// 8 bits (Q8_0 / Q8_K blocks) where Heed keeps them in float32, so those files agree within a bound rather than to
/// rounding, and a top-1 token may differ where two logits are closer than the bound (random weights make near ties
/// common): such a position counts as agreeing only when Heed's logit of llama.cpp's top token is within the bound of
/// its own top.
/// </summary>
public class LlamaCppParityTests
{
    private const string Stories = "models/stories260K/stories260K.f32.gguf";

    private static readonly int[] Tokens = [1, 403, 407, 261, 378, 365, 281, 297, 1094 % 512, 3, 260, 400, 99, 7, 488, 511];

    // 256 positions, as the random files' top-1 agreement is counted over: BOS, then tokens drawn from the vocabulary.
    private static readonly int[] LongTokens = [1, .. Enumerable.Range(0, 255).Select(i => 3 + ((i * 7919) + 13) % 509)];

    [SharedFact(Stories)]
    public void Stories260K_f32_logits_match_llama_cpp_tightly()
    {
        string path = TestPaths.Shared("models", "stories260K", "stories260K.f32.gguf");
        (double worst, double agree, _) = Compare(path, Tokens, 0);
        Assert.True(worst < 1e-4, $"F32: max |Heed − llama.cpp| = {worst:E3}");
        Assert.Equal(1.0, agree);
    }

    public static TheoryData<uint, double> Types => new()
    {
        { GgmlBlocks.F32, 1e-4 },
        { GgmlBlocks.F16, 1e-3 },
        { GgmlBlocks.BF16, 1e-2 },
        { GgmlBlocks.Q8_0, 2e-2 },
        { GgmlBlocks.Q4_K, 2e-2 },
        { GgmlBlocks.Q6_K, 2e-2 },
    };

    [SharedTheory(Stories)]
    [MemberData(nameof(Types))]
    public void Random_files_of_each_type_match_llama_cpp(uint type, double bound)
    {
        using var folder = new TempFolder();
        string path = folder.File($"random-{GgmlBlocks.Name(type)}.gguf");
        File.WriteAllBytes(path, RandomLlama(type));
        (double worst, double agree, double strict) = Compare(path, LongTokens, bound);
        Assert.True(worst < bound, $"{GgmlBlocks.Name(type)}: max |Heed − llama.cpp| / max |logit| = {worst:E3} (bound {bound:E1}); top-1 agreement {agree:P1}");
        Assert.True(agree >= 0.99, $"{GgmlBlocks.Name(type)}: top-1 agreement {agree:P1} of {LongTokens.Length} positions with near ties, {strict:P1} without");
    }

    [SharedFact(Stories)]
    public void A_Q4_K_M_file_made_by_llama_cpp_quantizer_matches_llama_cpp()
    {
        using var folder = new TempFolder();
        string source = folder.File("random-f32.gguf"), quantized = folder.File("random-q4_k_m.gguf");
        File.WriteAllBytes(source, RandomLlama(GgmlBlocks.F32));
        NativeApi.llama_empty_call(); // LLamaSharp's loader picks the native build for this CPU before the quantizer's direct call
        // The classifier quantized too (Q6_K), as llama-quantize makes a Q4_K_M file; LLamaSharp leaves it F32 unless asked.
        Assert.True(LLamaQuantizer.Quantize(source, quantized, LLamaFtype.MOSTLY_Q4_K_M, nthread: 1, allowRequantize: true, quantizeOutputTensor: true));
        var model = (LlamaModel)ModelFiles.LoadModel(quantized);
        Assert.NotEqual(Gguf.GgmlType.F32, model.Weights.Classifier.Type);
        Assert.Contains(model.Weights.Layers, l => l.W2.Type == Gguf.GgmlType.Q6_K || l.Wv.Type == Gguf.GgmlType.Q6_K);
        Assert.Contains(model.Weights.Layers, l => l.Wq.Type == Gguf.GgmlType.Q4_K);
        (double worst, double agree, double strict) = Compare(quantized, LongTokens, 3e-2);
        Assert.True(worst < 3e-2, $"Q4_K_M: max |Heed − llama.cpp| / max |logit| = {worst:E3}; top-1 agreement {agree:P1}");
        Assert.True(agree >= 0.99, $"Q4_K_M: top-1 agreement {agree:P1} of {LongTokens.Length} positions with near ties, {strict:P1} without");
    }

    /// <summary>
    /// The largest |Heed − llama.cpp| over all logits (relative to the largest |logit| unless the file is F32) and the
    /// share of positions whose top-1 tokens agree or are a near tie in Heed's logits (closer than <paramref name="tie"/>
    /// relative to the largest |logit|).
    /// </summary>
    private static (double Worst, double TopOneAgreement, double SameTopOne) Compare(string path, int[] tokens, double tie)
    {
        ICausalLanguageModel heed = ModelFiles.LoadModel(path);
        float[] ours = heed.Forward(tokens).Logits.Data;
        float[][] theirs = LlamaCppLogits(path, tokens);
        int v = heed.VocabSize;
        double worst = 0, scale = 0;
        int agree = 0, same = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            Assert.Equal(v, theirs[t].Length);
            for (int i = 0; i < v; i++)
            {
                worst = Math.Max(worst, Math.Abs(ours[(t * v) + i] - theirs[t][i]));
                scale = Math.Max(scale, Math.Abs(theirs[t][i]));
            }

            int mine = ArgMax(ours.AsSpan(t * v, v)), other = ArgMax(theirs[t]);
            if (mine == other) same++;
            if (mine == other || ours[(t * v) + mine] - ours[(t * v) + other] < tie * scale) agree++;
        }

        bool f32 = ((LlamaModel)heed).Weights.Layers[0].Wq.Type == Gguf.GgmlType.F32;
        return (f32 ? worst : worst / scale, agree / (double)tokens.Length, same / (double)tokens.Length);
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    private static float[][] LlamaCppLogits(string path, int[] tokens)
    {
        var parameters = new ModelParams(path)
        {
            ContextSize = 256,
            BatchSize = 256,
            UBatchSize = 256,
            Threads = 1,
            GpuLayerCount = 0,
            FlashAttention = false,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
        };
        using LLamaWeights weights = LLamaWeights.LoadFromFile(parameters);
        using LLamaContext context = weights.CreateContext(parameters);
        var batch = new LLamaBatch();
        for (int t = 0; t < tokens.Length; t++) batch.Add(tokens[t], t, LLamaSeqId.Zero, logits: true);
        Assert.Equal(DecodeResult.Ok, context.Decode(batch));
        return [.. Enumerable.Range(0, tokens.Length).Select(t => context.NativeHandle.GetLogitsIth(t).ToArray())];
    }

    /// <summary>
    /// A llama file with random weights of one type (width 256, feed-forward 512, 2 layers, 4 heads over 2 kv heads) and
    /// stories260K's 512-token vocabulary, so that llama.cpp accepts it.
    /// </summary>
    private static byte[] RandomLlama(uint type)
    {
        GgufFile vocabulary = GgufFile.Load(TestPaths.Shared("models", "stories260K", "stories260K.f32.gguf"));
        return RandomLlamaFile.Create(
            RandomLlamaShape.Tiny with { Vocab = 512, Context = 256 },
            type,
            new Random((int)type + 5),
            metadata: w => w
                .String("tokenizer.ggml.model", "llama")
                .Strings("tokenizer.ggml.tokens", vocabulary.Strings("tokenizer.ggml.tokens"))
                .Floats("tokenizer.ggml.scores", vocabulary.Floats("tokenizer.ggml.scores")!)
                .Ints("tokenizer.ggml.token_type", [.. vocabulary.Integers("tokenizer.ggml.token_type")!.Select(i => (int)i)])
                .UInt32("tokenizer.ggml.bos_token_id", 1)
                .UInt32("tokenizer.ggml.eos_token_id", 2)
                .UInt32("tokenizer.ggml.unknown_token_id", 0)).ToArray();
    }
}

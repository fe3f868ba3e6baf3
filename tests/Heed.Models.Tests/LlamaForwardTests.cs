using Heed.Models.Generation;
using Heed.Models.Llama;
using Heed.Models.Tokenizers;

namespace Heed.Models.Tests;

/// <summary>The Llama forward pass: batched prefill, one-token decode with the KV cache, and the float64 oracle.</summary>
public class LlamaForwardTests
{
    private const string Model = "models/stories260K/stories260K.bin";

    private static readonly Lazy<LlamaModel> Stories = new(() => LlamaModel.Load(SharedData.Stories260K));

    private static int[] Tokens(int count)
    {
        LlamaTokenizer tokenizer = LlamaTokenizer.Load(SharedData.Tok512);
        int[] text = tokenizer.Encode("Once upon a time, a little dog named Max found a shiny red ball in the garden. He was happy.", addBos: true, addEos: false);
        var tokens = new int[count];
        for (int i = 0; i < count; i++) tokens[i] = text[i % text.Length];
        return tokens;
    }

    [SharedTheory(Model)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(33)]
    public void Batched_forward_matches_the_float64_reference(int length)
    {
        int[] tokens = Tokens(length);
        double[][] expected = LlamaReference.Logits(Stories.Value, tokens);
        Tensor<float> logits = Stories.Value.Forward(tokens).Logits;
        int v = Stories.Value.VocabSize;
        double max = 0;
        for (int t = 0; t < length; t++)
        {
            for (int i = 0; i < v; i++) max = Math.Max(max, Math.Abs(expected[t][i] - logits.Data[(t * v) + i]));
        }

        Assert.True(max < 2e-4, $"max |logit − reference| = {max:E3} over {length} positions");
    }

    [SharedTheory(Model)]
    [InlineData(1, 40)]
    [InlineData(5, 40)]
    [InlineData(17, 30)]
    public void Decode_with_the_kv_cache_gives_the_logits_of_recomputing_the_whole_prefix(int prefill, int total)
    {
        int[] tokens = Tokens(total);
        LlamaModel model = Stories.Value;
        Tensor<float> full = model.Forward(tokens).Logits; // every prefix recomputed in one pass
        DecoderSession session = model.CreateSession(total);
        int v = model.VocabSize;
        double max = Assertions.MaxDiff(session.Forward(tokens.AsSpan(0, prefill)), full.Data.AsSpan((prefill - 1) * v, v));
        for (int pos = prefill; pos < total; pos++)
        {
            ReadOnlySpan<float> step = session.Forward(tokens.AsSpan(pos, 1));
            max = Math.Max(max, Assertions.MaxDiff(step, full.Data.AsSpan(pos * v, v)));
        }

        Assert.Equal(total, session.Position);
        Assert.True(max < 1e-4, $"max |decode − full recompute| = {max:E3}");
    }

    [SharedFact(Model)]
    public void Session_refuses_tokens_past_its_capacity_and_outside_the_vocabulary()
    {
        DecoderSession session = Stories.Value.CreateSession(3);
        session.Forward([1, 5, 6]);
        HeedAssert.Fails(() => session.Forward([7]), "capacity 3");
        session.Reset();
        HeedAssert.Fails(() => session.Forward([512]), "token id 512", "0..511");
        HeedAssert.Fails(() => Stories.Value.CreateSession(513), "capacity 513", "1..512");
    }

    [SharedFact(Model)]
    public void Multithreaded_products_give_the_same_logits()
    {
        int[] tokens = Tokens(64);
        Tensor<float> one = Stories.Value.Forward(tokens).Logits;
        DecoderSession session = Stories.Value.CreateSession(64);
        session.Threads = 4;
        Assert.Equal(one.Data, session.ForwardAll(tokens).Data);
    }
}

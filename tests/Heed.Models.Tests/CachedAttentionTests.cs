using Heed.Models.Generation;
using Heed.Models.Gpt2;
using Heed.Models.Llama;

namespace Heed.Models.Tests;

/// <summary>The session's own decode step (one query row over the cache's rows) against Heed.Core's attention.</summary>
public class CachedAttentionTests
{
    private const string Model = "models/stories260K/stories260K.bin";

    private static readonly Lazy<LlamaModel> Stories = new(() => LlamaModel.Load(SharedData.Stories260K));

    [Theory]
    [InlineData(8, 4, 8, 1)]
    [InlineData(8, 4, 8, 7)]
    [InlineData(8, 4, 8, 8)]
    [InlineData(8, 4, 8, 9)]
    [InlineData(8, 4, 8, 130)]
    [InlineData(4, 4, 16, 33)]
    [InlineData(6, 2, 64, 17)]
    [InlineData(3, 1, 6, 100)]
    [InlineData(2, 2, 2, 255)]
    [InlineData(4, 2, 64, 2)]
    [InlineData(4, 2, 64, 3)]
    [InlineData(4, 4, 64, 6)]
    [InlineData(2, 1, 128, 37)]
    [InlineData(3, 3, 96, 5)]
    [InlineData(2, 2, 80, 11)]
    [InlineData(2, 1, 12, 10)]
    [InlineData(2, 2, 100, 13)]
    [InlineData(1, 1, 1, 3)]
    public void Decode_step_matches_Attention_Compute_and_the_reference(int numHeads, int kvNumHeads, int headSize, int length)
    {
        var random = new Random((numHeads * 1000) + length);
        float[] q = RandomData.Floats(random, numHeads * headSize, 2);
        var cache = new KvCache(1, kvNumHeads, headSize, length + 5);

        // A reset cache keeps the previous sequence's values; here NaN and ∞, which must never reach the output.
        int capacity = cache.Capacity;
        var poison = new float[capacity * kvNumHeads * headSize];
        for (int i = 0; i < poison.Length; i++) poison[i] = i % 2 == 0 ? float.NaN : float.PositiveInfinity;
        cache.Write(0, poison, poison, capacity);
        cache.Commit(capacity);
        cache.Reset();
        float[] k = RandomData.Floats(random, length * kvNumHeads * headSize, 2), v = RandomData.Floats(random, length * kvNumHeads * headSize, 1);
        cache.Write(0, k, v, length);
        cache.Commit(length);

        var y = new float[numHeads * headSize];
        CachedAttention.Decode(q, cache.Key(0).Data, cache.Value(0).Data, y, numHeads, kvNumHeads, headSize, cache.Capacity, length, new float[cache.ScoresLength]);
        var portable = new float[numHeads * headSize];
        CachedAttention.DecodeHeads(q, cache.Key(0).Data, cache.Value(0).Data, portable, numHeads, kvNumHeads, headSize, cache.Capacity, length, new float[cache.ScoresLength], 0, numHeads, portable: true);

        // The same call through the public operator: Q [1, H, 1, D] over K, V [1, Hkv, S, D] (the last position sees every key).
        var key = new Tensor<float>([1, kvNumHeads, length, headSize], Heads(k, length, kvNumHeads, headSize));
        var value = new Tensor<float>([1, kvNumHeads, length, headSize], Heads(v, length, kvNumHeads, headSize));
        var inputs = new AttentionInputs(new Tensor<float>([1, numHeads, 1, headSize], q), key, value);
        var fast = (Tensor<float>)Attention.Compute(inputs, new AttentionOptions()).Output;
        var reference = (Tensor<float>)Attention.Compute(inputs, new AttentionOptions { UseReference = true }).Output;

        Assert.All(y, value => Assert.True(float.IsFinite(value)));
        double toKernel = Assertions.MaxDiff(y, fast.Data), toReference = Assertions.MaxDiff(y, reference.Data);
        Assert.True(toKernel < 2e-6 && toReference < 2e-6, $"max |decode step − Attention.Compute| = {toKernel:E3}, − reference = {toReference:E3}");
        double portableToReference = Assertions.MaxDiff(portable, reference.Data);
        Assert.True(portableToReference < 2e-6, $"max |portable decode step − reference| = {portableToReference:E3}");
    }

    [SharedFact(Model)]
    public void Sessions_give_the_same_logits_through_their_own_step_and_through_Attention_Compute()
    {
        int[] tokens = [1, 403, 407, 261, 378, 422, 2, 400, 260, 272, 419, 280, 300, 350, 500, 1, 9, 77, 300, 301];
        DecoderSession own = Stories.Value.CreateSession(tokens.Length);
        DecoderSession core = Stories.Value.CreateSession(tokens.Length);
        core.DecodeThroughAttentionCompute = true;
        double max = 0;
        foreach (int token in tokens)
        {
            max = Math.Max(max, Assertions.MaxDiff(own.Forward([token]), core.Forward([token])));
        }

        // Logits reach ±15; the two paths sum in different orders (1.4e-5 apart with every intrinsic switched off).
        Assert.True(max < 5e-5, $"max |own decode step − Attention.Compute| = {max:E3}");
    }

    [SharedFact(Model)]
    public void A_llama_decode_step_allocates_nothing()
    {
        DecoderSession session = Stories.Value.CreateSession(64);
        session.Forward([1, 403, 407]);
        for (int i = 0; i < 8; i++) session.Forward([300 + i]); // first calls: JIT, lazy tables
        int token = 0;
        AllocationAssert.NothingPerCall(() => session.Forward([token++]), calls: 16);
    }

    [SharedFact(Model)]
    public void A_decode_step_split_across_threads_gives_the_same_bits_and_allocates_nothing()
    {
        // Every step's heads split across two threads (this cache's threshold at 0), against one thread: each head's arithmetic
        // is the same on either thread, so the logits are equal bit for bit.
        DecoderSession one = Stories.Value.CreateSession(72), two = Stories.Value.CreateSession(72);
        two.Threads = 2;
        two.Cache.ParallelDecodeThreshold = 0;
        Assert.Equal(one.Forward([1, 403, 407]).ToArray(), two.Forward([1, 403, 407]).ToArray());
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(one.Forward([300 + i]).ToArray(), two.Forward([300 + i]).ToArray());
        }

        int token = 0;
        AllocationAssert.NothingPerCall(() => two.Forward([token++]));
    }

    [Fact]
    public void A_gpt2_decode_step_allocates_nothing_and_matches_Attention_Compute()
    {
        Gpt2Model model = Gpt2Model.Load(TestPaths.TestData("gpt2-tiny"));
        DecoderSession own = model.CreateSession(16), core = model.CreateSession(16);
        core.DecodeThroughAttentionCompute = true;
        double max = Assertions.MaxDiff(own.Forward([1, 2, 3]), core.Forward([1, 2, 3]));
        for (int i = 0; i < 4; i++) max = Math.Max(max, Assertions.MaxDiff(own.Forward([10 + i]), core.Forward([10 + i])));
        int token = 20;
        AllocationAssert.NothingPerCall(() => own.Forward([token++]), calls: 3);
        Assert.True(max < 1e-5, $"max |own decode step − Attention.Compute| = {max:E3}");
    }

    // [S, Hkv·D] rows → [Hkv, S, D].
    private static float[] Heads(float[] rows, int length, int heads, int size)
    {
        var result = new float[rows.Length];
        for (int t = 0; t < length; t++)
        {
            for (int h = 0; h < heads; h++)
            {
                rows.AsSpan(((t * heads) + h) * size, size).CopyTo(result.AsSpan(((h * length) + t) * size, size));
            }
        }

        return result;
    }
}

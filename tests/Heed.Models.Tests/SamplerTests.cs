using Heed.Models.Generation;

namespace Heed.Models.Tests;

/// <summary>Token sampling against tests/TestData/sampling/sample_reference.py (llama2.c's sampler in numpy).</summary>
public class SamplerTests
{
    private static readonly float[] Logits = [1.0f, 2.5f, 0.3f, 2.4f, -1.0f, 0.0f, 1.7f, 2.0f];

    [Fact]
    public void The_generator_is_llama2c_xorshift64_star()
    {
        var sampler = new Sampler(8, new SamplingOptions { Temperature = 1, Seed = 42 });
        uint[] drawn = [sampler.NextUInt32(), sampler.NextUInt32(), sampler.NextUInt32(), sampler.NextUInt32()];
        Assert.Equal(new uint[] { 1456360119, 3359763283, 3393612768, 4054632243 }, drawn);
    }

    [Theory]
    [InlineData(1.0f, 0.0f, new[] { 6, 1, 3, 1, 7, 1, 3, 0, 1, 3, 1, 3, 1, 7, 3, 7 })]
    [InlineData(0.8f, 0.9f, new[] { 7, 1, 3, 1, 6, 1, 3, 1, 1, 3, 1, 3, 1, 7, 3, 6 })]
    [InlineData(1.5f, 0.5f, new[] { 7, 1, 3, 1, 7, 1, 3, 1, 1, 3, 1, 3, 1, 7, 3, 7 })]
    public void Seeded_sampling_draws_the_reference_sequence(float temperature, float topP, int[] expected)
    {
        var sampler = new Sampler(8, new SamplingOptions { Temperature = temperature, TopP = topP, Seed = 1234 });
        Assert.Equal(expected, Enumerable.Range(0, 16).Select(_ => sampler.Sample(Logits)));
    }

    [Fact]
    public void Greedy_takes_the_first_maximum()
    {
        var sampler = new Sampler(4, SamplingOptions.Greedy);
        Assert.Equal(1, sampler.Sample([0f, 3f, 3f, -1f]));
    }

    [Theory]
    [InlineData(1, new[] { 1 })]
    [InlineData(2, new[] { 1, 3 })]
    [InlineData(3, new[] { 1, 3, 7 })]
    public void Top_k_only_draws_the_k_most_probable(int k, int[] allowed)
    {
        var sampler = new Sampler(8, new SamplingOptions { Temperature = 5, TopK = k, TopP = 0, Seed = 7 });
        var seen = Enumerable.Range(0, 400).Select(_ => sampler.Sample(Logits)).Distinct().Order().ToArray();
        Assert.Equal(allowed, seen);
    }

    [Theory]
    [InlineData(-0.5f, 0, 0.9f, "--temperature")]
    [InlineData(float.NaN, 0, 0.9f, "--temperature")]
    [InlineData(1f, -1, 0.9f, "--top-k -1")]
    [InlineData(1f, 0, 1.5f, "--top-p 1.5")]
    public void Out_of_range_options_are_named(float temperature, int topK, float topP, string fragment)
    {
        HeedAssert.Fails(() => _ = new Sampler(8, new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP }), fragment);
    }
}

namespace Heed.Explain.Tests;

public class RolloutTests
{
    [Fact]
    public void Three_tokens_two_layers_by_hand()
    {
        // Layer 0, one head: A0. (A0 + I) / 2 row-normalised = [[1, 0, 0], [.25, .75, 0], [.1, .15, .75]].
        double[] a0 = [1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5];
        // Layer 1, two heads averaged: [[1, 0, 0], [.5, .5, 0], [0, .5, .5]] → Â1 = [[1, 0, 0], [.25, .75, 0], [0, .25, .75]].
        double[] a1h0 = [1, 0, 0, 1, 0, 0, 0, 1, 0];
        double[] a1h1 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
        double[] a0h1 = a0; // layer 0's second head equals the first, so the average is A0
        var set = new AttentionSet(["x", "y", "z"], ["x", "y", "z"], [[a0, a0h1], [a1h0, a1h1]]);
        double[][] r = Rollout.Compute(set);
        // R = Â1 · Â0, worked by hand.
        double[][] expected = [[1, 0, 0], [0.4375, 0.5625, 0], [0.1375, 0.3, 0.5625]];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++) Assert.Equal(expected[i][j], r[i][j], 14);
            Assert.Equal(1, r[i].Sum(), 14);
        }
    }

    [Fact]
    public void A_fully_masked_row_keeps_only_the_residual()
    {
        var set = new AttentionSet(["a", "b"], ["a", "b"], [[new double[] { 0, 0, 0.5, 0.5 }]]);
        double[][] r = Rollout.Compute(set);
        Assert.Equal([1.0, 0], r[0]);
        Assert.Equal([0.25, 0.75], r[1]);
    }

    [Fact]
    public void Rollout_needs_square_self_attention()
    {
        var set = new AttentionSet(["q"], ["a", "b"], [[new double[] { 0.5, 0.5 }]]);
        Assert.Contains("1 queries and 2 keys", Assert.Throws<HeedException>(() => Rollout.Compute(set)).Message, StringComparison.Ordinal);
    }
}

using Heed.Reference;

namespace Heed.Explain.Tests;

public class CaptureTests
{
    [Fact]
    public void Recorded_captures_become_a_set_with_the_reference_probabilities()
    {
        var rng = new Random(3);
        double[] R(int n) => Enumerable.Range(0, n).Select(_ => (rng.NextDouble() * 2) - 1).ToArray();
        var recorder = new CaptureCollector();
        var options = new AttentionOptions { IsCausal = true, Observer = recorder };
        var layers = new List<AttentionInputs>();
        for (int l = 0; l < 3; l++)
        {
            var inputs = new AttentionInputs(
                Tensor.FromDoubles(DType.Float32, [1, 4, 5, 8], R(160)),
                Tensor.FromDoubles(DType.Float32, [1, 2, 5, 8], R(80)),
                Tensor.FromDoubles(DType.Float32, [1, 2, 5, 8], R(80)));
            layers.Add(inputs);
            Attention.Compute(inputs, options);
        }

        AttentionSet set = AttentionSet.FromCaptures(recorder.Captures, ["a", "b", "c", "d", "e"]);
        Assert.Equal((3, 4, 5, 5), (set.Layers, set.Heads, set.QueryLength, set.KeyLength));
        for (int l = 0; l < 3; l++)
        {
            double[] p = ReferenceAttention.Compute(layers[l], new AttentionOptions { IsCausal = true, ComputeQkMatmulOutput = true, QkMatmulOutputMode = QkMatmulOutputMode.Probabilities }).QkMatmulOutput!.ToDoubleArray();
            for (int h = 0; h < 4; h++)
            {
                // The reference returns float32 (Q's type); the capture keeps float64.
                for (int k = 0; k < 25; k++) Assert.True(Math.Abs(p[(h * 25) + k] - set.Matrix(l, h)[k]) < 1e-6, $"layer {l} head {h} cell {k}");
            }
        }

        Assert.Equal(0, set.Weight(2, 3, 0, 1)); // causal
        Assert.True(set.HasScores);
        Assert.Contains("7 tokens were given", Assert.Throws<HeedException>(() => AttentionSet.FromCaptures(recorder.Captures, ["a", "b", "c", "d", "e", "f", "g"])).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { 2, 3, 4, 4 }, 2, 3)]
    [InlineData(new[] { 3, 4, 4 }, 1, 3)]
    [InlineData(new[] { 4, 4 }, 1, 1)]
    public void Arrays_of_rank_two_to_four_become_sets(int[] shape, int layers, int heads)
    {
        int n = shape.Aggregate(1, (a, b) => a * b);
        AttentionSet set = AttentionSet.FromArray(Tensor.FromDoubles(DType.Float32, shape, Enumerable.Range(0, n).Select(i => i / (double)n).ToArray()), ["a", "b", "c", "d"], allowUnnormalized: true);
        Assert.Equal((layers, heads), (set.Layers, set.Heads));
        Assert.Equal(((n - 1) / (double)n), set.Weight(layers - 1, heads - 1, 3, 3), 6);
    }

    [Theory]
    [InlineData(new[] { 0.5, 0.5, 1.5, -0.5 }, "w: weight 1.5 at [1, 0] is not a probability (outside [0, 1]); --allow-unnormalized takes such numbers")]
    [InlineData(new[] { 0.5, 0.5, double.PositiveInfinity, 0 }, "w: weight Infinity at [1, 0] is not a probability")]
    [InlineData(new[] { 0.5, 0.4, 1, 0 }, "w: the row at [0, :] sums to 0.9, not 1 (within 0.001)")]
    public void Arrays_that_are_not_probabilities_are_refused_at_the_first_offending_position(double[] values, string message)
    {
        Tensor t = Tensor.FromDoubles(DType.Float64, [2, 2], values);
        Assert.StartsWith(message, Assert.Throws<HeedException>(() => AttentionSet.FromArray(t, ["a", "b"], name: "w")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rows_within_the_tolerance_and_rows_of_zeros_are_probabilities()
    {
        Tensor t = Tensor.FromDoubles(DType.Float64, [3, 2], [0.4995, 0.5, 0, 0, 1, 0]);
        AttentionSet set = AttentionSet.FromArray(t, ["a", "b", "c"], ["x", "y"]);
        Assert.Equal(0.4995, set.Weight(0, 0, 0, 0));
        Tensor nan = Tensor.FromDoubles(DType.Float64, [2, 2], [1, 0, double.NaN, 0]);
        Assert.Contains("NaN at [1, 0]; weights must be finite numbers", Assert.Throws<HeedException>(() => AttentionSet.FromArray(nan, ["a", "b"], allowUnnormalized: true)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Arrays_that_do_not_fit_the_tokens_are_refused()
    {
        Tensor t = Tensor.FromDoubles(DType.Float32, [2, 3, 3], new double[18]);
        Assert.Contains("has 3 rows on axis 1; expected 2", Assert.Throws<HeedException>(() => AttentionSet.FromArray(t, ["a", "b"])).Message, StringComparison.Ordinal);
        Tensor v = Tensor.FromDoubles(DType.Float32, [3], new double[3]);
        Assert.Contains("must be [L, H, T, S]", Assert.Throws<HeedException>(() => AttentionSet.FromArray(v, ["a", "b", "c"])).Message, StringComparison.Ordinal);
    }
}

using Heed.Explain.Seeds;
using Heed.IO;

namespace Heed.Explain.Tests;

public class TraceTests
{
    private static readonly double E = Math.E;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Seed_000_trace_equals_the_hand_computed_numbers(bool useReference)
    {
        AttentionTrace t = CatSatOnTheMat.Trace(useReference: useReference);
        // Q = E (identity), K = E with columns swapped, V = E·[[1, 1], [1, -1]].
        Assert.Equal([[1.0, 0], [0, 1], [1, 1], [0, -1], [1, 0], [0, 1]], t.Q);
        Assert.Equal([[0.0, 1], [1, 0], [1, 1], [-1, 0], [0, 1], [1, 0]], t.K);
        Assert.Equal([[1.0, 1], [1, -1], [2, 0], [-1, 1], [1, 1], [1, -1]], t.V);
        // "cat" scores [1, 0, 1, 0, 1, 0] → weights e/(3e+3) and 1/(3e+3).
        Assert.Equal([1.0, 0, 1, 0, 1, 0], t.Scores[1]);
        double sum = (3 * E) + 3;
        double[] expected = [E / sum, 1 / sum, E / sum, 1 / sum, E / sum, 1 / sum];
        for (int j = 0; j < 6; j++) Assert.Equal(expected[j], t.Weights[1][j], 14);
        Assert.Equal((4 * E / sum) + (1 / sum), t.Outputs[1][0], 13);
        Assert.Equal((2 * E / sum) - (1 / sum), t.Outputs[1][1], 13);
        // "sat" (Q = [1, 1]) scores K·[1, 1] = [1, 1, 2, -1, 1, 1].
        Assert.Equal([1.0, 1, 2, -1, 1, 1], t.Scores[2]);
    }

    [Fact]
    public void Kernel_and_reference_traces_agree()
    {
        TraceComparison c = TraceComparison.Compare(CatSatOnTheMat.Trace(scaled: true), CatSatOnTheMat.Trace(scaled: true, useReference: true));
        Assert.True(c.Max < 1e-12, $"max difference {c.Max}");
    }

    [Fact]
    public void Comparison_reports_the_largest_difference_per_step()
    {
        AttentionTrace a = CatSatOnTheMat.Trace();
        double[][] outputs = a.Outputs.Select(r => r.ToArray()).ToArray();
        outputs[3][1] += 0.25;
        TraceComparison c = TraceComparison.Compare(a, a with { Outputs = outputs });
        Assert.Equal(0.25, c.Outputs, 12);
        Assert.Equal(0, c.Weights);
        Assert.Equal(0.25, c.Max, 12);
    }

    [Fact]
    public void Causal_trace_masks_the_future()
    {
        AttentionTrace t = TraceBuilder.Build(["a", "b", "c"], [[1, 0], [0, 1], [1, 1]], [[1, 0], [0, 1]], [[1, 0], [0, 1]], [[1, 0], [0, 1]], scale: 1, causal: true);
        Assert.Equal([1.0, 0, 0], t.Weights[0]);
        Assert.True(double.IsNegativeInfinity(t.Scores[0][1]));
        // row 1: scores [0, 1] → weights 1/(1+e), e/(1+e)
        Assert.Equal(E / (1 + E), t.Weights[1][1], 14);
        Assert.Equal(0, t.Weights[1][2]);
        Assert.Equal(0, TraceComparison.Compare(t, TraceBuilder.Build(t.Tokens, t.Embeddings, t.WQ, t.WK, t.WV, 1, useReference: true, causal: true)).Scores);
    }

    [Fact]
    public void Seed_003_lookup_equals_the_hand_computed_numbers()
    {
        LookupResult r = FruitLookup.Run();
        // fruit = [2, 1, -1]; apple [1.5, .5, -.5] → 4; banana [1.2, .8, -.4] → 3.6; chair [-.5, 0, 1] → -2.
        Assert.Equal(4.0, r.Scores[0], 12);
        Assert.Equal(3.6, r.Scores[1], 12);
        Assert.Equal(-2.0, r.Scores[2], 12);
        double z = Math.Exp(4) + Math.Exp(3.6) + Math.Exp(-2);
        double[] w = [Math.Exp(4) / z, Math.Exp(3.6) / z, Math.Exp(-2) / z];
        for (int i = 0; i < 3; i++) Assert.Equal(w[i], r.Weights[i], 14);
        Assert.Equal((10 * w[0]) + (5 * w[1]) + (2 * w[2]), r.Blended, 12);
        Assert.InRange(r.Blended, 7.9, 8.1); // the seed's intuition: about 0.6·10 + 0.4·5 = 8
        Assert.Equal(r.Blended, FruitLookup.Run(useReference: true).Blended, 13);
    }

    [Fact]
    public void Lookup_refuses_mismatched_counts_and_sizes()
    {
        Assert.Contains("one value per key", Assert.Throws<HeedException>(() => KeyValueLookup.Compute("q", [1.0], ["a", "b"], [[1.0], [2.0]], [1.0])).Message, StringComparison.Ordinal);
        Assert.Contains("key \"b\" has 2 numbers", Assert.Throws<HeedException>(() => KeyValueLookup.Compute("q", [1.0], ["a", "b"], [[1.0], [2.0, 3]], [1.0, 2])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Word_vectors_read_json_and_text()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("v.json"), """{"apple": [1, 2], "Chair": [3, 4]}""");
        File.WriteAllText(dir.File("v.txt"), "# comment\napple 1 2\n\nChair 3 4\n");
        foreach (string name in new[] { "v.json", "v.txt" })
        {
            WordVectors v = WordVectors.Load(dir.File(name));
            Assert.Equal(2, v.Dimension);
            Assert.Equal([3.0, 4], v.Get("chair", "--keys"));
            Assert.Contains("--query: \"pear\" has no vector", Assert.Throws<HeedException>(() => v.Get("pear", "--query")).Message, StringComparison.Ordinal);
        }

        File.WriteAllText(dir.File("bad.txt"), "apple 1 2\nchair 3\n");
        Assert.Contains("\"chair\" has 1 numbers; expected 2", Assert.Throws<HeedException>(() => WordVectors.Load(dir.File("bad.txt"))).Message, StringComparison.Ordinal);
        File.WriteAllText(dir.File("bad2.txt"), "apple 1 x\n");
        Assert.Contains("line 1: \"x\" is not a number", Assert.Throws<HeedException>(() => WordVectors.Load(dir.File("bad2.txt"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Input_file_reads_inline_matrices_and_npy_paths()
    {
        using var dir = new TempFolder();
        Npy.Write(dir.File("wk.npy"), Tensor.FromDoubles(DType.Float32, [2, 2], [0, 1, 1, 0]));
        File.WriteAllText(dir.File("in.json"), """
            {
              "tokens": ["The", "cat", "sat", "on", "the", "mat"],
              "embeddings": [[1, 0], [0, 1], [1, 1], [0, -1], [1, 0], [0, 1]],
              "wq": [[1, 0], [0, 1]],
              "wk": "wk.npy",
              "wv": [[1, 1], [1, -1]],
              "scale": 1,
              "focus": "cat"
            }
            """);
        TraceInput input = TraceInput.Load(dir.File("in.json"));
        Assert.Equal("cat", input.Focus);
        TraceComparison c = TraceComparison.Compare(input.Trace(), CatSatOnTheMat.Trace());
        Assert.Equal(0, c.Max);
    }

    [Theory]
    [InlineData("""{"tokens": ["a"], "embeddings": [[1, 0]], "wq": [[1], [0]], "wk": [[1], [0]], "wv": [[1], [0]], "wqq": 1}""", "unknown field \"wqq\"")]
    [InlineData("""{"tokens": ["a"], "embeddings": [[1, 0]], "wq": [[1], [0]], "wk": [[1], [0]]}""", "the field \"wv\" is missing")]
    [InlineData("""{"tokens": ["a"], "embeddings": [[1, 0], [1]], "wq": [[1], [0]], "wk": [[1], [0]], "wv": [[1], [0]]}""", "row 1 has 1 values; expected 2")]
    [InlineData("""{"tokens": ["a"], "embeddings": [[1, 0]], "wq": "missing.npy", "wk": [[1], [0]], "wv": [[1], [0]]}""", "missing.npy does not exist")]
    [InlineData("""{"tokens": ["a" """, "not valid JSON")]
    public void Bad_input_files_name_the_field(string json, string expected)
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("in.json"), json);
        HeedAssert.Fails(() => TraceInput.Load(dir.File("in.json")), expected);
    }

    [Theory]
    [InlineData(3, 2, 2, 2, 2, "3 tokens but 2 embedding rows")]
    [InlineData(2, 2, 3, 2, 2, "W_Q has 3 rows; expected 2 (the embedding width)")]
    [InlineData(2, 2, 2, 3, 2, "W_K has 3 rows; expected 2")]
    public void Mismatched_sizes_are_refused(int tokens, int embeddingRows, int wqRows, int wkRows, int wvRows, string expected)
    {
        double[][] M(int rows, int cols) => Enumerable.Range(0, rows).Select(_ => new double[cols]).ToArray();
        string[] labels = Enumerable.Range(0, tokens).Select(i => "t" + i).ToArray();
        var ex = Assert.Throws<HeedException>(() => TraceBuilder.Build(labels, M(embeddingRows, 2), M(wqRows, 2), M(wkRows, 2), M(wvRows, 2)));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }
}

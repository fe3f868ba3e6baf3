using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Heed.IO;

namespace Heed.Server.Tests;

/// <summary>POST /api/v1/attention, /multi-head-attention, /explain and /lookup against hand-computed values.</summary>
public sealed class ComputeEndpointTests : IAsyncLifetime
{
    private ServerHarness _h = null!;

    public async Task InitializeAsync() => _h = await ServerHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    /// <summary>Plain single-head attention, written independently of Heed: softmax(scale·q·kᵀ)·v.</summary>
    private static double[][] Naive(double[][] q, double[][] k, double[][] v, double scale, bool causal)
    {
        var y = new double[q.Length][];
        for (int i = 0; i < q.Length; i++)
        {
            var s = new double[k.Length];
            double max = double.NegativeInfinity;
            for (int j = 0; j < k.Length; j++)
            {
                s[j] = causal && j > i ? double.NegativeInfinity : scale * q[i].Zip(k[j], (a, b) => a * b).Sum();
                max = Math.Max(max, s[j]);
            }

            double sum = s.Sum(x => Math.Exp(x - max));
            y[i] = new double[v[0].Length];
            for (int j = 0; j < k.Length; j++)
            {
                double w = Math.Exp(s[j] - max) / sum;
                for (int d = 0; d < y[i].Length; d++) y[i][d] += w * v[j][d];
            }
        }

        return y;
    }

    private static object Tensor4(double[][] m) => new { shape = new[] { 1, 1, m.Length, m[0].Length }, dtype = "float64", data = m.SelectMany(r => r).ToArray() };

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, null)]
    [InlineData(false, 0.5)]
    public async Task Attention_matches_a_naive_softmax(bool causal, double? scale)
    {
        double[][] q = [[1, 0, 2], [0, 1, -1], [1, 1, 0], [0.5, -0.5, 1]];
        double[][] k = [[0, 1, 1], [1, 0, 0], [1, 1, 1], [-1, 0, 2]];
        double[][] v = [[1, 2], [3, 4], [5, 6], [-1, 0]];
        JsonNode r = await _h.PostJson("/api/v1/attention", new { q = Tensor4(q), k = Tensor4(k), v = Tensor4(v), isCausal = causal, scale });
        double[] y = ServerHarness.Doubles(r["output"]!["data"]);
        double[] expected = Naive(q, k, v, scale ?? 1 / Math.Sqrt(3), causal).SelectMany(x => x).ToArray();
        Assert.Equal(new[] { 1, 1, 4, 2 }, r["output"]!["shape"]!.AsArray().Select(n => n!.GetValue<int>()));
        Assert.Equal("float64", r["output"]!["dtype"]!.GetValue<string>());
        for (int i = 0; i < y.Length; i++) Assert.Equal(expected[i], y[i], 12);
    }

    [Fact]
    public async Task Attention_takes_and_returns_npy_and_reports_probabilities()
    {
        double[][] q = [[1, 0], [0, 1]];
        static string Npy64(double[][] m)
        {
            using var s = new MemoryStream();
            Npy.Write(s, Heed.Tensor.FromDoubles(Heed.DType.Float32, [1, 1, m.Length, m[0].Length], m.SelectMany(r => r).ToArray()));
            return Convert.ToBase64String(s.ToArray());
        }

        JsonNode r = await _h.PostJson("/api/v1/attention", new { q = new { npy = Npy64(q) }, k = new { npy = Npy64(q) }, v = new { npy = Npy64([[1, 2], [3, 4]]) }, qkMatmulOutputMode = 3, encoding = "Npy" });
        Heed.Tensor y = Npy.Read(new MemoryStream(Convert.FromBase64String(r["output"]!["npy"]!.GetValue<string>())));
        Heed.Tensor p = Npy.Read(new MemoryStream(Convert.FromBase64String(r["qkMatmulOutput"]!["npy"]!.GetValue<string>())));
        Assert.Equal(Heed.DType.Float32, y.DType);
        double w = Math.Exp(1 / Math.Sqrt(2)) / (Math.Exp(1 / Math.Sqrt(2)) + 1);
        Assert.Equal([w, 1 - w, 1 - w, w], p.ToDoubleArray().Select(x => Math.Round(x, 6)).ToArray(), (a, b) => Math.Abs(a - Math.Round(b, 6)) < 1e-6);
        Assert.Equal((w * 1) + ((1 - w) * 3), y.ToDoubleArray()[0], 5);
    }

    [Theory]
    [InlineData("{\"q\":{\"shape\":[1,1,2,2],\"data\":[1,0,0,1]}}", "k: required")]
    [InlineData("{\"q\":{\"shape\":[1,1,2,2],\"data\":[1,0,0]},\"k\":{\"shape\":[1,1,2,2],\"data\":[1,0,0,1]},\"v\":{\"shape\":[1,1,2,2],\"data\":[1,0,0,1]}}", "q.data: 3 values")]
    [InlineData("{\"q\":{\"shape\":[1,1,2,2],\"dtype\":\"int8\",\"data\":[1,0,0,1]},\"k\":{\"shape\":[1,1,2,2],\"data\":[1,0,0,1]},\"v\":{\"shape\":[1,1,2,2],\"data\":[1,0,0,1]}}", "q.dtype")]
    [InlineData("{\"q\":{\"shape\":[1,1,2,2],\"data\":[1,0,0,1]},\"k\":{\"shape\":[1,1,2,3],\"data\":[1,0,0,1,0,0]},\"v\":{\"shape\":[1,1,2,2],\"data\":[1,0,0,1]}}", "K")]
    [InlineData("{\"q\":{\"npy\":\"not base64!\"},\"k\":{\"shape\":[1],\"data\":[1]},\"v\":{\"shape\":[1],\"data\":[1]}}", "q.npy: not valid base64")]
    [InlineData("{\"q\":", "JSON")]
    public async Task Attention_bad_input_is_a_400_problem_naming_the_field(string body, string detail)
    {
        await ServerHarness.AssertProblem(await _h.PostRaw("/api/v1/attention", body), 400, detail);
    }

    [Fact]
    public async Task Multi_head_attention_with_identity_projections_equals_per_head_attention()
    {
        // Two heads of size 1 with identity projections: head h attends on column h alone.
        double[][] x = [[1, 0], [0, 2], [1, 1]];
        var eye = new { shape = new[] { 2, 2 }, dtype = "float64", data = new double[] { 1, 0, 0, 1 } };
        var xs = new { shape = new[] { 3, 2 }, dtype = "float64", data = x.SelectMany(r => r).ToArray() };
        JsonNode r = await _h.PostJson("/api/v1/multi-head-attention", new { x = xs, wq = eye, wk = eye, wv = eye, numHeads = 2, weights = "PerHead" });
        double[] y = ServerHarness.Doubles(r["output"]!["data"]);
        for (int h = 0; h < 2; h++)
        {
            double[][] col = x.Select(row => new[] { row[h] }).ToArray();
            double[][] expected = Naive(col, col, col, 1.0, false);
            for (int i = 0; i < 3; i++) Assert.Equal(expected[i][0], y[(i * 2) + h], 12);
        }

        Assert.Equal(new[] { 2, 3, 3 }, r["weights"]!["shape"]!.AsArray().Select(n => n!.GetValue<int>()));
    }

    [Fact]
    public async Task Explain_with_an_empty_body_walks_through_the_seed_example()
    {
        JsonNode r = await _h.PostJson("/api/v1/explain", new { });
        Assert.Equal("cat", r["focus"]!.GetValue<string>());
        double[] output = ServerHarness.Doubles(r["focusOutput"]);
        // e/(3e+3) and 1/(3e+3) weights on the seed's values give [1.0644, 0.3977].
        double hi = Math.E / ((3 * Math.E) + 3), lo = 1 / ((3 * Math.E) + 3);
        Assert.Equal(hi + lo + (2 * hi) - lo + hi + lo, output[0], 12);
        Assert.Equal(hi - lo + lo + hi - lo, output[1], 12);
        Assert.Equal(6, r["steps"]!.AsArray().Count);
        Assert.Equal(2, r["seedSlips"]!.AsArray().Count);
    }

    [Fact]
    public async Task Explain_takes_any_tokens_and_rejects_an_unknown_focus()
    {
        var body = new { tokens = new[] { "a", "b" }, embeddings = new[] { new[] { 1.0, 0 }, new[] { 0.0, 1 } }, wq = new[] { new[] { 1.0 }, new[] { 0.0 } }, wk = new[] { new[] { 1.0 }, new[] { 1.0 } }, wv = new[] { new[] { 2.0 }, new[] { 4.0 } }, focus = "b" };
        JsonNode r = await _h.PostJson("/api/v1/explain", body);
        // q_b = 0, so b weighs a and b equally: output = (2 + 4) / 2.
        Assert.Equal(3.0, ServerHarness.Doubles(r["focusOutput"])[0], 12);
        using HttpResponseMessage bad = await _h.Client.PostAsJsonAsync("/api/v1/explain", body with { focus = "zebra" });
        await ServerHarness.AssertProblem(bad, 400, "focus: 'zebra'");
        using HttpResponseMessage ragged = await _h.Client.PostAsJsonAsync("/api/v1/explain", body with { embeddings = new[] { new[] { 1.0, 0 }, new[] { 0.0 } } });
        await ServerHarness.AssertProblem(ragged, 400, "embeddings: row 1");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Lookup_blends_values_by_softmax_of_dot_products(bool scaled)
    {
        var vectors = new Dictionary<string, double[]> { ["fruit"] = [1, 1], ["apple"] = [1, 0.8], ["banana"] = [0.9, 0.9], ["chair"] = [-1, 0.1] };
        JsonNode r = await _h.PostJson("/api/v1/lookup", new { query = "fruit", keys = new[] { "apple", "banana", "chair" }, values = new[] { 10.0, 5, 2 }, vectors, scaled });
        double scale = scaled ? 1 / Math.Sqrt(2) : 1;
        double[] scores = [1.8 * scale, 1.8 * scale, -0.9 * scale];
        double[] e = scores.Select(Math.Exp).ToArray();
        double[] w = e.Select(x => x / e.Sum()).ToArray();
        Assert.Equal(w, ServerHarness.Doubles(r["weights"]), (a, b) => Math.Abs(a - b) < 1e-12);
        Assert.Equal((w[0] * 10) + (w[1] * 5) + (w[2] * 2), r["blended"]!.GetValue<double>(), 12);
    }

    [Fact]
    public async Task Lookup_names_the_word_without_a_vector()
    {
        using HttpResponseMessage r = await _h.Client.PostAsJsonAsync("/api/v1/lookup", new { query = "fruit", keys = new[] { "apple" }, values = new[] { 1.0 }, vectors = new Dictionary<string, double[]> { ["apple"] = [1.0] } });
        await ServerHarness.AssertProblem(r, 400, "query: \"fruit\" has no vector in the request's vectors");
    }

    [Fact]
    public async Task Lookup_with_no_fields_is_the_seeds_fruit_lookup_as_heed_lookup_prints_it()
    {
        JsonNode r = await _h.PostJson("/api/v1/lookup", new { });
        // The built-in vectors: fruit = [2, 1, -1]; apple = [1.5, 0.5, -0.5], banana = [1.2, 0.8, -0.4], chair = [-0.5, 0, 1].
        double[] scores = [3 + 0.5 + 0.5, 2.4 + 0.8 + 0.4, -1 + 0 - 1];
        double[] e = scores.Select(Math.Exp).ToArray();
        double[] w = e.Select(x => x / e.Sum()).ToArray();
        Assert.Equal("fruit", r["query"]!.GetValue<string>());
        Assert.Equal(scores, ServerHarness.Doubles(r["scores"]), (a, b) => Math.Abs(a - b) < 1e-12);
        Assert.Equal((w[0] * 10) + (w[1] * 5) + (w[2] * 2), r["blended"]!.GetValue<double>(), 12);
        Assert.Contains("built-in", r["vectors"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, null)]
    [InlineData(true, 0.5)]
    public async Task Explain_takes_the_input_of_heed_explain_with_scale_causal_focus_and_a_reference_check(bool causal, double? scale)
    {
        string[] tokens = ["x", "y", "z"];
        double[][] e = [[1, 0], [0, 2], [1, -1]];
        double[][] wq = [[1, 0.5], [0, 1]], wk = [[0.5, 0], [1, 1]], wv = [[2, 0, 1], [0, 1, -1]];
        static double[][] Mul(double[][] a, double[][] b) => a.Select(r => Enumerable.Range(0, b[0].Length).Select(j => r.Select((x, k) => x * b[k][j]).Sum()).ToArray()).ToArray();
        double[][] expected = Naive(Mul(e, wq), Mul(e, wk), Mul(e, wv), scale ?? 1 / Math.Sqrt(2), causal);
        JsonNode r = await _h.PostJson("/api/v1/explain", new { tokens, embeddings = e, wq, wk, wv, scale, causal, focus = "y", reference = true });
        double[][] outputs = ServerHarness.Matrix(r["outputs"]);
        for (int i = 0; i < 3; i++)
        {
            for (int d = 0; d < 3; d++) Assert.Equal(expected[i][d], outputs[i][d], 12);
        }

        Assert.Equal(1, r["focusIndex"]!.GetValue<int>());
        Assert.Equal(causal, r["causal"]!.GetValue<bool>());
        Assert.True(r["referenceCheck"]!["max"]!.GetValue<double>() < 1e-9);
        Assert.Contains("Step 4. Scores of \"y\"", r["text"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(causal, r["text"]!.GetValue<string>().Contains("masked", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Explain_draws_every_picture_and_the_html_report_on_request()
    {
        JsonNode r = await _h.PostJson("/api/v1/explain", new { pictures = new[] { "Heatmap", "ModelView", "HeadView", "Network", "Rollout" }, report = true });
        JsonArray pictures = r["pictures"]!.AsArray();
        Assert.Equal(["heatmap", "model-view", "head-view", "network", "rollout"], pictures.Select(p => p!["name"]!.GetValue<string>()));
        Assert.Equal(36, PictureChecks.Svg(pictures[0]!["data"]!.GetValue<string>()).Descendants().Count(x => (string?)x.Attribute("class") == "cell"));
        Assert.Equal(6, PictureChecks.Svg(pictures[3]!["data"]!.GetValue<string>()).Descendants().Count(x => (string?)x.Attribute("class") == "node"));
        string html = r["report"]!.GetValue<string>();
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Equal(5, html.Split("<svg").Length - 1);
        Assert.Contains("output cat = [1.0644, 0.3977]", html, StringComparison.Ordinal);

        JsonNode png = await _h.PostJson("/api/v1/explain", new { pictures = new[] { "Rollout" }, pictureFormat = "Png" });
        Assert.Equal("image/png", png["pictures"]![0]!["mediaType"]!.GetValue<string>());
        PictureChecks.AssertPng(Convert.FromBase64String(png["pictures"]![0]!["data"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Explain_runs_a_toy_model_on_a_prompt_with_the_seeds_numbers()
    {
        JsonNode r = await _h.PostJson("/api/v1/explain", new { model = "seed-cat-sat", prompt = "The cat sat on the mat", reference = true });
        Assert.Equal("cat", r["focus"]!.GetValue<string>());
        Assert.Equal([1.0644, 0.3977], ServerHarness.Doubles(r["focusOutput"]).Select(x => Math.Round(x, 4)));
        Assert.Equal(0.0, r["referenceCheck"]!["max"]!.GetValue<double>(), 9);
        Assert.Contains("Reference replay", r["text"]!.GetValue<string>(), StringComparison.Ordinal);
        await ServerHarness.AssertProblem(await _h.PostRaw("/api/v1/explain", "{\"prompt\":\"the cat\"}"), 400, "prompt needs model");
    }

    [Fact]
    public async Task Explain_reads_attention_weights_computed_elsewhere()
    {
        // [L = 2, H = 1, T = 2, S = 2]; layer 1 puts "b"'s weight 0.25 / 0.75.
        var weights = new { shape = new[] { 2, 1, 2, 2 }, dtype = "float64", data = new[] { 1, 0, 0.5, 0.5, 1, 0, 0.25, 0.75 } };
        JsonNode r = await _h.PostJson("/api/v1/explain", new { attentionWeights = weights, tokens = new[] { "a", "b" }, layer = 1, focus = "b", pictures = new[] { "ModelView" } });
        Assert.Equal([0.25, 0.75], ServerHarness.Doubles(r["focusWeights"]));
        Assert.Equal(2, r["layers"]!.GetValue<int>());
        Assert.Equal(2, PictureChecks.Svg(r["pictures"]![0]!["data"]!.GetValue<string>()).Descendants().Count(x => (string?)x.Attribute("class") == "thumb"));
        Assert.Null(r["steps"]);
    }

    [Fact]
    public async Task Explain_draws_unnormalized_weights_when_asked()
    {
        var weights = new { shape = new[] { 2, 2 }, dtype = "float64", data = new[] { 1, 0, 2.0, 3.0 } };
        JsonNode r = await _h.PostJson("/api/v1/explain", new { attentionWeights = weights, tokens = new[] { "a", "b" }, focus = "b", allowUnnormalized = true });
        Assert.Equal([2.0, 3.0], ServerHarness.Doubles(r["focusWeights"]));
    }

    [Theory]
    [InlineData("{\"causal\":true}", "causal and scale apply to your own input")]
    [InlineData("{\"tokens\":[\"a\"],\"embeddings\":[[1]],\"wq\":[[1]],\"wk\":[[1]],\"wv\":[[1]],\"scaled\":true}", "scaled applies to the seed example")]
    [InlineData("{\"tokens\":[\"a\"],\"embeddings\":[[1]],\"attentionWeights\":{\"shape\":[1,1],\"data\":[1]}}", "embeddings cannot be combined with attentionWeights")]
    [InlineData("{\"tokens\":[\"a\",\"b\"],\"attentionWeights\":{\"shape\":[1,1],\"data\":[1]}}", "has 1 rows")]
    [InlineData("{\"tokens\":[\"a\",\"b\"],\"attentionWeights\":{\"shape\":[2,2],\"data\":[1,0,2,-1]}}", "attentionWeights: weight 2 at [1, 0] is not a probability (outside [0, 1]); allowUnnormalized takes such numbers")]
    [InlineData("{\"tokens\":[\"a\",\"b\"],\"attentionWeights\":{\"shape\":[2,2],\"data\":[1,0,0.5,0.2]}}", "attentionWeights: the row at [1, :] sums to 0.7, not 1 (within 0.001); allowUnnormalized takes such rows")]
    [InlineData("{\"layer\":1}", "layer 1 is out of range")]
    [InlineData("{\"pictures\":[\"Sunset\"]}", "$.pictures[0]: expected one of Heatmap, ModelView, HeadView, Network, Rollout")]
    public async Task Explain_options_that_do_not_apply_are_400_problems(string body, string detail)
    {
        await ServerHarness.AssertProblem(await _h.PostRaw("/api/v1/explain", body), 400, detail);
    }
}

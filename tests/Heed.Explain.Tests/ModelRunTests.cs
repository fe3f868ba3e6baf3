using Heed.Explain.Pictures;
using Heed.IO;
using Heed.Models;
using Heed.Models.Generation;
using Heed.Models.Gpt2;
using Heed.Models.Llama;
using Heed.Models.Tokenizers;

namespace Heed.Explain.Tests;

/// <summary>
/// Model runs with attention capture: the stories260K llama2.c checkpoint in ../shared (skipped with the reason when
/// absent) and the tiny random GPT-2 under tests/TestData (always). Every trace value is checked against a float64
/// recomputation from the captured Q and K, or against Heed.Core's reference attention.
/// </summary>
public class ModelRunTests
{
    private const string Prompt = "Once upon a time, there was a little cat. The cat liked to play with a red ball in the park.";

    private static readonly Lazy<(LlamaModel Model, ITokenizer Tokenizer)> Stories = new(() =>
        ((LlamaModel)ModelFiles.LoadModel(SharedModels.Stories260K), ModelFiles.LoadTokenizer(SharedModels.Tok512)));

    private static ModelAttentionRun StoriesRun(bool reference = false) =>
        ModelAttentionRun.Run(Stories.Value.Model, Stories.Value.Tokenizer, Prompt, reference, "stories260K.bin");

    private static ModelAttentionRun Gpt2Run()
    {
        Gpt2Model model = Gpt2Model.Load(SharedModels.Gpt2Tiny);
        int[] ids = [.. ((Tensor<long>)Npy.Read(Path.Combine(SharedModels.Gpt2Tiny, "tokens.npy"))).Data.Select(t => (int)t)];
        return ModelAttentionRun.Run(model, ids, ids.Select(id => $"t{id}").ToArray(), source: "gpt2-tiny");
    }

    [SharedFact(SharedModels.StoriesModel, SharedModels.StoriesTokenizer)]
    public void Stories260K_weights_equal_softmax_of_the_traced_queries_and_keys_in_float64() => AssertEveryHeadRecomputes(StoriesRun());

    [Fact]
    public void Gpt2_weights_equal_softmax_of_the_traced_queries_and_keys_in_float64() => AssertEveryHeadRecomputes(Gpt2Run());

    [Fact]
    public void A_run_reports_each_layer_and_stops_at_the_next_layer_once_cancelled()
    {
        Gpt2Model model = Gpt2Model.Load(SharedModels.Gpt2Tiny);
        int[] ids = [1, 2, 3, 4];
        string[] labels = [.. ids.Select(id => $"t{id}")];
        var done = new List<int>();
        ModelAttentionRun.Run(model, ids, labels, onLayerDone: done.Add);
        Assert.Equal([0, 1], done);

        done.Clear();
        using var cancel = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => ModelAttentionRun.Run(model, ids, labels, onLayerDone: layer =>
        {
            done.Add(layer);
            cancel.Cancel();
        }, cancellationToken: cancel.Token));
        Assert.Equal([0], done); // layer 1 never ran
    }

    [SharedFact(SharedModels.StoriesModel, SharedModels.StoriesTokenizer)]
    public void Tracing_changes_nothing_the_model_computes()
    {
        ModelAttentionRun run = StoriesRun();
        ModelOutput plain = Stories.Value.Model.Forward([.. run.Ids]);
        Assert.Equal(plain.Logits.Data, run.Logits.Data); // bit for bit: the capture only reads
        Assert.Empty(plain.Attention);
        // The run keeps Q, K, V and scores, so its probabilities come from the float64 reference: bit for bit those of a capture
        // that asks for the reference; a capture of the probabilities alone (the kernels') stays within 1e-5 of them.
        ModelOutput captured = Stories.Value.Model.Forward([.. run.Ids], new AttentionCaptureOptions { Reference = true });
        ModelOutput fast = Stories.Value.Model.Forward([.. run.Ids], new AttentionCaptureOptions());
        AttentionSet set = run.ToSet();
        for (int l = 0; l < set.Layers; l++)
        {
            for (int h = 0; h < set.Heads; h++)
            {
                int cells = set.QueryLength * set.KeyLength;
                double[] exact = set.Matrix(l, h).ToArray();
                Assert.Equal(captured.Attention[l].Probabilities.Data.AsSpan(h * cells, cells).ToArray(), exact);
                double[] kernel = fast.Attention[l].Probabilities.Data.AsSpan(h * cells, cells).ToArray();
                Assert.True(exact.Zip(kernel).Max(p => Math.Abs(p.First - p.Second)) <= 1e-5, $"layer {l} head {h}: kernel capture off by more than 1e-5");
            }
        }
    }

    [SharedTheory(SharedModels.StoriesModel, SharedModels.StoriesTokenizer)]
    [InlineData(0, 0)]
    [InlineData(2, 5)]
    [InlineData(4, 7)]
    public void Outputs_equal_heed_core_reference_attention(int layer, int head)
    {
        ModelAttentionRun run = StoriesRun();
        HeadTrace trace = run.Trace(layer, head);

        // Heed.Core's float64 reference Y [1, 1, T, Dv] on the head's recorded Q, K and V, causal.
        int t = trace.QueryLength, s = trace.K.Length, d = trace.Q[0].Length, dv = trace.V[0].Length;
        var inputs = new AttentionInputs(
            Tensor.FromDoubles(DType.Float64, [1, 1, t, d], trace.Q.SelectMany(r => r).ToArray()),
            Tensor.FromDoubles(DType.Float64, [1, 1, s, d], trace.K.SelectMany(r => r).ToArray()),
            Tensor.FromDoubles(DType.Float64, [1, 1, s, dv], trace.V.SelectMany(r => r).ToArray()));
        double[] y = Heed.Reference.ReferenceAttention.Compute(inputs, new AttentionOptions { IsCausal = true }).Output.ToDoubleArray();
        for (int i = 0; i < t; i++)
        {
            for (int e = 0; e < dv; e++)
            {
                Assert.Equal(y[(i * dv) + e], trace.Outputs[i][e], 6);
            }
        }
    }

    [SharedFact(SharedModels.StoriesModel, SharedModels.StoriesTokenizer)]
    public void Grouped_query_heads_share_their_key_value_head()
    {
        ModelAttentionRun run = StoriesRun();
        Assert.Equal((8, 4), (run.Shape.NumHeads, run.Shape.KvNumHeads));
        HeadTrace h2 = run.Trace(1, 2), h3 = run.Trace(1, 3), h4 = run.Trace(1, 4);
        Assert.Equal((1, 1, 2), (h2.KvHead, h3.KvHead, h4.KvHead));
        Assert.Equal(h2.K, h3.K);
        Assert.Equal(h2.V, h3.V);
        Assert.NotEqual(h2.K, h4.K);
        Assert.NotEqual(h2.Q, h3.Q);
    }

    [SharedFact(SharedModels.StoriesModel, SharedModels.StoriesTokenizer)]
    public void Reference_replay_agrees_with_the_kernel_run()
    {
        ModelAttentionRun kernel = StoriesRun(), reference = StoriesRun(reference: true);
        Assert.False(kernel.Trace(0, 0).Reference);
        Assert.True(reference.Trace(0, 0).Reference);
        ModelRunComparison c = kernel.Compare(reference, 3, 1);
        Assert.True(c.Head.Max < 1e-4, $"head trace max |difference| = {c.Head.Max:E3}");
        Assert.True(c.Weights < 1e-4, $"weights max |difference| = {c.Weights:E3}");
        Assert.True(c.Logits < 1e-3, $"logits max |difference| = {c.Logits:E3}");
        Assert.Equal(0, kernel.Compare(kernel, 3, 1).Logits);
    }

    [SharedTheory(SharedModels.StoriesModel, SharedModels.StoriesTokenizer)]
    [InlineData(5, 0, "--layer 5 is out of range: there are 5 layers (0..4)")]
    [InlineData(-1, 0, "--layer -1 is out of range: there are 5 layers (0..4)")]
    [InlineData(0, 8, "--head 8 is out of range: there are 8 heads per layer (0..7)")]
    public void Layer_or_head_out_of_range_is_one_line_naming_the_flag(int layer, int head, string message)
    {
        var ex = Assert.Throws<HeedException>(() => StoriesRun().Trace(layer, head));
        Assert.Equal(message, ex.Message);
    }

    [SharedTheory(SharedModels.StoriesModel, SharedModels.StoriesTokenizer)]
    [InlineData("#0", 0)]
    [InlineData("#3", 3)]
    [InlineData("\u2581Once", 1)]
    [InlineData("Once", 1)]
    [InlineData("once", 1)]
    [InlineData("cat", 11)] // "▁c" + "at": the last piece, which has seen the whole word
    [InlineData("dog", -1)]
    [InlineData("#999", -1)]
    public void Focus_words_are_found_by_label_word_or_position(string focus, int expected)
    {
        HeadTrace trace = StoriesRun().Trace(0, 0);
        Assert.Equal(["<s>", "\u2581Once", "\u2581upon"], trace.Tokens.Take(3));
        Assert.Equal(("\u2581c", "at"), (trace.Tokens[10], trace.Tokens[11]));
        Assert.Equal(expected, trace.IndexOf(focus));
    }

    [SharedFact(SharedModels.StoriesModel, SharedModels.StoriesTokenizer)]
    public void Text_walks_through_every_step_with_the_traced_numbers()
    {
        HeadTrace trace = StoriesRun().Trace(2, 3);
        int focus = trace.IndexOf("cat");
        string text = HeadTraceText.Render(trace, focus, "title");
        Assert.StartsWith("title\nLayer 2, head 3 (reads key/value head 1), llama", text, StringComparison.Ordinal);
        Assert.Contains($"Q_at = {TraceText.Vector(trace.Q[focus])}", text, StringComparison.Ordinal);
        Assert.Contains($"output at = {TraceText.Vector(trace.Outputs[focus])}", text, StringComparison.Ordinal);
        Assert.Contains($"at & \u2581c", text, StringComparison.Ordinal);
        Assert.Contains($"the {trace.Tokens.Count - 12} later tokens are masked (-inf)", text, StringComparison.Ordinal);
        Assert.Contains($"1/sqrt(8) = {TraceText.Number(1 / Math.Sqrt(8))}", text, StringComparison.Ordinal);
        for (int step = 1; step <= 6; step++) Assert.Contains($"Step {step}.", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\u2581park", text.Split("Step 3.")[1].Split("Step 6.")[0], StringComparison.Ordinal); // later tokens are not in the sums
    }

    [SharedFact(SharedModels.StoriesModel, SharedModels.StoriesTokenizer)]
    public void All_layers_pictures_cover_every_layer()
    {
        AttentionSet set = StoriesRun().ToSet();
        IReadOnlyList<(string Name, Scene Scene, string Description)> pictures = AttentionPictures.All(set, 0, null, allLayers: true);
        string[] expected =
        [
            "heatmap-layer0", "model-view", "head-view-layer0", "network-layer0",
            .. Enumerable.Range(1, 4).SelectMany(l => new[] { $"heatmap-layer{l}", $"head-view-layer{l}", $"network-layer{l}" }),
            "rollout",
        ];
        Assert.Equal(expected, pictures.Select(p => p.Name));
        int cells = set.QueryLength * set.KeyLength;
        Assert.All(pictures.Where(p => p.Name.StartsWith("heatmap", StringComparison.Ordinal)), p => Assert.Equal(cells, p.Scene.Shapes.Count(s => s.Kind == "cell")));
    }

    [SharedFact(SharedModels.StoriesModel, SharedModels.StoriesTokenizer)]
    public void Word_vectors_are_embedding_rows_and_the_mean_of_a_words_pieces()
    {
        (LlamaModel model, ITokenizer tokenizer) = Stories.Value;
        int dim = model.Config.Dim;
        double[] Row(int id)
        {
            var values = new float[dim];
            model.Weights.TokenEmbedding.DequantizeRow(id, values);
            return [.. values.Select(x => (double)x)];
        }
        WordVectors table = ModelEmbeddings.Vectors(model, tokenizer, [("mom", "--query"), ("cat", "--keys")], "stories", out IReadOnlyList<WordPieces> pieces);
        Assert.Equal(["\u2581mom"], pieces[0].Pieces);
        Assert.Equal(["\u2581c", "at"], pieces[1].Pieces);
        Assert.Equal(Row(pieces[0].Ids[0]), table.Get("mom", "--query"));
        double[] c = Row(pieces[1].Ids[0]), at = Row(pieces[1].Ids[1]), cat = table.Get("cat", "--keys");
        for (int i = 0; i < dim; i++) Assert.Equal((c[i] + at[i]) / 2, cat[i], 12);
        Assert.Equal(dim, table.Dimension);
    }

    [Fact]
    public void Gpt2_embedding_rows_are_wte_rows()
    {
        Gpt2Model model = Gpt2Model.Load(SharedModels.Gpt2Tiny);
        int width = model.Config.Width;
        Assert.Equal(model.Wte.AsSpan(7 * width, width).ToArray().Select(x => (double)x), ModelEmbeddings.Row(model, 7));
        Assert.Equal("token id 60 is outside the vocabulary 0..59", Assert.Throws<HeedException>(() => ModelEmbeddings.Row(model, 60)).Message);
    }

    // For every layer and head: scores = scale·q·kᵀ (−∞ after the query's position) and weights = softmax(scores),
    // recomputed in float64 from the trace's Q and K, equal what the model's attention capture recorded.
    private static void AssertEveryHeadRecomputes(ModelAttentionRun run)
    {
        AttentionSet set = run.ToSet();
        for (int l = 0; l < set.Layers; l++)
        {
            for (int h = 0; h < set.Heads; h++)
            {
                HeadTrace trace = run.Trace(l, h);
                int t = trace.QueryLength, s = trace.Tokens.Count, d = trace.Q[0].Length;
                Assert.Equal(1 / Math.Sqrt(d), trace.Scale);
                for (int i = 0; i < t; i++)
                {
                    var expected = new double[s];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j <= i; j++)
                    {
                        double dot = 0;
                        for (int k = 0; k < d; k++) dot += trace.Q[i][k] * trace.K[j][k];
                        expected[j] = dot * trace.Scale;
                        max = Math.Max(max, expected[j]);
                    }

                    double sum = 0;
                    for (int j = 0; j <= i; j++) sum += Math.Exp(expected[j] - max);
                    for (int j = 0; j < s; j++)
                    {
                        if (j > i)
                        {
                            Assert.True(double.IsNegativeInfinity(trace.Scores[i][j]), $"layer {l} head {h} [{i},{j}] must be masked");
                            Assert.Equal(0, trace.Weights[i][j]);
                            continue;
                        }

                        Assert.True(Math.Abs(expected[j] - trace.Scores[i][j]) < 1e-9, $"layer {l} head {h} score [{i},{j}]: {expected[j]} vs {trace.Scores[i][j]}");
                        double p = Math.Exp(expected[j] - max) / sum;
                        Assert.True(Math.Abs(p - trace.Weights[i][j]) < 1e-12, $"layer {l} head {h} weight [{i},{j}]: {p} vs {trace.Weights[i][j]}");
                        Assert.Equal(trace.Weights[i][j], set.Weight(l, h, i, j));
                    }
                }
            }
        }
    }
}

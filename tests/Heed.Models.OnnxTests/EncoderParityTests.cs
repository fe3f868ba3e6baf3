using Google.Protobuf;
using Heed.IO;
using Heed.Models.Bert;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace Heed.Models.OnnxTests;

/// <summary>
/// Heed's BERT encoder against ONNX Runtime running the same all-MiniLM-L6-v2 export on the same token ids: last hidden states
/// within 1e-4, pooled embeddings with cosine ≥ 0.99999, alone and in padded batches.
/// </summary>
public sealed class EncoderParityTests : IClassFixture<EncoderParityTests.Models>
{
    private const int Width = 384;

    private static readonly string[] Sentences =
    [
        "The cat sat on the mat.",
        "A man is playing a guitar on the stage while the crowd sings along with every word.",
        "Café au lait costs $0.02 at the naïve résumé-writing workshop, “quoted” in Über magazine!",
        "我想在apple工作 and then fly to 東京 🦙",
        "Search engines rank documents by how close their embeddings are to the embedding of the query.",
        "ok",
    ];

    private readonly Models _models;

    public EncoderParityTests(Models models) => _models = models;

    [Fact]
    public void The_onnx_export_is_read_as_minilm()
    {
        BertConfig c = _models.Encoder.Model.Config;
        Assert.Equal((30522, 384, 6, 12, 1536, 512, 2), (c.VocabSize, c.Width, c.NumLayers, c.NumHeads, c.InnerWidth, c.MaxPositions, c.TypeVocabSize));
        Assert.Equal(1e-12f, c.LayerNormEpsilon);
        Assert.Equal(EmbeddingPooling.Mean, _models.Encoder.DefaultPooling);
        Assert.True(_models.Encoder.DefaultNormalize);
    }

    [Fact]
    public void Each_sentence_alone_matches_onnx_runtime()
    {
        foreach (string sentence in Sentences)
        {
            int[] ids = _models.Encoder.Tokenizer.EncodeForModel(sentence);
            float[] expected = _models.RunOnnx([ids])[0];
            float[] actual = _models.Encoder.Model.Forward([ids])[0];
            double diff = MaxDiff(expected, actual);
            Assert.True(diff <= 1e-4, $"{sentence}: max |diff| {diff}");
        }
    }

    [Fact]
    public void A_padded_batch_matches_onnx_runtime_on_every_real_token()
    {
        int[][] ids = [.. Sentences.Select(s => _models.Encoder.Tokenizer.EncodeForModel(s))];
        Assert.True(ids.Select(i => i.Length).Distinct().Count() > 3, "the batch needs padding");
        float[][] expected = _models.RunOnnx(ids);
        float[][] actual = _models.Encoder.Model.Forward(ids, new EncoderRunOptions { Threads = 2 });
        for (int s = 0; s < ids.Length; s++)
        {
            double diff = MaxDiff(expected[s], actual[s]);
            Assert.True(diff <= 1e-4, $"{Sentences[s]}: max |diff| {diff}");
        }
    }

    [Fact]
    public void Pooled_embeddings_match_mean_pooling_of_onnx_runtime()
    {
        int[][] ids = [.. Sentences.Select(s => _models.Encoder.Tokenizer.EncodeForModel(s))];
        float[][] hidden = _models.RunOnnx(ids);
        EmbeddingResult result = _models.Encoder.Embed(Sentences, new EmbeddingOptions { BatchSize = 4 });
        Assert.Equal(("mean", true, Width), (result.Pooling, result.Normalized, result.Dimensions));
        for (int s = 0; s < ids.Length; s++)
        {
            // mean over T, then L2 normalization, in float64 from ONNX Runtime's hidden states
            var expected = new double[Width];
            int rows = ids[s].Length;
            for (int t = 0; t < rows; t++)
            {
                for (int i = 0; i < Width; i++) expected[i] += hidden[s][(t * Width) + i] / (double)rows;
            }

            double norm = Math.Sqrt(expected.Sum(e => e * e));
            float[] actual = result.Embeddings![s];
            double dot = 0, actualNorm = 0;
            for (int i = 0; i < Width; i++)
            {
                dot += expected[i] / norm * actual[i];
                actualNorm += actual[i] * (double)actual[i];
            }

            Assert.True(dot >= 0.99999, $"{Sentences[s]}: cosine {dot}");
            Assert.True(Math.Abs(actualNorm - 1) < 1e-5, $"{Sentences[s]}: |v|² {actualNorm}");
            Assert.Equal(ids[s].Select(_models.Encoder.Tokenizer.PieceText), result.Tokens[s]);
        }
    }

    [Fact]
    public void The_same_weights_as_a_hugging_face_safetensors_folder_give_identical_outputs()
    {
        using var folder = new TempFolder();
        BertModel onnx = _models.Encoder.Model;
        Safetensors.Write(Path.Combine(folder.Path, "model.safetensors"), onnx.ToTensors());
        File.WriteAllText(Path.Combine(folder.Path, "config.json"), onnx.Config.ToJson());
        File.Copy(MiniLm.Vocab, Path.Combine(folder.Path, "vocab.txt"));

        SentenceEncoder hf = SentenceEncoder.Load(folder.Path);
        Assert.Equal(onnx.Config, hf.Model.Config);
        int[][] ids = [.. Sentences.Select(s => hf.Tokenizer.EncodeForModel(s))];
        float[][] expected = onnx.Forward(ids), actual = hf.Model.Forward(ids);
        for (int s = 0; s < ids.Length; s++) Assert.Equal(expected[s], actual[s]);
        Assert.Equal(_models.Encoder.Embed(Sentences).Embeddings, hf.Embed(Sentences).Embeddings);
    }

    [Fact]
    public void An_export_without_the_pattern_is_refused_naming_what_is_missing()
    {
        using var folder = new TempFolder();
        string path = Path.Combine(folder.Path, "model.onnx");
        var words = new TensorProto { Name = "embeddings.word_embeddings.weight", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(new byte[4 * 4 * 2]) };
        words.Dims.Add([4, 2]);
        var model = new ModelProto { Graph = new GraphProto() };
        model.Graph.Initializer.Add(words);
        File.WriteAllBytes(path, model.ToByteArray());
        File.WriteAllLines(Path.Combine(folder.Path, "vocab.txt"), ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]);
        HeedAssert.Fails(() => SentenceEncoder.Load(folder.Path), "model.onnx: not a BERT-family export", "encoder.layer.0.attention.self.query.bias");

        File.WriteAllBytes(path, [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2]);
        HeedAssert.Fails(() => SentenceEncoder.Load(path), "model.onnx: not an ONNX model");
    }

    private static double MaxDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - (double)b[i]));
        return max;
    }

    /// <summary>The encoder read from the export, and ONNX Runtime's session on the same file.</summary>
    public sealed class Models : IDisposable
    {
        private readonly InferenceSession _session = new(MiniLm.Onnx);

        public SentenceEncoder Encoder { get; } = SentenceEncoder.Load(MiniLm.Folder);

        /// <summary>ONNX Runtime's last_hidden_state for the ids, right-padded and masked: [B][T_b · C].</summary>
        public float[][] RunOnnx(int[][] ids) => MiniLmPackage.LastHiddenStates(_session, ids, Width);

        public void Dispose() => _session.Dispose();
    }
}

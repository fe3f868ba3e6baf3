using System.Globalization;
using Heed.Models.Bert;
using Heed.Models.Generation;
using Heed.Models.Tokenizers;

namespace Heed.Explain;

/// <summary>
/// One forward pass of a real model over a prompt with attention capture on: every layer's probabilities and scores
/// [H, T, S], recorded through Heed.Models' <see cref="AttentionRecorder"/> (Heed.Core's observer hook). Gives the
/// pictures' <see cref="AttentionSet"/> and the step-by-step <see cref="HeadTrace"/> of any layer and head, whose Q, K
/// and V are recorded in the same pass. A model run without a recorder computes none of this. The model is a causal decoder
/// (<see cref="ICausalLanguageModel"/>: every token sees those before it) or a BERT-family encoder (<see cref="BertModel"/>:
/// every token sees every token).
/// </summary>
public sealed class ModelAttentionRun
{
    private readonly IReadOnlyList<LayerAttention> _layers;
    private AttentionSet? _set;

    private ModelAttentionRun(ICausalLanguageModel? model, ModelShape shape, int[] ids, string[] tokens, Tensor<float> logits, IReadOnlyList<LayerAttention> layers, bool reference, string source)
    {
        Model = model;
        Shape = shape;
        Ids = ids;
        Tokens = tokens;
        Logits = logits;
        _layers = layers;
        Reference = reference;
        Source = source;
    }

    /// <summary>The decoder that ran; null when an encoder ran.</summary>
    public ICausalLanguageModel? Model { get; }

    /// <summary>The architecture and sizes of the model that ran.</summary>
    public ModelShape Shape { get; }

    /// <summary>The T token ids run, from position 0.</summary>
    public IReadOnlyList<int> Ids { get; }

    /// <summary>The T display labels (see <see cref="Label"/>).</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>What the model put out: a decoder's logits [T, V], an encoder's last hidden state [T, C].</summary>
    public Tensor<float> Logits { get; }

    /// <summary>Each layer's capture, layer order.</summary>
    public IReadOnlyList<LayerAttention> Layers => _layers;

    /// <summary>Whether attention ran on the float64 reference.</summary>
    public bool Reference { get; }

    /// <summary>A name for the run, shown in titles (the model file).</summary>
    public string Source { get; }

    /// <summary>
    /// The token ids of <paramref name="prompt"/> as the model saw it in training: BOS first when the tokenizer's
    /// models always had it (Llama), or when the prompt is empty and there is a BOS to start from.
    /// </summary>
    /// <exception cref="HeedException">The tokenizer does not belong to the model, the prompt gives no tokens, or it is longer than the context.</exception>
    public static int[] Encode(ICausalLanguageModel model, ITokenizer tokenizer, string prompt)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(prompt);
        CheckTokenizer(model, tokenizer);
        bool bos = (tokenizer.PrependsBos || prompt.Length == 0) && tokenizer.BosId.HasValue;
        int[] ids = tokenizer.Encode(prompt, bos, addEos: false);
        if (ids.Length == 0) throw new HeedException("prompt: empty, and the tokenizer has no BOS token to start from");
        if (ids.Length > model.ContextLength)
        {
            throw new HeedException($"prompt: {ids.Length} tokens but the model's context is {model.ContextLength}; shorten the prompt");
        }

        return ids;
    }

    /// <summary>Throws unless the tokenizer has exactly the model's vocabulary size.</summary>
    /// <exception cref="HeedException">The sizes differ.</exception>
    public static void CheckTokenizer(ICausalLanguageModel model, ITokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.VocabSize != model.VocabSize)
        {
            throw new HeedException($"the tokenizer has {tokenizer.VocabSize} tokens but the model's vocabulary has {model.VocabSize}: they do not belong together");
        }
    }

    /// <summary>
    /// A token's display label: its vocabulary piece, with a leading space shown as SentencePiece's word-start mark ▁
    /// (GPT-2 pieces already carry Ġ); a marker stored between newlines (llama2.c's "\n&lt;s&gt;\n") without them.
    /// </summary>
    public static string Label(ITokenizer tokenizer, int id)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        string piece = tokenizer.PieceText(id);
        string trimmed = piece.Trim();

        // llama2.c stores BOS and EOS as "\n<s>\n" and "\n</s>\n": show the marker alone.
        if (trimmed.Length > 2 && trimmed[0] == '<' && trimmed[^1] == '>' && trimmed.Length != piece.Length) return trimmed;
        if (piece.Length == 0 && id == tokenizer.BosId) return "<s>";
        return piece.Length > 1 && piece[0] == ' ' ? "\u2581" + piece[1..] : piece;
    }

    /// <summary>Encodes the prompt and runs it (see <see cref="Run(ICausalLanguageModel, IReadOnlyList{int}, IReadOnlyList{string}, bool, string, int, Action{int}?, CancellationToken)"/>).</summary>
    /// <exception cref="HeedException">See <see cref="Encode"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public static ModelAttentionRun Run(ICausalLanguageModel model, ITokenizer tokenizer, string prompt, bool useReference = false, string source = "", int threads = 1, CancellationToken cancellationToken = default)
    {
        int[] ids = Encode(model, tokenizer, prompt);
        return Run(model, ids, ids.Select(id => Label(tokenizer, id)).ToArray(), useReference, source, threads, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// Runs tokens [T] from position 0 in one batched pass with every layer's attention recorded (probabilities, scores,
    /// Q, K, V). <paramref name="useReference"/> runs the model's attention on the float64 reference.
    /// <paramref name="onLayerDone"/> is called with each layer's index once its attention is recorded, and
    /// <paramref name="cancellationToken"/> is checked before every layer.
    /// </summary>
    /// <exception cref="HeedException">A token id is outside the vocabulary, T exceeds the context, or the labels do not match the ids.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public static ModelAttentionRun Run(
        ICausalLanguageModel model,
        IReadOnlyList<int> ids,
        IReadOnlyList<string> tokens,
        bool useReference = false,
        string source = "",
        int threads = 1,
        Action<int>? onLayerDone = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(tokens);
        if (ids.Count != tokens.Count) throw new HeedException($"{ids.Count} token ids but {tokens.Count} labels");
        if (ids.Count == 0) throw new HeedException("a model run needs at least one token");
        if (ids.Count > model.ContextLength) throw new HeedException($"{ids.Count} tokens but the model's context is {model.ContextLength}");
        int[] idArray = [.. ids];
        DecoderSession session = model.CreateSession(idArray.Length);
        session.UseReferenceAttention = useReference;
        session.Threads = Math.Max(1, threads);
        var recorder = new AttentionRecorder(
            new AttentionCaptureOptions { Scores = true, QueryKeyValue = true },
            onLayerDone is null ? null : record => onLayerDone(record.Layer));
        session.Recorder = recorder;
        Tensor<float> logits = session.ForwardAll(idArray, cancellationToken);
        var shape = new ModelShape(model.Architecture, model.NumLayers, model.NumHeads, model.KvNumHeads, model.HeadSize);
        return new ModelAttentionRun(model, shape, idArray, [.. tokens], logits, [.. recorder.Records], useReference, source);
    }

    /// <summary>
    /// Runs an encoder over <paramref name="prompt"/> as it reads text ([CLS] … [SEP], truncated to its maximum length) with every
    /// layer's attention recorded; the labels are the vocabulary pieces.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public static ModelAttentionRun Run(SentenceEncoder encoder, string prompt, bool useReference = false, string source = "", int threads = 1, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(prompt);
        int[] ids = encoder.Tokenizer.EncodeForModel(prompt, encoder.MaxLength);
        return Run(encoder.Model, ids, [.. ids.Select(encoder.Tokenizer.PieceText)], useReference, source, threads, null, cancellationToken);
    }

    /// <summary>
    /// Runs token ids [T] (already holding [CLS] … [SEP]) through an encoder in one pass with every layer's bidirectional attention
    /// recorded (probabilities, scores, Q, K, V); <see cref="Logits"/> is then the last hidden state [T, C].
    /// </summary>
    /// <exception cref="HeedException">A token id is outside the vocabulary, T exceeds the positions, or the labels do not match the ids.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public static ModelAttentionRun Run(
        BertModel encoder,
        IReadOnlyList<int> ids,
        IReadOnlyList<string> tokens,
        bool useReference = false,
        string source = "",
        int threads = 1,
        Action<int>? onLayerDone = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(tokens);
        if (ids.Count != tokens.Count) throw new HeedException($"{ids.Count} token ids but {tokens.Count} labels");
        int[] idArray = [.. ids];
        var recorder = new AttentionRecorder(
            new AttentionCaptureOptions { Scores = true, QueryKeyValue = true },
            onLayerDone is null ? null : record => onLayerDone(record.Layer));
        float[] hidden = encoder.Forward([idArray], new EncoderRunOptions { Threads = Math.Max(1, threads), UseReference = useReference, Recorder = recorder, Cancellation = cancellationToken })[0];
        BertConfig c = encoder.Config;
        var shape = new ModelShape("bert", c.NumLayers, c.NumHeads, c.NumHeads, c.HeadSize);
        return new ModelAttentionRun(null, shape, idArray, [.. tokens], new Tensor<float>([idArray.Length, c.Width], hidden), [.. recorder.Records], useReference, source);
    }

    /// <summary>Every layer and head as an <see cref="AttentionSet"/> with scores, for the pictures (built once).</summary>
    public AttentionSet ToSet()
    {
        if (_set is not null) return _set;
        int layers = _layers.Count;
        var weights = new double[layers][][];
        var scores = new double[layers][][];
        for (int l = 0; l < layers; l++)
        {
            weights[l] = Split(_layers[l].Probabilities);
            scores[l] = Split(_layers[l].Scores!);
        }

        _set = new AttentionSet(Tokens.Skip(Tokens.Count - _layers[0].Probabilities.Dim(1)).ToArray(), Tokens, weights, scores) { Source = Source };
        return _set;
    }

    /// <summary>The step-by-step trace of one head.</summary>
    /// <exception cref="HeedException">The layer or head is out of range; the message names --layer or --head.</exception>
    public HeadTrace Trace(int layer, int head)
    {
        ToSet().CheckIndex(layer, head);
        LayerAttention a = _layers[layer];
        // The recorded Q is [H, T, D], K [Hkv, S, D] and V [Hkv, S, Dv].
        Tensor<double> query = a.Query!, key = a.Key!, value = a.Value!;
        int heads = a.Probabilities.Dim(0), t = a.Probabilities.Dim(1), s = a.Probabilities.Dim(2);
        int kvHeads = key.Dim(0), d = query.Dim(2), dv = value.Dim(2);
        int kvHead = head / (heads / kvHeads);
        double[][] weights = Rows(a.Probabilities, head, t, s);
        double[][] v = Rows(value, kvHead, s, dv);
        var outputs = new double[t][];
        for (int i = 0; i < t; i++)
        {
            outputs[i] = new double[dv];
            for (int j = 0; j < s; j++)
            {
                double w = weights[i][j];
                if (w == 0) continue; // masked keys add nothing
                for (int e = 0; e < dv; e++) outputs[i][e] += w * v[j][e];
            }
        }

        return new HeadTrace
        {
            Tokens = Tokens,
            Ids = Ids,
            Architecture = Shape.Architecture,
            Layer = layer,
            Head = head,
            KvHead = kvHead,
            Scale = 1.0 / Math.Sqrt(d),
            Q = Rows(query, head, t, d),
            K = Rows(key, kvHead, s, d),
            V = v,
            Scores = Rows(a.Scores!, head, t, s),
            Weights = weights,
            Outputs = outputs,
            Reference = Reference,
        };
    }

    /// <summary>
    /// How a fast-kernel run and its reference replay (or any two runs of the same tokens) differ: the chosen head's trace
    /// step by step, every layer's and head's weights, and the logits.
    /// </summary>
    /// <exception cref="HeedException">The runs are of different tokens or models, or the layer/head is out of range.</exception>
    public ModelRunComparison Compare(ModelAttentionRun other, int layer, int head)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (!Ids.SequenceEqual(other.Ids) || _layers.Count != other._layers.Count)
        {
            throw new HeedException("cannot compare model runs of different tokens or models");
        }

        double weights = 0;
        for (int l = 0; l < _layers.Count; l++)
        {
            weights = Math.Max(weights, MaxDiff(_layers[l].Probabilities.Data, other._layers[l].Probabilities.Data));
        }

        double logits = 0;
        ReadOnlySpan<float> a = Logits.Data, b = other.Logits.Data;
        for (int i = 0; i < a.Length; i++) logits = Math.Max(logits, Math.Abs((double)a[i] - b[i]));
        return new ModelRunComparison(TraceComparison.Compare(Trace(layer, head), other.Trace(layer, head)), weights, logits);
    }

    /// <summary>How this architecture makes the Q, K and V a trace shows, in one line.</summary>
    public static string HowQkvAreMade(string architecture) => architecture switch
    {
        "llama" => "x is the residual stream entering the layer; Q = RoPE(RMSNorm(x) W_q), K = RoPE(RMSNorm(x) W_k), V = RMSNorm(x) W_v, cut into heads; attention is causal.",
        "gpt2" => "x is the residual stream entering the layer (token + position embeddings first); Q, K, V = LayerNorm(x) c_attn + bias, cut into heads; attention is causal.",
        "bert" => "x is the hidden state entering the layer (token + position + token-type embeddings, then LayerNorm, first); Q = x W_q + b_q, K = x W_k + b_k, V = x W_v + b_v, cut into heads; attention is bidirectional: every token sees every token, [CLS] and [SEP] included.",
        _ => string.Create(CultureInfo.InvariantCulture, $"Q, K and V as the {architecture} model computes them; attention is causal."),
    };

    private static double MaxDiff(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i].Equals(b[i])) continue;
            max = Math.Max(max, double.IsNaN(a[i] - b[i]) ? double.PositiveInfinity : Math.Abs(a[i] - b[i]));
        }

        return max;
    }

    // [A, R, C] (or [1, A, R, C]) → the R rows of slice a.
    private static double[][] Rows(Tensor<double> t, int a, int rows, int cols)
    {
        var m = new double[rows][];
        for (int r = 0; r < rows; r++) m[r] = t.Data.AsSpan(((a * rows) + r) * cols, cols).ToArray();
        return m;
    }

    // [H, T, S] → H row-major [T·S] arrays.
    private static double[][] Split(Tensor<double> t)
    {
        int heads = t.Dim(0), cells = t.Dim(1) * t.Dim(2);
        var m = new double[heads][];
        for (int h = 0; h < heads; h++) m[h] = t.Data.AsSpan(h * cells, cells).ToArray();
        return m;
    }
}

/// <summary>The architecture ("llama", "gpt2", "bert") and attention sizes of the model behind a run.</summary>
/// <param name="Architecture">The architecture's name.</param>
/// <param name="NumLayers">L.</param>
/// <param name="NumHeads">H, query heads.</param>
/// <param name="KvNumHeads">Hkv, key/value heads.</param>
/// <param name="HeadSize">D.</param>
public sealed record ModelShape(string Architecture, int NumLayers, int NumHeads, int KvNumHeads, int HeadSize);

/// <summary>The largest differences between two model runs of the same tokens (a kernel run and its reference replay).</summary>
/// <param name="Head">The chosen head's trace, step by step (Q, K, V, scores, weights, outputs).</param>
/// <param name="Weights">max |Δweights| over every layer and head.</param>
/// <param name="Logits">max |Δlogits| over every position (for an encoder, of the last hidden state).</param>
public sealed record ModelRunComparison(TraceComparison Head, double Weights, double Logits);

using System.Text;
using Heed.Explain;
using Heed.Models.Generation;
using Heed.Models.Tokenizers;

namespace Heed.Server.Services;

/// <summary>
/// Runs transformer checkpoints through Heed.Models: llama2.c folders (checkpoint *.bin and tok*.bin) and Hugging Face
/// GPT-2 folders (config.json, model.safetensors, vocab.json, merges.txt). The prompt goes through the model in chunks of
/// <see cref="ChunkLength"/> positions with attention capture (the KV cache carries the earlier chunks), so a cancelled run
/// stops within one chunk; then each layer and head becomes a trace (Q, K and V as the model computed them — after RoPE for
/// Llama, with the c_attn bias for GPT-2 — the scaled causal scores, the softmax weights and weights·V).
/// </summary>
public sealed class TransformerRunner : IModelRunner
{
    /// <summary>
    /// Positions per forward call: how often a run checks for cancellation. Eight rows still keep the matrix products
    /// batched; a prompt of a few hundred tokens is a few dozen calls.
    /// </summary>
    public const int ChunkLength = 8;

    private readonly ModelCatalog _models;
    private readonly ServerLimits _limits;

    /// <summary>Creates the runner of one format (llama2c or gpt2-safetensors) over the catalog.</summary>
    public TransformerRunner(string format, ModelCatalog models, ServerLimits limits)
    {
        Format = format;
        _models = models;
        _limits = limits;
    }

    /// <inheritdoc />
    public string Format { get; }

    /// <inheritdoc />
    public void Check(string modelId, string prompt) => Encode(_models.LoadModel(modelId), prompt);

    /// <inheritdoc />
    public RunCapture Run(string modelId, string prompt, Action<int, int, string> progress, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(progress);
        LoadedModel loaded = _models.LoadModel(modelId);
        ICausalLanguageModel model = loaded.Model;
        int[] ids = Encode(loaded, prompt);
        string[] tokens = Labels(loaded.Tokenizer, ids);
        int length = ids.Length, chunks = (length + ChunkLength - 1) / ChunkLength;
        int total = 1 + chunks + (model.NumLayers * model.NumHeads);
        int done = 0;
        progress(++done, total, $"loaded {model.Architecture}: {model.NumLayers} layers, {model.NumHeads} heads ({model.KvNumHeads} key/value heads), head size {model.HeadSize}; {length} tokens");

        DecoderSession session = model.CreateSession(length);
        var recorder = new AttentionRecorder(new AttentionCaptureOptions { QueryKeyValue = true, Scores = true });
        session.Recorder = recorder;
        for (int start = 0; start < length; start += ChunkLength)
        {
            cancellation.ThrowIfCancellationRequested();
            int count = Math.Min(ChunkLength, length - start);
            session.Forward(ids.AsSpan(start, count));
            progress(++done, total, $"forward pass over positions {start}..{start + count - 1} of {length}");
        }

        int group = model.NumHeads / model.KvNumHeads;
        var layers = new List<IReadOnlyList<AttentionTrace>>();
        foreach (IGrouping<int, LayerAttention> layer in recorder.Records.GroupBy(r => r.Layer).OrderBy(g => g.Key))
        {
            LayerAttention[] calls = layer.OrderBy(r => r.StartPosition).ToArray();
            LayerAttention last = calls[^1];
            var heads = new List<AttentionTrace>();
            for (int h = 0; h < model.NumHeads; h++)
            {
                cancellation.ThrowIfCancellationRequested();
                heads.Add(Trace(tokens, calls, h, Rows(last.Key!, h / group), Rows(last.Value!, h / group), 1.0 / Math.Sqrt(model.HeadSize)));
                progress(++done, total, $"layer {layer.Key} head {h}");
            }

            layers.Add(heads);
        }

        string note = loaded.Tokenizer.PrependsBos
            ? $"{modelId}: a {model.Architecture} model; token 0 is the BOS token it was trained to see first"
            : $"{modelId}: a {model.Architecture} model; no BOS token is put first, so the first token attends only to itself";
        return new RunCapture(tokens, layers, [note + (group > 1 ? $"; K and V of query head h are those of key/value head h / {group}" : "")]);
    }

    // One head's trace from the chunk-by-chunk captures: row r of the weights comes from the call whose queries hold r.
    private static AttentionTrace Trace(string[] tokens, LayerAttention[] calls, int head, double[][] k, double[][] v, double scale)
    {
        int t = tokens.Length;
        var q = new double[t][];
        var scores = new double[t][];
        var weights = new double[t][];
        foreach (LayerAttention call in calls)
        {
            int rows = call.Probabilities.Dim(1), keys = call.Probabilities.Dim(2), size = call.Query!.Dim(2);
            for (int i = 0; i < rows; i++)
            {
                int row = call.StartPosition + i, at = ((head * rows) + i) * keys;
                q[row] = call.Query.Data.AsSpan(((head * rows) + i) * size, size).ToArray();
                weights[row] = new double[t];
                scores[row] = Enumerable.Repeat(double.NegativeInfinity, t).ToArray();
                call.Probabilities.Data.AsSpan(at, keys).CopyTo(weights[row]);
                call.Scores!.Data.AsSpan(at, keys).CopyTo(scores[row]);
            }
        }

        return new AttentionTrace
        {
            Tokens = tokens,
            Embeddings = [],
            WQ = [],
            WK = [],
            WV = [],
            Q = q,
            K = k,
            V = v,
            Scale = scale,
            Scores = scores,
            Weights = weights,
            Outputs = weights.Select(row => Enumerable.Range(0, v[0].Length).Select(d => row.Select((w, j) => w * v[j][d]).Sum()).ToArray()).ToArray(),
            Causal = true,
        };
    }

    private int[] Encode(LoadedModel loaded, string prompt)
    {
        int[] ids = loaded.Tokenizer.Encode(prompt, addBos: loaded.Tokenizer.PrependsBos, addEos: false);
        int limit = Math.Min(loaded.Model.ContextLength, _limits.MaxSequenceLength);
        if (ids.Length == 0)
        {
            throw new HeedException("prompt: has no tokens to attend over");
        }

        if (ids.Length > limit)
        {
            throw new HeedException($"prompt: {ids.Length} tokens; this model and server take at most {limit}");
        }

        return ids;
    }

    // The text each token stands for; a leading BOS is shown by its vocabulary entry ("<s>", "<|endoftext|>").
    private static string[] Labels(ITokenizer tokenizer, int[] ids) => ids.Select((id, i) => i == 0 && id == tokenizer.BosId
        ? tokenizer.PieceText(id).Trim()
        : Encoding.UTF8.GetString(tokenizer.DecodePiece(i == 0 ? -1 : ids[i - 1], id))).ToArray();

    // [A, R, C] → row-major jagged [R][C] of slice a.
    private static double[][] Rows(Tensor<double> t, int a)
    {
        int rows = t.Dim(1), cols = t.Dim(2);
        return Enumerable.Range(0, rows).Select(r => t.Data.AsSpan(((a * rows) + r) * cols, cols).ToArray()).ToArray();
    }
}

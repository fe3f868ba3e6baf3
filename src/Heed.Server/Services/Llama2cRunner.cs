using Heed.Explain;
using Heed.Models;
using Heed.Models.Generation;
using Heed.Models.Tokenizers;

namespace Heed.Server.Services;

/// <summary>
/// Runs llama2.c checkpoints (a folder in the models folder holding the checkpoint and its tok*.bin) through Heed.Models:
/// one batched forward pass with attention capture, then one trace per layer and head (Q, K and V after RoPE, the scaled
/// causal scores, the softmax weights and weights·V).
/// </summary>
public sealed class Llama2cRunner : IModelRunner
{
    private readonly ModelCatalog _models;
    private readonly ServerLimits _limits;

    /// <summary>Creates the runner over the catalog.</summary>
    public Llama2cRunner(ModelCatalog models, ServerLimits limits)
    {
        _models = models;
        _limits = limits;
    }

    /// <inheritdoc />
    public string Format => "llama2c";

    /// <inheritdoc />
    public void Check(string modelId, string prompt)
    {
        (string checkpoint, string tokenizerFile) = _models.Llama2cFiles(modelId);
        Encode(LlamaTokenizer.Load(tokenizerFile), prompt, ModelFiles.LoadModel(checkpoint).ContextLength);
    }

    /// <inheritdoc />
    public RunCapture Run(string modelId, string prompt, Action<int, int, string> progress, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(progress);
        (string checkpoint, string tokenizerFile) = _models.Llama2cFiles(modelId);
        ICausalLanguageModel model = ModelFiles.LoadModel(checkpoint);
        LlamaTokenizer tokenizer = LlamaTokenizer.Load(tokenizerFile);
        int total = 2 + (model.NumLayers * model.NumHeads);
        int done = 0;
        progress(++done, total, $"loaded {model.Architecture}: {model.NumLayers} layers, {model.NumHeads} heads ({model.KvNumHeads} key/value heads), head size {model.HeadSize}");
        int[] ids = Encode(tokenizer, prompt, model.ContextLength);
        string[] tokens = ids.Select((id, i) => i == 0 ? "<s>" : tokenizer.PieceText(id)).ToArray();
        cancellation.ThrowIfCancellationRequested();
        ModelOutput output = model.Forward(ids, new AttentionCaptureOptions { QueryKeyValue = true, Scores = true });
        progress(++done, total, $"forward pass over {ids.Length} tokens");
        var layers = new List<IReadOnlyList<AttentionTrace>>();
        int group = model.NumHeads / model.KvNumHeads;
        foreach (LayerAttention layer in output.Attention)
        {
            var heads = new List<AttentionTrace>();
            for (int h = 0; h < model.NumHeads; h++)
            {
                cancellation.ThrowIfCancellationRequested();
                double[][] weights = Slice(layer.Probabilities, h);
                double[][] v = Slice(layer.Value!, h / group);
                heads.Add(new AttentionTrace
                {
                    Tokens = tokens,
                    Embeddings = [],
                    WQ = [],
                    WK = [],
                    WV = [],
                    Q = Slice(layer.Query!, h),
                    K = Slice(layer.Key!, h / group),
                    V = v,
                    Scale = 1.0 / Math.Sqrt(model.HeadSize),
                    Scores = Slice(layer.Scores!, h),
                    Weights = weights,
                    Outputs = weights.Select(row => Enumerable.Range(0, v[0].Length).Select(d => row.Select((w, j) => w * v[j][d]).Sum()).ToArray()).ToArray(),
                });
                progress(++done, total, $"layer {layer.Layer} head {h}");
            }

            layers.Add(heads);
        }

        return new RunCapture(tokens, layers, [$"{modelId}: a {model.Architecture} model; token 0 is the BOS token llama2.c puts first; K and V of query head h are those of key/value head h / {group}"]);
    }

    private int[] Encode(LlamaTokenizer tokenizer, string prompt, int context)
    {
        int[] ids = tokenizer.Encode(prompt, addBos: true, addEos: false);
        int limit = Math.Min(context, _limits.MaxSequenceLength);
        if (ids.Length > limit)
        {
            throw new HeedException($"prompt: {ids.Length} tokens; this model and server take at most {limit}");
        }

        return ids;
    }

    // [A, R, C] → row-major jagged [R][C] of slice a.
    private static double[][] Slice(Tensor<double> t, int a)
    {
        int rows = t.Dim(1), cols = t.Dim(2);
        return Enumerable.Range(0, rows).Select(r => t.Data.AsSpan(((a * rows) + r) * cols, cols).ToArray()).ToArray();
    }
}

using Heed.Explain;
using Heed.Models.Bert;
using Heed.Models.Generation;

namespace Heed.Server.Services;

/// <summary>
/// Runs transformer checkpoints through Heed.Explain's <see cref="ModelAttentionRun"/> (the code behind
/// <c>heed explain --model</c>): decoders (llama2.c folders, GGUF files, Hugging Face GPT-2 folders) and BERT-family encoders
/// (Hugging Face folders and ONNX exports). One batched forward pass records every layer's weights, scores, Q, K and V, from
/// which any head is walked through (<see cref="HeadTrace"/>, <see cref="HeadTraceText"/>). The run's cancellation token
/// goes into the forward pass, which checks it before every layer; each layer reports progress as its attention is
/// recorded. The default focus is the last token, as in the CLI.
/// </summary>
public sealed class TransformerRunner : IModelRunner
{
    private readonly ModelCatalog _models;
    private readonly ServerLimits _limits;

    /// <summary>Creates the runner of one format (llama2c, gguf, gpt2-safetensors, bert-safetensors or bert-onnx) over the catalog.</summary>
    public TransformerRunner(string format, ModelCatalog models, ServerLimits limits)
    {
        Format = format;
        _models = models;
        _limits = limits;
    }

    /// <inheritdoc />
    public string Format { get; }

    /// <inheritdoc />
    public void Check(string modelId, string prompt) => Prepare(modelId, prompt);

    /// <inheritdoc />
    public RunCapture Run(string modelId, string prompt, Action<int, int, string> progress, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(progress);
        Prepared p = Prepare(modelId, prompt);
        ModelShape shape = p.Shape;
        int total = shape.NumLayers + 2;
        progress(1, total, $"loaded {shape.Architecture}: {shape.NumLayers} layers, {shape.NumHeads} heads ({shape.KvNumHeads} key/value heads), head size {shape.HeadSize}; {p.Ids.Length} tokens");
        cancellation.ThrowIfCancellationRequested();
        int threads = Environment.ProcessorCount;
        ModelAttentionRun run = p.Run(false, threads, layer => progress(layer + 2, total, $"layer {layer}: attention of {shape.NumHeads} heads over {p.Ids.Length} tokens recorded"), cancellation);
        cancellation.ThrowIfCancellationRequested();
        AttentionSet set = run.ToSet();
        progress(total, total, $"captured {set.Layers} layers x {set.Heads} heads");

        // ModelAttentionRun is not documented as thread-safe; requests for traces of one run take turns.
        var gate = new Lock();
        string note = $"{modelId}: {ModelAttentionRun.HowQkvAreMade(shape.Architecture)}"
            + (p.Bos ? " Token 0 is the BOS token the model was trained to see first." : "")
            + (shape.KvNumHeads < shape.NumHeads ? $" Query head h reads key/value head h / {shape.NumHeads / shape.KvNumHeads}." : "");
        return new RunCapture(p.Labels, set, [note], (layer, head, focus, reference, token) =>
        {
            set.CheckIndex(layer, head, "layer", "head");
            lock (gate)
            {
                HeadTrace trace = run.Trace(layer, head);
                ModelRunComparison? check = null;
                if (reference)
                {
                    token.ThrowIfCancellationRequested();
                    check = run.Compare(p.Run(true, threads, null, token), layer, head);
                }

                return ExplainService.DescribeHead(trace, focus, modelId, check);
            }
        });
    }

    // The prompt's tokens and how to run them: a decoder reads the prompt as it was trained to (BOS first where its models had
    // it), an encoder as [CLS] … [SEP], truncated to its length.
    private Prepared Prepare(string modelId, string prompt)
    {
        Prepared p;
        if (Format is "bert-safetensors" or "bert-onnx")
        {
            SentenceEncoder encoder = _models.LoadEncoder(modelId);
            int[] ids = encoder.Tokenizer.EncodeForModel(prompt, encoder.MaxLength);
            string[] labels = [.. ids.Select(encoder.Tokenizer.PieceText)];
            BertConfig c = encoder.Model.Config;
            p = new Prepared(ids, labels, new ModelShape("bert", c.NumLayers, c.NumHeads, c.NumHeads, c.HeadSize), false,
                (reference, threads, onLayer, token) => ModelAttentionRun.Run(encoder.Model, ids, labels, reference, modelId, threads, onLayer, token));
        }
        else
        {
            LoadedModel loaded = _models.LoadModel(modelId);
            ICausalLanguageModel model = loaded.Model;
            int[] ids = ModelAttentionRun.Encode(model, loaded.Tokenizer, prompt);
            string[] labels = [.. ids.Select(id => ModelAttentionRun.Label(loaded.Tokenizer, id))];
            p = new Prepared(ids, labels, new ModelShape(model.Architecture, model.NumLayers, model.NumHeads, model.KvNumHeads, model.HeadSize), loaded.Tokenizer.PrependsBos,
                (reference, threads, onLayer, token) => ModelAttentionRun.Run(model, ids, labels, reference, modelId, threads, onLayer, token));
        }

        if (p.Ids.Length > _limits.MaxSequenceLength)
        {
            throw new HeedException($"prompt: {p.Ids.Length} tokens; the server's limit is {_limits.MaxSequenceLength}");
        }

        return p;
    }

    private sealed record Prepared(int[] Ids, string[] Labels, ModelShape Shape, bool Bos, Func<bool, int, Action<int>?, CancellationToken, ModelAttentionRun> Run);
}

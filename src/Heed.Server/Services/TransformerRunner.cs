using Heed.Explain;
using Heed.Models.Generation;

namespace Heed.Server.Services;

/// <summary>
/// Runs transformer checkpoints through Heed.Explain's <see cref="ModelAttentionRun"/> (the code behind
/// <c>heed explain --model</c>): llama2.c folders (checkpoint *.bin and tok*.bin) and Hugging Face GPT-2 folders
/// (config.json, model.safetensors, vocab.json, merges.txt). One batched forward pass records every layer's weights,
/// scores, Q, K and V, from which any head is walked through (<see cref="HeadTrace"/>, <see cref="HeadTraceText"/>).
/// The run's cancellation token goes into the forward pass, which checks it before every layer; each layer reports
/// progress as its attention is recorded. The default focus is the last token, as in the CLI.
/// </summary>
public sealed class TransformerRunner : IModelRunner
{
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
        string[] labels = ids.Select(id => ModelAttentionRun.Label(loaded.Tokenizer, id)).ToArray();
        int total = model.NumLayers + 2;
        progress(1, total, $"loaded {model.Architecture}: {model.NumLayers} layers, {model.NumHeads} heads ({model.KvNumHeads} key/value heads), head size {model.HeadSize}; {ids.Length} tokens");
        cancellation.ThrowIfCancellationRequested();
        int threads = Environment.ProcessorCount;
        ModelAttentionRun run = ModelAttentionRun.Run(
            model,
            ids,
            labels,
            useReference: false,
            modelId,
            threads,
            layer => progress(layer + 2, total, $"layer {layer}: attention of {model.NumHeads} heads over {ids.Length} tokens recorded"),
            cancellation);
        cancellation.ThrowIfCancellationRequested();
        AttentionSet set = run.ToSet();
        progress(total, total, $"captured {set.Layers} layers x {set.Heads} heads");

        // ModelAttentionRun is not documented as thread-safe; requests for traces of one run take turns.
        var gate = new Lock();
        string note = $"{modelId}: {ModelAttentionRun.HowQkvAreMade(model.Architecture)}"
            + (loaded.Tokenizer.PrependsBos ? " Token 0 is the BOS token the model was trained to see first." : "")
            + (model.KvNumHeads < model.NumHeads ? $" Query head h reads key/value head h / {model.NumHeads / model.KvNumHeads}." : "");
        return new RunCapture(labels, set, [note], (layer, head, focus, reference, token) =>
        {
            set.CheckIndex(layer, head, "layer", "head");
            lock (gate)
            {
                HeadTrace trace = run.Trace(layer, head);
                ModelRunComparison? check = null;
                if (reference)
                {
                    token.ThrowIfCancellationRequested();
                    check = run.Compare(ModelAttentionRun.Run(model, ids, labels, useReference: true, modelId, threads, cancellationToken: token), layer, head);
                }

                return ExplainService.DescribeHead(trace, focus, modelId, check);
            }
        });
    }

    private int[] Encode(LoadedModel loaded, string prompt)
    {
        int[] ids = ModelAttentionRun.Encode(loaded.Model, loaded.Tokenizer, prompt);
        if (ids.Length > _limits.MaxSequenceLength)
        {
            throw new HeedException($"prompt: {ids.Length} tokens; the server's limit is {_limits.MaxSequenceLength}");
        }

        return ids;
    }
}

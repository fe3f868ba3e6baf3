using Heed.Explain;

namespace Heed.Server.Services;

/// <summary>Runs a model of one format on a prompt and captures every layer's and head's attention.</summary>
public interface IModelRunner
{
    /// <summary>The model format this runner handles (as <see cref="ModelInfo.Format"/>).</summary>
    string Format { get; }

    /// <summary>Checks, before the run is created, that the model loads and the prompt fits it.</summary>
    /// <exception cref="HeedException">The model cannot be loaded or the prompt does not fit it.</exception>
    void Check(string modelId, string prompt);

    /// <summary>Tokenizes <paramref name="prompt"/>, runs the model and returns the traces per layer and head.</summary>
    /// <param name="modelId">The model's id in the catalog.</param>
    /// <param name="prompt">The text.</param>
    /// <param name="progress">Called with (steps done, steps in all, message) as the run advances.</param>
    /// <param name="cancellation">Stops the run: checked between layers, heads and chunks of positions.</param>
    /// <exception cref="HeedException">The model cannot be loaded or the prompt does not fit it.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
    RunCapture Run(string modelId, string prompt, Action<int, int, string> progress, CancellationToken cancellation);
}

/// <summary>
/// Walks through one head of a captured run for a focus token (null = the runner's default); with
/// <paramref name="reference"/>, also replays it through the float64 reference and reports the largest differences.
/// </summary>
/// <exception cref="HeedException">The layer or head is out of range, or the focus token is unknown.</exception>
/// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
public delegate ExplainResponse HeadExplainer(int layer, int head, string? focus, bool reference, CancellationToken cancellation);

/// <summary>What a run captured.</summary>
/// <param name="Tokens">The prompt's tokens (display labels).</param>
/// <param name="Set">Every layer's and head's weights (and scores), for the pictures.</param>
/// <param name="Notes">Facts about the run a reader should know (unknown words, hashing, BOS).</param>
/// <param name="Explain">The step-by-step walk-through of one head.</param>
public sealed record RunCapture(IReadOnlyList<string> Tokens, AttentionSet Set, IReadOnlyList<string> Notes, HeadExplainer Explain);

/// <summary>
/// Runs <c>heed-toy</c> models (the built-in seed model and <c>*.heed-toy.json</c> files) through <see cref="TraceBuilder"/>:
/// every head is a full trace (its input rows, W_Q, W_K, W_V, Q, K, V, scores, weights, outputs), walked through by
/// <see cref="TraceText"/>. The default focus is the second token (or the only one).
/// </summary>
public sealed class ToyModelRunner : IModelRunner
{
    private readonly ModelCatalog _models;
    private readonly ServerLimits _limits;

    /// <summary>Creates the runner over the catalog.</summary>
    public ToyModelRunner(ModelCatalog models, ServerLimits limits)
    {
        _models = models;
        _limits = limits;
    }

    /// <inheritdoc />
    public string Format => "heed-toy";

    /// <inheritdoc />
    public void Check(string modelId, string prompt) => Tokens(_models.LoadToy(modelId), prompt);

    /// <inheritdoc />
    /// <remarks>Cancellation is checked before every head.</remarks>
    public RunCapture Run(string modelId, string prompt, Action<int, int, string> progress, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(progress);
        ToyModel model = _models.LoadToy(modelId);
        IReadOnlyList<string> tokens = Tokens(model, prompt);

        var unknown = tokens.Where(t => { model.Embed(t, out bool known); return !known; }).Distinct(StringComparer.Ordinal).ToArray();
        int total = 1 + model.Layers.Sum(l => l.Count);
        int done = 1;
        progress(done, total, $"tokenized: {tokens.Count} tokens");
        IReadOnlyList<IReadOnlyList<AttentionTrace>> layers = model.Run(tokens, (l, h) => progress(++done, total, $"layer {l} head {h}"), cancellation);
        var notes = new List<string>();
        if (unknown.Length > 0)
        {
            notes.Add($"not in {model.Id}'s vocabulary, so given a fixed vector from a hash of the word: {string.Join(", ", unknown)}");
        }

        AttentionSet set = Pictures.Set(layers, model.Id);
        return new RunCapture(tokens, set, notes, (layer, head, focus, reference, token) =>
        {
            set.CheckIndex(layer, head, "layer", "head");
            AttentionTrace trace = layers[layer][head];
            string source = $"{model.Id}, layer {layer}, head {head}";
            ExplainResponse response = ExplainService.Describe(trace, focus ?? trace.Tokens[Math.Min(1, trace.Tokens.Count - 1)], source) with { Layer = layer, Head = head };
            if (!reference)
            {
                return response;
            }

            token.ThrowIfCancellationRequested();
            return ExplainService.WithCheck(response, TraceComparison.Compare(trace, TraceBuilder.Build(trace.Tokens, trace.Embeddings, trace.WQ, trace.WK, trace.WV, trace.Scale, useReference: true, trace.Causal)));
        });
    }

    private IReadOnlyList<string> Tokens(ToyModel model, string prompt)
    {
        IReadOnlyList<string> tokens = ToyModel.Tokenize(prompt);
        if (tokens.Count == 0)
        {
            throw new HeedException("prompt: has no words to attend over");
        }

        if (tokens.Count > _limits.MaxSequenceLength)
        {
            throw new HeedException($"prompt: {tokens.Count} tokens; the server's limit is {_limits.MaxSequenceLength}");
        }

        if (!model.HashUnknown)
        {
            foreach (string token in tokens)
            {
                model.Embed(token, out _);
            }
        }

        return tokens;
    }
}

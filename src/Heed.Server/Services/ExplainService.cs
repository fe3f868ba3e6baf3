using System.ComponentModel;
using System.Text.Json.Serialization;
using Heed.Explain;
using Heed.Explain.Pictures;
using Heed.Explain.Seeds;

namespace Heed.Server.Services;

/// <summary>
/// What to explain — the same input and options as <c>heed explain</c>: a model id and a prompt (<c>--model</c>,
/// <c>--prompt</c>); Heed.Explain's <see cref="TraceInput"/> fields (tokens, embeddings, wq, wk, wv, scale, causal, focus)
/// inline; attention weights someone else computed, with their tokens; or nothing, for the seed example "The cat sat on the mat".
/// </summary>
public sealed record ExplainRequest
{
    /// <summary>A model id (see <c>GET /api/v1/models</c>) to run <see cref="Prompt"/> through.</summary>
    [Description("A model id (GET /api/v1/models): run the prompt through it with attention capture and explain one head (layer, head; default 0, 0), as 'heed explain --model --prompt' does.")]
    public string? Model { get; init; }

    /// <summary>With <see cref="Model"/>: the text to run.</summary>
    [Description("With model: the text to run (Llama models get BOS first).")]
    public string? Prompt { get; init; }

    /// <summary>T token labels.</summary>
    [Description("T token labels (with embeddings, wq, wk, wv; or with attentionWeights). Omit every input for the seed example \"The cat sat on the mat\".")]
    public string[]? Tokens { get; init; }

    /// <summary>E [T, C] as rows.</summary>
    [Description("E [T, C], one row per token.")]
    public double[][]? Embeddings { get; init; }

    /// <summary>W_Q [C, D].</summary>
    [Description("W_Q [C, D] as rows.")]
    public double[][]? Wq { get; init; }

    /// <summary>W_K [C, D].</summary>
    [Description("W_K [C, D] as rows.")]
    public double[][]? Wk { get; init; }

    /// <summary>W_V [C, Dv].</summary>
    [Description("W_V [C, Dv] as rows.")]
    public double[][]? Wv { get; init; }

    /// <summary>The factor on Q·Kᵀ; null = 1/√D (your own input only).</summary>
    [Description("The factor on Q·Kᵀ for your own input; default 1/sqrt(D). The seed example uses scaled instead.")]
    public double? Scale { get; init; }

    /// <summary>Mask future tokens (your own input only).</summary>
    [Description("Mask future tokens: token i attends to 0..i (your own input only).")]
    public bool Causal { get; init; }

    /// <summary>The token walked through; default the seed's "cat", a transformer's last token, else the first token.</summary>
    [Description("The token followed step by step; default \"cat\" for the seed, the last token for a transformer model, else the first token. For a model: a piece (\"cat\" finds \"Ġcat\"/\"▁cat\"), or a position as \"#N\".")]
    public string? Focus { get; init; }

    /// <summary>Seed example: divide the scores by √d.</summary>
    [Description("Seed example only: divide the scores by sqrt(d) as real transformers do (the seed leaves it out).")]
    public bool Scaled { get; init; }

    /// <summary>Replay the run through the float64 reference and report the largest differences.</summary>
    [Description("Replay the run through the float64 reference implementation and report the largest difference of each step (referenceCheck).")]
    public bool Reference { get; init; }

    /// <summary>Weights computed elsewhere, [L, H, T, S], [H, T, S] or [T, S], labelled by <see cref="Tokens"/>.</summary>
    [Description("Attention weights computed elsewhere (e.g. saved from PyTorch), [L, H, T, S], [H, T, S] or [T, S], as {shape, dtype, data} or {npy}; label the rows with tokens. Cannot be combined with embeddings/wq/wk/wv.")]
    public TensorData? AttentionWeights { get; init; }

    /// <summary>Take <see cref="AttentionWeights"/> that are not probabilities.</summary>
    [Description("With attentionWeights: accept numbers that are not probabilities (outside [0, 1], or rows that do not sum to 1 within 1e-3); by default they are refused with the first offending position.")]
    public bool AllowUnnormalized { get; init; }

    /// <summary>Column labels of <see cref="AttentionWeights"/> when they differ from the rows.</summary>
    [Description("With attentionWeights: the S key labels when they differ from tokens.")]
    public string[]? KeyTokens { get; init; }

    /// <summary>The layer drawn (default 0).</summary>
    [Description("The layer the pictures and focus weights show (default 0).")]
    public int? Layer { get; init; }

    /// <summary>The head drawn (default 0; the head view shows every head unless given).</summary>
    [Description("The head the heatmap and network show (default 0); the head view shows every head unless given.")]
    public int? Head { get; init; }

    /// <summary>The pictures to return.</summary>
    [Description("Pictures to return: Heatmap, ModelView, HeadView, Network, Rollout (network and rollout need self-attention).")]
    public PictureKind[]? Pictures { get; init; }

    /// <summary>How the pictures are encoded.</summary>
    [Description("Svg (default; text) or Png (base64).")]
    public PictureFormat PictureFormat { get; init; }

    /// <summary>Also return the self-contained HTML report (every picture and the walk-through).</summary>
    [Description("Also return the self-contained HTML report: every picture (inline SVG) and the step-by-step text, as 'heed explain --out' writes it.")]
    public bool Report { get; init; }

    /// <summary>The report draws the heatmap, head view and network of every layer, not only <see cref="Layer"/>.</summary>
    [Description("With report: the heatmap, head view and network of every layer, not only the chosen one (as --all-layers).")]
    public bool AllLayers { get; init; }
}

/// <summary>One step of the walk-through, in words and numbers.</summary>
/// <param name="Title">"Step 4. Scores of \"cat\": …".</param>
/// <param name="Lines">The numbers of the step, one line each.</param>
public sealed record ExplanationStep(string Title, IReadOnlyList<string> Lines);

/// <summary>
/// The explanation: for a computed trace, every matrix (E, W_Q, W_K, W_V, Q, K, V, scores, weights, outputs) and the
/// walk-through of the focus token; for given weights, their sizes and the focus token's weights. Pictures and the HTML
/// report when asked.
/// </summary>
public sealed record ExplainResponse
{
    /// <summary>Where the input came from: "seed 000", "your input", "attentionWeights", or a model run.</summary>
    public required string Source { get; init; }

    /// <summary>"The cat sat on the mat" for the seed example, else null.</summary>
    public string? Example { get; init; }

    /// <summary>The T query tokens.</summary>
    public required IReadOnlyList<string> Tokens { get; init; }

    /// <summary>The S key tokens, when they differ from <see cref="Tokens"/>.</summary>
    public IReadOnlyList<string>? KeyTokens { get; init; }

    /// <summary>The focus token.</summary>
    public required string Focus { get; init; }

    /// <summary>The focus token's row.</summary>
    public required int FocusIndex { get; init; }

    /// <summary>The layer walked through (model runs).</summary>
    public int? Layer { get; init; }

    /// <summary>The head walked through (model runs).</summary>
    public int? Head { get; init; }

    /// <summary>The architecture whose Q, K and V these are ("llama", "gpt2"), for transformer runs.</summary>
    public string? Architecture { get; init; }

    /// <summary>L (1 for a single-head trace).</summary>
    public int Layers { get; init; } = 1;

    /// <summary>H per layer (1 for a single-head trace).</summary>
    public int Heads { get; init; } = 1;

    /// <summary>The factor on Q·Kᵀ (computed traces).</summary>
    public double? Scale { get; init; }

    /// <summary>Whether future tokens were masked.</summary>
    public bool Causal { get; init; }

    /// <summary>E [T, C] (empty for model runs, whose Q, K, V come from the model).</summary>
    public double[][]? Embeddings { get; init; }

    /// <summary>W_Q [C, D].</summary>
    public double[][]? Wq { get; init; }

    /// <summary>W_K [C, D].</summary>
    public double[][]? Wk { get; init; }

    /// <summary>W_V [C, Dv].</summary>
    public double[][]? Wv { get; init; }

    /// <summary>Q [T, D].</summary>
    public double[][]? Q { get; init; }

    /// <summary>K [T, D].</summary>
    public double[][]? K { get; init; }

    /// <summary>V [T, Dv].</summary>
    public double[][]? V { get; init; }

    /// <summary>scale·Q·Kᵀ [T, T] (−∞ where masked).</summary>
    [JsonConverter(typeof(RowsWithInfinityConverter))]
    public double[][]? Scores { get; init; }

    /// <summary>softmax rows [T, T].</summary>
    public double[][]? Weights { get; init; }

    /// <summary>weights·V [T, Dv].</summary>
    public double[][]? Outputs { get; init; }

    /// <summary>The focus token's output row.</summary>
    public double[]? FocusOutput { get; init; }

    /// <summary>Given weights: the focus token's weights over the keys in the chosen layer and head.</summary>
    public double[]? FocusWeights { get; init; }

    /// <summary>The walk-through, step by step.</summary>
    public IReadOnlyList<ExplanationStep>? Steps { get; init; }

    /// <summary>The walk-through as text (what <c>heed explain</c> prints).</summary>
    public string? Text { get; init; }

    /// <summary>Where the seed text's numbers disagree with its arithmetic (seed example, unscaled).</summary>
    public IReadOnlyList<string>? SeedSlips { get; init; }

    /// <summary>With <see cref="ExplainRequest.Reference"/>: the largest difference of each step between this run and the float64 reference.</summary>
    public TraceComparison? ReferenceCheck { get; init; }

    /// <summary>With reference on a transformer run: the largest difference over every layer's and head's weights.</summary>
    public double? ReferenceAllWeights { get; init; }

    /// <summary>With reference on a transformer run: the largest difference of the logits.</summary>
    public double? ReferenceLogits { get; init; }

    /// <summary>The pictures asked for.</summary>
    public IReadOnlyList<Picture>? Pictures { get; init; }

    /// <summary>The HTML report, when asked for.</summary>
    public string? Report { get; init; }
}

/// <summary>
/// Explains attention with Heed.Explain: traces built by <see cref="TraceInput"/> (or the seed's <see cref="CatSatOnTheMat"/>),
/// compared with the reference by <see cref="TraceComparison"/>, written out by <see cref="TraceText"/>, drawn by
/// <see cref="AttentionPictures"/> and gathered by <see cref="HtmlReport"/>.
/// </summary>
public sealed class ExplainService
{
    private const string SeedSource = "seed 000";
    private const string SeedExample = "The cat sat on the mat";
    private readonly TensorCodec _codec;
    private readonly RunService _runs;

    /// <summary>Creates the service; model inputs run through <paramref name="runs"/>' runners.</summary>
    public ExplainService(TensorCodec codec, RunService runs)
    {
        _codec = codec;
        _runs = runs;
    }

    /// <summary>Traces the request (or the seed example), walks through the focus token, and draws what was asked for.</summary>
    /// <exception cref="HeedException">The sizes do not fit together, an option does not apply, the focus token is unknown, or an input is over a limit.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
    public ExplainResponse Explain(ExplainRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Model is not null)
        {
            return ExplainModel(request, cancellation);
        }

        if (request.Prompt is not null)
        {
            throw new HeedException("prompt needs model: the id of the model to run it through (GET /api/v1/models)");
        }

        if (request.AttentionWeights is not null)
        {
            return ExplainWeights(request, cancellation);
        }

        bool seed = request.Tokens is null && request.Embeddings is null && request.Wq is null && request.Wk is null && request.Wv is null;
        AttentionTrace trace;
        Func<AttentionTrace> replay;
        string focus, source;
        if (seed)
        {
            if (request.Causal || request.Scale is not null)
            {
                throw new HeedException("causal and scale apply to your own input (tokens, embeddings, wq, wk, wv); the seed example uses scaled");
            }

            trace = CatSatOnTheMat.Trace(request.Scaled);
            replay = () => CatSatOnTheMat.Trace(request.Scaled, useReference: true);
            focus = request.Focus ?? CatSatOnTheMat.Focus;
            source = SeedSource;
        }
        else
        {
            if (request.Scaled)
            {
                throw new HeedException("scaled applies to the seed example; for your own input give scale (the default is already 1/sqrt(D))");
            }

            TraceInput input = Input(request);
            trace = input.Trace();
            replay = () => input.Trace(useReference: true);
            focus = request.Focus ?? trace.Tokens[0];
            source = input.Source;
        }

        cancellation.ThrowIfCancellationRequested();
        ExplainResponse response = Describe(trace, focus, source, seed ? SeedExample : null) with
        {
            SeedSlips = seed && !request.Scaled ? CatSatOnTheMat.Slips : null,
        };
        if (request.Reference)
        {
            response = WithCheck(response, TraceComparison.Compare(trace, replay()));
        }

        return Draw(response, AttentionSet.FromTrace(trace, source), request, cancellation);
    }

    /// <summary>Adds a reference comparison to a walk-through (its numbers and the line <c>heed explain --reference</c> prints).</summary>
    public static ExplainResponse WithCheck(ExplainResponse response, TraceComparison check)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(check);
        return response with { ReferenceCheck = check, Text = response.Text + "\n" + TraceText.Comparison(check) + "\n" };
    }

    /// <summary>
    /// Turns one head of a transformer run into the response: the head's Q, K, V, scores, weights and outputs, and the
    /// walk-through <see cref="HeadTraceText"/> writes for <paramref name="focus"/> (null = the last token).
    /// </summary>
    /// <exception cref="HeedException">The focus token is not among the tokens.</exception>
    public static ExplainResponse DescribeHead(HeadTrace trace, string? focus, string source, ModelRunComparison? check = null)
    {
        ArgumentNullException.ThrowIfNull(trace);
        int row = focus is null ? trace.QueryLength - 1 : trace.IndexOf(focus);
        if (row < 0)
        {
            string list = string.Join(", ", trace.Tokens.Take(20)) + (trace.Tokens.Count > 20 ? ", …" : "");
            throw new HeedException($"focus: '{focus}' is not one of the tokens [{list}]; a position works too, as #N");
        }

        string text = HeadTraceText.Render(trace, row, $"Attention in {source}, step by step, on the prompt's {trace.Tokens.Count} tokens");
        if (check is not null)
        {
            text += "\n" + HeadTraceText.Comparison(check) + "\n";
        }

        return new ExplainResponse
        {
            Source = source,
            Tokens = trace.Tokens,
            Focus = trace.QueryToken(row),
            FocusIndex = trace.QueryOffset + row,
            Layer = trace.Layer,
            Head = trace.Head,
            Architecture = trace.Architecture,
            Scale = trace.Scale,
            Causal = true,
            Q = trace.Q,
            K = trace.K,
            V = trace.V,
            Scores = trace.Scores,
            Weights = trace.Weights,
            Outputs = trace.Outputs,
            FocusOutput = trace.Outputs[row],
            Steps = Steps(text),
            Text = text,
            ReferenceCheck = check?.Head,
            ReferenceAllWeights = check?.Weights,
            ReferenceLogits = check?.Logits,
        };
    }

    /// <summary>
    /// Turns a trace into the response: every matrix plus the walk-through of <paramref name="focus"/> (matched exactly,
    /// then ignoring case, then ignoring surrounding spaces).
    /// </summary>
    /// <exception cref="HeedException">The focus token is not among the tokens.</exception>
    public static ExplainResponse Describe(AttentionTrace trace, string focus, string source, string? example = null)
    {
        ArgumentNullException.ThrowIfNull(trace);
        int index = FocusRow(trace.Tokens, focus);
        string title = example is null ? $"Self-attention, step by step, on {source}" : $"Self-attention, step by step: \"{example}\" (the worked example of {source})";
        string text = TraceText.Render(trace, index, title);
        return new ExplainResponse
        {
            Source = source,
            Example = example,
            Tokens = trace.Tokens,
            Focus = trace.Tokens[index],
            FocusIndex = index,
            Scale = trace.Scale,
            Causal = trace.Causal,
            Embeddings = trace.Embeddings,
            Wq = trace.WQ,
            Wk = trace.WK,
            Wv = trace.WV,
            Q = trace.Q,
            K = trace.K,
            V = trace.V,
            Scores = trace.Scores,
            Weights = trace.Weights,
            Outputs = trace.Outputs,
            FocusOutput = trace.Outputs[index],
            Steps = Steps(text),
            Text = text,
        };
    }

    /// <summary>
    /// The row of <paramref name="focus"/>: an exact match, then a position written "#N", then ignoring case, then ignoring
    /// surrounding spaces.
    /// </summary>
    /// <exception cref="HeedException">No token matches.</exception>
    public static int FocusRow(IReadOnlyList<string> tokens, string focus)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(focus);
        if (!tokens.Contains(focus, StringComparer.Ordinal) && focus.Length > 1 && focus[0] == '#'
            && int.TryParse(focus.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int position)
            && position < tokens.Count)
        {
            return position;
        }

        int row = AttentionTrace.IndexOf(tokens, focus);
        if (row < 0)
        {
            row = AttentionTrace.IndexOf(tokens.Select(t => t.Trim()).ToArray(), focus.Trim());
        }

        if (row < 0)
        {
            string list = string.Join(", ", tokens.Take(20)) + (tokens.Count > 20 ? ", …" : "");
            throw new HeedException($"focus: '{focus}' is not one of the tokens [{list}]");
        }

        return row;
    }

    // "Step N. title\n  line\n  line" sections of the text, one step each.
    private static ExplanationStep[] Steps(string text) => text.Split("\n\n")
        .Where(s => s.StartsWith("Step", StringComparison.Ordinal))
        .Select(s => s.Split('\n'))
        .Select(lines => new ExplanationStep(lines[0], lines.Skip(1).Select(l => l.Trim()).ToArray()))
        .ToArray();

    private TraceInput Input(ExplainRequest request)
    {
        if (request.Tokens is null || request.Tokens.Length == 0)
        {
            throw new HeedException("tokens: required (one label per embedding row) unless every input is omitted for the seed example");
        }

        _codec.CheckShape("tokens", [request.Tokens.Length, 1]);
        _codec.CheckMatrix("embeddings", request.Embeddings);
        _codec.CheckMatrix("wq", request.Wq);
        _codec.CheckMatrix("wk", request.Wk);
        _codec.CheckMatrix("wv", request.Wv);
        if (request.Scale is double s && !double.IsFinite(s))
        {
            throw new HeedException($"scale: {s}; expected a finite number");
        }

        return new TraceInput
        {
            Tokens = request.Tokens,
            Embeddings = request.Embeddings!,
            WQ = request.Wq!,
            WK = request.Wk!,
            WV = request.Wv!,
            Scale = request.Scale,
            Causal = request.Causal,
            Focus = request.Focus,
            Source = "your input",
        };
    }

    // A model and a prompt: the same run as POST /api/v1/runs, synchronously, then one head walked through.
    private ExplainResponse ExplainModel(ExplainRequest request, CancellationToken cancellation)
    {
        foreach ((string name, object? value) in new (string, object?)[] { ("tokens", request.Tokens), ("embeddings", request.Embeddings), ("wq", request.Wq), ("wk", request.Wk), ("wv", request.Wv), ("attentionWeights", request.AttentionWeights), ("scale", request.Scale) })
        {
            if (value is not null)
            {
                throw new HeedException($"{name} cannot be combined with model: the model makes its own Q, K and V, and its own scale");
            }
        }

        if (request.Causal || request.Scaled)
        {
            throw new HeedException("causal and scaled cannot be combined with model: the model decides its mask and scale");
        }

        RunCapture capture = _runs.Capture(new RunRequest { Model = request.Model, Prompt = request.Prompt }, cancellation);
        capture.Set.CheckIndex(request.Layer, request.Head, "layer", "head");
        ExplainResponse response = capture.Explain(request.Layer ?? 0, request.Head ?? 0, request.Focus, request.Reference, cancellation) with
        {
            Layers = capture.Set.Layers,
            Heads = capture.Set.Heads,
        };
        return Draw(response, capture.Set, request, cancellation);
    }

    private ExplainResponse ExplainWeights(ExplainRequest request, CancellationToken cancellation)
    {
        foreach ((string name, object? value) in new (string, object?)[] { ("embeddings", request.Embeddings), ("wq", request.Wq), ("wk", request.Wk), ("wv", request.Wv), ("scale", request.Scale) })
        {
            if (value is not null)
            {
                throw new HeedException($"{name} cannot be combined with attentionWeights: the weights are given, not computed");
            }
        }

        if (request.Causal || request.Scaled || request.Reference)
        {
            throw new HeedException("causal, scaled and reference apply to computed attention, not to given attentionWeights");
        }

        string[] tokens = request.Tokens ?? throw new HeedException("tokens: required with attentionWeights (one label per row)");
        _codec.CheckShape("tokens", [tokens.Length, 1]);
        Tensor probabilities = _codec.Decode("attentionWeights", request.AttentionWeights);
        AttentionSet set = AttentionSet.FromArray(probabilities, tokens, request.KeyTokens, "attentionWeights", request.AllowUnnormalized, "allowUnnormalized");
        set.CheckIndex(request.Layer, request.Head, "layer", "head");
        int row = FocusRow(set.QueryTokens, request.Focus ?? set.QueryTokens[0]);
        int layer = request.Layer ?? 0, head = request.Head ?? 0;
        var response = new ExplainResponse
        {
            Source = set.Source,
            Tokens = set.QueryTokens,
            KeyTokens = request.KeyTokens,
            Focus = set.QueryTokens[row],
            FocusIndex = row,
            Layers = set.Layers,
            Heads = set.Heads,
            FocusWeights = Enumerable.Range(0, set.KeyLength).Select(j => set.Weight(layer, head, row, j)).ToArray(),
        };
        return Draw(response, set, request, cancellation);
    }

    private static ExplainResponse Draw(ExplainResponse response, AttentionSet set, ExplainRequest request, CancellationToken cancellation)
    {
        int layer = request.Layer ?? 0;
        set.CheckIndex(layer, request.Head, "layer", "head");
        var pictures = new List<Picture>();
        foreach (PictureKind kind in request.Pictures ?? [])
        {
            cancellation.ThrowIfCancellationRequested();
            pictures.Add(Heed.Server.Services.Pictures.Render(set, kind, request.PictureFormat, layer, request.Head));
        }

        string? report = null;
        if (request.Report)
        {
            cancellation.ThrowIfCancellationRequested();
            string title = response.Example is null ? $"Attention in {response.Source}" : $"Attention in \"{response.Example}\" ({response.Source})";
            var intro = new List<string>
            {
                $"Source: {response.Source}. {set.Layers} layer(s) x {set.Heads} head(s); {set.QueryLength} query tokens, {set.KeyLength} key tokens.",
                "Hover over a cell, line or node to read its value. This page needs no network connection.",
            };
            report = HtmlReport.Build(title, intro, AttentionPictures.All(set, layer, request.Head, request.AllLayers), response.Text);
        }

        return response with { Pictures = request.Pictures is null ? null : pictures, Report = report };
    }
}

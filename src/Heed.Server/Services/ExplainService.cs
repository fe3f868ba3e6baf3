using System.ComponentModel;
using System.Globalization;
using Heed.Explain;
using Heed.Explain.Seeds;
using Heed.Server.Charts;

namespace Heed.Server.Services;

/// <summary>What to explain: tokens with embeddings and W_Q/W_K/W_V, or nothing for the seed example "The cat sat on the mat".</summary>
public sealed record ExplainRequest
{
    /// <summary>T token labels; null = the seed example.</summary>
    [Description("T token labels; omit everything to get the seed example \"The cat sat on the mat\".")]
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

    /// <summary>The factor on Q·Kᵀ; null = 1 for the seed example, 1/√D otherwise (or when <see cref="Scaled"/>).</summary>
    [Description("The factor on Q·Kᵀ; default 1/sqrt(D), except the seed example which is unscaled unless scaled is true.")]
    public double? Scale { get; init; }

    /// <summary>Use 1/√D for the seed example.</summary>
    [Description("For the seed example: divide the scores by sqrt(d) as real transformers do.")]
    public bool Scaled { get; init; }

    /// <summary>The token whose row is walked through; null = the seed's "cat" or the first token.</summary>
    [Description("The token walked through step by step; default \"cat\" for the seed, else the first token.")]
    public string? Focus { get; init; }

    /// <summary>Run the float64 reference.</summary>
    [Description("Run the float64 reference implementation.")]
    public bool Reference { get; init; }
}

/// <summary>One step of the walk-through, in words and numbers.</summary>
/// <param name="Title">"Step 4. Scores of \"cat\"".</param>
/// <param name="Lines">The numbers of the step, one line each.</param>
public sealed record ExplanationStep(string Title, IReadOnlyList<string> Lines);

/// <summary>The whole trace of single-head self-attention, and the walk-through for one focus token.</summary>
public sealed record ExplainResponse
{
    /// <summary>"The cat sat on the mat" for the seed example, else null.</summary>
    public string? Example { get; init; }

    /// <summary>The tokens.</summary>
    public required IReadOnlyList<string> Tokens { get; init; }

    /// <summary>The focus token.</summary>
    public required string Focus { get; init; }

    /// <summary>The focus token's row.</summary>
    public required int FocusIndex { get; init; }

    /// <summary>The factor on Q·Kᵀ.</summary>
    public required double Scale { get; init; }

    /// <summary>E [T, C].</summary>
    public required double[][] Embeddings { get; init; }

    /// <summary>W_Q [C, D].</summary>
    public required double[][] Wq { get; init; }

    /// <summary>W_K [C, D].</summary>
    public required double[][] Wk { get; init; }

    /// <summary>W_V [C, Dv].</summary>
    public required double[][] Wv { get; init; }

    /// <summary>Q [T, D].</summary>
    public required double[][] Q { get; init; }

    /// <summary>K [T, D].</summary>
    public required double[][] K { get; init; }

    /// <summary>V [T, Dv].</summary>
    public required double[][] V { get; init; }

    /// <summary>scale·Q·Kᵀ [T, T].</summary>
    public required double[][] Scores { get; init; }

    /// <summary>softmax rows [T, T].</summary>
    public required double[][] Weights { get; init; }

    /// <summary>weights·V [T, Dv].</summary>
    public required double[][] Outputs { get; init; }

    /// <summary>The focus token's output row.</summary>
    public required double[] FocusOutput { get; init; }

    /// <summary>The walk-through.</summary>
    public required IReadOnlyList<ExplanationStep> Steps { get; init; }

    /// <summary>Where the seed text's numbers disagree with its arithmetic (seed example only).</summary>
    public IReadOnlyList<string>? SeedSlips { get; init; }

    /// <summary>Whether the float64 reference ran.</summary>
    public bool Reference { get; init; }
}

/// <summary>Builds step-by-step traces with <see cref="TraceBuilder"/> and turns them into steps and charts.</summary>
public sealed class ExplainService
{
    private readonly TensorCodec _codec;

    /// <summary>Creates the service.</summary>
    public ExplainService(TensorCodec codec) => _codec = codec;

    /// <summary>Traces the request (or the seed example) and walks through the focus token.</summary>
    /// <exception cref="HeedException">The sizes do not fit together, the focus token is unknown, or an input is over a limit.</exception>
    public ExplainResponse Explain(ExplainRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        (AttentionTrace trace, bool seed) = Trace(request);
        string focus = request.Focus ?? (seed ? CatSatOnTheMat.Focus : trace.Tokens[0]);
        return Describe(trace, focus, seed ? "The cat sat on the mat" : null, seed && request.Scale is null && !request.Scaled ? CatSatOnTheMat.Slips : null);
    }

    /// <summary>The trace of a request: the seed example when no tokens are given.</summary>
    /// <exception cref="HeedException">The sizes do not fit together or an input is over a limit.</exception>
    public (AttentionTrace Trace, bool Seed) Trace(ExplainRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        bool seed = request.Tokens is null && request.Embeddings is null && request.Wq is null && request.Wk is null && request.Wv is null;
        if (seed)
        {
            return (request.Scale is double s
                ? TraceBuilder.Build(CatSatOnTheMat.Tokens, CatSatOnTheMat.Embeddings(), CatSatOnTheMat.WQ(), CatSatOnTheMat.WK(), CatSatOnTheMat.WV(), s, request.Reference)
                : CatSatOnTheMat.Trace(request.Scaled, request.Reference), true);
        }

        if (request.Tokens is null || request.Tokens.Length == 0)
        {
            throw new HeedException("tokens: required (one label per embedding row) unless every field is omitted for the seed example");
        }

        _codec.CheckShape("tokens", [request.Tokens.Length, 1]);
        _codec.CheckMatrix("embeddings", request.Embeddings);
        _codec.CheckMatrix("wq", request.Wq);
        _codec.CheckMatrix("wk", request.Wk);
        _codec.CheckMatrix("wv", request.Wv);
        return (TraceBuilder.Build(request.Tokens, request.Embeddings!, request.Wq!, request.Wk!, request.Wv!, request.Scale, request.Reference), false);
    }

    /// <summary>Turns a trace into the response: every matrix plus the walk-through of <paramref name="focus"/>.</summary>
    /// <exception cref="HeedException">The focus token is not among the tokens.</exception>
    public static ExplainResponse Describe(AttentionTrace trace, string focus, string? example, IReadOnlyList<string>? slips)
    {
        ArgumentNullException.ThrowIfNull(trace);
        int index = trace.IndexOf(focus);
        if (index < 0)
        {
            throw new HeedException($"focus: '{focus}' is not one of the tokens [{string.Join(", ", trace.Tokens)}]");
        }

        return new ExplainResponse
        {
            Example = example,
            Tokens = trace.Tokens,
            Focus = trace.Tokens[index],
            FocusIndex = index,
            Scale = trace.Scale,
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
            Steps = Steps(trace, index),
            SeedSlips = slips,
            Reference = trace.Reference,
        };
    }

    /// <summary>The heatmap of the trace's attention weights, as SVG.</summary>
    public static string WeightsSvg(AttentionTrace trace, string title)
    {
        ArgumentNullException.ThrowIfNull(trace);
        return Heatmap.Svg(title, trace.Tokens, trace.Tokens, trace.Weights);
    }

    /// <summary>The walk-through of row <paramref name="focus"/>: embeddings, weights, Q/K/V, scores, softmax, weighted sum.</summary>
    public static IReadOnlyList<ExplanationStep> Steps(AttentionTrace trace, int focus)
    {
        ArgumentNullException.ThrowIfNull(trace);
        string f = trace.Tokens[focus];
        int count = trace.Tokens.Count;
        var steps = new List<ExplanationStep>();
        if (trace.Embeddings.Length == count)
        {
            steps.Add(new("Step 1. Embeddings E, one row per token", Enumerable.Range(0, count).Select(i => $"{trace.Tokens[i]}: E = {Vector(trace.Embeddings[i])}").ToArray()));
            steps.Add(new("Step 2. Weight matrices", [$"W_Q = {Matrix(trace.WQ)}", $"W_K = {Matrix(trace.WK)}", $"W_V = {Matrix(trace.WV)}"]));
        }
        else
        {
            steps.Add(new("Steps 1–2. Q, K and V come from the model", ["each token's hidden state at this layer, normalised and multiplied by the layer's W_Q, W_K and W_V (with rotary positions on Q and K)"]));
        }

        steps.AddRange(
        [
            new(trace.Embeddings.Length == count ? "Step 3. Q = E·W_Q, K = E·W_K, V = E·W_V for each token" : "Step 3. Q, K and V of each token in this head", Enumerable.Range(0, count).Select(i => $"{trace.Tokens[i]}: Q = {Vector(trace.Q[i])}, K = {Vector(trace.K[i])}, V = {Vector(trace.V[i])}").ToArray()),
            new($"Step 4. Scores of \"{f}\": scale · Q_{f} · K_j with scale = {Number(trace.Scale)}", Enumerable.Range(0, count).Select(j => $"{f} & {trace.Tokens[j]}: {Number(trace.Scores[focus][j])}").ToArray()),
            new("Step 5. Softmax of the scores: the attention weights (they sum to 1)", Enumerable.Range(0, count).Select(j => $"{f} & {trace.Tokens[j]}: {Number(trace.Weights[focus][j])}").ToArray()),
        ]);
        var sum = Enumerable.Range(0, count)
            .Select(j => $"{Number(trace.Weights[focus][j])} × {Vector(trace.V[j])} = {Vector(trace.V[j].Select(x => trace.Weights[focus][j] * x).ToArray())}")
            .Append($"output {f} = {Vector(trace.Outputs[focus])}")
            .ToArray();
        steps.Add(new($"Step 6. Weighted sum of the values: output_{f} = Σ_j weight_j · V_j", sum));
        return steps;
    }

    private static string Number(double x)
    {
        if (double.IsNegativeInfinity(x))
        {
            return "-inf (masked)";
        }

        string s = x.ToString("0.0000", CultureInfo.InvariantCulture);
        return s == "-0.0000" ? "0.0000" : s;
    }

    private static string Vector(double[] v) => "[" + string.Join(", ", v.Select(Number)) + "]";

    private static string Matrix(double[][] m) => "[" + string.Join(", ", m.Select(Vector)) + "]";
}

using System.Globalization;
using System.Text;

namespace Heed.Explain;

/// <summary>Writes a trace as the seeds walk through it: embeddings, W_Q/W_K/W_V, Q/K/V, one token's scores, softmax, weighted sum, output.</summary>
public static class TraceText
{
    /// <summary>The walk-through for the token at row <paramref name="focus"/>.</summary>
    /// <param name="trace">The trace.</param>
    /// <param name="focus">The row of the token followed through the scores, weights and weighted sum.</param>
    /// <param name="title">The first line.</param>
    /// <exception cref="HeedException">The focus row is out of range.</exception>
    public static string Render(AttentionTrace trace, int focus, string title)
    {
        ArgumentNullException.ThrowIfNull(trace);
        if (focus < 0 || focus >= trace.Tokens.Count) throw new HeedException($"focus row {focus} is out of range: there are {trace.Tokens.Count} tokens");
        int width = trace.Tokens.Max(s => s.Length) + 2;
        string f = trace.Tokens[focus];
        var text = new StringBuilder();
        void Line(string s = "") => text.Append(s).Append('\n');

        Line(title);
        Line();
        Line($"Step 1. Embeddings E [{trace.Tokens.Count} tokens x {trace.WQ.Length}]");
        for (int i = 0; i < trace.Tokens.Count; i++) Line($"  {trace.Tokens[i].PadRight(width)}E = {Vector(trace.Embeddings[i])}");
        Line();
        Line($"Step 2. Weight matrices W_Q, W_K [{trace.WQ.Length} x {trace.WQ[0].Length}] and W_V [{trace.WV.Length} x {trace.WV[0].Length}]");
        Line($"  W_Q = {Matrix(trace.WQ)}");
        Line($"  W_K = {Matrix(trace.WK)}");
        Line($"  W_V = {Matrix(trace.WV)}");
        Line();
        Line("Step 3. Q = E*W_Q, K = E*W_K, V = E*W_V for each token");
        for (int i = 0; i < trace.Tokens.Count; i++) Line($"  {trace.Tokens[i].PadRight(width)}Q = {Vector(trace.Q[i])}  K = {Vector(trace.K[i])}  V = {Vector(trace.V[i])}");
        Line();
        string scale = trace.Scale == 1 ? "not scaled" : $"times the scale {Number(trace.Scale)}";
        string mask = trace.Causal ? "; later tokens are masked (-inf) because the attention is causal" : "";
        Line($"Step 4. Scores of \"{f}\": Q_{f} . K_j for every token j ({scale}{mask})");
        for (int j = 0; j < trace.Tokens.Count; j++) Line($"  {f} & {trace.Tokens[j].PadRight(width)}{Number(trace.Scores[focus][j])}");
        Line();
        Line("Step 5. Softmax of the scores: the attention weights (they sum to 1)");
        for (int j = 0; j < trace.Tokens.Count; j++) Line($"  {f} & {trace.Tokens[j].PadRight(width)}{Number(trace.Weights[focus][j])}");
        Line();
        Line($"Step 6. Weighted sum of the values: output_{f} = sum_j weight_j * V_j");
        for (int j = 0; j < trace.Tokens.Count; j++)
        {
            double w = trace.Weights[focus][j];
            Line($"  {Number(w)} * {Vector(trace.V[j]),-18} = {Vector(trace.V[j].Select(x => w * x).ToArray())}");
        }

        Line($"  output {f} = {Vector(trace.Outputs[focus])}");
        Line();
        Line("Every token's output (the same steps with each token as the query):");
        for (int i = 0; i < trace.Tokens.Count; i++) Line($"  {trace.Tokens[i].PadRight(width)}{Vector(trace.Outputs[i])}");
        return text.ToString();
    }

    /// <summary>The line reporting a reference replay.</summary>
    public static string Comparison(TraceComparison c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return string.Create(CultureInfo.InvariantCulture,
            $"Reference replay (float64 reference vs the kernel run): max |difference| = {c.Max:G3} (Q {c.Q:G3}, K {c.K:G3}, V {c.V:G3}, scores {c.Scores:G3}, weights {c.Weights:G3}, outputs {c.Outputs:G3})");
    }

    /// <summary>A number with four decimals; −0 prints as 0, −∞ as -inf.</summary>
    public static string Number(double x)
    {
        if (double.IsNegativeInfinity(x)) return "-inf";
        if (double.IsPositiveInfinity(x)) return "inf";
        string s = x.ToString("0.0000", CultureInfo.InvariantCulture);
        return s == "-0.0000" ? "0.0000" : s;
    }

    /// <summary>A vector as [a, b, …].</summary>
    public static string Vector(double[] v) => "[" + string.Join(", ", (v ?? []).Select(Number)) + "]";

    private static string Matrix(double[][] m) => "[" + string.Join(", ", m.Select(Vector)) + "]";
}

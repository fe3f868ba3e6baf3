using System.Globalization;
using System.Text;

namespace Heed.Explain;

/// <summary>Writes a model head's trace as the seeds walk through attention: Q of one token, K and V, scores, softmax, weighted sum, output.</summary>
public static class HeadTraceText
{
    /// <summary>Vectors longer than this print their first numbers and how many are left out (JSON has them all).</summary>
    public const int MaxNumbers = 12;

    /// <summary>The walk-through of query row <paramref name="focus"/>.</summary>
    /// <param name="trace">The head's trace.</param>
    /// <param name="focus">The query row followed through the steps.</param>
    /// <param name="title">The first line.</param>
    /// <exception cref="HeedException">The focus row is out of range.</exception>
    public static string Render(HeadTrace trace, int focus, string title)
    {
        ArgumentNullException.ThrowIfNull(trace);
        if (focus < 0 || focus >= trace.QueryLength) throw new HeedException($"focus row {focus} is out of range: there are {trace.QueryLength} query tokens");
        var text = new StringBuilder();
        void Line(string s = "") => text.Append(s).Append('\n');
        int width = trace.Tokens.Max(s => s.Length) + 2;
        int d = trace.Q[0].Length, dv = trace.V[0].Length;
        string f = trace.QueryToken(focus);
        int position = trace.QueryOffset + focus;
        int visible = Enumerable.Range(0, trace.Tokens.Count).Count(j => !double.IsNegativeInfinity(trace.Scores[focus][j]));

        Line(title);
        Line($"Layer {trace.Layer}, head {trace.Head} (reads key/value head {trace.KvHead}), {trace.Architecture}; attention on the {(trace.Reference ? "float64 reference" : "fastest kernel")}.");
        Line(ModelAttentionRun.HowQkvAreMade(trace.Architecture));
        Line();
        Line($"Step 1. The tokens ({trace.Tokens.Count}; position, piece, id); the focus is \"{f}\" at position {position}");
        for (int j = 0; j < trace.Tokens.Count; j++) Line($"  {j,4}  {trace.Tokens[j].PadRight(width)}{trace.Ids[j]}{(j == position ? "   <- focus" : "")}");
        Line();
        Line($"Step 2. Q of \"{f}\", and K and V of every token it can see ({d} numbers each{(d > MaxNumbers ? $"; the first {MaxNumbers} shown" : "")})");
        Line($"  Q_{f} = {Vector(trace.Q[focus])}");
        for (int j = 0; j < trace.Tokens.Count; j++)
        {
            if (double.IsNegativeInfinity(trace.Scores[focus][j])) continue;
            Line($"  {j,4}  {trace.Tokens[j].PadRight(width)}K = {Vector(trace.K[j])}  V = {Vector(trace.V[j])}");
        }

        Line();
        int masked = trace.Tokens.Count - visible;
        string maskNote = masked > 0 ? $"; the {masked} later token{(masked == 1 ? "" : "s")} {(masked == 1 ? "is" : "are")} masked (-inf): attention is causal" : "";
        Line($"Step 3. Scores of \"{f}\": Q_{f} . K_j times the scale 1/sqrt({d}) = {TraceText.Number(trace.Scale)}{maskNote}");
        for (int j = 0; j < trace.Tokens.Count; j++)
        {
            double score = trace.Scores[focus][j];
            if (double.IsNegativeInfinity(score)) continue;
            Line($"  {f} & {trace.Tokens[j].PadRight(width)}{TraceText.Number(score),10}   (Q.K = {TraceText.Number(Dot(trace.Q[focus], trace.K[j]))})");
        }

        Line();
        Line("Step 4. Softmax of the scores: the attention weights (they sum to 1)");
        for (int j = 0; j < trace.Tokens.Count; j++)
        {
            if (double.IsNegativeInfinity(trace.Scores[focus][j])) continue;
            Line($"  {f} & {trace.Tokens[j].PadRight(width)}{TraceText.Number(trace.Weights[focus][j]),10}");
        }

        Line();
        Line($"Step 5. Weighted sum of the values: output_{f} = sum_j weight_j * V_j ({dv} numbers{(dv > MaxNumbers ? $"; the first {MaxNumbers} shown" : "")})");
        for (int j = 0; j < trace.Tokens.Count; j++)
        {
            if (double.IsNegativeInfinity(trace.Scores[focus][j])) continue;
            double w = trace.Weights[focus][j];
            Line($"  {TraceText.Number(w)} * V_{j,-4} = {Vector(trace.V[j].Select(x => w * x).ToArray())}");
        }

        Line($"  output {f} = {Vector(trace.Outputs[focus])}");
        Line();
        Line($"Step 6. This output is head {trace.Head}'s slice of the layer's attention output; the output projection mixes every head's slice and adds it to the residual stream.");
        Line();
        Line("Strongest weights of every token in this head (query <- key: weight):");
        for (int i = 0; i < trace.QueryLength; i++)
        {
            int best = 0;
            for (int j = 1; j < trace.Tokens.Count; j++)
            {
                if (trace.Weights[i][j] > trace.Weights[i][best]) best = j;
            }

            Line($"  {trace.QueryToken(i).PadRight(width)}<- {trace.Tokens[best].PadRight(width)}{TraceText.Number(trace.Weights[i][best])}");
        }

        return text.ToString();
    }

    /// <summary>The lines reporting a model run's reference replay.</summary>
    public static string Comparison(ModelRunComparison c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return TraceText.Comparison(c.Head) + "\n" + string.Create(
            CultureInfo.InvariantCulture,
            $"Over the whole model: max |difference| of the weights of every layer and head = {c.Weights:G3}, of the logits = {c.Logits:G3}");
    }

    /// <summary>A vector as [a, b, …], cut after <see cref="MaxNumbers"/> numbers with a count of the rest.</summary>
    public static string Vector(double[] v)
    {
        ArgumentNullException.ThrowIfNull(v);
        if (v.Length <= MaxNumbers) return TraceText.Vector(v);
        return "[" + string.Join(", ", v.Take(MaxNumbers).Select(TraceText.Number)) + string.Create(CultureInfo.InvariantCulture, $", … {v.Length - MaxNumbers} more]");
    }

    private static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }
}

namespace Heed.Explain;

/// <summary>The largest absolute difference between two traces of the same input, step by step.</summary>
/// <param name="Q">max |ΔQ|.</param>
/// <param name="K">max |ΔK|.</param>
/// <param name="V">max |ΔV|.</param>
/// <param name="Scores">max |Δscores| (equal infinities count as 0).</param>
/// <param name="Weights">max |Δweights|.</param>
/// <param name="Outputs">max |Δoutputs|.</param>
public sealed record TraceComparison(double Q, double K, double V, double Scores, double Weights, double Outputs)
{
    /// <summary>The largest difference over every step.</summary>
    public double Max => new[] { Q, K, V, Scores, Weights, Outputs }.Max();

    /// <summary>Compares two traces of the same tokens and sizes (for example a kernel run and its reference replay).</summary>
    /// <exception cref="HeedException">The traces have different sizes.</exception>
    public static TraceComparison Compare(AttentionTrace a, AttentionTrace b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return new TraceComparison(
            Diff("Q", a.Q, b.Q), Diff("K", a.K, b.K), Diff("V", a.V, b.V),
            Diff("scores", a.Scores, b.Scores), Diff("weights", a.Weights, b.Weights), Diff("outputs", a.Outputs, b.Outputs));
    }

    /// <summary>Compares two traces of the same model head (for example a kernel run and its reference replay).</summary>
    /// <exception cref="HeedException">The traces have different sizes.</exception>
    public static TraceComparison Compare(HeadTrace a, HeadTrace b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return new TraceComparison(
            Diff("Q", a.Q, b.Q), Diff("K", a.K, b.K), Diff("V", a.V, b.V),
            Diff("scores", a.Scores, b.Scores), Diff("weights", a.Weights, b.Weights), Diff("outputs", a.Outputs, b.Outputs));
    }

    private static double Diff(string name, double[][] a, double[][] b)
    {
        if (a.Length != b.Length) throw new HeedException($"cannot compare traces: {name} has {a.Length} rows in one and {b.Length} in the other");
        double max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i].Length != b[i].Length) throw new HeedException($"cannot compare traces: {name} row {i} has {a[i].Length} values in one and {b[i].Length} in the other");
            for (int j = 0; j < a[i].Length; j++)
            {
                double x = a[i][j], y = b[i][j];
                if (x.Equals(y)) continue; // also equal infinities and NaN == NaN
                max = Math.Max(max, double.IsNaN(x - y) ? double.PositiveInfinity : Math.Abs(x - y));
            }
        }

        return max;
    }
}

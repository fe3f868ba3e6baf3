namespace Heed.Explain;

/// <summary>
/// Attention rollout (Abnar and Zuidema, 2020): how much each input position can reach each output position through
/// attention alone. Per layer: average the heads, add the identity for the residual path, renormalise each row to sum 1;
/// then multiply the layers: R = Â_{L−1} · … · Â_1 · Â_0, so row i of R spreads output token i over the input tokens.
/// </summary>
public static class Rollout
{
    /// <summary>What rollout does and does not show, for captions and reports.</summary>
    public const string Note =
        "Rollout multiplies each layer's head-averaged attention, plus the identity for the residual stream and with rows renormalised, " +
        "through the layers. It shows how far each position can mix information from the inputs through attention alone. " +
        "It does not show importance or causation: it ignores the values, the MLPs, layer norms and output projections, " +
        "weighs every head equally and assumes the residual carries exactly as much as attention.";

    /// <summary>The rollout matrix [T, T] of a self-attention set (T = S). Rows sum to 1.</summary>
    /// <exception cref="HeedException">The set's query and key lengths differ (rollout needs square self-attention).</exception>
    public static double[][] Compute(AttentionSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        if (set.QueryLength != set.KeyLength)
        {
            throw new HeedException($"rollout needs self-attention with as many keys as queries; this set has {set.QueryLength} queries and {set.KeyLength} keys");
        }

        int n = set.QueryLength;
        double[][] rollout = Identity(n);
        for (int l = 0; l < set.Layers; l++)
        {
            double[] mean = set.HeadAverage(l);
            var layer = new double[n][];
            for (int i = 0; i < n; i++)
            {
                layer[i] = new double[n];
                double sum = 0;
                for (int j = 0; j < n; j++)
                {
                    layer[i][j] = mean[(i * n) + j] + (i == j ? 1 : 0);
                    sum += layer[i][j];
                }

                for (int j = 0; j < n; j++) layer[i][j] /= sum;
            }

            rollout = Multiply(layer, rollout);
        }

        return rollout;
    }

    /// <summary>The rollout as a one-layer, one-head set (for the heatmap picture).</summary>
    public static AttentionSet AsSet(AttentionSet set)
    {
        double[][] r = Compute(set);
        return new AttentionSet(set.QueryTokens, set.KeyTokens, [[r.SelectMany(row => row).ToArray()]]) { Source = set.Source };
    }

    private static double[][] Identity(int n) =>
        Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Select(j => i == j ? 1.0 : 0.0).ToArray()).ToArray();

    private static double[][] Multiply(double[][] a, double[][] b)
    {
        int n = a.Length;
        var c = new double[n][];
        for (int i = 0; i < n; i++)
        {
            c[i] = new double[n];
            for (int k = 0; k < n; k++)
            {
                double aik = a[i][k];
                if (aik == 0) continue;
                for (int j = 0; j < n; j++) c[i][j] += aik * b[k][j];
            }
        }

        return c;
    }
}

namespace Heed.Explain.Tests;

/// <summary>Attention sets for the tests.</summary>
internal static class Sets
{
    /// <summary>A random softmax-normalised set (rows sum to 1) with its scores, optionally causal (masked scores −∞).</summary>
    public static AttentionSet Random(int layers, int heads, int tokens, int seed = 1, bool causal = false)
    {
        var rng = new Random(seed);
        var weights = new double[layers][][];
        var scores = new double[layers][][];
        for (int l = 0; l < layers; l++)
        {
            weights[l] = new double[heads][];
            scores[l] = new double[heads][];
            for (int h = 0; h < heads; h++)
            {
                var m = new double[tokens * tokens];
                var z = new double[tokens * tokens];
                for (int i = 0; i < tokens; i++)
                {
                    double sum = 0;
                    for (int j = 0; j < tokens; j++)
                    {
                        z[(i * tokens) + j] = causal && j > i ? double.NegativeInfinity : rng.NextDouble() * 4;
                        m[(i * tokens) + j] = Math.Exp(z[(i * tokens) + j]);
                        sum += m[(i * tokens) + j];
                    }

                    for (int j = 0; j < tokens; j++) m[(i * tokens) + j] /= sum;
                }

                weights[l][h] = m;
                scores[l][h] = z;
            }
        }

        string[] labels = Enumerable.Range(0, tokens).Select(i => "t" + i).ToArray();
        return new AttentionSet(labels, labels, weights, scores);
    }
}

namespace Heed.Explain.Seeds;

/// <summary>
/// The worked example "The cat sat on the mat" of seed 000 ("Transformer Attention: A Guide to the Q, K, and V Matrices"):
/// 2-d embeddings, the weight matrices its Step 3 actually computes with, and no 1/√d scaling (the seed's choice).
/// </summary>
public static class CatSatOnTheMat
{
    /// <summary>The six words of the sentence ("The" and "the" share an embedding).</summary>
    public static IReadOnlyList<string> Tokens { get; } = ["The", "cat", "sat", "on", "the", "mat"];

    /// <summary>The word the seed follows through Steps 4–6.</summary>
    public const string Focus = "cat";

    /// <summary>Step 1's embeddings [6, 2].</summary>
    public static double[][] Embeddings() => [[1, 0], [0, 1], [1, 1], [0, -1], [1, 0], [0, 1]];

    /// <summary>W_Q as Step 3 computes with it: the identity.</summary>
    public static double[][] WQ() => [[1, 0], [0, 1]];

    /// <summary>W_K as Step 3 computes with it: the swap.</summary>
    public static double[][] WK() => [[0, 1], [1, 0]];

    /// <summary>W_V as Step 3 computes with it.</summary>
    public static double[][] WV() => [[1, 1], [1, -1]];

    /// <summary>The matrix Step 2's formulas print for all three of W_Q, W_K and W_V (a slip of the seed).</summary>
    public static double[][] Step2PrintedMatrix() => [[1, 1], [1, -1]];

    /// <summary>The seed's rounded weights (0.244 and 0.090) and the output it derives from them.</summary>
    public static (double High, double Low, double[] Output) SeedRounded => (0.244, 0.090, [1.066, 0.398]);

    /// <summary>The places where the seed's own text and its arithmetic disagree, in plain words.</summary>
    public static IReadOnlyList<string> Slips { get; } =
    [
        "Step 2's formulas print [[1, 1], [1, -1]] for all three of W_Q, W_K and W_V, but Step 3 computes with W_Q = [[1, 0], [0, 1]], W_K = [[0, 1], [1, 0]] and W_V = [[1, 1], [1, -1]]; Heed uses the matrices Step 3 uses, since every later number depends on them.",
        "Step 5 rounds the weights to 0.244 and 0.090 before Step 6 sums them, which gives [1.066, 0.398]; with unrounded weights e/(3e+3) = 0.24369 and 1/(3e+3) = 0.08965 the output for \"cat\" is [1.0644, 0.3977].",
    ];

    /// <summary>Runs the example: unscaled as the seed does, or with 1/√d when <paramref name="scaled"/>.</summary>
    public static AttentionTrace Trace(bool scaled = false, bool useReference = false) =>
        TraceBuilder.Build(Tokens, Embeddings(), WQ(), WK(), WV(), scaled ? null : 1.0, useReference);
}

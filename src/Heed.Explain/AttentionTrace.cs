namespace Heed.Explain;

/// <summary>
/// Every step of single-head self-attention on a list of tokens, as the seeds walk through it:
/// embeddings E [T, C]; Q = E·W_Q, K = E·W_K, V = E·W_V [T, D]; scores = scale·Q·Kᵀ [T, T];
/// weights = softmax(scores) row by row; outputs = weights·V [T, D].
/// Matrices are row-major jagged arrays (one inner array per row).
/// </summary>
public sealed record AttentionTrace
{
    /// <summary>The tokens, one per row of every [T, …] matrix.</summary>
    public required IReadOnlyList<string> Tokens { get; init; }

    /// <summary>E [T, C].</summary>
    public required double[][] Embeddings { get; init; }

    /// <summary>W_Q [C, D].</summary>
    public required double[][] WQ { get; init; }

    /// <summary>W_K [C, D].</summary>
    public required double[][] WK { get; init; }

    /// <summary>W_V [C, Dv].</summary>
    public required double[][] WV { get; init; }

    /// <summary>Q [T, D].</summary>
    public required double[][] Q { get; init; }

    /// <summary>K [T, D].</summary>
    public required double[][] K { get; init; }

    /// <summary>V [T, Dv].</summary>
    public required double[][] V { get; init; }

    /// <summary>The factor on Q·Kᵀ (1 = unscaled, 1/√D = scaled).</summary>
    public required double Scale { get; init; }

    /// <summary>scale·Q·Kᵀ [T, T]: row i holds token i's score against every token.</summary>
    public required double[][] Scores { get; init; }

    /// <summary>softmax of each row of <see cref="Scores"/> [T, T].</summary>
    public required double[][] Weights { get; init; }

    /// <summary>weights·V [T, Dv]: each token's context-aware output.</summary>
    public required double[][] Outputs { get; init; }

    /// <summary>Whether the attention ran on the float64 reference.</summary>
    public bool Reference { get; init; }

    /// <summary>Whether future tokens were masked (token i attends to 0..i only).</summary>
    public bool Causal { get; init; }

    /// <summary>The row of <paramref name="token"/> (first occurrence, case-sensitive first, then case-insensitive), or −1.</summary>
    public int IndexOf(string token) => IndexOf(Tokens, token);

    /// <summary>The index of <paramref name="token"/> in <paramref name="tokens"/> (an exact match first, then one ignoring case), or −1.</summary>
    public static int IndexOf(IReadOnlyList<string> tokens, string token)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        for (int i = 0; i < tokens.Count; i++)
        {
            if (tokens[i] == token) return i;
        }

        for (int i = 0; i < tokens.Count; i++)
        {
            if (string.Equals(tokens[i], token, StringComparison.OrdinalIgnoreCase)) return i;
        }

        return -1;
    }
}

namespace Heed.Explain;

/// <summary>
/// Every step of one attention head of one layer of a real model, for one forward pass: the Q, K and V the model
/// computed (after its norms, projections and position encoding), scores = scale·Q·Kᵀ with the causal mask,
/// weights = softmax(scores) row by row, and outputs = weights·V — the head's slice of the attention output, before the
/// output projection mixes the heads. Matrices are row-major jagged arrays (one inner array per row).
/// </summary>
public sealed record HeadTrace
{
    /// <summary>The S key tokens (display labels); the T query tokens are the last T of them.</summary>
    public required IReadOnlyList<string> Tokens { get; init; }

    /// <summary>The S token ids.</summary>
    public required IReadOnlyList<int> Ids { get; init; }

    /// <summary>The architecture that produced Q, K and V ("llama", "gpt2").</summary>
    public required string Architecture { get; init; }

    /// <summary>The layer, 0 first.</summary>
    public required int Layer { get; init; }

    /// <summary>The query head h.</summary>
    public required int Head { get; init; }

    /// <summary>The key/value head the query head reads: h / (H / Hkv) (grouped-query attention).</summary>
    public required int KvHead { get; init; }

    /// <summary>The factor on Q·Kᵀ (1/√D for both architectures).</summary>
    public required double Scale { get; init; }

    /// <summary>Q [T, D] of this head.</summary>
    public required double[][] Q { get; init; }

    /// <summary>K [S, D] of the head's key/value head.</summary>
    public required double[][] K { get; init; }

    /// <summary>V [S, Dv] of the head's key/value head.</summary>
    public required double[][] V { get; init; }

    /// <summary>scale·Q·Kᵀ after the causal mask [T, S] (−∞ for the keys a query may not see).</summary>
    public required double[][] Scores { get; init; }

    /// <summary>softmax of each row of <see cref="Scores"/> [T, S], as the model's attention computed them.</summary>
    public required double[][] Weights { get; init; }

    /// <summary>weights·V [T, Dv], summed in float64.</summary>
    public required double[][] Outputs { get; init; }

    /// <summary>Whether the model's attention ran on the float64 reference rather than the fastest kernel.</summary>
    public bool Reference { get; init; }

    /// <summary>T, the number of query rows.</summary>
    public int QueryLength => Q.Length;

    /// <summary>The position of the first query row among the key tokens (S − T).</summary>
    public int QueryOffset => Tokens.Count - Q.Length;

    /// <summary>The label of query row <paramref name="row"/>.</summary>
    public string QueryToken(int row) => Tokens[QueryOffset + row];

    /// <summary>
    /// The query row of <paramref name="focus"/>, or −1: "#N" is the token at position N; otherwise the first token whose
    /// label matches exactly, then ignoring case, then also ignoring the word-start mark (▁ or Ġ) in front; then a word
    /// the tokenizer split into pieces (" c" + "at" for "cat"), found by its last piece — the one that has seen the whole word.
    /// </summary>
    public int IndexOf(string focus)
    {
        ArgumentNullException.ThrowIfNull(focus);
        if (focus.Length > 1 && focus[0] == '#' && int.TryParse(focus.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int position))
        {
            return position >= QueryOffset && position < Tokens.Count ? position - QueryOffset : -1;
        }

        string[] queries = [.. Tokens.Skip(QueryOffset)];
        int row = AttentionTrace.IndexOf(queries, focus);
        if (row >= 0) return row;
        string bare = Bare(focus);
        for (int i = 0; i < queries.Length; i++)
        {
            if (bare.Length > 0 && string.Equals(Bare(queries[i]), bare, StringComparison.OrdinalIgnoreCase)) return i;
        }

        for (int i = 0; i < queries.Length && bare.Length > 0; i++)
        {
            string word = Bare(queries[i]);
            for (int j = i + 1; j < queries.Length && word.Length < bare.Length; j++)
            {
                if (queries[j].Length > 0 && queries[j][0] is ' ' or '\u2581' or '\u0120') break; // the next word starts
                word += queries[j];
                if (string.Equals(word, bare, StringComparison.OrdinalIgnoreCase)) return j;
            }
        }

        return -1;
    }

    private static string Bare(string token) => token.TrimStart(' ', '\u2581', '\u0120');
}

namespace Heed.Models.Tokenizers;

/// <summary>Turns text into token ids and back, as a model's training pipeline did.</summary>
public interface ITokenizer
{
    /// <summary>The number of token ids (must equal the model's vocabulary size).</summary>
    int VocabSize { get; }

    /// <summary>The beginning-of-sequence id, or null when the vocabulary has none.</summary>
    int? BosId { get; }

    /// <summary>
    /// Whether the model saw BOS before every training text (Llama: yes). When false (GPT-2), generation puts BOS
    /// first only when the prompt is empty, so that there is a token to start from.
    /// </summary>
    bool PrependsBos { get; }

    /// <summary>Encodes <paramref name="text"/>, optionally preceded by BOS and followed by EOS.</summary>
    int[] Encode(string text, bool addBos, bool addEos);

    /// <summary>
    /// The bytes a streaming printer writes for <paramref name="token"/> when it follows <paramref name="previous"/>
    /// (−1 for none). Concatenating them for a sequence gives the decoded text's UTF-8 bytes.
    /// </summary>
    byte[] DecodePiece(int previous, int token);

    /// <summary>The vocabulary entry of <paramref name="token"/> as stored, for display (e.g. "&lt;0x0A&gt;", " the").</summary>
    string PieceText(int token);
}

/// <summary>Helpers shared by every tokenizer.</summary>
public static class Tokenizer
{
    /// <summary>Decodes a whole id sequence to text: the pieces' bytes concatenated, read as UTF-8 (invalid bytes become U+FFFD).</summary>
    public static string Decode(this ITokenizer tokenizer, ReadOnlySpan<int> ids)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        using var bytes = new MemoryStream();
        int previous = -1;
        foreach (int id in ids)
        {
            bytes.Write(tokenizer.DecodePiece(previous, id));
            previous = id;
        }

        return System.Text.Encoding.UTF8.GetString(bytes.GetBuffer(), 0, (int)bytes.Length);
    }

    /// <summary>
    /// The tokens llama.cpp cuts out of raw text, longest (in UTF-8) first: every unknown (GGUF token type 2), control (3)
    /// and user-defined (4) token when special tokens are parsed, only the user-defined ones otherwise.
    /// </summary>
    internal static (int[] Parsed, int[] UserDefined) SpecialTokens(string[] tokens, long[]? types)
    {
        if (types is null) return ([], []);
        int[] special = [.. Enumerable.Range(0, Math.Min(tokens.Length, types.Length))
            .Where(id => types[id] is 2 or 3 or 4 && tokens[id].Length > 0)
            .OrderByDescending(id => System.Text.Encoding.UTF8.GetByteCount(tokens[id]))];
        return (special, [.. special.Where(id => types[id] == 4)]);
    }

    /// <summary>
    /// <paramref name="text"/> cut at every occurrence of each of <paramref name="tokens"/> (taken in the order given,
    /// each searched for in the spans the earlier ones left), as llama.cpp partitions text around special tokens: a list
    /// of (span, −1) and (null, token id) in text order.
    /// </summary>
    internal static List<(string? Span, int Token)> Partition(string text, IReadOnlyList<int> tokens, Func<int, string> textOf)
    {
        var parts = new List<(string?, int)>();
        if (text.Length > 0) parts.Add((text, -1));
        foreach (int id in tokens)
        {
            string token = textOf(id);
            for (int p = 0; p < parts.Count; p++)
            {
                if (parts[p].Item1 is not string span) continue;
                int at = span.IndexOf(token, StringComparison.Ordinal);
                if (at < 0) continue;
                var pieces = new List<(string?, int)>(3);
                if (at > 0) pieces.Add((span[..at], -1));
                pieces.Add((null, id));
                if (at + token.Length < span.Length) pieces.Add((span[(at + token.Length)..], -1));
                parts.RemoveAt(p);
                parts.InsertRange(p, pieces);
                p += pieces.Count - 2; // the loop's p++ lands on the right remainder, searched again
            }
        }

        return parts;
    }
}

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

    /// <summary>
    /// The tokens besides BOS that end generation, as llama.cpp's end-of-generation set: for a GGUF vocabulary its EOS,
    /// EOT and EOM ids and the tokens spelled as a known end of turn ("&lt;|eot_id|&gt;", "&lt;|im_end|&gt;",
    /// "&lt;end_of_turn&gt;", …). Empty by default: llama2.c's files stop at BOS only, as run.c does.
    /// </summary>
    IReadOnlyList<int> EndOfGeneration => [];

    /// <summary>
    /// Encodes a text given in parts, [BOS] first when asked: in a part with <c>Markup</c> set (a chat format's own
    /// text) the text of a control or unknown token becomes that token, as llama.cpp's <c>parse_special</c> does; in the
    /// others (what users wrote) it stays text. By default, the parts joined and encoded as text.
    /// </summary>
    int[] Encode(IReadOnlyList<(string Text, bool Markup)> parts, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(parts);
        return Encode(string.Concat(parts.Select(p => p.Text)), addBos, addEos: false);
    }
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
    /// <see cref="Partition(string, IReadOnlyList{int}, Func{int, string})"/> over text in parts: markup parts cut at
    /// <paramref name="special"/>, the others at <paramref name="userDefined"/> only.
    /// </summary>
    internal static List<(string? Span, int Token)> Partition(IReadOnlyList<(string Text, bool Markup)> parts, int[] special, int[] userDefined, Func<int, string> textOf)
    {
        // Each part is cut on its own; then neighbouring spans of text join again, so the result is what cutting the
        // joined text would give where no special token's text reaches across a part's edge.
        var all = new List<(string? Span, int Token)>();
        foreach ((string text, bool markup) in parts)
        {
            foreach ((string? span, int token) in Partition(text, markup ? special : userDefined, textOf))
            {
                if (span is not null && all.Count > 0 && all[^1].Span is string before)
                {
                    all[^1] = (before + span, -1);
                }
                else
                {
                    all.Add((span, token));
                }
            }
        }

        return all;
    }

    /// <summary>The end-of-generation set of a GGUF vocabulary (see <see cref="ITokenizer.EndOfGeneration"/>).</summary>
    internal static int[] EndOfGeneration(GgufFile gguf, string[] tokens, int? eos, string name)
    {
        var ids = new SortedSet<int>();
        if (eos is int e) ids.Add(e);
        foreach (string key in (ReadOnlySpan<string>)["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"])
        {
            if (Gpt2Tokenizer.TokenId(gguf, key, tokens.Length, name) is int id) ids.Add(id);
        }

        for (int id = 0; id < tokens.Length; id++)
        {
            if (EndMarkers.Contains(tokens[id])) ids.Add(id);
        }

        return [.. ids];
    }

    // The texts llama.cpp counts as an end of generation wherever a vocabulary has them ("</s>" too, in the version
    // LLamaSharp 0.30.0 carries; the parity tests compare the whole set).
    private static readonly HashSet<string> EndMarkers = new(StringComparer.Ordinal)
    {
        "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
        "<|end_of_text|>", "<EOT>", "_<EOT>", "<end_of_utterance>", "</s>", "<｜end▁of▁sentence｜>",
    };

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

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
}

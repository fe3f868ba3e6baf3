using System.Buffers.Binary;
using System.Text;
using Heed.Models.Tokenizers;

namespace Heed.Models.Tests;

/// <summary>
/// llama2.c's encode written as run.c writes it: after each merge, rescan every adjacent pair for the highest score,
/// keeping the first (leftmost) of equal scores. Quadratic in the text, so only for short texts: it is the yardstick
/// the tokenizer's priority-queue merge is checked against.
/// </summary>
internal sealed class SlowLlamaEncoder
{
    private readonly List<string> _pieces = []; // each piece's bytes as Latin-1 text (one char per byte)
    private readonly List<float> _scores = [];
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);

    private SlowLlamaEncoder(IEnumerable<(byte[] Piece, float Score)> vocabulary)
    {
        foreach ((byte[] piece, float score) in vocabulary)
        {
            _ids.TryAdd(Encoding.Latin1.GetString(piece), _pieces.Count);
            _pieces.Add(Encoding.Latin1.GetString(piece));
            _scores.Add(score);
        }
    }

    /// <summary>Reads a llama2.c tok*.bin file: int32 max length, then per token float32 score, int32 length, bytes.</summary>
    public static SlowLlamaEncoder ReadTokBin(byte[] file)
    {
        var vocabulary = new List<(byte[], float)>();
        for (int at = 4; at < file.Length;)
        {
            float score = BinaryPrimitives.ReadSingleLittleEndian(file.AsSpan(at));
            int length = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(at + 4));
            vocabulary.Add((file.AsSpan(at + 8, length).ToArray(), score));
            at += 8 + length;
        }

        return new SlowLlamaEncoder(vocabulary);
    }

    /// <summary>The SentencePiece vocabulary of a GGUF file, "▁" read as a space as llama2.c's export does.</summary>
    public static SlowLlamaEncoder FromGguf(GgufFile gguf)
    {
        string[] tokens = gguf.Strings("tokenizer.ggml.tokens");
        float[] scores = gguf.Floats("tokenizer.ggml.scores")!;
        return new SlowLlamaEncoder(tokens.Select((t, i) => (Encoding.UTF8.GetBytes(t.Replace('\u2581', ' ')), scores[i])));
    }

    /// <summary>The ids of <paramref name="text"/>, without BOS or EOS.</summary>
    public int[] Encode(string text)
    {
        var tokens = new List<int>();
        if (text.Length > 0) tokens.Add(_ids[" "]); // the dummy prefix
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var codePoint = new List<byte>();
        for (int i = 0; i < bytes.Length; i++)
        {
            codePoint.Add(bytes[i]);
            if (i + 1 < bytes.Length && (bytes[i + 1] & 0xC0) == 0x80 && codePoint.Count < 4) continue;
            if (_ids.TryGetValue(Encoding.Latin1.GetString([.. codePoint]), out int id))
            {
                tokens.Add(id);
            }
            else
            {
                foreach (byte b in codePoint) tokens.Add(b + 3); // byte fallback: <0x00> is id 3
            }

            codePoint.Clear();
        }

        while (true)
        {
            float bestScore = -1e10f;
            int bestId = -1, bestIndex = -1;
            for (int i = 0; i + 1 < tokens.Count; i++)
            {
                if (_ids.TryGetValue(_pieces[tokens[i]] + _pieces[tokens[i + 1]], out int id) && _scores[id] > bestScore)
                {
                    bestScore = _scores[id];
                    bestId = id;
                    bestIndex = i;
                }
            }

            if (bestIndex < 0) return [.. tokens];
            tokens[bestIndex] = bestId;
            tokens.RemoveAt(bestIndex + 1);
        }
    }
}

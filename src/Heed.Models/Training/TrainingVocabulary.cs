using System.Text;
using System.Text.Json;
using Heed.Models.Tokenizers;

namespace Heed.Models.Training;

/// <summary>
/// The tokenizer a trained model is saved with: a GPT-2 byte-level BPE vocabulary (vocab.json + merges.txt) that
/// <see cref="Gpt2Tokenizer"/> and <c>heed explain --model</c> load unchanged. Every byte a task uses is one token (its
/// GPT-2 byte-level character); a task's whole words (" cat") are built by merges that join a word's characters left to right,
/// so the pre-tokenizer's piece " cat" becomes the single token "Ġcat".
/// </summary>
public sealed class TrainingVocabulary
{
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly List<string> _tokens = [];
    private readonly List<string> _merges = [];

    /// <summary>A vocabulary of the given bytes (in the order given) and words (each a piece as GPT-2's pre-tokenizer cuts it, e.g. " cat").</summary>
    public TrainingVocabulary(IEnumerable<byte> bytes, IEnumerable<string>? words = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        foreach (byte b in bytes) Add(ByteLevel(b).ToString());
        string[] all = [.. words ?? []];
        foreach (string word in all)
        {
            string mapped = string.Concat(Encoding.UTF8.GetBytes(word).Select(ByteLevel));
            foreach (char ch in mapped) Add(ch.ToString());
            for (int n = 2; n <= mapped.Length; n++)
            {
                if (Add(mapped[..n])) _merges.Add($"{mapped[..(n - 1)]} {mapped[n - 1]}");
            }
        }

        // A word's left-to-right merges can lose to an earlier word's (" The" is cut "Ġ" + "The" once "The" exists):
        // join what is left with merges of the lowest rank, until every word is one token.
        for (int round = 0; round < 64 && all.Length > 0; round++)
        {
            Gpt2Tokenizer tokenizer = CreateTokenizer();
            bool changed = false;
            foreach (string word in all)
            {
                int[] ids = tokenizer.Encode(word, false, false);
                if (ids.Length < 2) continue;
                string left = _tokens[ids[0]], right = _tokens[ids[1]];
                Add(left + right);
                string merge = $"{left} {right}";
                if (!_merges.Contains(merge))
                {
                    _merges.Add(merge);
                    changed = true;
                }
            }

            if (!changed) break;
        }
    }

    /// <summary>The tokens in id order, in GPT-2's byte-level spelling ("Ġcat").</summary>
    public IReadOnlyList<string> Tokens => _tokens;

    /// <summary>The merges in rank order ("Ġc a").</summary>
    public IReadOnlyList<string> Merges => _merges;

    /// <summary>V, the number of tokens.</summary>
    public int Count => _tokens.Count;

    /// <summary>The contents of vocab.json: token → id.</summary>
    public byte[] VocabJson() => JsonSerializer.SerializeToUtf8Bytes(_tokens.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i));

    /// <summary>The contents of merges.txt (a version line, then one merge per line).</summary>
    public byte[] MergesText() => Encoding.UTF8.GetBytes("#version: 0.2\n" + string.Concat(_merges.Select(m => m + "\n")));

    /// <summary>The tokenizer these files make.</summary>
    public Gpt2Tokenizer CreateTokenizer() => Gpt2Tokenizer.Create(VocabJson(), MergesText());

    /// <summary>The id of a byte's token.</summary>
    /// <exception cref="HeedException">The byte is not in the vocabulary.</exception>
    public int IdOf(byte b) => _ids.TryGetValue(ByteLevel(b).ToString(), out int id) ? id : throw new HeedException($"byte 0x{b:x2} is not in the vocabulary");

    /// <summary>Writes vocab.json and merges.txt into <paramref name="folder"/>.</summary>
    public void Write(string folder)
    {
        File.WriteAllBytes(Path.Combine(folder, "vocab.json"), VocabJson());
        File.WriteAllBytes(Path.Combine(folder, "merges.txt"), MergesText());
    }

    /// <summary>GPT-2's byte → character table: printable Latin-1 bytes are themselves, the other 68 are U+0100.. in order.</summary>
    public static char ByteLevel(byte b)
    {
        int next = 256;
        for (int x = 0; x < 256; x++)
        {
            bool printable = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
            if (x == b) return printable ? (char)x : (char)next;
            if (!printable) next++;
        }

        throw new System.Diagnostics.UnreachableException();
    }

    private bool Add(string token)
    {
        if (_ids.ContainsKey(token)) return false;
        _ids[token] = _tokens.Count;
        _tokens.Add(token);
        return true;
    }
}

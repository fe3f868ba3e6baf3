using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Heed.Models.Tokenizers;

/// <summary>
/// GPT-2's byte-level BPE (vocab.json + merges.txt) through Microsoft.ML.Tokenizers: text is split by GPT-2's
/// pre-tokenization pattern, each piece's UTF-8 bytes are mapped to printable characters, and merges apply in rank
/// order. &lt;|endoftext|&gt; serves as BOS and EOS.
/// </summary>
public sealed class Gpt2Tokenizer : ITokenizer
{
    private const string EndOfText = "<|endoftext|>";

    private readonly BpeTokenizer _bpe;
    private readonly string[] _tokens;
    private readonly byte[][] _bytes;

    private Gpt2Tokenizer(BpeTokenizer bpe, string[] tokens)
    {
        _bpe = bpe;
        _tokens = tokens;
        _bytes = new byte[tokens.Length][];
        int[] byteOf = ByteOfChar();
        for (int id = 0; id < tokens.Length; id++)
        {
            string t = tokens[id] ?? "";
            bool mapped = t.All(ch => ch < byteOf.Length && byteOf[ch] >= 0);
            _bytes[id] = mapped ? [.. t.Select(ch => (byte)byteOf[ch])] : Encoding.UTF8.GetBytes(t);
        }

        BosId = Array.IndexOf(tokens, EndOfText) is int eot and >= 0 ? eot : null;
    }

    /// <inheritdoc />
    public int VocabSize => _tokens.Length;

    /// <inheritdoc />
    public int? BosId { get; }

    /// <inheritdoc />
    public bool PrependsBos => false;

    /// <summary>Loads vocab.json and merges.txt (Hugging Face's GPT-2 files).</summary>
    /// <exception cref="HeedException">A file is missing or malformed.</exception>
    public static Gpt2Tokenizer Load(string vocabJsonPath, string mergesPath)
    {
        try
        {
            byte[] vocab = File.ReadAllBytes(vocabJsonPath);
            byte[] merges = File.ReadAllBytes(mergesPath);
            return Create(vocab, merges, vocabJsonPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HeedException($"GPT-2 tokenizer: cannot read {vocabJsonPath} or {mergesPath}: {ex.Message}", ex);
        }
    }

    /// <summary>Builds the tokenizer from the bytes of vocab.json and merges.txt.</summary>
    /// <exception cref="HeedException">The vocabulary is not a JSON object of token → id with ids 0..V−1.</exception>
    public static Gpt2Tokenizer Create(byte[] vocabJson, byte[] merges, string name = "vocab.json")
    {
        ArgumentNullException.ThrowIfNull(vocabJson);
        ArgumentNullException.ThrowIfNull(merges);
        Dictionary<string, int> vocab;
        try
        {
            vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(vocabJson) ?? [];
        }
        catch (JsonException ex)
        {
            throw new HeedException($"{name}: not a JSON object of token → id: {ex.Message}", ex);
        }

        var tokens = new string[vocab.Count];
        foreach ((string token, int id) in vocab)
        {
            if ((uint)id >= (uint)tokens.Length || tokens[id] is not null)
            {
                throw new HeedException($"{name}: token {GgufFile.Quote(token)} has id {id}; expected each id of 0..{tokens.Length - 1} exactly once");
            }

            tokens[id] = token;
        }

        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        if (vocab.TryGetValue(EndOfText, out int eot)) special[EndOfText] = eot;
        string[] mergeLines = [.. Encoding.UTF8.GetString(merges).Split('\n')
            .Select(line => line.TrimEnd('\r'))
            .Where(line => line.Length > 0 && !line.StartsWith("#version", StringComparison.Ordinal))];

        // BpeTokenizer in byte-level mode with GPT-2's own pre-tokenizer (CodeGenTokenizer.Create would add
        // CodeGen's whitespace-run tokens, which GPT-2's vocabulary lacks).
        BpeTokenizer bpe;
        try
        {
            bpe = BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = mergeLines,
                ByteLevel = true,
                PreTokenizer = new Gpt2PreTokenizer(),
                SpecialTokens = special,
            });
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new HeedException($"{name}: the vocabulary and merges do not form a BPE tokenizer: {ex.Message}", ex);
        }

        return new Gpt2Tokenizer(bpe, tokens);
    }

    /// <summary>Builds the tokenizer from a GGUF vocabulary whose <c>tokenizer.ggml.model</c> is "gpt2".</summary>
    /// <exception cref="HeedException">The file holds another kind of vocabulary.</exception>
    public static Gpt2Tokenizer FromGguf(GgufFile gguf, string name = "gguf")
    {
        ArgumentNullException.ThrowIfNull(gguf);
        string model = gguf.String("tokenizer.ggml.model");
        if (model != "gpt2")
        {
            throw new HeedException($"{name}: tokenizer.ggml.model is {GgufFile.Quote(model)}; expected \"gpt2\" (byte-level BPE)");
        }

        string[] tokens = gguf.Strings("tokenizer.ggml.tokens");
        string[] merges = gguf.Strings("tokenizer.ggml.merges");
        var vocab = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++) vocab[tokens[i]] = i;
        byte[] vocabJson = JsonSerializer.SerializeToUtf8Bytes(vocab);
        byte[] mergesText = Encoding.UTF8.GetBytes("#version: 0.2\n" + string.Join('\n', merges) + "\n");
        return Create(vocabJson, mergesText, name);
    }

    /// <inheritdoc />
    public int[] Encode(string text, bool addBos, bool addEos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addBos && BosId is int bos) ids.Add(bos);
        if (text.Length > 0)
        {
            ids.AddRange(_bpe.EncodeToIds(text));
        }

        if (addEos && BosId is int eos) ids.Add(eos);
        return [.. ids];
    }

    /// <summary>The token's bytes (the byte-level characters mapped back to bytes); &lt;|endoftext|&gt; as its text.</summary>
    public byte[] DecodePiece(int previous, int token)
    {
        if ((uint)token >= (uint)_tokens.Length)
        {
            throw new HeedException($"token id {token} is outside the vocabulary 0..{_tokens.Length - 1}");
        }

        return _bytes[token];
    }

    /// <inheritdoc />
    public string PieceText(int token)
    {
        if ((uint)token >= (uint)_tokens.Length)
        {
            throw new HeedException($"token id {token} is outside the vocabulary 0..{_tokens.Length - 1}");
        }

        return _tokens[token];
    }

    // GPT-2's byte ↔ character table: printable Latin-1 bytes map to themselves, the other 68 to U+0100.. in order.
    private static int[] ByteOfChar()
    {
        var byteOf = new int[256 + 68];
        Array.Fill(byteOf, -1);
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            byteOf[printable ? b : next++] = b;
        }

        return byteOf;
    }
}

/// <summary>
/// GPT-2's pre-tokenization: contractions, letters, digits and other symbols each with an optional leading space,
/// and whitespace runs (a run before a non-space keeps its last space for the next word).
/// </summary>
internal sealed partial class Gpt2PreTokenizer : PreTokenizer
{
    /// <inheritdoc />
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        string.IsNullOrEmpty(text) ? [] : Split(text.AsSpan());

    /// <inheritdoc />
    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text);

    private static List<(int Offset, int Length)> Split(ReadOnlySpan<char> text)
    {
        var pieces = new List<(int, int)>();
        foreach (ValueMatch match in Pattern().EnumerateMatches(text))
        {
            pieces.Add((match.Index, match.Length));
        }

        return pieces;
    }

    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}

using System.Text;
using System.Text.Json;

namespace Heed.Models.Tokenizers;

/// <summary>
/// Byte-level BPE as GPT-2 defined it and llama.cpp runs it for GGUF <c>tokenizer.ggml.model</c> "gpt2": user-defined
/// tokens are cut out of the text first; each remaining span is split into words by the pre-tokenizer type
/// (<see cref="PreTokenizerType"/>); each word's UTF-8 bytes are mapped to printable characters and merged pair by pair,
/// the pair of lowest merge rank first (the leftmost among equal ranks). Llama 3-style types take a word that is a token
/// whole, without merges.
/// Written here rather than through Microsoft.ML.Tokenizers' <c>BpeTokenizer</c>, which Heed used before: the parity tests
/// hold Heed to llama.cpp's exact ids, and what they need (the category-collapsed splitting of each pre-tokenizer type,
/// whole-word tokens that skip merges, user-defined tokens cut out first, <c>parse_special</c>) has no hook there.
/// Hugging Face's GPT-2 files go through the same code, so there is one BPE to trust.
/// </summary>
public sealed class Gpt2Tokenizer : ITokenizer
{
    private const string EndOfText = "<|endoftext|>";

    private readonly string[] _tokens;
    private readonly byte[][] _bytes;
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<(string Left, string Right), int> _ranks;
    private readonly BpePreTokenizer _pre;
    private readonly int[] _special; // unknown, control and user-defined tokens, longest text first, as llama.cpp partitions
    private readonly int[] _userDefined; // the user-defined ones: cut out even when special tokens are not parsed

    // Words recur: their ids are kept (up to a bound, so that untrusted text cannot grow it without limit).
    private const int MaxCachedWords = 1 << 16;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int[]> _wordCache = new(StringComparer.Ordinal);

    private Gpt2Tokenizer(string[] tokens, IReadOnlyList<string> merges, BpePreTokenizer pre, string name, long[]? tokenTypes)
    {
        _tokens = tokens;
        _pre = pre;
        _bytes = new byte[tokens.Length][];
        _ids = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        int[] byteOf = ByteOfChar();
        for (int id = 0; id < tokens.Length; id++)
        {
            string t = tokens[id] ?? "";
            bool mapped = t.All(ch => ch < byteOf.Length && byteOf[ch] >= 0);
            _bytes[id] = mapped ? [.. t.Select(ch => (byte)byteOf[ch])] : Encoding.UTF8.GetBytes(t);
            if (!_ids.TryAdd(t, id))
            {
                throw new HeedException($"{name}: token {GgufFile.Quote(t)} appears twice (ids {_ids[t]} and {id})");
            }
        }

        // "first second", split at the first space after the first character; the first rank of a repeated pair wins.
        _ranks = new Dictionary<(string, string), int>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            string merge = merges[rank];
            int space = merge.Length > 1 ? merge.IndexOf(' ', 1) : -1;
            (string, string) pair = space < 0 ? ("", "") : (merge[..space], merge[(space + 1)..]);
            _ranks.TryAdd(pair, rank);
        }

        (_special, _userDefined) = Tokenizer.SpecialTokens(tokens, tokenTypes);
        int endOfText = Array.IndexOf(tokens, EndOfText);
        BosId = endOfText >= 0 ? endOfText : null;
        EosId = BosId;
    }

    /// <inheritdoc />
    public int VocabSize => _tokens.Length;

    /// <inheritdoc />
    public int? BosId { get; private set; }

    /// <summary>The end-of-sequence id, or null when the vocabulary has none.</summary>
    public int? EosId { get; private set; }

    /// <summary>
    /// Whether BOS starts every text: GGUF <c>tokenizer.ggml.add_bos_token</c>, else the pre-tokenizer type's default
    /// (true for Llama 3 and Tekken, as in llama.cpp); false for GPT-2's own files.
    /// </summary>
    public bool PrependsBos { get; private set; }

    /// <summary>Whether EOS ends every text (GGUF <c>tokenizer.ggml.add_eos_token</c>; false by default).</summary>
    public bool AppendsEos { get; private set; }

    /// <summary>The pre-tokenizer type that splits text into words (GGUF <c>tokenizer.ggml.pre</c>; "gpt-2" for GPT-2's own files).</summary>
    public string PreTokenizerType => _pre.Type;

    /// <summary>Every <c>tokenizer.ggml.pre</c> value Heed splits as llama.cpp does (llama.cpp's aliases included), in ordinal order.</summary>
    public static IReadOnlyList<string> PreTokenizerTypes => BpePreTokenizer.KnownTypes;

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

    /// <summary>Builds the tokenizer from the bytes of vocab.json and merges.txt, with GPT-2's pre-tokenizer.</summary>
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

        string[] mergeLines = [.. Encoding.UTF8.GetString(merges).Split('\n')
            .Select(line => line.TrimEnd('\r'))
            .Where(line => line.Length > 0 && !line.StartsWith("#version", StringComparison.Ordinal))];
        return new Gpt2Tokenizer(tokens, mergeLines, BpePreTokenizer.ForType("gpt-2", name), name, tokenTypes: null);
    }

    /// <summary>
    /// Builds the tokenizer from a GGUF vocabulary whose <c>tokenizer.ggml.model</c> is "gpt2": tokens, merges, token
    /// types (user-defined tokens), the pre-tokenizer type, BOS/EOS ids and whether to add them.
    /// </summary>
    /// <exception cref="HeedException">The file holds another kind of vocabulary, or a pre-tokenizer type Heed does not implement.</exception>
    public static Gpt2Tokenizer FromGguf(GgufFile gguf, string name = "gguf")
    {
        ArgumentNullException.ThrowIfNull(gguf);
        string model = gguf.String("tokenizer.ggml.model");
        if (model != "gpt2")
        {
            throw new HeedException($"{name}: tokenizer.ggml.model is {GgufFile.Quote(model)}; expected \"gpt2\" (byte-level BPE)");
        }

        object? preValue = gguf["tokenizer.ggml.pre"];
        if (preValue is not null and not string)
        {
            throw new HeedException($"{name}: tokenizer.ggml.pre is {GgufFile.Describe(preValue)}; expected a string");
        }

        BpePreTokenizer pre = BpePreTokenizer.ForType(preValue as string, name);
        string[] tokens = gguf.Strings("tokenizer.ggml.tokens");
        string[] merges = gguf.Strings("tokenizer.ggml.merges");
        var tokenizer = new Gpt2Tokenizer(tokens, merges, pre, name, gguf.Integers("tokenizer.ggml.token_type"))
        {
            PrependsBos = Flag(gguf, "tokenizer.ggml.add_bos_token", name) ?? pre.AddsBos,
            AppendsEos = Flag(gguf, "tokenizer.ggml.add_eos_token", name) ?? false,
        };
        if (TokenId(gguf, "tokenizer.ggml.bos_token_id", tokens.Length, name) is int bos) tokenizer.BosId = bos;
        if (TokenId(gguf, "tokenizer.ggml.eos_token_id", tokens.Length, name) is int eos) tokenizer.EosId = eos;
        if (tokenizer.PrependsBos && tokenizer.BosId is null)
        {
            throw new HeedException($"{name}: tokenizer.ggml.add_bos_token is true but the vocabulary has no BOS token");
        }

        if (tokenizer.AppendsEos && tokenizer.EosId is null)
        {
            throw new HeedException($"{name}: tokenizer.ggml.add_eos_token is true but the vocabulary has no EOS token");
        }

        tokenizer.EndOfGeneration = Tokenizer.EndOfGeneration(gguf, tokens, tokenizer.EosId, name);

        return tokenizer;
    }

    internal static bool? Flag(GgufFile gguf, string key, string name) => gguf[key] switch
    {
        null => null,
        bool b => b,
        var other => throw new HeedException($"{name}: {key} is {GgufFile.Describe(other)}; expected a bool"),
    };

    internal static int? TokenId(GgufFile gguf, string key, int vocabSize, string name)
    {
        if (gguf[key] is null) return null;
        long? id = gguf.Integer(key);
        if (id is not long v || v < 0 || v >= vocabSize)
        {
            throw new HeedException($"{name}: {key} is {GgufFile.Describe(gguf[key])}; expected a token id in 0..{vocabSize - 1}");
        }

        return (int)v;
    }

    /// <summary>
    /// Encodes <paramref name="text"/> as llama.cpp's <c>llama_tokenize</c> does without parsing special tokens: lone
    /// surrogates become U+FFFD (as UTF-8 encoding makes them), user-defined tokens are taken out of the text, the rest is
    /// split by the pre-tokenizer and merged. BOS / EOS when asked for (and the vocabulary has them).
    /// </summary>
    public int[] Encode(string text, bool addBos, bool addEos) => Encode(text, addBos, addEos, parseSpecial: false);

    /// <summary>
    /// As <see cref="Encode(string, bool, bool)"/>; with <paramref name="parseSpecial"/>, the text of a control or unknown
    /// token (e.g. "&lt;|endoftext|&gt;") becomes that token, as llama.cpp's <c>parse_special</c> does.
    /// </summary>
    public int[] Encode(string text, bool addBos, bool addEos, bool parseSpecial)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Encode(Tokenizer.Partition(text, parseSpecial ? _special : _userDefined, id => _tokens[id]), addBos, addEos);
    }

    /// <inheritdoc />
    public int[] Encode(IReadOnlyList<(string Text, bool Markup)> parts, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(parts);
        return Encode(Tokenizer.Partition(parts, _special, _userDefined, id => _tokens[id]), addBos, addEos: false);
    }

    /// <inheritdoc />
    public IReadOnlyList<int> EndOfGeneration { get; private set; } = [];

    private int[] Encode(List<(string? Span, int Token)> fragments, bool addBos, bool addEos)
    {
        var ids = new List<int>();
        if (addBos && BosId is int bos) ids.Add(bos);
        foreach ((string? span, int token) in fragments)
        {
            if (span is null) ids.Add(token);
            else EncodeSpan(span, ids);
        }

        if (addEos && EosId is int eos) ids.Add(eos);
        return [.. ids];
    }

    private void EncodeSpan(string span, List<int> ids)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(span);
        var codePoints = new List<int>(utf8.Length);
        var byteStart = new List<int>(utf8.Length + 1);
        for (int at = 0; at < utf8.Length;)
        {
            System.Buffers.OperationStatus status = System.Text.Rune.DecodeFromUtf8(utf8.AsSpan(at), out System.Text.Rune rune, out int used);
            if (status != System.Buffers.OperationStatus.Done) throw new InvalidOperationException("UTF-8 from the encoder did not decode");
            codePoints.Add(rune.Value);
            byteStart.Add(at);
            at += used;
        }

        byteStart.Add(utf8.Length);
        foreach ((int start, int length) in _pre.Split(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(codePoints)))
        {
            int from = byteStart[start], to = byteStart[start + length];
            var word = new StringBuilder(to - from);
            for (int b = from; b < to; b++) word.Append(CharOfByte[utf8[b]]);
            string w = word.ToString();
            if (_wordCache.TryGetValue(w, out int[]? cached))
            {
                ids.AddRange(cached);
                continue;
            }

            int before = ids.Count;
            EncodeWord(w, ids);
            if (_wordCache.Count < MaxCachedWords) _wordCache.TryAdd(w, [.. ids.GetRange(before, ids.Count - before)]);
        }
    }

    /// <summary>
    /// Merges one word's byte characters by rank; a final symbol that is not a token (merges that leave the vocabulary)
    /// gives the tokens of its single ASCII characters, as llama.cpp looks each byte of the symbol's UTF-8 up alone.
    /// </summary>
    private void EncodeWord(string word, List<int> ids)
    {
        if (_pre.IgnoreMerges && _ids.TryGetValue(word, out int whole))
        {
            ids.Add(whole);
            return;
        }

        int count = word.Length;
        var text = new string[count];
        var next = new int[count];
        var prev = new int[count];
        var version = new int[count];
        for (int i = 0; i < count; i++)
        {
            text[i] = word[i].ToString();
            next[i] = i + 1 < count ? i + 1 : -1;
            prev[i] = i - 1;
        }

        var queue = new PriorityQueue<(int Left, int Right, int LeftVersion, int RightVersion), (int Rank, int Left)>();
        for (int i = 0; i + 1 < count; i++) Enqueue(i, i + 1);
        while (queue.TryDequeue(out var c, out _))
        {
            if (version[c.Left] != c.LeftVersion || version[c.Right] != c.RightVersion || next[c.Left] != c.Right) continue;
            text[c.Left] += text[c.Right];
            version[c.Left]++;
            version[c.Right]++;
            int after = next[c.Right];
            next[c.Left] = after;
            if (after >= 0) prev[after] = c.Left;
            if (prev[c.Left] >= 0) Enqueue(prev[c.Left], c.Left);
            if (after >= 0) Enqueue(c.Left, after);
        }

        for (int i = 0; i >= 0 && count > 0; i = next[i])
        {
            if (_ids.TryGetValue(text[i], out int id))
            {
                ids.Add(id);
                continue;
            }

            foreach (char ch in text[i])
            {
                if (ch < 0x80 && _ids.TryGetValue(ch.ToString(), out int single)) ids.Add(single);
            }
        }

        void Enqueue(int left, int right)
        {
            if (_ranks.TryGetValue((text[left], text[right]), out int rank))
            {
                queue.Enqueue((left, right, version[left], version[right]), (rank, left));
            }
        }
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

    private static readonly char[] CharOfByte = BuildCharOfByte();

    private static char[] BuildCharOfByte()
    {
        var chars = new char[256];
        int[] byteOf = ByteOfChar();
        for (int c = 0; c < byteOf.Length; c++)
        {
            if (byteOf[c] >= 0) chars[byteOf[c]] = (char)c;
        }

        return chars;
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

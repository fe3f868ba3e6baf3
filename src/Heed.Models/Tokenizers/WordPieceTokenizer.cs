using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Heed.Models.Tokenizers;

/// <summary>How a <see cref="WordPieceTokenizer"/> prepares text (the settings of Hugging Face's BertTokenizer).</summary>
public sealed record WordPieceOptions
{
    /// <summary>Lower-cases the text (<c>do_lower_case</c>; true for uncased checkpoints).</summary>
    public bool LowerCase { get; init; } = true;

    /// <summary>Removes accents (NFD, then every non-spacing mark dropped); null = when <see cref="LowerCase"/> (<c>strip_accents</c>).</summary>
    public bool? StripAccents { get; init; }

    /// <summary>Makes every CJK ideograph a word of its own (<c>tokenize_chinese_chars</c>).</summary>
    public bool SplitChineseCharacters { get; init; } = true;

    /// <summary>Longer words (in code points) become [UNK] whole (<c>max_input_chars_per_word</c>).</summary>
    public int MaxCharactersPerWord { get; init; } = 100;

    /// <summary>
    /// The most ids <see cref="WordPieceTokenizer.EncodeForModel"/> returns, [CLS] and [SEP] included (<c>model_max_length</c>,
    /// never more than the model's position table).
    /// </summary>
    public int MaxLength { get; init; } = 512;
}

/// <summary>
/// BERT's WordPiece tokenizer as Hugging Face's BertTokenizer runs it (the fast and the Python one agree on every rule here):
/// <list type="number">
/// <item>special tokens written in the text ("[MASK]", "[SEP]", …, exactly, case included) are kept as their ids;</item>
/// <item>clean-up: NUL, U+FFFD and every "other" code point (categories Cc, Cf, Cn, Co, Cs) except \t, \n, \r are dropped;
/// whitespace becomes a space;</item>
/// <item>each CJK ideograph becomes a word of its own;</item>
/// <item>when uncased, accents are stripped (canonical decomposition, non-spacing marks dropped) and the text is lower-cased;</item>
/// <item>words are split at whitespace and at punctuation, where every ASCII symbol (<c>$</c>, <c>+</c>, <c>`</c>, …) and every
/// Unicode punctuation character is a word of its own;</item>
/// <item>each word is cut greedily into the longest vocabulary pieces from the left, continuation pieces carrying "##"; a word
/// longer than 100 code points, or with a remainder no piece matches, becomes [UNK] whole.</item>
/// </list>
/// Lower-casing is per code point (the fast tokenizer's rule; Python's <c>str.lower</c> would also turn a word-final Σ into ς).
/// The same implementation reads BERT vocabularies from vocab.txt and from GGUF files, where llama.cpp stores word-initial
/// pieces with a leading "▁" and continuation pieces bare; they are turned back into vocab.txt's form when loaded.
/// </summary>
public sealed class WordPieceTokenizer : ITokenizer
{
    private const char WordStart = '\u2581';
    private const string Continuation = "##";

    private static readonly Lazy<Dictionary<int, string>> StrippedDecompositions = new(LoadDecompositions);

    private readonly string[] _tokens;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly int _longest;
    private readonly int _unknown;
    private readonly bool[] _special;
    private readonly string[] _specialTexts;
    private readonly bool _stripAccents;

    /// <summary>Creates a tokenizer from vocab.txt's entries ("##" on continuation pieces) and its special tokens.</summary>
    /// <param name="tokens">The vocabulary, id = position.</param>
    /// <param name="options">The text preparation; null = uncased BERT.</param>
    /// <param name="special">Which ids are special (not text); null = every entry written [LIKE_THIS] that is [UNK], [CLS], [SEP], [PAD] or [MASK].</param>
    /// <param name="source">The file, for messages.</param>
    /// <exception cref="HeedException">[UNK] is not in the vocabulary, or <paramref name="special"/> has another length.</exception>
    public WordPieceTokenizer(IReadOnlyList<string> tokens, WordPieceOptions? options = null, IReadOnlyList<bool>? special = null, string source = "tokenizer")
    {
        ArgumentNullException.ThrowIfNull(tokens);
        Options = options ?? new WordPieceOptions();
        _tokens = [.. tokens];
        var ids = new Dictionary<string, int>(_tokens.Length, StringComparer.Ordinal);
        for (int id = 0; id < _tokens.Length; id++)
        {
            ids.TryAdd(_tokens[id], id); // a repeated entry keeps its first id, as Hugging Face's vocab loader does
            _longest = Math.Max(_longest, _tokens[id].Length);
        }

        _lookup = ids.GetAlternateLookup<ReadOnlySpan<char>>();
        _unknown = ids.TryGetValue("[UNK]", out int unk) ? unk : throw new HeedException($"{source}: the vocabulary has no [UNK]");
        BosId = ids.TryGetValue("[CLS]", out int cls) ? cls : null;
        SeparatorId = ids.TryGetValue("[SEP]", out int sep) ? sep : null;
        PadId = ids.TryGetValue("[PAD]", out int pad) ? pad : 0;
        if (special is null)
        {
            _special = new bool[_tokens.Length];
            foreach (string name in (string[])["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"])
            {
                if (ids.TryGetValue(name, out int id)) _special[id] = true;
            }
        }
        else
        {
            _special = [.. special];
            if (_special.Length != _tokens.Length)
            {
                throw new HeedException($"{source}: {_special.Length} token types for {_tokens.Length} tokens");
            }
        }

        // Longest first, so that a special token that starts another is not matched in its place.
        _specialTexts = [.. Enumerable.Range(0, _tokens.Length).Where(i => _special[i] && _tokens[i].Length > 0).Select(i => _tokens[i]).Distinct().OrderByDescending(t => t.Length)];
        _stripAccents = Options.StripAccents ?? Options.LowerCase;
    }

    /// <summary>The text preparation.</summary>
    public WordPieceOptions Options { get; }

    /// <inheritdoc />
    public int VocabSize => _tokens.Length;

    /// <summary>[CLS], which BERT puts before every text.</summary>
    public int? BosId { get; }

    /// <summary>[SEP], which ends every text.</summary>
    public int? SeparatorId { get; }

    /// <summary>[PAD] (0 when the vocabulary has none).</summary>
    public int PadId { get; }

    /// <inheritdoc />
    public bool PrependsBos => true;

    /// <summary>
    /// Reads a vocab.txt (one entry per line, id = line number) with the settings of the tokenizer_config.json beside it when
    /// there is one (<c>do_lower_case</c>, <c>strip_accents</c>, <c>tokenize_chinese_chars</c>, <c>model_max_length</c>);
    /// <paramref name="options"/> wins over both.
    /// </summary>
    /// <exception cref="HeedException">A file is missing or malformed.</exception>
    public static WordPieceTokenizer Load(string vocabPath, WordPieceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(vocabPath);
        if (!File.Exists(vocabPath))
        {
            throw new HeedException($"tokenizer {vocabPath}: no such file");
        }

        string config = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(vocabPath))!, "tokenizer_config.json");
        options ??= File.Exists(config) ? ReadConfig(config) : new WordPieceOptions();
        string[] lines = File.ReadAllLines(vocabPath, Encoding.UTF8);
        int count = lines.Length;
        while (count > 0 && lines[count - 1].Length == 0) count--; // a final newline is no entry
        return new WordPieceTokenizer(lines.AsSpan(0, count).ToArray().Select(l => l.TrimEnd('\r')).ToArray(), options, null, vocabPath);
    }

    /// <summary>The settings in a Hugging Face tokenizer_config.json; missing keys keep BERT's defaults.</summary>
    /// <exception cref="HeedException">The file is not a JSON object or a key has the wrong type.</exception>
    public static WordPieceOptions ReadConfig(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new HeedException($"{path}: expected a JSON object");
            }

            var options = new WordPieceOptions();
            if (root.TryGetProperty("do_lower_case", out JsonElement lower)) options = options with { LowerCase = lower.GetBoolean() };
            if (root.TryGetProperty("strip_accents", out JsonElement strip) && strip.ValueKind != JsonValueKind.Null)
            {
                options = options with { StripAccents = strip.GetBoolean() };
            }

            if (root.TryGetProperty("tokenize_chinese_chars", out JsonElement cjk)) options = options with { SplitChineseCharacters = cjk.GetBoolean() };

            // Hugging Face writes a huge sentinel (1e30) when the model has no limit of its own.
            if (root.TryGetProperty("model_max_length", out JsonElement max) && max.TryGetDouble(out double m) && m >= 2 && m < int.MaxValue)
            {
                options = options with { MaxLength = (int)m };
            }

            return options;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            throw new HeedException($"{path}: {ex.Message.ReplaceLineEndings(" ")}");
        }
    }

    /// <summary>
    /// Reads the vocabulary of a GGUF file: <c>tokenizer.ggml.tokens</c> (llama.cpp's form: "▁" before word-initial pieces,
    /// continuation pieces bare, [BRACKETED] entries as they are) and <c>token_type</c> (types other than 1, normal, are special).
    /// GGUF files do not say whether the model is cased; BERT vocabularies in GGUF are uncased (bge, MiniLM).
    /// </summary>
    /// <exception cref="HeedException">The file holds another kind of vocabulary or lacks a field.</exception>
    public static WordPieceTokenizer FromGguf(GgufFile gguf, string name = "gguf")
    {
        ArgumentNullException.ThrowIfNull(gguf);
        string model = gguf.String("tokenizer.ggml.model");
        if (model != "bert")
        {
            throw new HeedException($"{name}: tokenizer.ggml.model is {GgufFile.Quote(model)}; expected \"bert\" (WordPiece)");
        }

        string[] tokens = gguf.Strings("tokenizer.ggml.tokens");
        long unknown = gguf.Integer("tokenizer.ggml.unknown_token_id") ?? throw new HeedException($"{name}: tokenizer.ggml.unknown_token_id is missing");
        if ((ulong)unknown >= (ulong)tokens.Length)
        {
            throw new HeedException($"{name}: unknown_token_id {unknown} is outside the vocabulary 0..{tokens.Length - 1}");
        }

        string[] entries = [.. tokens.Select(t => t switch
        {
            [WordStart, ..] => t[1..],
            ['[', .., ']'] => t,
            _ => Continuation + t,
        })];
        entries[unknown] = "[UNK]";
        long[]? types = gguf.Integers("tokenizer.ggml.token_type");
        return new WordPieceTokenizer(entries, null, types?.Select(t => t != 1).ToArray(), name);
    }

    /// <inheritdoc />
    public int[] Encode(string text, bool addBos, bool addEos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addBos && BosId is int cls) ids.Add(cls);
        AddText(text, ids);
        if (addEos && SeparatorId is int sep) ids.Add(sep);
        return [.. ids];
    }

    /// <summary>
    /// What a BERT model reads: [CLS], the text's pieces, [SEP]. Truncation: when there are more than <paramref name="maxLength"/> − 2
    /// pieces, only the first <paramref name="maxLength"/> − 2 are kept (Hugging Face's <c>truncation=True</c> on one text).
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="maxLength">The most ids returned; null = <see cref="WordPieceOptions.MaxLength"/>. At least 2.</param>
    /// <exception cref="HeedException">The vocabulary lacks [CLS] or [SEP], or <paramref name="maxLength"/> is below 2.</exception>
    public int[] EncodeForModel(string text, int? maxLength = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        int max = maxLength ?? Options.MaxLength;
        if (max < 2)
        {
            throw new HeedException($"max length {max}: expected at least 2 ([CLS] and [SEP])");
        }

        if (BosId is not int cls || SeparatorId is not int sep)
        {
            throw new HeedException("the vocabulary lacks [CLS] or [SEP]; it is no BERT vocabulary");
        }

        var ids = new List<int> { cls };
        AddText(text, ids);
        if (ids.Count > max - 1) ids.RemoveRange(max - 1, ids.Count - (max - 1));
        ids.Add(sep);
        return [.. ids];
    }

    /// <summary>
    /// The text of <paramref name="token"/>: a word-initial piece starts with a space (none right after a special token or at
    /// the start), a continuation piece loses its "##", special tokens print nothing.
    /// </summary>
    public byte[] DecodePiece(int previous, int token)
    {
        CheckId(token);
        if (_special[token]) return [];
        string piece = _tokens[token];
        if (piece.StartsWith(Continuation, StringComparison.Ordinal) && piece.Length > Continuation.Length)
        {
            return Encoding.UTF8.GetBytes(piece[Continuation.Length..]);
        }

        bool first = previous < 0 || ((uint)previous < (uint)_special.Length && _special[previous]);
        return Encoding.UTF8.GetBytes(first ? piece : " " + piece);
    }

    /// <summary>The vocabulary entry of <paramref name="token"/> as vocab.txt writes it ("the", "##ing", "[CLS]").</summary>
    public string PieceText(int token)
    {
        CheckId(token);
        return _tokens[token];
    }

    /// <summary>The id of a vocabulary entry, or null.</summary>
    public int? IdOf(string piece) => _lookup.TryGetValue(piece, out int id) ? id : null;

    /// <summary>
    /// <paramref name="codePoint"/> after accent stripping: its canonical decomposition without non-spacing marks (Hangul
    /// syllables by the Unicode algorithm, everything else from the table made by Data/make_nfd_stripped.py); empty for a
    /// non-spacing mark; itself when it has no decomposition.
    /// </summary>
    internal static string StripAccents(int codePoint)
    {
        if (codePoint is >= 0xAC00 and <= 0xD7A3)
        {
            // L = LBase + SIndex / NCount, V = VBase + (SIndex % NCount) / TCount, T = TBase + SIndex % TCount (none when 0)
            int s = codePoint - 0xAC00, t = s % 28;
            string lv = string.Concat((char)(0x1100 + (s / (21 * 28))), (char)(0x1161 + (s % (21 * 28) / 28)));
            return t == 0 ? lv : lv + (char)(0x11A7 + t);
        }

        if (StrippedDecompositions.Value.TryGetValue(codePoint, out string? stripped)) return stripped;
        return CharUnicodeInfo.GetUnicodeCategory(codePoint) == UnicodeCategory.NonSpacingMark ? "" : char.ConvertFromUtf32(codePoint);
    }

    // Special tokens written in the text are found first, on the raw text, as Hugging Face's added-token matcher does.
    private void AddText(string text, List<int> ids)
    {
        int start = 0;
        while (start < text.Length)
        {
            int at = -1, id = -1;
            foreach (string special in _specialTexts)
            {
                int i = text.IndexOf(special, start, StringComparison.Ordinal);
                if (i >= 0 && (at < 0 || i < at))
                {
                    at = i;
                    id = _lookup.TryGetValue(special, out int found) ? found : -1;
                }
            }

            if (at < 0) break;
            AddWords(text.AsSpan(start, at - start), ids);
            ids.Add(id);
            start = at + _tokens[id].Length;
        }

        AddWords(text.AsSpan(start), ids);
    }

    // Clean-up, CJK, accents, case and the split into words, one code point at a time.
    private void AddWords(ReadOnlySpan<char> text, List<int> ids)
    {
        var word = new StringBuilder();
        foreach (Rune rune in text.EnumerateRunes())
        {
            int cpt = rune.Value;
            UnicodeCategory category = CharUnicodeInfo.GetUnicodeCategory(cpt);
            // Control characters go before whitespace is looked at: U+000B, U+000C and U+0085 are dropped, not spaces.
            bool breaks = cpt is '\t' or '\n' or '\r';
            if (!breaks && (cpt is 0 or 0xFFFD || category is UnicodeCategory.Control or UnicodeCategory.Format
                or UnicodeCategory.OtherNotAssigned or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate))
            {
                continue;
            }

            if (breaks || category == UnicodeCategory.SpaceSeparator || IsWhitespace(cpt))
            {
                AddWord(word, ids);
                continue;
            }

            if (Options.SplitChineseCharacters && IsChineseCharacter(cpt))
            {
                AddWord(word, ids);
                word.Append(StripAndLower(cpt));
                AddWord(word, ids);
                continue;
            }

            // After stripping, one code point may have become several (Hangul jamo, a Devanagari letter and its nukta).
            string prepared = StripAndLower(cpt);
            foreach (Rune r in prepared.EnumerateRunes())
            {
                if (IsPunctuation(r.Value))
                {
                    AddWord(word, ids);
                    word.Append(r.ToString());
                    AddWord(word, ids);
                }
                else
                {
                    word.Append(r.ToString());
                }
            }
        }

        AddWord(word, ids);
    }

    private string StripAndLower(int cpt)
    {
        string text = _stripAccents ? StripAccents(cpt) : char.ConvertFromUtf32(cpt);
        if (!Options.LowerCase) return text;
        if (text.Length == 1 && text[0] == '\u0130') return "i\u0307"; // İ: the one full lower-case mapping of more than one code point
        var lower = new StringBuilder(text.Length);
        foreach (Rune r in text.EnumerateRunes()) lower.Append(Rune.ToLowerInvariant(r).ToString());
        return lower.ToString();
    }

    // Unicode's White_Space property (Rust's char::is_whitespace, which the fast tokenizer uses); the Zs ones are found by category.
    private static bool IsWhitespace(int cpt) => cpt is (>= 0x09 and <= 0x0D) or 0x20 or 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    // Every ASCII symbol and punctuation mark (33–47, 58–64, 91–96, 123–126), and every Unicode punctuation category.
    private static bool IsPunctuation(int cpt) =>
        cpt is (>= 33 and <= 47) or (>= 58 and <= 64) or (>= 91 and <= 96) or (>= 123 and <= 126)
        || CharUnicodeInfo.GetUnicodeCategory(cpt) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;

    // The CJK blocks BERT's BasicTokenizer splits per character.
    private static bool IsChineseCharacter(int cpt) =>
        cpt is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF) or (>= 0x2A700 and <= 0x2B73F)
            or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);

    // Greedy longest-match-first from the left, "##" before every piece but the first; a word that is too long, or with a
    // remainder no piece matches, becomes [UNK] whole.
    private void AddWord(StringBuilder word, List<int> ids)
    {
        if (word.Length == 0) return;
        string text = word.ToString();
        word.Clear();
        int start = ids.Count;
        int codePoints = 0;
        foreach (Rune unused in text.EnumerateRunes()) codePoints++;
        if (codePoints > Options.MaxCharactersPerWord)
        {
            ids.Add(_unknown);
            return;
        }

        Span<char> candidate = stackalloc char[Math.Min(_longest, text.Length) + Continuation.Length];
        for (int i = 0; i < text.Length;)
        {
            int prefix = i == 0 ? 0 : Continuation.Length;
            if (prefix > 0) Continuation.AsSpan().CopyTo(candidate);
            int found = -1, end = Math.Min(text.Length, i + _longest - prefix);
            for (; end > i; end--)
            {
                if (end < text.Length && char.IsLowSurrogate(text[end])) continue; // never cut a surrogate pair
                text.AsSpan(i, end - i).CopyTo(candidate[prefix..]);
                if (_lookup.TryGetValue(candidate[..(prefix + end - i)], out found)) break;
            }

            if (end <= i)
            {
                ids.RemoveRange(start, ids.Count - start);
                ids.Add(_unknown);
                return;
            }

            ids.Add(found);
            i = end;
        }
    }

    private void CheckId(int token)
    {
        if ((uint)token >= (uint)_tokens.Length)
        {
            throw new HeedException($"token id {token} is outside the vocabulary 0..{_tokens.Length - 1}");
        }
    }

    private static Dictionary<int, string> LoadDecompositions()
    {
        using Stream stream = typeof(WordPieceTokenizer).Assembly.GetManifestResourceStream("Heed.Models.Tokenizers.nfd-stripped.txt")
            ?? throw new InvalidOperationException("the NFD table resource is missing from Heed.Models");
        using var reader = new StreamReader(stream);
        var table = new Dictionary<int, string>();
        while (reader.ReadLine() is string line)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            string[] f = line.Split(' ');
            var text = new StringBuilder();
            for (int i = 1; i < f.Length; i++) text.Append(char.ConvertFromUtf32(int.Parse(f[i], NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
            table[int.Parse(f[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture)] = text.ToString();
        }

        return table;
    }
}

using System.Globalization;
using System.Text;

namespace Heed.Models.Tokenizers;

/// <summary>
/// BERT's WordPiece tokenizer as llama.cpp runs it on a GGUF vocabulary (<c>tokenizer.ggml.model = "bert"</c>), where
/// word-initial pieces carry a leading "▁" and continuation pieces ("##ing" in BERT's vocab.txt) are stored bare.
/// Text is preprocessed code point by code point: each is replaced by the first code point of its canonical
/// decomposition (so accents of precomposed letters go) and lower-cased; whitespace ends a word; NUL, U+FFFD and
/// control/format characters are dropped; punctuation, ASCII symbols and CJK ideographs become one-character words.
/// Each word, prefixed with "▁", is then cut greedily into the longest vocabulary pieces from the left; a word with
/// an unmatched remainder becomes [UNK].
/// </summary>
public sealed class WordPieceTokenizer : ITokenizer
{
    private const char WordStart = '\u2581';

    private static readonly Lazy<(int First, int Last, int Target)[]> Decompositions = new(LoadDecompositions);

    private readonly string[] _tokens;
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly int _longest;
    private readonly int _unknown;
    private readonly int? _separator;
    private readonly bool[] _special;

    /// <summary>Creates a tokenizer from its pieces ("▁"-prefixed at the start of a word) and special ids.</summary>
    /// <exception cref="HeedException">An id is outside the vocabulary.</exception>
    public WordPieceTokenizer(IReadOnlyList<string> tokens, int unknownId, int? clsId, int? separatorId, IReadOnlyList<bool>? special = null, string source = "tokenizer")
    {
        ArgumentNullException.ThrowIfNull(tokens);
        _tokens = [.. tokens];
        foreach ((string what, int? id) in new[] { ("unknown_token_id", (int?)unknownId), ("cls_token_id", clsId), ("seperator_token_id", separatorId) })
        {
            if (id is int value && (uint)value >= (uint)_tokens.Length)
            {
                throw new HeedException($"{source}: {what} {value} is outside the vocabulary 0..{_tokens.Length - 1}");
            }
        }

        _ids = new Dictionary<string, int>(_tokens.Length, StringComparer.Ordinal);
        for (int id = 0; id < _tokens.Length; id++)
        {
            _ids[_tokens[id]] = id; // a repeated piece maps to its last id, as llama.cpp's token map does
            _longest = Math.Max(_longest, _tokens[id].Length);
        }

        _lookup = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
        _unknown = unknownId;
        BosId = clsId;
        _separator = separatorId;
        _special = special is null ? new bool[_tokens.Length] : [.. special];
        if (_special.Length != _tokens.Length)
        {
            throw new HeedException($"{source}: {_special.Length} token types for {_tokens.Length} tokens");
        }
    }

    /// <inheritdoc />
    public int VocabSize => _tokens.Length;

    /// <summary>[CLS], which BERT puts before every text.</summary>
    public int? BosId { get; }

    /// <inheritdoc />
    public bool PrependsBos => true;

    /// <summary>
    /// Reads the vocabulary of a GGUF file: <c>tokenizer.ggml.tokens</c>, <c>unknown_token_id</c>, <c>cls_token_id</c>,
    /// <c>seperator_token_id</c> (llama.cpp's spelling) and <c>token_type</c> (types other than 1, normal, are special).
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
        long[]? types = gguf.Integers("tokenizer.ggml.token_type");
        return new WordPieceTokenizer(
            tokens,
            (int)Math.Clamp(unknown, -1, int.MaxValue),
            Id(gguf.Integer("tokenizer.ggml.cls_token_id")),
            Id(gguf.Integer("tokenizer.ggml.seperator_token_id")),
            types?.Select(t => t != 1).ToArray(),
            name);
    }

    /// <inheritdoc />
    public int[] Encode(string text, bool addBos, bool addEos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addBos && BosId is int cls) ids.Add(cls);
        var word = new StringBuilder();
        foreach (Rune rune in text.EnumerateRunes())
        {
            int cpt = rune.Value;
            if (IsWhitespace(cpt))
            {
                AddWord(word, ids);
                continue;
            }

            UnicodeCategory category = CharUnicodeInfo.GetUnicodeCategory(cpt);
            if (cpt == 0 || cpt == 0xFFFD || category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate)
            {
                continue;
            }

            // The category and case are those of the decomposition's first code point (llama.cpp normalizes first).
            int first = FirstOfDecomposition(cpt);
            category = CharUnicodeInfo.GetUnicodeCategory(first);
            Rune lower = Rune.ToLowerInvariant(new Rune(first));
            if (IsPunctuation(category) || (first < 0x7F && IsSymbol(category)) || IsChineseCharacter(first))
            {
                AddWord(word, ids);
                word.Append(lower.ToString());
                AddWord(word, ids);
            }
            else
            {
                word.Append(lower.ToString());
            }
        }

        AddWord(word, ids);
        if (addEos && _separator is int sep) ids.Add(sep);
        return [.. ids];
    }

    /// <summary>
    /// The text of <paramref name="token"/>: a word-initial piece starts with a space (none right after [CLS] or at
    /// the start), a continuation piece has none, special tokens print nothing.
    /// </summary>
    public byte[] DecodePiece(int previous, int token)
    {
        CheckId(token);
        if (_special[token]) return [];
        string piece = _tokens[token];
        if (piece.Length > 0 && piece[0] == WordStart)
        {
            bool first = previous < 0 || ((uint)previous < (uint)_special.Length && _special[previous]);
            piece = first ? piece[1..] : " " + piece[1..];
        }

        return Encoding.UTF8.GetBytes(piece);
    }

    /// <inheritdoc />
    public string PieceText(int token)
    {
        CheckId(token);
        return _tokens[token];
    }

    /// <summary>
    /// The first code point of the canonical decomposition of <paramref name="codePoint"/> (itself when it has none):
    /// Hangul syllables by the Unicode algorithm, everything else from the table made by Data/make_nfd_first.py.
    /// </summary>
    internal static int FirstOfDecomposition(int codePoint)
    {
        if (codePoint is >= 0xAC00 and <= 0xD7A3)
        {
            return 0x1100 + ((codePoint - 0xAC00) / (21 * 28)); // leading consonant L = LBase + SIndex / NCount
        }

        (int First, int Last, int Target)[] table = Decompositions.Value;
        int lo = 0, hi = table.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (codePoint < table[mid].First) hi = mid - 1;
            else if (codePoint > table[mid].Last) lo = mid + 1;
            else return table[mid].Target;
        }

        return codePoint;
    }

    private static int? Id(long? value) => value is long v ? (int)Math.Clamp(v, -1, int.MaxValue) : null;

    // Unicode's White_Space property.
    private static bool IsWhitespace(int cpt) =>
        cpt is (>= 0x09 and <= 0x0D) or 0x20 or 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    private static bool IsPunctuation(UnicodeCategory c) => c is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
        or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
        or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;

    private static bool IsSymbol(UnicodeCategory c) =>
        c is UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol or UnicodeCategory.OtherSymbol;

    // The CJK blocks BERT's BasicTokenizer splits per character (with Hugging Face's upper bound 0x2CEAF for extension E).
    private static bool IsChineseCharacter(int cpt) =>
        cpt is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF) or (>= 0x2A700 and <= 0x2B73F)
            or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B920 and <= 0x2CEAF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);

    // Greedy longest-match-first from the left over "▁" + word; any unmatched remainder makes the whole word [UNK].
    private void AddWord(StringBuilder word, List<int> ids)
    {
        if (word.Length == 0) return;
        string text = WordStart + word.ToString();
        word.Clear();
        int start = ids.Count;
        for (int i = 0; i < text.Length;)
        {
            int found = -1, end = Math.Min(text.Length, i + _longest);
            for (; end > i; end--)
            {
                if (_lookup.TryGetValue(text.AsSpan(i, end - i), out found)) break;
            }

            if (end == i)
            {
                ids.RemoveRange(start, ids.Count - start);
                break;
            }

            ids.Add(found);
            i = end;
        }

        if (ids.Count == start) ids.Add(_unknown);
    }

    private void CheckId(int token)
    {
        if ((uint)token >= (uint)_tokens.Length)
        {
            throw new HeedException($"token id {token} is outside the vocabulary 0..{_tokens.Length - 1}");
        }
    }

    private static (int, int, int)[] LoadDecompositions()
    {
        using Stream stream = typeof(WordPieceTokenizer).Assembly.GetManifestResourceStream("Heed.Models.Tokenizers.nfd-first.txt")
            ?? throw new InvalidOperationException("the NFD table resource is missing from Heed.Models");
        using var reader = new StreamReader(stream);
        var runs = new List<(int, int, int)>();
        while (reader.ReadLine() is string line)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            string[] f = line.Split(' ');
            runs.Add((int.Parse(f[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                int.Parse(f[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                int.Parse(f[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
        }

        return [.. runs];
    }
}

using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Heed.Models.Tokenizers;

/// <summary>
/// How byte-level BPE text is cut into words before merges, by GGUF <c>tokenizer.ggml.pre</c>, as llama.cpp does it
/// (llama-vocab's per-type expression lists, unicode.cpp's splitter): each expression of a type's list cuts every piece
/// the previous one left into its matches and the text between them. Matching runs on code points, never UTF-16 units,
/// in one of llama.cpp's two forms:
/// <list type="bullet">
/// <item>an expression that names <c>\p{L}</c>, <c>\p{N}</c>, <c>\p{P}</c>, <c>\p{M}</c> or <c>\p{S}</c> runs on the
/// "collapsed" text: ASCII stays itself, every other code point becomes one stand-in character for its category (or a
/// vertical tab for whitespace, or a catch-all for the rest), and each <c>\p{X}</c> becomes a class of its stand-in plus
/// the ASCII characters llama.cpp lists for it. So <c>[^a-z]</c> matches every non-ASCII letter, and <c>\p{S}</c> misses
/// '~', exactly as in llama.cpp;</item>
/// <item>an expression without categories runs on the code points themselves, non-ASCII whitespace read as a vertical
/// tab; a supplementary code point is a UTF-16 surrogate pair here, so such expressions only use BMP classes or
/// spell supplementary ranges as surrogate pairs.</item>
/// </list>
/// .NET's own <c>\p{L}</c> would test UTF-16 units and miss every supplementary letter (𝐀, 𠀀), which is why the
/// categories are never handed to it. llama.cpp's hand-written splitters for the GPT-2 and Llama 3 expressions implement
/// the same expressions; here the expressions themselves run.
/// </summary>
internal sealed class BpePreTokenizer
{
    // Stand-ins for non-ASCII code points in the collapsed text (private-use characters: nothing else maps there).
    private const char Number = '\uE0D1';
    private const char Letter = '\uE0D2';
    private const char Punctuation = '\uE0D3';
    private const char Mark = '\uE0D4';
    private const char Symbol = '\uE0D5';
    private const char Other = '\uE0D0';

    private const string Contractions = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
    private const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private const string Llama3 = Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Qwen2 = Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Poro = " ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+";

    private readonly Regex[] _steps;
    private readonly bool[] _collapsed;

    private BpePreTokenizer(string type, bool ignoreMerges, bool addsBos, params string[] expressions)
    {
        Type = type;
        IgnoreMerges = ignoreMerges;
        AddsBos = addsBos;
        _collapsed = [.. expressions.Select(UsesCategories)];
        _steps = [.. expressions.Select((e, i) => new Regex(_collapsed[i] ? Collapse(e) : e, RegexOptions.CultureInvariant))];
    }

    /// <summary>The type's canonical name (llama.cpp's aliases map to it).</summary>
    public string Type { get; }

    /// <summary>A word that is itself a token is emitted whole, without merges (Llama 3, Tekken).</summary>
    public bool IgnoreMerges { get; }

    /// <summary>Whether BOS is added by default (when the file has no <c>tokenizer.ggml.add_bos_token</c>).</summary>
    public bool AddsBos { get; }

    /// <summary>The types Heed splits as llama.cpp does, each with its aliases.</summary>
    public static IReadOnlyList<string> KnownTypes => [.. Types.Keys.Order(StringComparer.Ordinal)];

    private static readonly Dictionary<string, Func<BpePreTokenizer>> Types = BuildTypes();

    /// <summary>
    /// The pre-tokenizer of GGUF <c>tokenizer.ggml.pre</c> = <paramref name="type"/>. A file without the key gets
    /// "default", as in llama.cpp (which warns that quality degrades): files converted before the key existed are split
    /// that way by llama.cpp too, so Heed gives the same ids. A type Heed does not know is refused, never guessed.
    /// </summary>
    /// <exception cref="HeedException">The type is not one Heed implements.</exception>
    public static BpePreTokenizer ForType(string? type, string source)
    {
        string name = type is null or "" ? "default" : type;
        if (Types.TryGetValue(name, out Func<BpePreTokenizer>? make)) return make();
        throw new HeedException($"{source}: tokenizer.ggml.pre {GgufFile.Quote(name)} is a pre-tokenizer type Heed does not implement; it splits {string.Join(", ", KnownTypes)}");
    }

    private static Dictionary<string, Func<BpePreTokenizer>> BuildTypes()
    {
        var types = new Dictionary<string, Func<BpePreTokenizer>>(StringComparer.Ordinal);
        void Add(Func<string, BpePreTokenizer> make, params string[] names)
        {
            foreach (string n in names) types[n] = () => make(n);
        }

        Add(n => new(n, false, false, @"[\p{P}\$\+<=>\^~\|]+", Gpt2, @"\p{N}+", "[0-9][0-9][0-9]"), "default");
        Add(n => new(n, false, false, Gpt2), "gpt-2", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "gigachat", "a.x-4.0", "mellum", "modern-bert", "exaone4", "mpt", "olmo", "jais", "trillion", "granite-docling");
        Add(n => new(n, true, true, Llama3), "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano");
        Add(n => new(n, false, false, Llama3), "dbrx", "smaug-bpe");
        Add(n => new(n, false, false, @"[\p{P}\$\+<=>\^~\|`]+", Gpt2, "[0-9][0-9][0-9]"), "falcon");
        Add(n => new(n, false, false, @"\p{N}", Gpt2), "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2");
        Add(n => new(n, false, false, Qwen2), "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open", "grok-2");
        Add(n => new(n, false, false, Contractions + @"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"), "qwen35");
        Add(n => new(n, false, false, Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"), "seed-coder");
        Add(n => new(n, false, false, @"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"), "bailingmoe", "bailingmoe2", "llada-moe");
        Add(n => new(n, false, false, Poro), "poro-chat", "bloom", "gpt3-finnish");
        Add(n => new(n, false, false, Poro, @"\p{N}"), "viking");
        Add(n => new(n, false, false, "[\r\n]", @"\s?\p{L}+", @"\s?\p{P}+", "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+", @"\p{N}"), "deepseek-coder");
        Add(n => new(n, false, false, "[\r\n]", DeepSeekLetters, "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+", @"\s+\z", "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+", @"\p{N}+"), "deepseek-llm");

        // Tekken's and GPT-4o's upper/lower-case classes as llama.cpp rewrites them: "a letter that is not a-z" and
        // "a letter that is not A-Z" (on collapsed text every non-ASCII letter is both).
        const string Upper = @"((?=[\p{L}])([^a-z]))", Lower = @"((?=[\p{L}])([^A-Z]))";
        Add(n => new(n, true, true, $@"[^\r\n\p{{L}}\p{{N}}]?{Upper}*{Lower}+|[^\r\n\p{{L}}\p{{N}}]?{Upper}+{Lower}*|\p{{N}}| ?[^\s\p{{L}}\p{{N}}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"), "tekken");
        Add(n => new(n, false, false, $@"[^\r\n\p{{L}}\p{{N}}]?{Upper}*{Lower}+{Contractions}?|[^\r\n\p{{L}}\p{{N}}]?{Upper}+{Lower}*{Contractions}?|\p{{N}}{{1,3}}| ?[^\s\p{{L}}\p{{N}}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"), "gpt-4o", "llama4", "kanana2", "minimax-m2");
        return types;
    }

    // DeepSeek LLM's letter class: Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee … and a few supplementary
    // ranges, which UTF-16 needs as surrogate pairs.
    private static readonly string DeepSeekLetters =
        @"\s?(?:[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A]"
        + SupplementaryRanges((0x10400, 0x1044F), (0x104B0, 0x104D3), (0x104D8, 0x104FB), (0x10C80, 0x10CB2), (0x10CC0, 0x10CF2), (0x118A0, 0x118DF), (0x1E900, 0x1E943))
        + ")+";

    /// <summary>"|high[lowFirst-lowLast]" alternatives for supplementary ranges that stay within one high surrogate.</summary>
    private static string SupplementaryRanges(params (int First, int Last)[] ranges)
    {
        var sb = new StringBuilder();
        foreach ((int first, int last) in ranges)
        {
            string a = char.ConvertFromUtf32(first), b = char.ConvertFromUtf32(last);
            if (a[0] != b[0]) throw new InvalidOperationException("a supplementary range crosses a high surrogate");
            sb.Append(CultureInfo.InvariantCulture, $@"|\u{(int)a[0]:X4}[\u{(int)a[1]:X4}-\u{(int)b[1]:X4}]");
        }

        return sb.ToString();
    }

    private static bool UsesCategories(string expression) =>
        expression.Contains(@"\p{L}", StringComparison.Ordinal) || expression.Contains(@"\p{N}", StringComparison.Ordinal)
        || expression.Contains(@"\p{P}", StringComparison.Ordinal) || expression.Contains(@"\p{M}", StringComparison.Ordinal)
        || expression.Contains(@"\p{S}", StringComparison.Ordinal);

    /// <summary>
    /// An expression for the collapsed text: each <c>\p{X}</c> becomes its stand-in plus the ASCII members llama.cpp
    /// lists (bracketed unless already inside a class).
    /// </summary>
    private static string Collapse(string expression)
    {
        var sb = new StringBuilder(expression.Length + 64);
        bool inside = false;
        for (int i = 0; i < expression.Length; i++)
        {
            char c = expression[i];
            bool escaped = i > 0 && expression[i - 1] == '\\';
            if (c == '[' && !escaped)
            {
                inside = true;
            }
            else if (c == ']' && inside && !escaped)
            {
                inside = false;
            }
            else if (c == '\\' && i + 4 < expression.Length && expression[i + 1] == 'p' && expression[i + 2] == '{' && expression[i + 4] == '}')
            {
                string members = expression[i + 3] switch
                {
                    'N' => Number + "0-9",
                    'L' => Letter + "A-Za-z",
                    'P' => Punctuation + @"!-#%-*,-/:;?@\[-\]_{}",
                    'M' => Mark.ToString(),
                    'S' => Symbol + @"$+<->\^`|", // not '~' (U+007E is Sm): llama.cpp's list omits it
                    _ => throw new InvalidOperationException($"unknown category in {expression}"),
                };
                sb.Append(inside ? members : "[" + members + "]");
                i += 4;
                continue;
            }

            sb.Append(c);
        }

        return sb.ToString();
    }

    /// <summary>
    /// Cuts <paramref name="codePoints"/> into words, returned as (start, length) in code points, in order, covering
    /// the whole text (empty pieces, which llama.cpp can produce, are dropped: they tokenize to nothing).
    /// </summary>
    public List<(int Start, int Length)> Split(ReadOnlySpan<int> codePoints)
    {
        var pieces = new List<(int, int)> { (0, codePoints.Length) };
        if (codePoints.IsEmpty) return [];
        string? collapsed = null, plain = null;
        int[]? plainStart = null, codePointAt = null;
        for (int s = 0; s < _steps.Length; s++)
        {
            string text;
            if (_collapsed[s])
            {
                text = collapsed ??= CollapseText(codePoints);
            }
            else
            {
                if (plain is null) (plain, plainStart, codePointAt) = PlainText(codePoints);
                text = plain;
            }

            var next = new List<(int, int)>(pieces.Count * 2);
            foreach ((int start, int length) in pieces)
            {
                int from = _collapsed[s] ? start : plainStart![start];
                int to = _collapsed[s] ? start + length : plainStart![start + length];
                int at = 0; // in units of text, relative to from
                foreach (ValueMatch m in _steps[s].EnumerateMatches(text.AsSpan(from, to - from)))
                {
                    if (m.Index > at) Add(next, from + at, from + m.Index);
                    Add(next, from + m.Index, from + m.Index + m.Length);
                    at = m.Index + m.Length;
                }

                if (at < to - from) Add(next, from + at, to);
            }

            pieces = next;

            void Add(List<(int, int)> list, int a, int b)
            {
                if (b <= a) return;
                if (!_collapsed[s])
                {
                    a = codePointAt![a];
                    b = codePointAt![b];
                    if (a < 0 || b < 0) throw new InvalidOperationException($"pre-tokenizer {Type}: a match split a surrogate pair");
                }

                list.Add((a, b - a));
            }
        }

        return pieces;
    }

    /// <summary>One character per code point: ASCII as is, whitespace as '\v', other code points as their category's stand-in.</summary>
    private static string CollapseText(ReadOnlySpan<int> codePoints)
    {
        var chars = new char[codePoints.Length];
        for (int i = 0; i < chars.Length; i++)
        {
            int cp = codePoints[i];
            chars[i] = cp < 128 ? (char)cp : IsWhitespace(cp) ? '\v' : CharUnicodeInfo.GetUnicodeCategory(cp) switch
            {
                UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Number,
                UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                    or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Letter,
                UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                    or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                    or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => Punctuation,
                UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => Mark,
                UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol or UnicodeCategory.OtherSymbol => Symbol,
                _ => Other,
            };
        }

        return new string(chars);
    }

    /// <summary>The code points as UTF-16 with non-ASCII whitespace as '\v'; where each code point starts; which code point starts at each unit (−1 inside a pair).</summary>
    private static (string Text, int[] Start, int[] CodePointAt) PlainText(ReadOnlySpan<int> codePoints)
    {
        var sb = new StringBuilder(codePoints.Length + 8);
        var start = new int[codePoints.Length + 1];
        for (int i = 0; i < codePoints.Length; i++)
        {
            start[i] = sb.Length;
            int cp = codePoints[i];
            if (cp >= 128 && IsWhitespace(cp)) sb.Append('\v');
            else if (cp >= 0x10000) sb.Append(char.ConvertFromUtf32(cp));
            else sb.Append((char)cp);
        }

        start[codePoints.Length] = sb.Length;
        var at = new int[sb.Length + 1];
        Array.Fill(at, -1);
        for (int i = 0; i <= codePoints.Length; i++) at[start[i]] = i;
        return (sb.ToString(), start, at);
    }

    /// <summary>llama.cpp's whitespace set: tab..CR, space, U+0085, and the separators (Zs, Zl, Zp).</summary>
    internal static bool IsWhitespace(int cp) => cp < 0x10000 && char.IsWhiteSpace((char)cp);
}

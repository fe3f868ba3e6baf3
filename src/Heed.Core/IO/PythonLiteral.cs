using System.Globalization;
using System.Numerics;
using System.Text;

namespace Heed.IO;

/// <summary>
/// Parses the small subset of Python literal syntax that .npy headers use: dicts, tuples, lists, strings,
/// integers, True, False and None. Values come back as <see cref="string"/>, <see cref="bool"/>,
/// <see cref="BigInteger"/>, <see cref="PythonLiteral.Sequence"/>, <see cref="PythonLiteral.Dict"/> or null (None).
/// </summary>
internal sealed class PythonLiteral
{
    private const int MaxDepth = 32;

    /// <summary>
    /// The most items a tuple, list or dict may hold. An .npy header is a dict of three keys whose only sequence is the
    /// shape, and NumPy arrays have at most 64 axes (NPY_MAXDIMS), so this refuses no file NumPy writes; it bounds what a
    /// hostile header costs before any shape arithmetic runs.
    /// </summary>
    public const int MaxItems = TensorStreams.MaxRank;

    /// <summary>
    /// The most digits an integer may have: long.MaxValue has 19, and no axis larger than int.MaxValue is read anyway.
    /// Parsing a big integer takes time quadratic in its digits, so longer ones are refused before they are parsed.
    /// </summary>
    public const int MaxIntegerDigits = 19;

    /// <summary>The most characters of a value an error message shows.</summary>
    private const int MaxShownChars = 200;

    /// <summary>Sequences longer than this are shown by their first and last items only.</summary>
    private const int MaxShownItems = 12;

    private readonly string _text;
    private int _position;

    private PythonLiteral(string text) => _text = text;

    /// <summary>A tuple or list.</summary>
    public sealed record Sequence(IReadOnlyList<object?> Items, bool IsTuple);

    /// <summary>A dict; keys are strings (the only kind .npy headers use), kept in the order written.</summary>
    public sealed record Dict(IReadOnlyList<KeyValuePair<string, object?>> Entries);

    /// <summary>Parses one literal filling the whole text (surrounding whitespace allowed).</summary>
    /// <exception cref="FormatException">The text is not such a literal; the message says where and why.</exception>
    /// <exception cref="LimitException">The literal nests deeper, or holds a longer sequence or integer, than the limits allow.</exception>
    public static object? Parse(string text)
    {
        var parser = new PythonLiteral(text);
        object? value = parser.ParseValue(0);
        parser.SkipWhitespace();
        if (parser._position < text.Length)
        {
            throw parser.Error("unexpected text after the end of the literal");
        }

        return value;
    }

    /// <summary>
    /// Writes a parsed value back as Python would print it, for error messages: a sequence of more than
    /// <see cref="MaxShownItems"/> items shows its first and last few and its length, and the whole is cut at
    /// <see cref="MaxShownChars"/> characters, so a message stays one line of bounded length.
    /// </summary>
    public static string Repr(object? value)
    {
        string text = ReprCore(value);
        return text.Length <= MaxShownChars ? text : text[..MaxShownChars] + "...";
    }

    private static string ReprCore(object? value) => value switch
    {
        null => "None",
        string s => TensorStreams.Quote(s),
        bool b => b ? "True" : "False",
        BigInteger i => i.ToString(CultureInfo.InvariantCulture),
        Sequence { IsTuple: true, Items.Count: 1 } t => "(" + ReprCore(t.Items[0]) + ",)",
        Sequence t => (t.IsTuple ? "(" : "[") + JoinShown(t.Items.Select(ReprCore).ToList()) + (t.IsTuple ? ")" : "]"),
        Dict d => "{" + JoinShown(d.Entries.Select(e => TensorStreams.Quote(e.Key) + ": " + ReprCore(e.Value)).ToList()) + "}",
        _ => value.ToString() ?? string.Empty,
    };

    private static string JoinShown(List<string> items)
    {
        if (items.Count <= MaxShownItems)
        {
            return string.Join(", ", items);
        }

        const int Tail = 4;
        return string.Join(", ", items.Take(MaxShownItems - Tail)) + ", ..., " + string.Join(", ", items.TakeLast(Tail))
            + " (" + items.Count.ToString(CultureInfo.InvariantCulture) + " items)";
    }

    private object? ParseValue(int depth)
    {
        if (depth > MaxDepth)
        {
            throw Error($"nesting deeper than {MaxDepth} levels");
        }

        SkipWhitespace();
        if (_position >= _text.Length)
        {
            throw Error("unexpected end of text, expected a value");
        }

        char c = _text[_position];
        switch (c)
        {
            case '{':
                return ParseDict(depth);
            case '(':
                return ParseSequence(depth, ')', isTuple: true);
            case '[':
                return ParseSequence(depth, ']', isTuple: false);
            case '\'' or '"':
                return ParseString();
            case '-' or '+' or (>= '0' and <= '9'):
                return ParseInteger();
        }

        if (TryKeyword("True"))
        {
            return true;
        }

        if (TryKeyword("False"))
        {
            return false;
        }

        if (TryKeyword("None"))
        {
            return null;
        }

        throw Error($"unexpected character {TensorStreams.Quote(c.ToString())}");
    }

    private Dict ParseDict(int depth)
    {
        _position++; // '{'
        var entries = new List<KeyValuePair<string, object?>>();
        while (true)
        {
            SkipWhitespace();
            if (TryConsume('}'))
            {
                return new Dict(entries);
            }

            if (_position >= _text.Length || (_text[_position] != '\'' && _text[_position] != '"'))
            {
                throw Error("expected a quoted key or '}'");
            }

            string key = ParseString();
            SkipWhitespace();
            if (!TryConsume(':'))
            {
                throw Error($"expected ':' after key {TensorStreams.Quote(key)}");
            }

            object? value = ParseValue(depth + 1);
            if (entries.Count == MaxItems)
            {
                throw Limit($"a dict of more than {MaxItems} entries");
            }

            entries.Add(new KeyValuePair<string, object?>(key, value));
            SkipWhitespace();
            if (TryConsume('}'))
            {
                return new Dict(entries);
            }

            if (!TryConsume(','))
            {
                throw Error("expected ',' or '}' in a dict");
            }
        }
    }

    private object? ParseSequence(int depth, char close, bool isTuple)
    {
        _position++; // '(' or '['
        var items = new List<object?>();
        bool sawComma = false;
        while (true)
        {
            SkipWhitespace();
            if (TryConsume(close))
            {
                break;
            }

            object? item = ParseValue(depth + 1);
            if (items.Count == MaxItems)
            {
                throw Limit($"a tuple or list of more than {MaxItems} items (NumPy arrays have at most {MaxItems} axes)");
            }

            items.Add(item);
            SkipWhitespace();
            if (TryConsume(close))
            {
                break;
            }

            if (!TryConsume(','))
            {
                throw Error($"expected ',' or '{close}'");
            }

            sawComma = true;
        }

        if (isTuple && items.Count == 1 && !sawComma)
        {
            // As in Python, "(5)" is the number 5 in parentheses, not a tuple.
            return items[0];
        }

        return new Sequence(items, isTuple);
    }

    private string ParseString()
    {
        char quote = _text[_position++];
        var builder = new StringBuilder();
        while (true)
        {
            if (_position >= _text.Length)
            {
                throw Error("unterminated string");
            }

            char c = _text[_position++];
            if (c == quote)
            {
                return builder.ToString();
            }

            if (c is '\n' or '\r')
            {
                throw Error("line break inside a string");
            }

            if (c != '\\')
            {
                builder.Append(c);
                continue;
            }

            if (_position >= _text.Length)
            {
                throw Error("unterminated string");
            }

            char escape = _text[_position++];
            switch (escape)
            {
                case 'n':
                    builder.Append('\n');
                    break;
                case 't':
                    builder.Append('\t');
                    break;
                case 'r':
                    builder.Append('\r');
                    break;
                case '0':
                    builder.Append('\0');
                    break;
                case 'x':
                    builder.Append((char)ParseHex(2));
                    break;
                case 'u':
                    builder.Append((char)ParseHex(4));
                    break;
                case '\\' or '\'' or '"':
                    builder.Append(escape);
                    break;
                default:
                    // Python keeps unknown escapes as written.
                    builder.Append('\\').Append(escape);
                    break;
            }
        }
    }

    private int ParseHex(int digits)
    {
        if (_position + digits > _text.Length
            || !int.TryParse(_text.AsSpan(_position, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int value))
        {
            throw Error($"expected {digits} hexadecimal digits in an escape");
        }

        _position += digits;
        return value;
    }

    private BigInteger ParseInteger()
    {
        int start = _position;
        if (_text[_position] is '-' or '+')
        {
            _position++;
        }

        int digitsStart = _position;
        while (_position < _text.Length && char.IsAsciiDigit(_text[_position]))
        {
            _position++;
        }

        if (_position == digitsStart)
        {
            throw Error("expected digits");
        }

        if (_position - digitsStart > MaxIntegerDigits)
        {
            _position = digitsStart;
            throw Limit($"an integer of more than {MaxIntegerDigits} digits");
        }

        var value = BigInteger.Parse(_text.AsSpan(start, _position - start), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

        // Python 2 wrote long integers with an L suffix: (2L, 3L).
        if (_position < _text.Length && _text[_position] is 'L' or 'l')
        {
            _position++;
        }

        if (_position < _text.Length && (char.IsAsciiLetterOrDigit(_text[_position]) || _text[_position] is '.' or '_'))
        {
            throw Error("expected an integer");
        }

        return value;
    }

    private bool TryKeyword(string keyword)
    {
        if (string.CompareOrdinal(_text, _position, keyword, 0, keyword.Length) != 0)
        {
            return false;
        }

        int end = _position + keyword.Length;
        if (end < _text.Length && (char.IsAsciiLetterOrDigit(_text[end]) || _text[end] == '_'))
        {
            return false;
        }

        _position = end;
        return true;
    }

    private bool TryConsume(char c)
    {
        if (_position < _text.Length && _text[_position] == c)
        {
            _position++;
            return true;
        }

        return false;
    }

    private void SkipWhitespace()
    {
        while (_position < _text.Length && _text[_position] is ' ' or '\t' or '\n' or '\r' or '\f' or '\v')
        {
            _position++;
        }
    }

    private FormatException Error(string what) =>
        new($"{what} at character {_position.ToString(CultureInfo.InvariantCulture)}");

    private LimitException Limit(string what) =>
        new($"{what} at character {_position.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>A literal that is well formed but larger than the parser's limits allow.</summary>
    public sealed class LimitException : FormatException
    {
        /// <summary>Creates the exception with its one-line message.</summary>
        public LimitException(string message)
            : base(message)
        {
        }

        /// <summary>Creates the exception with its one-line message and the error that caused it.</summary>
        public LimitException(string message, Exception innerException)
            : base(message, innerException)
        {
        }

        /// <summary>Creates the exception with a generic message.</summary>
        public LimitException()
            : base("the literal is over the parser's limits")
        {
        }
    }
}

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

    private readonly string _text;
    private int _position;

    private PythonLiteral(string text) => _text = text;

    /// <summary>A tuple or list.</summary>
    public sealed record Sequence(IReadOnlyList<object?> Items, bool IsTuple);

    /// <summary>A dict; keys are strings (the only kind .npy headers use), kept in the order written.</summary>
    public sealed record Dict(IReadOnlyList<KeyValuePair<string, object?>> Entries);

    /// <summary>Parses one literal filling the whole text (surrounding whitespace allowed).</summary>
    /// <exception cref="FormatException">The text is not such a literal; the message says where and why.</exception>
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

    /// <summary>Writes a parsed value back as Python would print it (for error messages).</summary>
    public static string Repr(object? value) => value switch
    {
        null => "None",
        string s => TensorStreams.Quote(s),
        bool b => b ? "True" : "False",
        BigInteger i => i.ToString(CultureInfo.InvariantCulture),
        Sequence { IsTuple: true, Items.Count: 1 } t => "(" + Repr(t.Items[0]) + ",)",
        Sequence t => (t.IsTuple ? "(" : "[") + string.Join(", ", t.Items.Select(Repr)) + (t.IsTuple ? ")" : "]"),
        Dict d => "{" + string.Join(", ", d.Entries.Select(e => TensorStreams.Quote(e.Key) + ": " + Repr(e.Value))) + "}",
        _ => value.ToString() ?? string.Empty,
    };

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

            items.Add(ParseValue(depth + 1));
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
}

using System.Globalization;
using System.Text;

namespace Heed.Explain.Pictures;

/// <summary>Turns tokens into short printable labels.</summary>
public static class TokenLabel
{
    /// <summary>
    /// The label of <paramref name="token"/>: spaces and the word-start markers of GPT-2 (Ġ) and SentencePiece (▁) become
    /// <see cref="SpaceMark"/> ('␣', a visible space that cannot be mistaken for a real '_' or left blank), newlines and tabs become \n and
    /// \t, other control characters \xHH; longer than <paramref name="max"/> characters is cut with a trailing '…'. An empty
    /// token is shown as "''".
    /// </summary>
    public static string Display(string token, int max = 16)
    {
        ArgumentNullException.ThrowIfNull(token);
        var s = new StringBuilder(token.Length);
        foreach (char c in token)
        {
            switch (c)
            {
                case '\u0120' or '\u2581' or ' ':
                    s.Append(SpaceMark);
                    break;
                case '\n' or '\u010A':
                    s.Append("\\n");
                    break;
                case '\t' or '\u0109':
                    s.Append("\\t");
                    break;
                case < ' ':
                    s.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    break;
                default:
                    s.Append(c);
                    break;
            }
        }

        string label = s.Length == 0 ? "''" : s.ToString();
        return label.Length > max ? string.Concat(label.AsSpan(0, max - 1), "…") : label;
    }

    /// <summary>The visible space that stands for a word-start marker (U+2423 OPEN BOX).</summary>
    public const char SpaceMark = '\u2423';
}

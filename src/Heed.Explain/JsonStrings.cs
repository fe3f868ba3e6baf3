using System.Globalization;
using System.Text.Json;

namespace Heed.Explain;

/// <summary>
/// Checks every string and property name of a parsed JSON document before anything reads it. JsonDocument.Parse
/// accepts strings holding invalid UTF-8 or an unpaired <c>\uD800</c> escape, and only reading them
/// (<see cref="JsonElement.GetString"/>, <see cref="JsonProperty.Name"/>) throws — an InvalidOperationException that
/// would escape Heed's API. Checking once, up front, turns it into a <see cref="HeedException"/> naming the place.
/// </summary>
internal static class JsonStrings
{
    /// <summary>Throws unless every string and name in <paramref name="root"/> decodes; <paramref name="file"/> starts the message.</summary>
    /// <exception cref="HeedException">A string or name is not valid UTF-8 or holds an unpaired surrogate escape.</exception>
    public static void Check(JsonElement root, string file) => Check(root, file, "");

    // Recursion is bounded by JsonDocument's own maximum depth (64), which Parse enforced already.
    private static void Check(JsonElement e, string file, string at)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                Decode(() => e.GetString(), file, at);
                break;
            case JsonValueKind.Array:
                {
                    int i = 0;
                    foreach (JsonElement item in e.EnumerateArray())
                    {
                        Check(item, file, $"{at}[{i++.ToString(CultureInfo.InvariantCulture)}]");
                    }

                    break;
                }

            case JsonValueKind.Object:
                {
                    int i = 0;
                    foreach (JsonProperty p in e.EnumerateObject())
                    {
                        string name = Decode(() => p.Name, file, $"{at} (field {i.ToString(CultureInfo.InvariantCulture)})")!;
                        Check(p.Value, file, $"{at}\"{(name.Length > 40 ? name[..40] + "…" : name)}\"");
                        i++;
                    }

                    break;
                }
        }
    }

    private static string? Decode(Func<string?> read, string file, string at)
    {
        try
        {
            return read();
        }
        catch (InvalidOperationException ex)
        {
            throw new HeedException($"{file}: {(at.Length == 0 ? "the text" : at.TrimStart())}: a string that is not valid UTF-8 or holds an unpaired \\u surrogate escape", ex);
        }
    }
}

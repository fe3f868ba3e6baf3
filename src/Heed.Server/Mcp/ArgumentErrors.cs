using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;

namespace Heed.Server.Mcp;

/// <summary>A tool's arguments do not fit its input schema; the message is Heed's one line: the field, what it got, what it expected.</summary>
internal sealed class ToolArgumentException(string message) : Exception(message);

/// <summary>
/// Turns what System.Text.Json reports about arguments it could not read (a path and a CLR type name) into Heed's one-line
/// message, by walking the path through the target type and the arguments: <c>pictures[0]: 'Nope'; expected one of Heatmap, …</c>.
/// </summary>
internal static partial class ArgumentErrors
{
    /// <summary>The message for <paramref name="error"/>, raised reading <paramref name="value"/> (the argument <paramref name="field"/>, or the top-level arguments when null) as <paramref name="type"/>.</summary>
    public static string Describe(JsonException error, Type type, JsonNode? value, string? field)
    {
        string[] segments = Segments(error.Path);
        Type? at = type;
        JsonNode? got = value;
        foreach (string segment in segments)
        {
            (at, got) = (Step(at, segment), Step(got, segment));
        }

        string path = string.Concat(segments.Select((s, i) => s[0] == '[' || i == 0 ? s : "." + s));
        string name = field is null ? path : field + (path.Length > 0 && path[0] != '[' ? "." : "") + path;
        if (name.Length == 0 || at is null)
        {
            return $"{(name.Length == 0 ? "arguments" : name)}: not what the input schema allows";
        }

        return $"{name}: {Show(got)}; expected {Expected(at, got)}";
    }

    /// <summary>An enum's values as JSON writes them: each member's [JsonStringEnumMemberName], else its name.</summary>
    public static IEnumerable<string> EnumNames(Type type) =>
        (Nullable.GetUnderlyingType(type) ?? type).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => f.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? f.Name);

    /// <summary>What a value of <paramref name="type"/> looks like in JSON, in words ("an integer", "one of Svg or Png").</summary>
    public static string Expected(Type type, JsonNode? got = null)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type.IsEnum)
        {
            return "one of " + JoinOr(EnumNames(type));
        }

        if (type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(byte))
        {
            // A whole number the type cannot hold is out of range, not of the wrong kind.
            bool whole = got is JsonValue v && v.GetValueKind() == JsonValueKind.Number && !v.ToJsonString().Contains('.', StringComparison.Ordinal) && !v.ToJsonString().Contains('e', StringComparison.OrdinalIgnoreCase);
            return whole ? string.Create(CultureInfo.InvariantCulture, $"an integer from {MinOf(type)} to {MaxOf(type)}") : "an integer";
        }

        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal))
        {
            return got is JsonValue n && n.GetValueKind() == JsonValueKind.Number ? "a finite number in double range" : "a number";
        }

        if (type == typeof(bool))
        {
            return "true or false";
        }

        if (type == typeof(string))
        {
            return "a string";
        }

        if (type == typeof(DateTimeOffset) || type == typeof(DateTime))
        {
            return "a date and time (ISO 8601)";
        }

        JsonTypeInfo info = ServerJson.Options.GetTypeInfo(type);
        return info.Kind switch
        {
            JsonTypeInfoKind.Enumerable => "a list of " + Plural(info.ElementType!),
            JsonTypeInfoKind.Dictionary => "an object of names to " + Plural(info.ElementType!),
            JsonTypeInfoKind.Object => "an object with the fields " + JoinOr(info.Properties.Select(p => p.Name)),
            _ => "a " + type.Name,
        };
    }

    private static string Plural(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type.IsEnum)
        {
            return "names (" + JoinOr(EnumNames(type)) + ")";
        }

        string one = Expected(type);
        return one switch
        {
            "an integer" => "integers",
            "a number" => "numbers",
            "a string" => "strings",
            "true or false" => "true or false values",
            _ when one.StartsWith("a list of ", StringComparison.Ordinal) => "lists of " + one["a list of ".Length..],
            _ when one.StartsWith("an object with", StringComparison.Ordinal) => "objects with" + one["an object with".Length..],
            _ => one,
        };
    }

    private static string MinOf(Type type) => type == typeof(long) ? long.MinValue.ToString(CultureInfo.InvariantCulture) : type == typeof(short) ? short.MinValue.ToString(CultureInfo.InvariantCulture) : type == typeof(byte) ? "0" : int.MinValue.ToString(CultureInfo.InvariantCulture);

    private static string MaxOf(Type type) => type == typeof(long) ? long.MaxValue.ToString(CultureInfo.InvariantCulture) : type == typeof(short) ? short.MaxValue.ToString(CultureInfo.InvariantCulture) : type == typeof(byte) ? "255" : int.MaxValue.ToString(CultureInfo.InvariantCulture);

    /// <summary>A value as Heed's messages quote it: strings in single quotes, anything else as short JSON.</summary>
    public static string Show(JsonNode? value)
    {
        if (value is null)
        {
            return "null";
        }

        string text = value.GetValueKind() == JsonValueKind.String ? $"'{value.GetValue<string>()}'" : value.ToJsonString();
        return text.Length <= 40 ? text : text[..37] + "...";
    }

    /// <summary>"a, b or c".</summary>
    public static string JoinOr(IEnumerable<string> items)
    {
        string[] all = items.ToArray();
        return all.Length <= 1 ? string.Concat(all) : string.Join(", ", all[..^1]) + " or " + all[^1];
    }

    // "$.q.shape[1]" → ["q", "shape", "[1]"]; "$['odd name']" → ["odd name"].
    private static string[] Segments(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return [];
        }

        return PathSegment().Matches(path).Select(m => m.Groups["name"].Success ? m.Groups["name"].Value : m.Groups["quoted"].Success ? m.Groups["quoted"].Value : m.Value).ToArray();
    }

    private static Type? Step(Type? type, string segment)
    {
        if (type is null)
        {
            return null;
        }

        JsonTypeInfo info = ServerJson.Options.GetTypeInfo(Nullable.GetUnderlyingType(type) ?? type);
        bool index = segment[0] == '[';
        return info.Kind switch
        {
            JsonTypeInfoKind.Enumerable when index => info.ElementType,
            JsonTypeInfoKind.Dictionary when !index => info.ElementType,
            JsonTypeInfoKind.Object when !index => info.Properties.FirstOrDefault(p => string.Equals(p.Name, segment, StringComparison.OrdinalIgnoreCase))?.PropertyType,
            _ => null,
        };
    }

    private static JsonNode? Step(JsonNode? node, string segment) => node switch
    {
        JsonArray array when segment[0] == '[' && int.TryParse(segment[1..^1], CultureInfo.InvariantCulture, out int i) && i < array.Count => array[i],
        JsonObject obj when segment[0] != '[' => obj.FirstOrDefault(p => string.Equals(p.Key, segment, StringComparison.OrdinalIgnoreCase)).Value,
        _ => null,
    };

    [GeneratedRegex(@"\.(?<name>[^.\[]+)|\['(?<quoted>(?:[^']|'')*)'\]|\[\d+\]")]
    private static partial Regex PathSegment();
}

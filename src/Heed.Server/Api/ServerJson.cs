using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Heed.Server;

/// <summary>
/// The JSON settings of every request and response, REST and MCP alike: camelCase, nulls left out, strict numbers (a number is a
/// JSON number in float64 range; "Infinity" and friends only in the fields that document them, such as tensor data and masked
/// scores), and unknown fields refused, so that a typo never silently runs with a default.
/// </summary>
public static class ServerJson
{
    /// <summary>The shared options (MCP tools use them too).</summary>
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Applies Heed's settings to <paramref name="options"/>.</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.NumberHandling = JsonNumberHandling.Strict;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        IJsonTypeInfoResolver resolver = options.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver();
        options.TypeInfoResolver = resolver.WithAddedModifier(RefuseNonFiniteNumbers);
        return options;
    }

    /// <summary>Whether a property takes and gives "Infinity", "-Infinity" and "NaN" (it says so with [JsonNumberHandling]).</summary>
    public static bool AllowsNamedLiterals(JsonPropertyInfo property) =>
        property?.NumberHandling is { } handling && handling.HasFlag(JsonNumberHandling.AllowNamedFloatingPointLiterals);

    // A JSON number beyond float64's range (1e400, a literal of a million digits) parses as ±∞; every number field but those that
    // allow named literals refuses it while the body is read, so the error names the field (the reader adds the JSON path).
    private static void RefuseNonFiniteNumbers(JsonTypeInfo type)
    {
        if (type.Kind != JsonTypeInfoKind.Object) return;
        foreach (JsonPropertyInfo property in type.Properties)
        {
            if (property.Set is not { } set || AllowsNamedLiterals(property) || !IsFloating(property.PropertyType)) continue;
            property.Set = (target, value) =>
            {
                if (!AllFinite(value)) throw new JsonException("a number outside the float64 range; expected a finite number");
                set(target, value);
            };
        }
    }

    private static bool IsFloating(Type type) => type == typeof(double) || type == typeof(double?) || type == typeof(float) || type == typeof(float?)
        || type == typeof(double[]) || type == typeof(double[][]) || type == typeof(float[]) || type == typeof(Dictionary<string, double[]>);

    private static bool AllFinite(object? value) => value switch
    {
        double d => double.IsFinite(d),
        float f => float.IsFinite(f),
        double[] row => Array.TrueForAll(row, double.IsFinite),
        double[][] rows => Array.TrueForAll(rows, r => r is null || Array.TrueForAll(r, double.IsFinite)),
        float[] row => Array.TrueForAll(row, float.IsFinite),
        Dictionary<string, double[]> rows => rows.Values.All(r => r is null || Array.TrueForAll(r, double.IsFinite)),
        _ => true,
    };
}

/// <summary>
/// Rows of numbers in which −∞, +∞ and NaN are written (and read) as the strings "-Infinity", "Infinity" and "NaN": masked scores.
/// [JsonNumberHandling] covers numbers and flat arrays only, so rows of rows need this converter; the OpenAPI document describes
/// them through <see cref="OpenApiContract"/>.
/// </summary>
public sealed class RowsWithInfinityConverter : JsonConverter<double[][]>
{
    private static readonly JsonSerializerOptions Literals = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <inheritdoc />
    public override double[][]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        JsonSerializer.Deserialize<double[][]>(ref reader, Literals);

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, double[][] value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value, Literals);
}


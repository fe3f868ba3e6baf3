using System.Text.Json;
using System.Text.Json.Serialization;

namespace Heed.Server;

/// <summary>The JSON settings of every response: camelCase, nulls left out, ±∞ and NaN as "Infinity"/"-Infinity"/"NaN" strings.</summary>
public static class ServerJson
{
    /// <summary>The shared options (MCP tools use them too).</summary>
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Applies Heed's settings to <paramref name="options"/>.</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        if (options.TypeInfoResolver is null)
        {
            options.TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver();
        }

        return options;
    }
}

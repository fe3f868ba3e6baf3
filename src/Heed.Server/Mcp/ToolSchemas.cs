using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.AI;

namespace Heed.Server.Mcp;

/// <summary>
/// JSON Schemas of tool arguments and results, made by the generator the MCP SDK uses
/// (<see cref="AIJsonUtilities.CreateJsonSchema"/>) from the records REST shares, with the server's JSON options, so a
/// schema says exactly what <see cref="ServerJson"/> reads and writes.
/// </summary>
internal static class ToolSchemas
{
    private static readonly AIJsonSchemaCreateOptions Inference = new() { TransformSchemaNode = (context, schema) => RowsWithInfinity(context, OptionalWhenNullable(context, schema)) };

    /// <summary>The schema of <paramref name="type"/> as <see cref="ServerJson.Options"/> serializes it.</summary>
    public static JsonObject For(Type type, string? description = null, bool hasDefaultValue = false, object? defaultValue = null)
    {
        JsonElement schema = AIJsonUtilities.CreateJsonSchema(type, description, hasDefaultValue, defaultValue, ServerJson.Options, Inference);
        return JsonObject.Create(schema.Clone()) ?? throw new InvalidOperationException($"{type.Name}: the schema is not an object");
    }

    // The generator marks every constructor parameter required, but ServerJson leaves null fields out of what it writes, so
    // a required field that may be null makes a valid answer fail validation. A field that can be null is optional here;
    // every field that cannot stays required, and is always written.
    private static JsonNode OptionalWhenNullable(AIJsonSchemaCreateContext context, JsonNode schema)
    {
        if (schema is JsonObject node && node["required"] is JsonArray required && context.TypeInfo.Kind == JsonTypeInfoKind.Object)
        {
            var nullable = context.TypeInfo.Properties
                .Where(p => (p.IsGetNullable || Nullable.GetUnderlyingType(p.PropertyType) is not null) && p.AttributeProvider?.IsDefined(typeof(RequiredAttribute), inherit: false) != true)
                .Select(p => p.Name)
                .ToHashSet(StringComparer.Ordinal);
            foreach (JsonNode? name in required.Where(n => nullable.Contains(n!.GetValue<string>())).ToList())
            {
                required.Remove(name);
            }

            if (required.Count == 0)
            {
                node.Remove("required");
            }
        }

        return schema;
    }

    // Masked scores are rows of numbers in which −∞ is the string "-Infinity" (RowsWithInfinityConverter); the generator cannot
    // see through a converter, so the schema says it here, as the OpenAPI document does.
    private static JsonNode RowsWithInfinity(AIJsonSchemaCreateContext context, JsonNode schema)
    {
        if (context.PropertyInfo?.CustomConverter is not RowsWithInfinityConverter) return schema;
        return new JsonObject
        {
            ["type"] = new JsonArray("array", "null"),
            ["items"] = new JsonObject
            {
                ["type"] = "array",
                ["items"] = new JsonObject
                {
                    ["anyOf"] = new JsonArray(
                        new JsonObject { ["type"] = "number" },
                        new JsonObject { ["type"] = "string", ["enum"] = new JsonArray("NaN", "Infinity", "-Infinity") }),
                },
            },
        };
    }
}

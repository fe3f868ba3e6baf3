using System.ComponentModel.DataAnnotations;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Heed.Server;

/// <summary>
/// Makes the generated OpenAPI document say exactly what the server does, at the root instead of by patching a document: numbers
/// are numbers (the fields that also take "Infinity" say so with a string branch), nullable fields that are left out when null are
/// not required, security is per operation (health is open), every picture media type is listed, descriptions are prose.
/// </summary>
internal static partial class OpenApiContract
{
    private static readonly string[] NamedLiterals = ["NaN", "Infinity", "-Infinity"];

    public static void Configure(OpenApiOptions options)
    {
        options.AddSchemaTransformer((schema, context, _) =>
        {
            if (context.JsonPropertyInfo?.CustomConverter is RowsWithInfinityConverter && schema is OpenApiSchema rows)
            {
                // The converter hides the shape from the generator: rows of numbers, each also "-Infinity", "Infinity" or "NaN".
                rows.Type = JsonSchemaType.Array | JsonSchemaType.Null;
                rows.Items = new OpenApiSchema { Type = JsonSchemaType.Array, Items = NumberOrLiteral(nullable: false) };
            }

            // Heed leaves a null field out of its answers (and takes a request without it): a field that may be null is never
            // required, whether its schema is inline or a reference (which cannot carry "null" itself).
            // A request field marked [Required] is required although its type is nullable (the service names it when it is left out).
            if (context.JsonTypeInfo.Kind == JsonTypeInfoKind.Object && schema is OpenApiSchema owner)
            {
                foreach (JsonPropertyInfo property in context.JsonTypeInfo.Properties)
                {
                    if (property.AttributeProvider?.IsDefined(typeof(RequiredAttribute), inherit: false) == true)
                    {
                        (owner.Required ??= new HashSet<string>()).Add(property.Name);
                    }
                    else if (property.IsGetNullable || Nullable.GetUnderlyingType(property.PropertyType) is not null)
                    {
                        owner.Required?.Remove(property.Name);
                    }
                }
            }

            // RFC 9457 lets a problem carry extension members; ASP.NET adds traceId to every one.
            if (context.JsonTypeInfo.Type == typeof(Microsoft.AspNetCore.Mvc.ProblemDetails) && schema is OpenApiSchema problem)
            {
                problem.AdditionalPropertiesAllowed = true;
                problem.AdditionalProperties = null;
                problem.Properties ??= new Dictionary<string, IOpenApiSchema>();
                problem.Properties["traceId"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The request's trace id, to find it in the server's log." };
            }

            Fix(schema);
            return Task.CompletedTask;
        });
        options.AddOperationTransformer(async (operation, context, cancellation) =>
        {
            // An endpoint that answers JSON or, on request, Server-Sent Events documents both media types of its 200.
            if (context.Description.ActionDescriptor.EndpointMetadata.OfType<AlsoEventStream>().FirstOrDefault() is { } stream
                && operation.Responses?.TryGetValue("200", out IOpenApiResponse? ok) == true && ok is OpenApiResponse answer)
            {
                answer.Content ??= new Dictionary<string, OpenApiMediaType>();
                answer.Content["text/event-stream"] = new OpenApiMediaType { Schema = await context.GetOrCreateSchemaAsync(stream.Events, null, cancellation).ConfigureAwait(false) };
            }

            string path = "/" + (context.Description.RelativePath ?? "").TrimEnd('/');
            operation.Security = path == "/api/v1/health"
                ? []
                : [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", context.Document)] = [] }];
            if (operation.Description is not null) operation.Description = Prose(operation.Description);
            foreach (IOpenApiParameter parameter in operation.Parameters ?? [])
            {
                if (parameter is OpenApiParameter p && p.Description is not null) p.Description = Prose(p.Description);
            }
        });
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Heed",
                Version = HeedServer.Version,
                Description = "Exact, explainable attention (ONNX Attention and PyTorch SDPA semantics) for programs and agents. Every error is an RFC 9457 problem details document. Send Authorization: Bearer <token> (from the discovery file) on every call but /api/v1/health.",
                License = new OpenApiLicense { Name = "MIT", Identifier = "MIT" },
            };
            foreach (OpenApiServer server in document.Servers ?? [])
            {
                server.Url = server.Url?.TrimEnd('/');
            }

            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme { Type = SecuritySchemeType.Http, Scheme = "bearer", Description = "The token from the discovery file ($XDG_RUNTIME_DIR/heed/server.json or ~/.heed/server.json)" };
            document.Security = null;
            document.Tags = new HashSet<OpenApiTag>([new OpenApiTag { Name = "Heed.Server", Description = "Attention, explanations, model runs and the workspace" }]);
            return Task.CompletedTask;
        });
    }

    /// <summary>Fixes one schema and everything below it.</summary>
    private static void Fix(IOpenApiSchema node)
    {
        if (node is not OpenApiSchema schema) return;
        if (schema.AnyOf is { Count: 2 } any && any.Any(IsLiterals) && any.Any(s => s.Type is { } t && t.HasFlag(JsonSchemaType.Number)))
        {
            // A field that takes "-Infinity" as well as numbers: a number, or one of the three named strings. The generator wrote
            // the enum without its type and put "type": "object" beside the anyOf, which no number can satisfy.
            bool nullable = schema.Type is { } own && own.HasFlag(JsonSchemaType.Null);
            schema.Type = null;
            schema.Format = null;
            schema.AnyOf = NumberOrLiteral(nullable).AnyOf;
        }

        if (schema.Properties is { Count: > 0 } properties)
        {
            foreach (IOpenApiSchema property in properties.Values) Fix(property);
        }

        if (schema.Items is not null) Fix(schema.Items);
        if (schema.AdditionalProperties is not null) Fix(schema.AdditionalProperties);
        foreach (IOpenApiSchema s in schema.AnyOf ?? []) Fix(s);
        foreach (IOpenApiSchema s in schema.OneOf ?? []) Fix(s);
        if (schema.Description is not null) schema.Description = Prose(schema.Description);
    }

    private static OpenApiSchema NumberOrLiteral(bool nullable) => new()
    {
        AnyOf =
        [
            new OpenApiSchema { Type = nullable ? JsonSchemaType.Number | JsonSchemaType.Null : JsonSchemaType.Number },
            new OpenApiSchema { Type = JsonSchemaType.String, Enum = [.. NamedLiterals.Select(l => (JsonNode)JsonValue.Create(l))] },
        ],
    };

    private static bool IsLiterals(IOpenApiSchema s) =>
        s.Enum is { Count: 3 } e && e.Select(v => v?.GetValue<string>()).Order(StringComparer.Ordinal).SequenceEqual(NamedLiterals.Order(StringComparer.Ordinal));

    /// <summary>
    /// Descriptions for people: the XML docs' cross-references come out as C# signatures ("string? ExplainRequest.Prompt",
    /// "CancellationToken cancellation = default"); each becomes the JSON name of the member it points at.
    /// </summary>
    internal static string Prose(string text)
    {
        string result = CrefSignature().Replace(text, m => char.ToLowerInvariant(m.Groups["member"].Value[0]) + m.Groups["member"].Value[1..]);
        return CancellationParameter().Replace(result, "").Trim();
    }

    [GeneratedRegex(@"(?:(?:[A-Za-z_][\w.]*)(?:<[^<>]*>)?(?:\[\])*\??\s)?(?:[A-Z]\w*\.)+(?<member>[A-Z]\w*)(?:\([^)]*\))?")]
    private static partial Regex CrefSignature();

    [GeneratedRegex(@",?\s*CancellationToken \w+( = default)?")]
    private static partial Regex CancellationParameter();
}

/// <summary>Endpoint metadata: the 200 answer is also a text/event-stream of <paramref name="Events"/> (the JSON answer is declared with Produces).</summary>
/// <param name="Events">The type of each event's data.</param>
internal sealed record AlsoEventStream(Type Events);

using System.Text.Json;
using Heed.Server.Services;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Heed.Server;

/// <summary>Every error the server returns is an RFC 9457 problem details document; this maps exceptions to them.</summary>
internal static class Problems
{
    /// <summary>Writes a problem details response with <paramref name="status"/>.</summary>
    public static async Task WriteAsync(HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail, Instance = context.Request.Path };
        IProblemDetailsService? service = context.RequestServices.GetService(typeof(IProblemDetailsService)) as IProblemDetailsService;
        if (service is null || !await service.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem }).ConfigureAwait(false))
        {
            context.Response.ContentType = "application/problem+json";
            await context.Response.WriteAsJsonAsync(problem).ConfigureAwait(false);
        }
    }

    /// <summary>Title of the 503 for a request over the time limit.</summary>
    public const string TimedOutTitle = "Request timed out";

    /// <summary>Detail of the 503 for a request over the time limit of <paramref name="limit"/>.</summary>
    public static string TimedOutDetail(TimeSpan limit) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"the request took longer than the server's limit of {limit.TotalSeconds:0.###} s");

    /// <summary>The status, title and detail for an exception an endpoint threw.</summary>
    public static (int Status, string Title, string Detail) Classify(Exception exception) => exception switch
    {
        HeedNotFoundException e => (StatusCodes.Status404NotFound, "Not found", e.Message),
        HeedConflictException e => (StatusCodes.Status409Conflict, "Conflict", e.Message),
        HeedException e => (StatusCodes.Status400BadRequest, "Invalid input", e.Message),
        RequestTimedOutException e => (StatusCodes.Status503ServiceUnavailable, TimedOutTitle, e.Message),
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } e => (StatusCodes.Status413PayloadTooLarge, "Request body too large", e.Message),
        BadHttpRequestException { InnerException: JsonException json } => (StatusCodes.Status400BadRequest, "Invalid input", Describe(json)),
        BadHttpRequestException e => (e.StatusCode, "Bad request", Describe(e)),
        JsonException e => (StatusCodes.Status400BadRequest, "Invalid input", Describe(e)),
        _ => (StatusCodes.Status500InternalServerError, "Internal error", $"{exception.GetType().Name}: the server failed on this request; the log has the details"),
    };

    /// <summary>A binding failure in Heed's words: an empty body, a body that is not JSON, a missing parameter.</summary>
    private static string Describe(BadHttpRequestException e) => e.Message switch
    {
        string m when m.StartsWith("Implicit body inferred", StringComparison.Ordinal) || m.Contains("was not provided from body", StringComparison.Ordinal)
            => "the request body is empty; expected a JSON object (Content-Type: application/json)",
        string m when m.StartsWith("Expected a supported JSON media type", StringComparison.Ordinal)
            => $"the body must be JSON (Content-Type: application/json){(m.Split('"') is { Length: > 1 } parts ? $"; got {parts[1]}" : "")}",
        string m when m.StartsWith("Required parameter", StringComparison.Ordinal) && m.Split('"') is { Length: > 1 } parts
            => $"missing parameter {parts[1].Split(' ')[^1]}",
        string m when m.StartsWith("Failed to bind parameter", StringComparison.Ordinal) && m.Split('"') is { Length: > 3 } parts
            => $"{parts[1].Split(' ')[^1]}: '{parts[3]}' is not valid here",
        string m => m,
    };

    /// <summary>
    /// A JSON error in Heed's words, naming the field by its JSON path: an unknown field, a value of the wrong kind, a number out of
    /// range, or a body that is not JSON at all. Never the serializer's wording with .NET type names.
    /// </summary>
    public static string Describe(JsonException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        string path = string.IsNullOrEmpty(e.Path) ? "$" : e.Path;
        string message = e.Message;
        int suffix = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (suffix >= 0) message = message[..suffix];
        if (message.StartsWith("The JSON property '", StringComparison.Ordinal) && message.Split('\'') is { Length: > 1 } unknown)
        {
            return $"{path}: unknown field '{unknown[1]}'; the operation's fields are in the OpenAPI document (/openapi/v1.json)";
        }

        if (message.StartsWith("The JSON value could not be converted to ", StringComparison.Ordinal))
        {
            return $"{path}: expected {Expected(message["The JSON value could not be converted to ".Length..].TrimEnd('.'))}";
        }

        if (message.Contains("missing required properties", StringComparison.Ordinal))
        {
            return $"{path}: a required field is missing ({message[(message.IndexOf("including:", StringComparison.Ordinal) + 10)..].Trim().TrimEnd('.')})";
        }

        if (e.LineNumber is long line && e.BytePositionInLine is long position && (message.Contains("invalid", StringComparison.OrdinalIgnoreCase) || message.Contains("expected", StringComparison.OrdinalIgnoreCase)) && !message.StartsWith("a number", StringComparison.Ordinal))
        {
            return $"the body is not valid JSON at line {line + 1}, byte {position + 1}: {message.TrimEnd('.')}";
        }

        return $"{path}: {message.TrimEnd('.')}";
    }

    private static string Expected(string type)
    {
        string plain = type.StartsWith("System.Nullable`1[", StringComparison.Ordinal) ? type["System.Nullable`1[".Length..^1] : type;
        return plain switch
        {
            "System.Double" or "System.Single" => "a number",
            "System.Int32" or "System.Int64" => "an integer",
            "System.Boolean" => "true or false",
            "System.String" => "a string",
            _ when plain.EndsWith("[][]", StringComparison.Ordinal) => "an array of arrays (one per row)",
            _ when plain.EndsWith("[]", StringComparison.Ordinal) || plain.StartsWith("System.Collections", StringComparison.Ordinal) => "an array",
            _ when Type.GetType(plain) is { IsEnum: true } enumType => "one of " + string.Join(", ", Mcp.ArgumentErrors.EnumNames(enumType)),
            _ => "an object",
        };
    }

    /// <summary>The exception handler: maps the exception and writes the problem.</summary>
    public sealed class Handler : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
        {
            (int status, string title, string detail) = Classify(exception);
            await WriteAsync(httpContext, status, title, detail).ConfigureAwait(false);
            return true;
        }
    }
}

/// <summary>A request whose computation took longer than the server's time limit although the limit's timer had not fired yet.</summary>
internal sealed class RequestTimedOutException(TimeSpan limit) : Exception(Problems.TimedOutDetail(limit));

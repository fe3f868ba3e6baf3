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
        BadHttpRequestException e => (e.StatusCode, "Bad request", Describe(e)),
        JsonException e => (StatusCodes.Status400BadRequest, "Invalid JSON", e.Message),
        _ => (StatusCodes.Status500InternalServerError, "Internal error", $"{exception.GetType().Name}: the server failed on this request; the log has the details"),
    };

    private static string Describe(BadHttpRequestException e) =>
        e.InnerException is JsonException json ? $"{e.Message.TrimEnd('.')}: {json.Message}" : e.Message;

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

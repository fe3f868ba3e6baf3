using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Heed.Server;

/// <summary>The web page at <c>/</c>: one self-contained HTML file (inline CSS and JS, no CDN) embedded in the assembly.</summary>
internal static class WebPage
{
    private static readonly Lazy<byte[]> Page = new(() =>
    {
        using Stream stream = typeof(WebPage).Assembly.GetManifestResourceStream("wwwroot/index.html")
            ?? throw new InvalidOperationException("the web page is missing from the assembly");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    public static void Map(WebApplication app)
    {
        app.MapGet("/", (HttpContext context) =>
        {
            // The token may arrive in the query string; never let it leak through a Referer.
            context.Response.Headers["Referrer-Policy"] = "no-referrer";
            context.Response.Headers.ContentSecurityPolicy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src blob: data:; connect-src 'self'";
            return TypedResults.Bytes(Page.Value, "text/html; charset=utf-8");
        }).ExcludeFromDescription();
    }
}

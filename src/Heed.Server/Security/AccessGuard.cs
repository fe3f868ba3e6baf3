using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Heed.Server;

/// <summary>
/// The checks every request passes before it reaches an endpoint, in this order: the Host header and the Origin header
/// against the allow-list (403, against DNS rebinding and cross-site pages), the declared body size (413), and the bearer
/// token (401; <c>/api/v1/health</c> and the web page at <c>/</c> are open; the page reads the token from <c>?token=</c> once and keeps it in the tab).
/// </summary>
internal sealed class AccessGuard
{
    private readonly string _token;
    private readonly long _maxBodyBytes;
    private HashSet<string> _hosts = new(StringComparer.OrdinalIgnoreCase);

    public AccessGuard(string token, long maxBodyBytes)
    {
        _token = token;
        _maxBodyBytes = maxBodyBytes;
    }

    /// <summary>Sets the allowed Host values once the port is known: loopback names and, when bound elsewhere, that address.</summary>
    public void Allow(int port, IEnumerable<string> extraHosts)
    {
        var hosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { $"127.0.0.1:{port}", $"localhost:{port}", $"[::1]:{port}" };
        foreach (string host in extraHosts)
        {
            hosts.Add($"{host}:{port}");
        }

        _hosts = hosts;
    }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        HttpRequest request = context.Request;
        string host = request.Host.Value ?? "";
        if (!_hosts.Contains(host))
        {
            await Problems.WriteAsync(context, StatusCodes.Status403Forbidden, "Forbidden host", $"Host '{host}' is not one this server answers to; use {string.Join(" or ", _hosts.Order(StringComparer.Ordinal))}").ConfigureAwait(false);
            return;
        }

        string? origin = request.Headers.Origin;
        if (origin is not null && !(Uri.TryCreate(origin, UriKind.Absolute, out Uri? o) && o.Scheme == Uri.UriSchemeHttp && _hosts.Contains($"{o.Host}:{o.Port}") && o.AbsolutePath == "/"))
        {
            await Problems.WriteAsync(context, StatusCodes.Status403Forbidden, "Forbidden origin", $"Origin '{origin}' is not allowed; only pages served by this server may call it").ConfigureAwait(false);
            return;
        }

        if (request.ContentLength > _maxBodyBytes)
        {
            await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "Request body too large", $"the body has {request.ContentLength} bytes; the server's limit is {_maxBodyBytes}").ConfigureAwait(false);
            return;
        }

        // The health check and the web page itself are open: the page holds no data, and every call it makes carries the token,
        // which it keeps in the tab's sessionStorage, so a reload without ?token= in the address still works.
        string path = request.Path.Value ?? "/";
        bool open = path == "/api/v1/health" || (path == "/" && (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)));
        if (!open && !Authorized(request))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await Problems.WriteAsync(context, StatusCodes.Status401Unauthorized, "Missing or wrong bearer token", "send Authorization: Bearer <token>; the token is in the discovery file (heed serve prints where)").ConfigureAwait(false);
            return;
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = _maxBodyBytes;
        }

        await next(context).ConfigureAwait(false);
    }

    private bool Authorized(HttpRequest request)
    {
        string? header = request.Headers.Authorization;
        return header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && TokenStore.Matches(_token, header["Bearer ".Length..].Trim());
    }
}

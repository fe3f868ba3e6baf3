using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Heed.Models.Tests;

/// <summary>
/// A Hugging Face hub stand-in on 127.0.0.1: /{repo}/resolve/main/{file} answers a large ("LFS") file with a 302 to
/// /cdn/{sha256} carrying X-Linked-ETag and X-Linked-Size, and a small file directly with its git blob sha1 as ETag;
/// /cdn/ honours Range requests; /api/models/{repo}/revision/main lists the files.
/// </summary>
internal sealed class FakeHub : IDisposable
{
    private readonly HttpListener _listener;
    private readonly Dictionary<string, byte[]> _files = new(StringComparer.Ordinal);
    private readonly Task _loop;

    public FakeHub(string repo)
    {
        Repo = repo;
        (_listener, BaseUrl) = Listen();
        _loop = Task.Run(ServeAsync);
    }

    public string Repo { get; }

    public string BaseUrl { get; }

    /// <summary>Files of at least this size are served the LFS way (redirect + X-Linked-ETag).</summary>
    public int LfsThreshold { get; set; } = 1024;

    /// <summary>When set, a full GET of a file sends only this many bytes and then drops the connection.</summary>
    public int? CutAfter { get; set; }

    /// <summary>When set, the checksum headers announce this sha256 instead of the real one.</summary>
    public string? WrongSha256 { get; set; }

    /// <summary>Range headers the CDN received, in order ("" when none).</summary>
    public List<string> Ranges { get; } = [];

    public void Add(string path, byte[] content) => _files[path] = content;

    public static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

#pragma warning disable CA5350 // git names blobs by SHA-1; the hub's ETag of a small file is that name, not a security hash.
    public static string GitSha1(byte[] data) =>
        Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {data.Length}\0"), .. data]));
#pragma warning restore CA5350

    public void Dispose()
    {
        if (!_listener.IsListening) return;
        _listener.Stop();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The listener was closed under a pending accept.
        }
    }

    /// <summary>
    /// Starts the listener on a free loopback port and returns its base address. HttpListener cannot bind port 0, so a port
    /// is probed first; another process (the test projects run side by side) can take it before the listener binds it, so a
    /// port found taken is replaced by a new one.
    /// </summary>
    private static (HttpListener Listener, string Url) Listen()
    {
        for (int attempt = 1; ; attempt++)
        {
            string url = $"http://127.0.0.1:{FreePort()}/";
            var listener = new HttpListener();
            listener.Prefixes.Add(url);
            try
            {
                listener.Start();
                return (listener, url);
            }
            catch (HttpListenerException) when (attempt < 20)
            {
                // Taken between the probe and the bind: try another port.
                listener.Close();
            }
        }
    }

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            try
            {
                Handle(context);
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
            {
                // The client went away, or the test cut the connection on purpose.
            }
        }
    }

    private void Handle(HttpListenerContext context)
    {
        HttpListenerRequest request = context.Request;
        HttpListenerResponse response = context.Response;
        string path = Uri.UnescapeDataString(request.Url!.AbsolutePath.TrimStart('/'));
        string resolve = Repo + "/resolve/main/";
        if (path == $"api/models/{Repo}/revision/main")
        {
            byte[] list = JsonSerializer.SerializeToUtf8Bytes(new { id = Repo, siblings = _files.Keys.Select(k => new { rfilename = k }) });
            response.ContentType = "application/json";
            response.OutputStream.Write(list);
            response.Close();
            return;
        }

        if (path.StartsWith(resolve, StringComparison.Ordinal) && _files.TryGetValue(path[resolve.Length..], out byte[]? content))
        {
            if (content.Length >= LfsThreshold)
            {
                string sha = WrongSha256 ?? Sha256(content);
                response.StatusCode = 302;
                response.RedirectLocation = "/cdn/" + sha256Key(path[resolve.Length..]);
                response.AddHeader("X-Linked-ETag", $"\"{sha}\"");
                response.AddHeader("X-Linked-Size", content.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
                response.AddHeader("ETag", $"\"{sha}\"");
                response.Close();
                return;
            }

            response.AddHeader("ETag", $"\"{GitSha1(content)}\"");
            Send(request, response, content);
            return;
        }

        if (path.StartsWith("cdn/", StringComparison.Ordinal) && _files.FirstOrDefault(f => sha256Key(f.Key) == path[4..]).Value is byte[] blob)
        {
            Send(request, response, blob);
            return;
        }

        response.StatusCode = 404;
        response.AddHeader("X-Error-Message", "Entry not found");
        response.Close();

        static string sha256Key(string file) => Sha256(Encoding.UTF8.GetBytes(file));
    }

    private void Send(HttpListenerRequest request, HttpListenerResponse response, byte[] content)
    {
        string? range = request.Headers["Range"];
        if (request.HttpMethod == "GET") Ranges.Add(range ?? "");
        long start = 0;
        if (range is not null && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            start = long.Parse(range[6..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (start >= content.Length)
            {
                response.StatusCode = 416;
                response.Close();
                return;
            }

            response.StatusCode = 206;
            response.AddHeader("Content-Range", $"bytes {start}-{content.Length - 1}/{content.Length}");
        }

        response.ContentLength64 = content.Length - start;
        if (request.HttpMethod == "HEAD")
        {
            response.Close();
            return;
        }

        if (CutAfter is int cut && start == 0)
        {
            response.OutputStream.Write(content, 0, cut);
            response.OutputStream.Flush();
            response.Abort(); // drop the connection mid-body
            return;
        }

        response.OutputStream.Write(content, (int)start, (int)(content.Length - start));
        response.Close();
    }
}

using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Heed.Models.Hub;

/// <summary>Bytes of one file received so far.</summary>
/// <param name="File">The file's path in the repository.</param>
/// <param name="Received">Bytes on disk (a resumed download starts at the partial file's length).</param>
/// <param name="Total">The full size when the server told it, else null.</param>
public readonly record struct DownloadProgress(string File, long Received, long? Total);

/// <summary>One downloaded (or already present) file.</summary>
/// <param name="File">The path in the repository.</param>
/// <param name="LocalPath">Where it is on disk.</param>
/// <param name="Bytes">Its size.</param>
/// <param name="Checksum">"sha256:…" or "git-sha1:…" when the hub gave one and it was verified, else null.</param>
/// <param name="Status">"downloaded", "resumed" or "up to date".</param>
public sealed record PulledFile(string File, string LocalPath, long Bytes, string? Checksum, string Status);

/// <summary>
/// Downloads files from a Hugging Face hub (<c>{base}/{repo}/resolve/{revision}/{file}</c>). A HEAD request without
/// redirects reads the hub's checksum: X-Linked-ETag (the sha256 of an LFS file) or ETag (the git blob sha1 of a
/// small file), and the size. Data goes to FILE.part, resumed with a Range request when a partial file exists,
/// verified against the checksum, and only then renamed to FILE.
/// </summary>
public sealed class HubClient : IDisposable
{
    private const int MaxRedirects = 8;
    private readonly HttpClient _http;
    private readonly Uri _baseUrl;

    /// <summary>Creates a client for the hub at <paramref name="baseUrl"/> (e.g. https://huggingface.co).</summary>
    /// <param name="baseUrl">The hub's address.</param>
    /// <param name="token">A bearer token for private or gated repositories (HF_TOKEN), or null.</param>
    /// <param name="timeout">Per-request timeout; default 100 s.</param>
    public HubClient(Uri baseUrl, string? token = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(baseUrl);
        _baseUrl = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");
#pragma warning disable CA2000 // The client owns the handler (disposeHandler: true).
        _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }, disposeHandler: true) { Timeout = timeout ?? TimeSpan.FromSeconds(100) };
#pragma warning restore CA2000
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("heed", "1.0"));
        if (!string.IsNullOrEmpty(token))
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    /// <summary>The default hub.</summary>
    public static Uri DefaultBaseUrl { get; } = new("https://huggingface.co/");

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    /// <summary>The file paths of a repository at a revision (the hub's <c>/api/models/{repo}</c> siblings).</summary>
    /// <exception cref="HeedException">The hub cannot be reached or the repository does not exist.</exception>
    public async Task<IReadOnlyList<string>> ListFilesAsync(string repo, string revision = "main", CancellationToken cancellation = default)
    {
        CheckRepo(repo);
        Uri url = new(_baseUrl, $"api/models/{repo}/revision/{Uri.EscapeDataString(revision)}");
        using HttpResponseMessage response = await SendAsync(HttpMethod.Get, url, null, repo, cancellation).ConfigureAwait(false);
        await CheckStatusAsync(response, repo, "(file list)").ConfigureAwait(false);
        byte[] body = await response.Content.ReadAsByteArrayAsync(cancellation).ConfigureAwait(false);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(body);
            return [.. doc.RootElement.GetProperty("siblings").EnumerateArray().Select(s => s.GetProperty("rfilename").GetString()!)];
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new HeedException($"{repo}: the hub's file list is not the expected JSON ({ex.Message})", ex);
        }
    }

    /// <summary>Downloads one file of <paramref name="repo"/> into <paramref name="folder"/>/<paramref name="file"/>.</summary>
    /// <exception cref="HeedException">Offline, not found, refused, interrupted, or the checksum does not match.</exception>
    public async Task<PulledFile> DownloadAsync(
        string repo,
        string file,
        string folder,
        string revision = "main",
        IProgress<DownloadProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        CheckRepo(repo);
        ArgumentNullException.ThrowIfNull(folder);
        string target = LocalPath(folder, file);
        Uri url = new(_baseUrl, $"{repo}/resolve/{Uri.EscapeDataString(revision)}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}");

        // 1. HEAD without following redirects: an LFS file answers 302 with X-Linked-ETag / X-Linked-Size.
        string? etag;
        long? size;
        using (HttpResponseMessage head = await SendAsync(HttpMethod.Head, url, null, repo, cancellation, followRedirects: false).ConfigureAwait(false))
        {
            if ((int)head.StatusCode is >= 300 and < 400)
            {
                etag = Header(head, "X-Linked-ETag") ?? Header(head, "ETag");
                size = long.TryParse(Header(head, "X-Linked-Size"), NumberStyles.None, CultureInfo.InvariantCulture, out long linked) ? linked : null;
            }
            else
            {
                await CheckStatusAsync(head, repo, file).ConfigureAwait(false);
                etag = Header(head, "X-Linked-ETag") ?? Header(head, "ETag");
                size = long.TryParse(Header(head, "X-Linked-Size"), NumberStyles.None, CultureInfo.InvariantCulture, out long linked) ? linked : head.Content.Headers.ContentLength;
            }
        }

        Checksum? checksum = Checksum.FromETag(etag, size);
        if (File.Exists(target) && (size is null || new FileInfo(target).Length == size) && checksum is not null && checksum.Matches(target))
        {
            long length = new FileInfo(target).Length;
            progress?.Report(new DownloadProgress(file, length, length));
            return new PulledFile(file, target, length, checksum.Text, "up to date");
        }

        // 2. GET into FILE.part, resuming from its length.
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        string partial = target + ".part";
        long start = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        if (size is long known && start > known) start = 0;
        bool resumed = false;
        if (size is long complete && start == complete && start > 0)
        {
            resumed = true; // every byte is already here; only the check remains
        }
        else
        {
            using HttpResponseMessage get = await SendAsync(HttpMethod.Get, url, start > 0 ? start : null, repo, cancellation).ConfigureAwait(false);
            if (get.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                start = 0;
                File.Delete(partial);
                throw new HeedException($"{repo}/{file}: the server refused to resume the partial download; it was removed, run the command again");
            }

            await CheckStatusAsync(get, repo, file).ConfigureAwait(false);
            resumed = get.StatusCode == HttpStatusCode.PartialContent;
            if (!resumed) start = 0; // the server sent the whole file
            long? total = size ?? (get.Content.Headers.ContentLength is long n ? n + start : null);
            await using var output = new FileStream(partial, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            await using Stream input = await get.Content.ReadAsStreamAsync(cancellation).ConfigureAwait(false);
            var buffer = new byte[1 << 16];
            long received = start;
            try
            {
                int read;
                while ((read = await input.ReadAsync(buffer, cancellation).ConfigureAwait(false)) > 0)
                {
                    await output.WriteAsync(buffer.AsMemory(0, read), cancellation).ConfigureAwait(false);
                    received += read;
                    progress?.Report(new DownloadProgress(file, received, total));
                }
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException)
            {
                throw new HeedException($"{repo}/{file}: the download broke off after {received} bytes ({ex.Message}); run the command again to resume", ex);
            }
        }

        // 3. Size and checksum, then the rename.
        long got = new FileInfo(partial).Length;
        if (size is long expected && got != expected)
        {
            throw new HeedException($"{repo}/{file}: received {got} bytes but the hub announced {expected}; run the command again to resume");
        }

        if (checksum is not null && !checksum.Matches(partial, out string actual))
        {
            File.Delete(partial);
            throw new HeedException($"{repo}/{file}: checksum mismatch: the hub says {checksum.Text} but the data is {checksum.Kind}:{actual}; the download was removed");
        }

        File.Move(partial, target, overwrite: true);
        return new PulledFile(file, target, got, checksum?.Text, resumed ? "resumed" : "downloaded");
    }

    /// <summary>Where <paramref name="file"/> goes under <paramref name="folder"/>; refuses paths that would leave it.</summary>
    /// <exception cref="HeedException">The path is absolute or climbs out with "..".</exception>
    public static string LocalPath(string folder, string file)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (string.IsNullOrEmpty(file) || Path.IsPathRooted(file) || file.Split('/', '\\').Any(part => part is ".." or "." or ""))
        {
            throw new HeedException($"--file {file}: expected a relative path inside the repository (no leading /, no . or .. parts)");
        }

        return Path.GetFullPath(Path.Combine(folder, file));
    }

    private static void CheckRepo(string repo)
    {
        ArgumentNullException.ThrowIfNull(repo);
        string[] parts = repo.Split('/');
        if (parts.Length is < 1 or > 2 || parts.Any(p => p.Length == 0 || p is "." or ".." || p.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))))
        {
            throw new HeedException($"repository {repo}: expected OWNER/NAME (letters, digits, '-', '_', '.')");
        }
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out IEnumerable<string>? values) || response.Content.Headers.TryGetValues(name, out values)
            ? values.FirstOrDefault()
            : null;

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri url, long? rangeStart, string repo, CancellationToken cancellation, bool followRedirects = true)
    {
        for (int hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(method, url);
            if (rangeStart is long from) request.Headers.Range = new RangeHeaderValue(from, null);
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
            }
            catch (HttpRequestException ex)
            {
                string why = ex.InnerException is SocketException socket ? socket.SocketErrorCode.ToString() : ex.Message;
                throw new HeedException($"cannot reach {url.GetLeftPart(UriPartial.Authority)} for {repo} ({why}): offline? check the network or --base-url", ex);
            }
            catch (TaskCanceledException ex) when (!cancellation.IsCancellationRequested)
            {
                throw new HeedException($"{url.GetLeftPart(UriPartial.Authority)} did not answer in time for {repo}: offline or too slow", ex);
            }

            if (!followRedirects || (int)response.StatusCode is < 300 or >= 400 || response.Headers.Location is null)
            {
                return response;
            }

            if (hop >= MaxRedirects)
            {
                response.Dispose();
                throw new HeedException($"{repo}: more than {MaxRedirects} redirects from {url}");
            }

            Uri next = response.Headers.Location.IsAbsoluteUri ? response.Headers.Location : new Uri(url, response.Headers.Location);
            response.Dispose();
            url = next;
        }
    }

    private static async Task CheckStatusAsync(HttpResponseMessage response, string repo, string file)
    {
        if (response.IsSuccessStatusCode) return;
        string detail = Header(response, "X-Error-Message") ?? "";
        if (detail.Length == 0 && response.Content is not null)
        {
            string body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
            detail = body.Length > 200 ? body[..200] : body;
        }

        detail = string.Join(' ', detail.Split((char[])['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim();
        string what = response.StatusCode switch
        {
            HttpStatusCode.NotFound => "not found (check the repository and file names)",
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => "refused: the repository is private or gated (set HF_TOKEN)",
            _ => $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}",
        };
        throw new HeedException($"{repo}/{file}: {what}{(detail.Length > 0 ? ": " + detail : "")}");
    }

    private sealed class Checksum(string kind, string hex, long? size)
    {
        public string Kind => kind;

        public string Text => $"{kind}:{hex}";

        // The hub's ETag is the sha256 of an LFS object (64 hex digits) or the git blob sha1 of a regular file (40).
        public static Checksum? FromETag(string? etag, long? size)
        {
            if (etag is null) return null;
            string value = etag.Trim();
            if (value.StartsWith("W/", StringComparison.Ordinal)) value = value[2..];
            value = value.Trim('"').ToLowerInvariant();
            if (!value.All(char.IsAsciiHexDigit)) return null;
            return value.Length switch
            {
                64 => new Checksum("sha256", value, size),
                40 => new Checksum("git-sha1", value, size),
                _ => null,
            };
        }

        public bool Matches(string path) => Matches(path, out _);

        public bool Matches(string path, out string actual)
        {
            using FileStream stream = File.OpenRead(path);
            if (kind == "sha256")
            {
                actual = Convert.ToHexStringLower(SHA256.HashData(stream));
            }
            else
            {
                // git hashes "blob {size}\0" followed by the content.
                using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
                sha1.AppendData(Encoding.ASCII.GetBytes($"blob {stream.Length}\0"));
                var buffer = new byte[1 << 16];
                int read;
                while ((read = stream.Read(buffer)) > 0) sha1.AppendData(buffer, 0, read);
                actual = Convert.ToHexStringLower(sha1.GetHashAndReset());
            }

            return actual == hex && (size is null || stream.Length == size);
        }
    }
}

using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Heed.Models;
using Heed.Models.Hub;

namespace Heed.Cli.Commands;

/// <summary><c>heed pull</c>: model files from the Hugging Face hub, resumable and checksum-verified.</summary>
internal static class PullCommand
{
    public static Command Create()
    {
        var repo = new Argument<string>("repo") { Description = "OWNER/NAME on the hub, e.g. karpathy/tinyllamas" };
        var files = new Option<string[]>("--file") { Description = "A file of the repository (repeatable; default: every file)", AllowMultipleArgumentsPerToken = false };
        var to = new Option<string?>("--to") { Description = "Destination folder (default: $HEED_MODELS or ~/.heed/models, then OWNER/NAME)" };
        var revision = new Option<string>("--revision") { Description = "Branch, tag or commit", DefaultValueFactory = _ => "main" };
        var baseUrl = new Option<string?>("--base-url") { Description = "The hub's address (default: $HF_ENDPOINT, else https://huggingface.co)" };
        var command = new Command("pull", "Download model files from the Hugging Face hub (resumes partial downloads, verifies the hub's checksums).")
        {
            repo, files, to, revision, baseUrl,
        };
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            TextWriter output = parse.InvocationConfiguration.Output, error = parse.InvocationConfiguration.Error;
            string name = parse.GetValue(repo)!;
            string url = parse.GetValue(baseUrl) ?? Environment.GetEnvironmentVariable("HF_ENDPOINT") ?? HubClient.DefaultBaseUrl.AbsoluteUri;
            if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? hub) || (hub.Scheme != Uri.UriSchemeHttp && hub.Scheme != Uri.UriSchemeHttps))
            {
                throw new HeedException($"--base-url {url}: expected an http(s) address");
            }

            string folder = parse.GetValue(to) ?? Path.Combine(ModelFiles.DefaultDirectory, name);
            string rev = parse.GetValue(revision)!;
            string[] wanted = parse.GetValue(files) ?? [];
            foreach (string file in wanted) HubClient.LocalPath(folder, file); // refuse bad paths before any request

            using var client = new HubClient(hub, Environment.GetEnvironmentVariable("HF_TOKEN"));
            IReadOnlyList<string> list = wanted.Length > 0 ? wanted : client.ListFilesAsync(name, rev).GetAwaiter().GetResult();
            var bar = new ProgressBar(error);
            foreach (string file in list)
            {
                PulledFile pulled = client.DownloadAsync(name, file, folder, rev, bar).GetAwaiter().GetResult();
                bar.Done();
                output.WriteLine($"{pulled.LocalPath}\t{pulled.Bytes.ToString("N0", CultureInfo.InvariantCulture)} bytes\t{pulled.Status}\t{pulled.Checksum ?? "no checksum from the hub"}");
            }

            return 0;
        }));
        return command;
    }

    /// <summary>A one-line progress bar on stderr, redrawn at most ten times a second.</summary>
    private sealed class ProgressBar(TextWriter error) : IProgress<DownloadProgress>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _lastDraw = -1000;
        private long _firstBytes = -1;

        public void Report(DownloadProgress value)
        {
            if (_firstBytes < 0) _firstBytes = value.Received;
            long now = _clock.ElapsedMilliseconds;
            if (now - _lastDraw < 100 && value.Received != value.Total) return;
            _lastDraw = now;
            Draw(value);
        }

        public void Done()
        {
            if (_firstBytes >= 0) error.WriteLine();
            _firstBytes = -1;
            _clock.Restart();
            _lastDraw = -1000;
        }

        private void Draw(DownloadProgress p)
        {
            const int Width = 30;
            double seconds = Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
            double rate = (p.Received - _firstBytes) / seconds / 1e6;
            string bar = p.Total is long total && total > 0
                ? "[" + new string('#', (int)(Width * p.Received / total)).PadRight(Width, '-') + $"] {100.0 * p.Received / total,5:F1}%"
                : "[" + new string('?', Width) + "]";
            string size = p.Total is long t ? $"{p.Received / 1e6:F2}/{t / 1e6:F2} MB" : $"{p.Received / 1e6:F2} MB";
            error.Write(string.Create(CultureInfo.InvariantCulture, $"\r{p.File} {bar} {size} {rate:F1} MB/s"));
            error.Flush();
        }
    }
}

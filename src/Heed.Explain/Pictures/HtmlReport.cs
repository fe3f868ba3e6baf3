using System.Text;
using Heed.IO;

namespace Heed.Explain.Pictures;

/// <summary>
/// One self-contained HTML page: inline CSS, inline SVG pictures and a few lines of inline script for the hover readout.
/// It references no external URL (no CDN, no fonts, no images to fetch) and works offline from a file.
/// </summary>
public static class HtmlReport
{
    /// <summary>Builds the page.</summary>
    /// <param name="title">The page heading.</param>
    /// <param name="intro">Paragraphs under the heading.</param>
    /// <param name="pictures">The pictures, each with a one-line description.</param>
    /// <param name="preformatted">Optional text shown verbatim at the end (the step-by-step trace).</param>
    /// <param name="inlineSvgs">Each picture already written with <c>SvgWriter.Write(scene, standalone: false)</c>, or null to write them here.</param>
    public static string Build(string title, IReadOnlyList<string> intro, IReadOnlyList<(string Name, Scene Scene, string Description)> pictures, string? preformatted = null, IReadOnlyList<string>? inlineSvgs = null)
    {
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(intro);
        ArgumentNullException.ThrowIfNull(pictures);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        html.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        html.Append("<title>").Append(SvgWriter.Escape(title)).Append("</title>\n<style>\n");
        html.Append("""
            body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
            h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
            figure { margin: 0.5rem 0 1.5rem; overflow-x: auto; }
            figcaption { color: #555; margin: 0.25rem 0 0.5rem; }
            svg .cell:hover, svg .thumb:hover, svg .node:hover { stroke: #d62; stroke-width: 2; }
            svg .edge:hover { stroke-opacity: 1; }
            #tip { position: fixed; pointer-events: none; background: #222; color: #fff; padding: 2px 6px; border-radius: 3px;
                   font: 12px monospace; display: none; white-space: pre; z-index: 10; }
            pre { background: #f6f6f6; padding: 1rem; overflow-x: auto; font-size: 12px; }
            nav a { margin-right: 1rem; }
            """).Append("\n</style>\n</head>\n<body>\n");
        html.Append("<h1>").Append(SvgWriter.Escape(title)).Append("</h1>\n");
        foreach (string paragraph in intro) html.Append("<p>").Append(SvgWriter.Escape(paragraph)).Append("</p>\n");
        html.Append("<nav>");
        foreach ((string name, Scene scene, _) in pictures) html.Append($"<a href=\"#{Id(name)}\">").Append(SvgWriter.Escape(scene.Title)).Append("</a>");
        if (preformatted is not null) html.Append("<a href=\"#trace\">Step by step</a>");
        html.Append("</nav>\n");
        for (int k = 0; k < pictures.Count; k++)
        {
            (string name, Scene scene, string description) = pictures[k];
            html.Append($"<h2 id=\"{Id(name)}\">").Append(SvgWriter.Escape(scene.Title)).Append("</h2>\n<figure>\n");
            html.Append("<figcaption>").Append(SvgWriter.Escape(description)).Append("</figcaption>\n");
            html.Append(inlineSvgs?[k] ?? SvgWriter.Write(scene, standalone: false));
            html.Append("</figure>\n");
        }

        if (preformatted is not null)
        {
            html.Append("<h2 id=\"trace\">Step by step</h2>\n<pre>").Append(SvgWriter.Escape(preformatted)).Append("</pre>\n");
        }

        html.Append("<div id=\"tip\"></div>\n<script>\n");
        html.Append("""
            (function () {
              var tip = document.getElementById('tip');
              document.addEventListener('mousemove', function (e) {
                var target = e.target.closest ? e.target.closest('[data-tip]') : null;
                if (!target) { tip.style.display = 'none'; return; }
                tip.textContent = target.getAttribute('data-tip');
                tip.style.left = (e.clientX + 14) + 'px';
                tip.style.top = (e.clientY + 14) + 'px';
                tip.style.display = 'block';
              });
            })();
            """).Append("\n</script>\n</body>\n</html>\n");
        return html.ToString();
    }

    private static string Id(string name) => new(name.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray());
}

/// <summary>Writes a set of files into a folder all or nothing.</summary>
public static class PictureFiles
{
    /// <summary>
    /// Checks, before any work, that <paramref name="folder"/> can hold the pictures: it is a folder, or a missing folder
    /// whose parent exists. The message names <paramref name="flag"/>.
    /// </summary>
    /// <exception cref="HeedException">It cannot.</exception>
    public static void CheckFolder(string folder, string flag = "--out")
    {
        ArgumentNullException.ThrowIfNull(folder);
        string full = Path.GetFullPath(folder);
        if (File.Exists(full)) throw new HeedException($"{flag} {folder}: is a file; expected a folder for the pictures");
        if (Directory.Exists(full)) return;
        string? parent = Path.GetDirectoryName(full);
        if (parent is null || !Directory.Exists(parent)) throw new HeedException($"{flag} {folder}: the folder {parent ?? full} does not exist");
    }

    /// <summary>
    /// Writes every (name, bytes) pair into <paramref name="folder"/> (created if missing): each goes to a temporary file
    /// first and the names are replaced only when every file was written; on failure nothing new is left behind.
    /// </summary>
    /// <returns>The full paths written.</returns>
    /// <exception cref="HeedException">A file could not be written; the message names the flag and the file.</exception>
    public static IReadOnlyList<string> WriteAll(string folder, IReadOnlyList<(string Name, byte[] Bytes)> files, string flag = "--out")
    {
        ArgumentNullException.ThrowIfNull(files);
        CheckFolder(folder, flag);
        string full = Path.GetFullPath(folder);
        bool created = !Directory.Exists(full);
        var temporary = new List<(string Temp, string Target)>();
        (string Temp, string Target) current = ("", "");
        try
        {
            Directory.CreateDirectory(full);
            foreach ((string name, byte[] bytes) in files)
            {
                string target = Path.Combine(full, name);
                string temp = TemporaryFiles.PathIn(Path.GetDirectoryName(target)!);
                temporary.Add((temp, target));
                current = (temp, target);
                using var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write);
                stream.Write(bytes);
            }

            foreach ((string temp, string target) in temporary)
            {
                current = (temp, target);
                File.Move(temp, target, overwrite: true);
            }

            temporary.Clear();
            created = false;
            return files.Select(f => Path.Combine(full, f.Name)).ToArray();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HeedException($"{flag} {folder}: cannot write: {TemporaryFiles.Reason(ex, current.Temp, current.Target)}", ex);
        }
        finally
        {
            foreach ((string temp, _) in temporary)
            {
                if (File.Exists(temp)) File.Delete(temp);
            }

            if (created && Directory.Exists(full) && !Directory.EnumerateFileSystemEntries(full).Any()) Directory.Delete(full);
        }
    }

    /// <summary>The SVG and PNG files of each picture (PNGs at <paramref name="scale"/> pixels per SVG pixel), plus <c>report.html</c> holding them all.</summary>
    /// <exception cref="HeedException">The scale is out of range or a picture would be too large at it.</exception>
    public static IReadOnlyList<(string Name, byte[] Bytes)> Render(IReadOnlyList<(string Name, Scene Scene, string Description)> pictures, string reportTitle, IReadOnlyList<string> intro, string? preformatted = null, double scale = PngRenderer.DefaultScale)
    {
        ArgumentNullException.ThrowIfNull(pictures);
        var files = new (string Name, byte[] Bytes)[(pictures.Count * 2) + 1];
        var inline = new string[pictures.Count];

        // SVG text and PNG of each picture are independent: one task each, so a large picture does not hold up the rest.
        Parallel.For(0, pictures.Count * 2, n =>
        {
            int k = n / 2;
            (string name, Scene scene, _) = pictures[k];
            if (n % 2 == 0)
            {
                inline[k] = SvgWriter.Write(scene, standalone: false);
                files[2 * k] = (name + ".svg", Encoding.UTF8.GetBytes(SvgWriter.Standalone(inline[k])));
            }
            else
            {
                files[(2 * k) + 1] = (name + ".png", PngRenderer.Render(scene, scale));
            }
        });
        files[^1] = ("report.html", Encoding.UTF8.GetBytes(HtmlReport.Build(reportTitle, intro, pictures, preformatted, inline)));
        return files;
    }
}

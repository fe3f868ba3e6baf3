using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Heed.Explain.Pictures;

/// <summary>
/// Writes a <see cref="Scene"/> as SVG: rectangles (masked cells hatched), polylines, circles and text in
/// <see cref="PictureFont"/>. Hover text goes into a <c>title</c> element (a tooltip in every browser) and a <c>data-tip</c>
/// attribute (read by the HTML report's script). Thumbnails are embedded as PNG data, so nothing is fetched.
/// </summary>
public static class SvgWriter
{
    private const string XmlDeclaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    private const string Namespace = " xmlns=\"http://www.w3.org/2000/svg\"";

    /// <summary>The id of the hatching that fills masked cells.</summary>
    public const string MaskedId = "heed-masked";

    // Light grey with darker diagonal stripes: reads as "not there" in colour and in greyscale, unlike any colour of the scale.
    private const string MaskedPattern = "<defs><pattern id=\"" + MaskedId + "\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
        + "<rect width=\"6\" height=\"6\" fill=\"#e8e8e8\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#9a9a9a\" stroke-width=\"2\"/></pattern></defs>\n";

    /// <summary>The SVG text of <paramref name="scene"/>.</summary>
    /// <param name="scene">The picture.</param>
    /// <param name="standalone">True for a .svg file (XML declaration and namespace); false to inline it in HTML.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static string Write(Scene scene, bool standalone = true)
    {
        ArgumentNullException.ThrowIfNull(scene);
        var svg = new StringBuilder();
        if (standalone) svg.Append(XmlDeclaration);
        svg.Append("<svg").Append(standalone ? Namespace : "")
            .Append($" width=\"{scene.Width}\" height=\"{scene.Height}\" viewBox=\"0 0 {scene.Width} {scene.Height}\"")
            .Append(" font-family=\"").Append(PictureFont.Family).Append(", Verdana, sans-serif\" role=\"img\">\n");
        svg.Append("<title>").Append(Escape(scene.Title)).Append("</title>\n");
        if (scene.Shapes.Any(s => s is RectShape { Masked: true }))
        {
            svg.Append(MaskedPattern);
        }

        svg.Append($"<rect width=\"{scene.Width}\" height=\"{scene.Height}\" fill=\"{scene.Background.Hex}\"/>\n");
        foreach (Shape shape in scene.Shapes)
        {
            switch (shape)
            {
                case RectShape r:
                    Open(svg, "rect", r);
                    svg.Append($" x=\"{N(r.X)}\" y=\"{N(r.Y)}\" width=\"{N(r.Width)}\" height=\"{N(r.Height)}\"");
                    svg.Append(!r.Filled ? " fill=\"none\"" : r.Masked ? $" fill=\"url(#{MaskedId})\"" : $" fill=\"{r.Fill.Hex}\"");
                    if (r.Stroke is Rgb s) svg.Append($" stroke=\"{s.Hex}\" stroke-width=\"1\"");
                    Close(svg, "rect", r);
                    break;
                case PathShape p:
                    WritePath(svg, p);
                    break;
                case CircleShape c:
                    Open(svg, "circle", c);
                    svg.Append($" cx=\"{N(c.CenterX)}\" cy=\"{N(c.CenterY)}\" r=\"{N(c.Radius)}\" fill=\"{c.Fill.Hex}\"");
                    if (c.StrokeWidth > 0) svg.Append($" stroke=\"{c.Stroke.Hex}\" stroke-width=\"{N(c.StrokeWidth)}\"");
                    Close(svg, "circle", c);
                    break;
                case TextShape t:
                    WriteText(svg, t);
                    break;
                case ImageShape i:
                    Open(svg, "image", i);
                    svg.Append($" x=\"{N(i.X)}\" y=\"{N(i.Y)}\" width=\"{i.Image.Width * i.PixelSize}\" height=\"{i.Image.Height * i.PixelSize}\"");
                    svg.Append(" style=\"image-rendering:pixelated\" preserveAspectRatio=\"none\" href=\"data:image/png;base64,")
                        .Append(Convert.ToBase64String(PngRenderer.Encode(i.Image, ThumbnailBlock(i)))).Append('"');
                    Close(svg, "image", i);
                    break;
                default:
                    throw new NotSupportedException($"unknown shape {shape.GetType().Name}");
            }
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    // Each thumbnail cell as a square of 4 device pixels per scene pixel (sharp at the default 2x and when zoomed), at most
    // 256 pixels a side.
    private static int ThumbnailBlock(ImageShape image) =>
        Math.Max(1, Math.Min(image.PixelSize * 4, 256 / Math.Max(image.Image.Width, image.Image.Height)));

    /// <summary>The .svg file text of an SVG written with <c>standalone: false</c> (the XML declaration and namespace added).</summary>
    public static string Standalone(string inlineSvg)
    {
        ArgumentNullException.ThrowIfNull(inlineSvg);
        if (!inlineSvg.StartsWith("<svg ", StringComparison.Ordinal)) throw new ArgumentException("expected an inline <svg> element", nameof(inlineSvg));
        return string.Concat(XmlDeclaration, "<svg", Namespace, inlineSvg.AsSpan(4));
    }

    /// <summary>Escapes text for XML content and attributes; characters XML 1.0 forbids become U+FFFD.</summary>
    public static string Escape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int first = 0;
        while (first < text.Length && !NeedsEscape(text[first])) first++;
        if (first == text.Length) return text; // the common case: labels and numbers need nothing
        var s = new StringBuilder(text.Length + 16).Append(text, 0, first);
        for (int k = first; k < text.Length; k++)
        {
            char c = text[k];
            switch (c)
            {
                case '&': s.Append("&amp;"); break;
                case '<': s.Append("&lt;"); break;
                case '>': s.Append("&gt;"); break;
                case '"': s.Append("&quot;"); break;
                case < ' ' when c is not '\t' and not '\n' and not '\r': s.Append('\uFFFD'); break;
                case '\uFFFE' or '\uFFFF': s.Append('\uFFFD'); break;
                default: s.Append(c); break;
            }
        }

        return s.ToString();
    }

    private static bool NeedsEscape(char c) => c is '&' or '<' or '>' or '"' or '\uFFFE' or '\uFFFF' || (c < ' ' && c is not '\t' and not '\n' and not '\r');

    private static void WritePath(StringBuilder svg, PathShape p)
    {
        IReadOnlyList<(double X, double Y)> points = StrokePoints(p, out (double X, double Y)[]? arrowhead);
        bool group = arrowhead is not null;
        if (group)
        {
            Open(svg, "g", p);
            svg.Append(">\n");
        }

        svg.Append("<polyline");
        if (!group) AppendMeta(svg, p);
        svg.Append(" points=\"").Append(string.Join(' ', points.Select(q => N(q.X) + "," + N(q.Y)))).Append('"');
        svg.Append($" fill=\"none\" stroke=\"{p.Color.Hex}\" stroke-width=\"{N(Math.Max(p.Thickness, 0.5))}\" stroke-linecap=\"round\" stroke-linejoin=\"round\"");
        if (p.Opacity < 1) svg.Append($" stroke-opacity=\"{N(p.Opacity)}\"");
        if (group)
        {
            svg.Append("/>\n<polygon points=\"").Append(string.Join(' ', arrowhead!.Select(q => N(q.X) + "," + N(q.Y)))).Append('"');
            svg.Append($" fill=\"{p.Color.Hex}\"");
            if (p.Opacity < 1) svg.Append($" fill-opacity=\"{N(p.Opacity)}\"");
            svg.Append("/>\n");
            if (p.Tip is not null) svg.Append("<title>").Append(Escape(p.Tip)).Append("</title>");
            svg.Append("</g>\n");
        }
        else
        {
            Close(svg, "polyline", p);
        }
    }

    private static void WriteText(StringBuilder svg, TextShape t)
    {
        // A title inside <text> would be drawn as part of the text by some renderers: the hover text goes on a group around it.
        if (t.Tip is not null) svg.Append("<g><title>").Append(Escape(t.Tip)).Append("</title>");
        svg.Append("<text");
        if (t.Kind is not null) svg.Append(" class=\"").Append(Escape(t.Kind)).Append('"');
        if (t.Tip is not null) svg.Append(" data-tip=\"").Append(Escape(t.Tip)).Append('"');
        string anchor = t.Anchor switch { TextAnchor.Middle => "middle", TextAnchor.End => "end", _ => "start" };
        double angle = t.Vertical ? -90 : t.Angle;

        // The point is the middle of the capitals; the baseline lies 0.36 em below it (DejaVu's cap height is 0.73 em).
        // Written as a baseline position, not dominant-baseline, which renderers treat differently.
        svg.Append($" x=\"{N(t.X)}\" y=\"{N(t.Y + (0.36 * t.FontSize))}\" font-size=\"{N(t.FontSize)}\" fill=\"{t.Color.Hex}\"");
        if (anchor != "start") svg.Append($" text-anchor=\"{anchor}\"");
        if (angle != 0) svg.Append($" transform=\"rotate({N(angle)} {N(t.X)} {N(t.Y)})\"");
        svg.Append(" xml:space=\"preserve\">").Append(Escape(t.Text)).Append("</text>");
        if (t.Tip is not null) svg.Append("</g>");
        svg.Append('\n');
    }

    /// <summary>
    /// The points of a path's line and, when it has an arrow, the arrowhead's triangle: the line stops inside the arrowhead's
    /// base so its round cap does not poke through the tip.
    /// </summary>
    internal static IReadOnlyList<(double X, double Y)> StrokePoints(PathShape path, out (double X, double Y)[]? arrowhead)
    {
        arrowhead = null;
        if (path.Arrow <= 0 || path.Points.Count < 2) return path.Points;
        (double tx, double ty) = path.Points[^1];
        (double px, double py) = path.Points[^2];
        double dx = tx - px, dy = ty - py, length = Math.Sqrt((dx * dx) + (dy * dy));
        if (length == 0) return path.Points;
        dx /= length;
        dy /= length;
        double a = path.Arrow, half = a * 0.45;
        (double X, double Y) baseCentre = (tx - (dx * a), ty - (dy * a));
        arrowhead = [(tx, ty), (baseCentre.X - (dy * half), baseCentre.Y + (dx * half)), (baseCentre.X + (dy * half), baseCentre.Y - (dx * half))];
        var points = path.Points.Take(path.Points.Count - 1).ToList();
        points.Add((tx - (dx * a * 0.8), ty - (dy * a * 0.8)));
        return points;
    }

    private static void Open(StringBuilder svg, string element, Shape shape)
    {
        svg.Append('<').Append(element);
        AppendMeta(svg, shape);
    }

    private static void AppendMeta(StringBuilder svg, Shape shape)
    {
        if (shape.Kind is not null) svg.Append(" class=\"").Append(Escape(shape.Kind)).Append('"');
        if (shape.Tip is not null) svg.Append(" data-tip=\"").Append(Escape(shape.Tip)).Append('"');
    }

    private static void Close(StringBuilder svg, string element, Shape shape)
    {
        if (shape.Tip is null)
        {
            svg.Append("/>\n");
            return;
        }

        svg.Append("><title>").Append(Escape(shape.Tip)).Append("</title></").Append(element).Append(">\n");
    }

    private static string N(double x) => Math.Round(x, 2).ToString("0.##", CultureInfo.InvariantCulture);
}

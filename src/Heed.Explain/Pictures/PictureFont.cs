using SkiaSharp;

namespace Heed.Explain.Pictures;

/// <summary>
/// The one font of every picture (DejaVu Sans, shipped inside Heed): the scenes are laid out with its metrics and the PNGs are
/// rendered with it, so a label's box and its drawn text agree on any machine.
/// </summary>
public static class PictureFont
{
    /// <summary>The family name written into SVG files (viewers without the font fall back to a sans-serif).</summary>
    public const string Family = "DejaVu Sans";

    private static readonly Lazy<byte[]> Bytes = new(() =>
    {
        using Stream stream = typeof(PictureFont).Assembly.GetManifestResourceStream("Heed.Explain.DejaVuSans.ttf")
            ?? throw new InvalidOperationException("the picture font is missing from Heed.Explain");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    private static readonly Lazy<SKTypeface> Face = new(() =>
        SKTypeface.FromData(SKData.CreateCopy(Bytes.Value)) ?? throw new InvalidOperationException("the picture font cannot be read"));

    /// <summary>The font file (TrueType).</summary>
    public static ReadOnlySpan<byte> File => Bytes.Value;

    /// <summary>The typeface.</summary>
    public static SKTypeface Typeface => Face.Value;

    /// <summary>The width in pixels of <paramref name="text"/> at <paramref name="size"/> pixels.</summary>
    public static double Width(string text, double size)
    {
        ArgumentNullException.ThrowIfNull(text);
        using var font = new SKFont(Typeface, (float)size);
        return font.MeasureText(text);
    }

    /// <summary>
    /// <paramref name="text"/> cut to at most <paramref name="maxWidth"/> pixels at <paramref name="size"/>, ending in '…' when cut.
    /// </summary>
    public static string Fit(string text, double size, double maxWidth)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Width(text, size) <= maxWidth) return text;
        int keep = text.Length - 1;
        while (keep > 0 && Width(string.Concat(text.AsSpan(0, keep), "…"), size) > maxWidth) keep--;
        return string.Concat(text.AsSpan(0, keep), "…");
    }
}

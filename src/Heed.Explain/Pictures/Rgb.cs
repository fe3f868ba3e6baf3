using System.Globalization;

namespace Heed.Explain.Pictures;

/// <summary>An opaque 8-bit colour.</summary>
/// <param name="R">Red, 0–255.</param>
/// <param name="G">Green, 0–255.</param>
/// <param name="B">Blue, 0–255.</param>
public readonly record struct Rgb(byte R, byte G, byte B)
{
    /// <summary>White.</summary>
    public static Rgb White => new(255, 255, 255);

    /// <summary>Black.</summary>
    public static Rgb Black => new(0, 0, 0);

    /// <summary>The dark grey used for text.</summary>
    public static Rgb Ink => new(34, 34, 34);

    /// <summary>The mid grey used for frames and secondary text.</summary>
    public static Rgb Gray => new(120, 120, 120);

    /// <summary>The colour as <c>#rrggbb</c>.</summary>
    public string Hex => string.Create(CultureInfo.InvariantCulture, $"#{R:x2}{G:x2}{B:x2}");

    /// <summary>Relative luminance in [0, 1] (sRGB weights, no gamma): picks black or white text on this colour.</summary>
    public double Luminance => ((0.2126 * R) + (0.7152 * G) + (0.0722 * B)) / 255.0;

    /// <summary>The colour a fraction <paramref name="t"/> of the way from <paramref name="a"/> to <paramref name="b"/>.</summary>
    public static Rgb Lerp(Rgb a, Rgb b, double t)
    {
        t = Math.Clamp(t, 0, 1);
        return new Rgb(Mix(a.R, b.R, t), Mix(a.G, b.G, t), Mix(a.B, b.B, t));
    }

    private static byte Mix(byte a, byte b, double t) => (byte)Math.Round(a + ((b - a) * t));
}

/// <summary>Maps numbers in [<see cref="Min"/>, <see cref="Max"/>] to colours through evenly spaced stops; values outside are clamped.</summary>
public sealed class ColorScale
{
    private readonly Rgb[] _stops;

    /// <summary>Creates a scale.</summary>
    /// <param name="min">The value drawn with the first stop.</param>
    /// <param name="max">The value drawn with the last stop (must exceed <paramref name="min"/>).</param>
    /// <param name="label">What the numbers are, printed beside the colour bar.</param>
    /// <param name="stops">Two or more colours, spaced evenly from min to max.</param>
    public ColorScale(double min, double max, string label, params Rgb[] stops)
    {
        ArgumentNullException.ThrowIfNull(stops);
        if (stops.Length < 2) throw new ArgumentException("a colour scale needs at least two stops", nameof(stops));
        if (!(max > min)) throw new ArgumentException($"max {max} must exceed min {min}", nameof(max));
        Min = min;
        Max = max;
        Label = label;
        _stops = stops;
    }

    /// <summary>The smallest value of the scale.</summary>
    public double Min { get; }

    /// <summary>The largest value of the scale.</summary>
    public double Max { get; }

    /// <summary>What the values mean.</summary>
    public string Label { get; }

    /// <summary>
    /// Attention weights 0 → 1: white through light blue to dark navy. Sequential and monotone in lightness,
    /// so it reads in grey print and for the common colour-vision deficiencies.
    /// </summary>
    public static ColorScale Weights(string label = "attention weight") =>
        new(0, 1, label, new Rgb(255, 255, 255), new Rgb(206, 226, 244), new Rgb(122, 172, 222), new Rgb(44, 104, 178), new Rgb(12, 40, 102));

    /// <summary>The colour of <paramref name="value"/> (NaN is drawn as mid grey).</summary>
    public Rgb Map(double value)
    {
        if (double.IsNaN(value)) return Rgb.Gray;
        double t = Math.Clamp((value - Min) / (Max - Min), 0, 1) * (_stops.Length - 1);
        int i = Math.Min((int)t, _stops.Length - 2);
        return Rgb.Lerp(_stops[i], _stops[i + 1], t - i);
    }
}

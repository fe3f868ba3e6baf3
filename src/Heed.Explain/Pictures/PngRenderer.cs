using System.Text;
using SkiaSharp;
using Svg.Skia;
using Svg.Skia.TypefaceProviders;

namespace Heed.Explain.Pictures;

/// <summary>
/// Renders a <see cref="Scene"/> to PNG: its SVG (the one source of every picture) drawn by Svg.Skia on SkiaSharp with
/// <see cref="PictureFont"/>, so the PNG is the SVG, anti-aliased, at any scale.
/// </summary>
public static class PngRenderer
{
    /// <summary>The default scale: 2 device pixels per scene pixel, sharp on high-density screens and in print.</summary>
    public const double DefaultScale = 2;

    /// <summary>The largest scale accepted.</summary>
    public const double MaxScale = 8;

    /// <summary>The largest PNG side in pixels (larger scenes are refused at that scale, never allocated).</summary>
    public const int MaxSide = 16384;

    /// <summary>The PNG file of <paramref name="scene"/> at <paramref name="scale"/> device pixels per scene pixel.</summary>
    /// <exception cref="HeedException">The scale is outside (0, 8] or the picture would exceed 16,384 pixels on a side.</exception>
    public static byte[] Render(Scene scene, double scale = DefaultScale)
    {
        ArgumentNullException.ThrowIfNull(scene);
        CheckScale(scale);
        return Render(SvgWriter.Write(scene), scene.Width, scene.Height, scale);
    }

    /// <summary>The PNG of an SVG document of <paramref name="width"/> × <paramref name="height"/> pixels.</summary>
    /// <exception cref="HeedException">As <see cref="Render(Scene, double)"/>.</exception>
    public static byte[] Render(string svg, int width, int height, double scale = DefaultScale)
    {
        ArgumentNullException.ThrowIfNull(svg);
        CheckScale(scale);
        int w = (int)Math.Ceiling(width * scale), h = (int)Math.Ceiling(height * scale);
        if (w > MaxSide || h > MaxSide)
        {
            throw new HeedException($"the picture would be {w} x {h} pixels at scale {scale}; the limit is {MaxSide} on a side (use a smaller --scale)");
        }

        using var document = new SKSvg();
        document.Settings.EnableJavaScript = false;
        document.Settings.EnableExternalJavaScript = false;
        document.Settings.TypefaceProviders = [new CustomTypefaceProvider(SKData.CreateCopy(PictureFont.File), 0) { FamilyName = PictureFont.Family }];
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(svg), writable: false);
        using SKPicture picture = document.Load(stream) ?? throw new HeedException("the picture's SVG could not be rendered");
        using var surface = SKSurface.Create(new SKImageInfo(Math.Max(w, 1), Math.Max(h, 1), SKColorType.Rgba8888, SKAlphaType.Opaque))
            ?? throw new HeedException($"no memory for a {w} x {h} picture");
        SKCanvas canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        canvas.Scale((float)scale);
        canvas.DrawPicture(picture);
        using SKImage image = surface.Snapshot();
        using SKData png = image.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }

    /// <summary>
    /// A small bitmap (thumbnails) as PNG, each <see cref="RgbImage"/> pixel a <paramref name="block"/> × <paramref name="block"/>
    /// square: enlarged here, by repetition, so that renderers which smooth images when they scale them (browsers honour
    /// <c>image-rendering: pixelated</c>, Svg.Skia does not) still show sharp cells.
    /// </summary>
    public static byte[] Encode(RgbImage image, int block = 1)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(block, 1);
        using var bitmap = new SKBitmap(new SKImageInfo(image.Width * block, image.Height * block, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < bitmap.Height; y++)
        {
            for (int x = 0; x < bitmap.Width; x++)
            {
                Rgb c = image[x / block, y / block];
                bitmap.SetPixel(x, y, new SKColor(c.R, c.G, c.B));
            }
        }

        using SKData png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }

    private static void CheckScale(double scale)
    {
        if (!(scale > 0 && scale <= MaxScale))
        {
            throw new HeedException($"scale {scale}: expected a number in (0, {MaxScale}]");
        }
    }
}

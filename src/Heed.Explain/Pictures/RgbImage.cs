using System.Runtime.CompilerServices;

namespace Heed.Explain.Pictures;

/// <summary>An 8-bit RGB raster, row-major, 3 bytes per pixel.</summary>
public sealed class RgbImage
{
    /// <summary>Creates an image filled with <paramref name="background"/>.</summary>
    public RgbImage(int width, int height, Rgb background)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        Width = width;
        Height = height;
        Pixels = new byte[checked(width * height * 3)];
        for (int i = 0; i < Pixels.Length; i += 3)
        {
            Pixels[i] = background.R;
            Pixels[i + 1] = background.G;
            Pixels[i + 2] = background.B;
        }
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>The pixels, [Height, Width, 3] row-major.</summary>
    public byte[] Pixels { get; }

    /// <summary>The colour at (x, y).</summary>
    public Rgb this[int x, int y]
    {
        get
        {
            int i = Index(x, y);
            return new Rgb(Pixels[i], Pixels[i + 1], Pixels[i + 2]);
        }

        set
        {
            int i = Index(x, y);
            Pixels[i] = value.R;
            Pixels[i + 1] = value.G;
            Pixels[i + 2] = value.B;
        }
    }

    /// <summary>Mixes <paramref name="color"/> into pixel (x, y) with weight <paramref name="alpha"/>; outside the image does nothing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Blend(int x, int y, Rgb color, double alpha)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height || !(alpha > 0)) return;
        int i = ((y * Width) + x) * 3;
        if (alpha >= 1)
        {
            Pixels[i] = color.R;
            Pixels[i + 1] = color.G;
            Pixels[i + 2] = color.B;
            return;
        }

        Pixels[i] = (byte)Math.Round(Pixels[i] + ((color.R - Pixels[i]) * alpha));
        Pixels[i + 1] = (byte)Math.Round(Pixels[i + 1] + ((color.G - Pixels[i + 1]) * alpha));
        Pixels[i + 2] = (byte)Math.Round(Pixels[i + 2] + ((color.B - Pixels[i + 2]) * alpha));
    }

    private int Index(int x, int y)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)x, (uint)Width, nameof(x));
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)y, (uint)Height, nameof(y));
        return ((y * Width) + x) * 3;
    }
}

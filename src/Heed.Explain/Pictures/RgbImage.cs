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

    private int Index(int x, int y)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)x, (uint)Width, nameof(x));
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)y, (uint)Height, nameof(y));
        return ((y * Width) + x) * 3;
    }
}

namespace Heed.Explain.Pictures;

/// <summary>
/// A picture as a list of shapes in pixel coordinates (origin top left, y down). A scene is written as SVG
/// (<see cref="SvgWriter"/>), and the PNG is that SVG rendered (<see cref="PngRenderer"/>), so the two always agree.
/// </summary>
public sealed class Scene
{
    private readonly List<Shape> _shapes = [];

    /// <summary>Creates an empty scene.</summary>
    /// <param name="width">Width in pixels (at least 1).</param>
    /// <param name="height">Height in pixels (at least 1).</param>
    /// <param name="title">What the picture shows (the SVG title and the HTML heading).</param>
    public Scene(int width, int height, string title)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        Width = width;
        Height = height;
        Title = title;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>What the picture shows.</summary>
    public string Title { get; }

    /// <summary>The background colour.</summary>
    public Rgb Background { get; init; } = Rgb.White;

    /// <summary>The shapes, drawn in order (later shapes on top).</summary>
    public IReadOnlyList<Shape> Shapes => _shapes;

    /// <summary>Adds a shape on top of the others.</summary>
    public void Add(Shape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        _shapes.Add(shape);
    }

    /// <summary>The number of shapes of one <see cref="Shape.Kind"/> (for example "cell" or "edge").</summary>
    public int Count(string kind) => _shapes.Count(s => s.Kind == kind);
}

/// <summary>One thing drawn in a <see cref="Scene"/>.</summary>
public abstract record Shape
{
    /// <summary>What the shape stands for ("cell", "edge", "node", …); the SVG class. Null for decoration.</summary>
    public string? Kind { get; init; }

    /// <summary>Text shown on hover (SVG title, HTML tooltip). Null for none.</summary>
    public string? Tip { get; init; }
}

/// <summary>An axis-aligned rectangle, filled and optionally outlined with a 1-pixel line.</summary>
public sealed record RectShape(double X, double Y, double Width, double Height, Rgb Fill) : Shape
{
    /// <summary>The outline colour; null for none.</summary>
    public Rgb? Stroke { get; init; }

    /// <summary>Whether the fill is drawn (false draws the outline only).</summary>
    public bool Filled { get; init; } = true;

    /// <summary>A masked cell: grey with diagonal hatching instead of <see cref="Fill"/>, so it never reads as a learned zero.</summary>
    public bool Masked { get; init; }
}

/// <summary>A polyline with round joins and caps; an arrowhead at the end when <see cref="Arrow"/> is set.</summary>
/// <param name="Points">The points (x, y), at least two.</param>
/// <param name="Thickness">The line width in pixels.</param>
/// <param name="Color">The colour.</param>
/// <param name="Opacity">The opacity in [0, 1].</param>
public sealed record PathShape(IReadOnlyList<(double X, double Y)> Points, double Thickness, Rgb Color, double Opacity = 1) : Shape
{
    /// <summary>The arrowhead's length in pixels; 0 for none. The line stops at the arrowhead's base.</summary>
    public double Arrow { get; init; }
}

/// <summary>A circle, filled and outlined.</summary>
public sealed record CircleShape(double CenterX, double CenterY, double Radius, Rgb Fill, Rgb Stroke, double StrokeWidth = 1) : Shape;

/// <summary>Where a text's anchor point lies along the text.</summary>
public enum TextAnchor
{
    /// <summary>The text begins at the point.</summary>
    Start,

    /// <summary>The text is centred on the point.</summary>
    Middle,

    /// <summary>The text ends at the point.</summary>
    End,
}

/// <summary>
/// One line of text in <see cref="PictureFont"/>; the anchor point is the vertical middle of the text's capitals.
/// <see cref="Angle"/> turns it about that point (−90: reads bottom to top).
/// </summary>
public sealed record TextShape(double X, double Y, string Text, Rgb Color) : Shape
{
    /// <summary>Where the point lies along the text.</summary>
    public TextAnchor Anchor { get; init; } = TextAnchor.Start;

    /// <summary>Size step: 1 is 11-pixel body text, 2 an 18-pixel title.</summary>
    public int Size { get; init; } = 1;

    /// <summary>The font size in pixels.</summary>
    public double FontSize => FontSizeOf(Size);

    /// <summary>Turned 90° counter-clockwise (for column labels); the same as <see cref="Angle"/> = −90.</summary>
    public bool Vertical { get; init; }

    /// <summary>Rotation in degrees, clockwise (SVG's sense), about the anchor point.</summary>
    public double Angle { get; init; }

    /// <summary>The font size in pixels of size step <paramref name="size"/>.</summary>
    public static double FontSizeOf(int size) => 4 + (7 * Math.Max(1, size));
}

/// <summary>A small bitmap drawn with each of its pixels as a <see cref="PixelSize"/>-wide square (thumbnails).</summary>
public sealed record ImageShape(double X, double Y, int PixelSize, RgbImage Image) : Shape;

using System.Runtime.CompilerServices;

namespace Heed.Explain.Pictures;

/// <summary>
/// Draws a <see cref="Scene"/> into an <see cref="RgbImage"/> in plain managed code: no native graphics library.
/// Rectangles and text are pixel-aligned for crisp cells and labels; lines, curves and circles are anti-aliased by
/// the distance of each pixel centre to the shape.
/// The drawing loops, here and in the picture builders, SVG writer and PNG encoder, are marked AggressiveOptimization:
/// a one-shot <c>heed explain --out</c> would otherwise spend most of its time in unoptimized first-tier code.
/// </summary>
public static class Rasterizer
{
    /// <summary>Renders every shape of <paramref name="scene"/> in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static RgbImage Render(Scene scene)
    {
        ArgumentNullException.ThrowIfNull(scene);
        var image = new RgbImage(scene.Width, scene.Height, scene.Background);
        var coverage = new Coverage(image);
        foreach (Shape shape in scene.Shapes)
        {
            switch (shape)
            {
                case RectShape r:
                    DrawRect(image, r);
                    break;
                case PathShape p:
                    DrawPath(coverage, p);
                    break;
                case CircleShape c:
                    DrawCircle(image, c);
                    break;
                case TextShape t:
                    DrawText(image, t);
                    break;
                case ImageShape i:
                    DrawImage(image, i);
                    break;
                default:
                    throw new NotSupportedException($"unknown shape {shape.GetType().Name}");
            }
        }

        return image;
    }

    /// <summary>The points of <paramref name="path"/> as drawn: shortened to the arrowhead's base when it has one.</summary>
    public static IReadOnlyList<(double X, double Y)> StrokePoints(PathShape path, out (double X, double Y)[]? arrowhead)
    {
        ArgumentNullException.ThrowIfNull(path);
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DrawRect(RgbImage image, RectShape r)
    {
        int x0 = (int)Math.Round(r.X), y0 = (int)Math.Round(r.Y);
        int x1 = (int)Math.Round(r.X + r.Width), y1 = (int)Math.Round(r.Y + r.Height);
        if (r.Filled)
        {
            for (int y = Math.Max(y0, 0); y < Math.Min(y1, image.Height); y++)
            {
                for (int x = Math.Max(x0, 0); x < Math.Min(x1, image.Width); x++)
                {
                    image.Blend(x, y, r.Fill, 1);
                }
            }
        }

        if (r.Stroke is Rgb s)
        {
            for (int x = x0; x < x1; x++)
            {
                image.Blend(x, y0, s, 1);
                image.Blend(x, y1 - 1, s, 1);
            }

            for (int y = y0; y < y1; y++)
            {
                image.Blend(x0, y, s, 1);
                image.Blend(x1 - 1, y, s, 1);
            }
        }
    }

    private static void DrawPath(Coverage coverage, PathShape p)
    {
        IReadOnlyList<(double X, double Y)> points = StrokePoints(p, out (double X, double Y)[]? arrowhead);
        double radius = Math.Max(p.Thickness, 0.5) / 2;
        for (int i = 0; i + 1 < points.Count; i++)
        {
            coverage.Segment(points[i], points[i + 1], radius);
        }

        if (arrowhead is not null) coverage.Triangle(arrowhead);
        coverage.Flush(p.Color, Math.Clamp(p.Opacity, 0, 1));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DrawCircle(RgbImage image, CircleShape c)
    {
        double reach = c.Radius + c.StrokeWidth + 1;
        for (int y = (int)Math.Floor(c.CenterY - reach); y <= (int)Math.Ceiling(c.CenterY + reach); y++)
        {
            for (int x = (int)Math.Floor(c.CenterX - reach); x <= (int)Math.Ceiling(c.CenterX + reach); x++)
            {
                double dx = x + 0.5 - c.CenterX, dy = y + 0.5 - c.CenterY, d = Math.Sqrt((dx * dx) + (dy * dy));
                image.Blend(x, y, c.Fill, Math.Clamp(c.Radius + 0.5 - d, 0, 1));
                if (c.StrokeWidth > 0) image.Blend(x, y, c.Stroke, Math.Clamp((c.StrokeWidth / 2) + 0.5 - Math.Abs(d - c.Radius), 0, 1));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DrawText(RgbImage image, TextShape t)
    {
        int size = Math.Max(1, t.Size);
        int length = BitmapFont.Width(t.Text, size);
        double along = t.Anchor switch { TextAnchor.Middle => -length / 2.0, TextAnchor.End => -length, _ => 0 };
        double across = -BitmapFont.CapHeight * size / 2.0;
        int originAlong = (int)Math.Round(along), originAcross = (int)Math.Round(across);
        int baseX = (int)Math.Round(t.X), baseY = (int)Math.Round(t.Y);
        for (int n = 0; n < t.Text.Length; n++)
        {
            char c = t.Text[n];
            for (int row = 0; row < BitmapFont.Rows; row++)
            {
                for (int col = 0; col < 5; col++)
                {
                    if (!BitmapFont.Ink(c, col, row)) continue;
                    for (int sy = 0; sy < size; sy++)
                    {
                        for (int sx = 0; sx < size; sx++)
                        {
                            int u = originAlong + (((n * BitmapFont.Advance) + col) * size) + sx; // along the text
                            int v = originAcross + (row * size) + sy;                               // down the glyph
                            if (t.Vertical) image.Blend(baseX + v, baseY - u - 1, t.Color, 1);
                            else image.Blend(baseX + u, baseY + v, t.Color, 1);
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DrawImage(RgbImage image, ImageShape shape)
    {
        int x0 = (int)Math.Round(shape.X), y0 = (int)Math.Round(shape.Y), s = Math.Max(1, shape.PixelSize);
        RgbImage src = shape.Image;
        for (int y = 0; y < src.Height * s; y++)
        {
            for (int x = 0; x < src.Width * s; x++)
            {
                image.Blend(x0 + x, y0 + y, src[x / s, y / s], 1);
            }
        }
    }

    /// <summary>
    /// Accumulates the coverage of one path (the maximum over its pieces, so joins are not drawn twice),
    /// then blends it once. Only touched pixels are visited, so long thin lines cost their length, not their bounding box.
    /// </summary>
    private sealed class Coverage(RgbImage image)
    {
        private readonly float[] _amount = new float[image.Width * image.Height];
        private readonly List<int> _touched = [];

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Segment((double X, double Y) a, (double X, double Y) b, double radius)
        {
            double dx = b.X - a.X, dy = b.Y - a.Y, lengthSquared = (dx * dx) + (dy * dy);
            double reach = radius + 1;

            // A pixel centre within radius − 0.5 of the line is fully covered and one beyond radius + 0.5 not at all:
            // only the band between needs the square root.
            double innerSquared = radius >= 0.5 ? (radius - 0.5) * (radius - 0.5) : -1, outerSquared = (radius + 0.5) * (radius + 0.5);
            double inverseLength = lengthSquared == 0 ? 0 : 1 / lengthSquared;
            int yMin = Math.Max(0, (int)Math.Floor(Math.Min(a.Y, b.Y) - reach));
            int yMax = Math.Min(image.Height - 1, (int)Math.Ceiling(Math.Max(a.Y, b.Y) + reach));
            double xLow = Math.Min(a.X, b.X) - reach, xHigh = Math.Max(a.X, b.X) + reach;
            for (int y = yMin; y <= yMax; y++)
            {
                double cy = y + 0.5, from = xLow, to = xHigh;
                if (Math.Abs(dy) > 1e-9)
                {
                    // On this row the line's centre is at xc; pixels farther than reach·length/|dy| along x are out of reach.
                    double xc = a.X + ((cy - a.Y) * dx / dy);
                    double half = reach * Math.Sqrt(lengthSquared) / Math.Abs(dy);
                    from = Math.Max(from, xc - half);
                    to = Math.Min(to, xc + half);
                }

                for (int x = Math.Max(0, (int)Math.Floor(from)); x <= Math.Min(image.Width - 1, (int)Math.Ceiling(to)); x++)
                {
                    double cx = x + 0.5;
                    double t = Math.Clamp((((cx - a.X) * dx) + ((cy - a.Y) * dy)) * inverseLength, 0, 1);
                    double ex = cx - (a.X + (t * dx)), ey = cy - (a.Y + (t * dy)), distanceSquared = (ex * ex) + (ey * ey);
                    if (distanceSquared >= outerSquared) continue;
                    Add(x, y, distanceSquared <= innerSquared ? 1 : radius + 0.5 - Math.Sqrt(distanceSquared));
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Triangle((double X, double Y)[] p)
        {
            double area = ((p[1].X - p[0].X) * (p[2].Y - p[0].Y)) - ((p[2].X - p[0].X) * (p[1].Y - p[0].Y));
            double sign = area >= 0 ? 1 : -1;
            int yMin = Math.Max(0, (int)Math.Floor(p.Min(q => q.Y) - 1)), yMax = Math.Min(image.Height - 1, (int)Math.Ceiling(p.Max(q => q.Y) + 1));
            int xMin = Math.Max(0, (int)Math.Floor(p.Min(q => q.X) - 1)), xMax = Math.Min(image.Width - 1, (int)Math.Ceiling(p.Max(q => q.X) + 1));
            for (int y = yMin; y <= yMax; y++)
            {
                for (int x = xMin; x <= xMax; x++)
                {
                    double inside = double.MaxValue;
                    for (int e = 0; e < 3; e++)
                    {
                        (double X, double Y) a = p[e], b = p[(e + 1) % 3];
                        double ex = b.X - a.X, ey = b.Y - a.Y, length = Math.Sqrt((ex * ex) + (ey * ey));
                        if (length == 0) continue;
                        double distance = sign * ((ex * (y + 0.5 - a.Y)) - (ey * (x + 0.5 - a.X))) / length;
                        inside = Math.Min(inside, distance);
                    }

                    Add(x, y, inside + 0.5);
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Flush(Rgb color, double opacity)
        {
            foreach (int index in _touched)
            {
                image.Blend(index % image.Width, index / image.Width, color, _amount[index] * opacity);
                _amount[index] = 0;
            }

            _touched.Clear();
        }

        private void Add(int x, int y, double amount)
        {
            if (amount <= 0) return;
            int index = (y * image.Width) + x;
            float a = (float)Math.Min(amount, 1);
            if (_amount[index] == 0) _touched.Add(index);
            if (a > _amount[index]) _amount[index] = a;
        }
    }
}

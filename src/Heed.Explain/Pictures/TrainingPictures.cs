using System.Globalization;

namespace Heed.Explain.Pictures;

/// <summary>Pictures of a training run, each a <see cref="Scene"/>: the loss curve.</summary>
public static class TrainingPictures
{
    private const int Margin = 16;
    private const int Header = 56;
    private const int PlotWidth = 560;
    private const int PlotHeight = 280;
    private const int AxisLabel = 48;

    private static readonly Rgb Raw = new(160, 190, 220);
    private static readonly Rgb Smooth = new(31, 119, 180);
    private static readonly Rgb Grid = new(230, 230, 230);
    private static readonly double[] NiceSteps = [1, 2, 2.5, 5, 10];

    /// <summary>
    /// The loss curve: each step's loss (light) and its exponential moving average (α = 0.1, dark) against the step, on a
    /// linear axis from 0 to the largest loss. The line is a shape of kind "loss"; the moving average one of kind "loss-average".
    /// </summary>
    /// <param name="losses">The loss of step 1, 2, … (at least one).</param>
    /// <param name="title">The title, e.g. the task and the model's size.</param>
    /// <exception cref="HeedException">No losses, or one that is not finite.</exception>
    public static Scene LossCurve(IReadOnlyList<float> losses, string title)
    {
        ArgumentNullException.ThrowIfNull(losses);
        ArgumentNullException.ThrowIfNull(title);
        if (losses.Count == 0) throw new HeedException("a loss curve needs at least one step");
        if (losses.Any(l => !float.IsFinite(l))) throw new HeedException("a loss curve needs finite losses");
        int steps = losses.Count;
        double top = Nice(Math.Max(1e-6, losses.Max()));
        int plotX = Margin + AxisLabel, plotY = Header + 8;
        string last = string.Create(CultureInfo.InvariantCulture, $"{steps} step{(steps == 1 ? "" : "s")}; last loss {losses[^1]:F4}, lowest {losses.Min():F4}; thin line: each step's loss, thick line: its moving average (α = 0.1)");
        int textWidth = (int)Math.Ceiling(Math.Max(PictureFont.Width(title, TextShape.FontSizeOf(2)), PictureFont.Width(last, TextShape.FontSizeOf(1))));
        int width = Math.Max(plotX + PlotWidth + (2 * Margin), (2 * Margin) + 8 + textWidth), height = plotY + PlotHeight + 52;
        var scene = new Scene(width, height, title);
        scene.Add(new TextShape(Margin, Margin + 8, title, Rgb.Ink) { Size = 2 });
        scene.Add(new TextShape(Margin, Margin + 30, last, Rgb.Gray));

        double X(double step) => plotX + (steps == 1 ? PlotWidth / 2.0 : (step - 1) / (steps - 1) * PlotWidth);
        double Y(double loss) => plotY + PlotHeight - (loss / top * PlotHeight);
        for (int k = 0; k <= 4; k++)
        {
            double value = top * k / 4;
            scene.Add(new PathShape([(plotX, Y(value)), (plotX + PlotWidth, Y(value))], 1, Grid));
            scene.Add(new TextShape(plotX - 6, Y(value), value.ToString("G3", CultureInfo.InvariantCulture), Rgb.Ink) { Anchor = TextAnchor.End });
        }

        scene.Add(new RectShape(plotX, plotY, PlotWidth, PlotHeight, Rgb.White) { Filled = false, Stroke = Rgb.Gray });
        foreach (int step in Ticks(steps))
        {
            scene.Add(new TextShape(X(step), plotY + PlotHeight + 14, step.ToString(CultureInfo.InvariantCulture), Rgb.Ink) { Anchor = TextAnchor.Middle });
        }

        scene.Add(new TextShape(plotX + (PlotWidth / 2.0), plotY + PlotHeight + 36, "step", Rgb.Gray) { Anchor = TextAnchor.Middle });
        scene.Add(new TextShape(Margin, plotY + (PlotHeight / 2.0), "loss", Rgb.Gray) { Vertical = true });

        // at most one point per horizontal pixel, so a long run's curve stays a small file
        int stride = Math.Max(1, steps / PlotWidth);
        var raw = new List<(double, double)>();
        var smooth = new List<(double, double)>();
        double average = losses[0];
        for (int s = 0; s < steps; s++)
        {
            average = s == 0 ? losses[0] : (0.9 * average) + (0.1 * losses[s]);
            if (s % stride != 0 && s != steps - 1) continue;
            raw.Add((X(s + 1), Y(losses[s])));
            smooth.Add((X(s + 1), Y(average)));
        }

        scene.Add(new PathShape(raw, 1, Raw) { Kind = "loss", Tip = "loss of each step" });
        scene.Add(new PathShape(smooth, 2, Smooth) { Kind = "loss-average", Tip = "moving average of the loss (alpha 0.1)" });
        return scene;
    }

    // 1, 2 or 5 times a power of ten at or above the value.
    private static double Nice(double value)
    {
        double power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (double m in NiceSteps)
        {
            if (m * power >= value) return m * power;
        }

        return 10 * power;
    }

    private static IEnumerable<int> Ticks(int steps)
    {
        if (steps == 1) return [1];
        int spacing = (int)Nice(steps / 5.0);
        return Enumerable.Range(1, steps / Math.Max(1, spacing)).Select(k => k * spacing).Prepend(1).Where(s => s <= steps).Distinct();
    }
}

using System.Globalization;
using System.Runtime.CompilerServices;

namespace Heed.Explain.Pictures;

/// <summary>
/// The pictures of an <see cref="AttentionSet"/>, each built as a <see cref="Scene"/> (write it with <see cref="SvgWriter"/>
/// or <see cref="PngRenderer"/>): a heatmap of one head, the model view (every layer × head),
/// the head view (token-to-token lines), the network view of one head and the attention rollout.
/// </summary>
public static class AttentionPictures
{
    /// <summary>Outer margin in pixels.</summary>
    private const int Margin = 16;

    /// <summary>Height of the title block (a size-2 title and a size-1 subtitle).</summary>
    private const int Header = 56;

    /// <summary>The longest token label in characters (longer ones end in '…'; the full token is in the hover text).</summary>
    private const int MaxLabel = 14;

    /// <summary>A masked cell in a thumbnail (too small to hatch): a warm grey that no colour of the weight scale has.</summary>
    private static readonly Rgb MaskedThumb = new(222, 212, 196);

    /// <summary>Weights below this are not drawn as lines in the head and network views (they would be invisible anyway).</summary>
    public const double DefaultMinWeight = 0.02;

    private static readonly Rgb[] HeadColors =
    [
        new(31, 119, 180), new(214, 96, 33), new(44, 150, 60), new(200, 40, 50), new(130, 90, 190), new(140, 86, 75),
        new(220, 90, 170), new(100, 100, 100), new(160, 160, 20), new(20, 170, 190), new(60, 60, 160), new(180, 130, 0),
    ];

    private static readonly Rgb EdgeColor = new(200, 80, 20);

    /// <summary>
    /// The heatmap of one head: query tokens down the left, key tokens along the top, each cell coloured by its weight,
    /// with a labelled colour bar. Cells are shapes of kind "cell" (T·S of them, row by row) whose hover text gives the value.
    /// </summary>
    /// <exception cref="HeedException">The layer or head is out of range.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Scene Heatmap(AttentionSet set, int layer, int head, string? title = null, IReadOnlyList<string>? notes = null, string? scaleLabel = null)
    {
        ArgumentNullException.ThrowIfNull(set);
        set.CheckIndex(layer, head);
        int t = set.QueryLength, s = set.KeyLength;
        ColorScale scale = ColorScale.Weights(scaleLabel ?? "attention weight");
        string[] rows = set.QueryTokens.Select(x => TokenLabel.Display(x, MaxLabel)).ToArray();
        string[] cols = set.KeyTokens.Select(x => TokenLabel.Display(x, MaxLabel)).ToArray();
        int cell = Math.Clamp(560 / Math.Max(t, s), 12, 44);
        int labelWidth = LabelWidth(rows) + 10;
        int labelHeight = LabelWidth(cols) + 10;
        int gridX = Margin + labelWidth, gridY = Header + labelHeight;
        int barX = gridX + (s * cell) + 28;
        title ??= $"Layer {layer}, head {head}: attention weights";
        string subtitle = "rows: query (attending) token; columns: key (attended) token";
        int width = Math.Max(barX + MaskedKeyWidth, TitleWidth(title, subtitle));
        List<string> footer = Wrap(notes, width);
        int barHeight = Math.Max(140, Math.Min(t * cell, 260));
        int height = Math.Max(gridY + (t * cell), gridY + barHeight + 40) + Margin + (footer.Count * 14) + (footer.Count > 0 ? 8 : 0);

        var scene = new Scene(width, height, title);
        AddTitle(scene, title, subtitle);
        for (int i = 0; i < t; i++)
        {
            scene.Add(new TextShape(gridX - 5, gridY + (i * cell) + (cell / 2.0), rows[i], Rgb.Ink) { Anchor = TextAnchor.End, Tip = set.QueryTokens[i] });
        }

        for (int j = 0; j < s; j++)
        {
            scene.Add(new TextShape(gridX + (j * cell) + (cell / 2.0), gridY - 5, cols[j], Rgb.Ink) { Vertical = true, Tip = set.KeyTokens[j] });
        }

        bool values = cell >= 32, anyMasked = false;
        for (int i = 0; i < t; i++)
        {
            for (int j = 0; j < s; j++)
            {
                double w = set.Weight(layer, head, i, j);
                Rgb color = scale.Map(w);
                bool masked = set.IsMasked(layer, head, i, j);
                anyMasked |= masked;
                string score = set.HasScores ? $", score {Fixed(set.Score(layer, head, i, j))}" : "";
                scene.Add(new RectShape(gridX + (j * cell), gridY + (i * cell), cell, cell, color)
                {
                    Kind = "cell",
                    Masked = masked,
                    Tip = masked ? $"{set.QueryTokens[i]} -> {set.KeyTokens[j]}: masked (never attended), weight 0" : $"{set.QueryTokens[i]} -> {set.KeyTokens[j]}: weight {Fixed(w)}{score}",
                });
                if (values && !masked)
                {
                    scene.Add(new TextShape(gridX + (j * cell) + (cell / 2.0), gridY + (i * cell) + (cell / 2.0), Short(w), color.Luminance < 0.5 ? Rgb.White : Rgb.Ink) { Anchor = TextAnchor.Middle });
                }
            }
        }

        scene.Add(new RectShape(gridX, gridY, s * cell, t * cell, Rgb.White) { Filled = false, Stroke = Rgb.Gray });
        AddColorBar(scene, scale, barX, gridY, barHeight);
        if (anyMasked) AddMaskedKey(scene, barX, gridY + barHeight + 18, hatched: true);
        AddFooter(scene, footer, height - Margin - (footer.Count * 14));
        return scene;
    }

    /// <summary>
    /// The model view: one thumbnail heatmap per layer (rows) and head (columns), on one colour scale.
    /// Thumbnails are shapes of kind "thumb" (L·H of them).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Scene ModelView(AttentionSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        int t = set.QueryLength, s = set.KeyLength;
        ColorScale scale = ColorScale.Weights();
        int pixel = Math.Clamp(96 / Math.Max(t, s), 1, 12);
        int thumbWidth = s * pixel, thumbHeight = t * pixel, gap = 10;
        int rowLabel = (int)Math.Ceiling(TextWidth("L" + (set.Layers - 1).ToString(CultureInfo.InvariantCulture))) + 10;
        int gridX = Margin + rowLabel, gridY = Header + 16;
        int step = Math.Max(thumbWidth, 24) + gap;
        int barX = gridX + (set.Heads * step) + 18;
        string title = $"Model view: {set.Layers} layer{(set.Layers == 1 ? "" : "s")} x {set.Heads} head{(set.Heads == 1 ? "" : "s")}";
        string subtitle = $"each square is one head's [{t} x {s}] weights; rows of a square: query tokens, columns: key tokens";
        int width = Math.Max(barX + MaskedKeyWidth, TitleWidth(title, subtitle));
        int barHeight = Math.Max(140, Math.Min(set.Layers * (thumbHeight + gap), 260));
        int height = Math.Max(gridY + (set.Layers * (thumbHeight + gap)), gridY + barHeight + 40) + Margin;
        var scene = new Scene(width, height, title);
        bool anyMasked = false;
        AddTitle(scene, title, subtitle);
        for (int h = 0; h < set.Heads; h++)
        {
            scene.Add(new TextShape(gridX + (h * step) + (thumbWidth / 2.0), gridY - 8, "H" + h.ToString(CultureInfo.InvariantCulture), Rgb.Ink) { Anchor = TextAnchor.Middle });
        }

        for (int l = 0; l < set.Layers; l++)
        {
            int y = gridY + (l * (thumbHeight + gap));
            scene.Add(new TextShape(gridX - 6, y + (thumbHeight / 2.0), "L" + l.ToString(CultureInfo.InvariantCulture), Rgb.Ink) { Anchor = TextAnchor.End });
            for (int h = 0; h < set.Heads; h++)
            {
                var image = new RgbImage(s, t, Rgb.White);
                ReadOnlySpan<double> m = set.Matrix(l, h);
                double max = 0;
                int argRow = 0, argCol = 0;
                for (int i = 0; i < t; i++)
                {
                    for (int j = 0; j < s; j++)
                    {
                        double w = m[(i * s) + j];
                        bool masked = set.IsMasked(l, h, i, j);
                        anyMasked |= masked;
                        image[j, i] = masked ? MaskedThumb : scale.Map(w);
                        if (w > max)
                        {
                            max = w;
                            argRow = i;
                            argCol = j;
                        }
                    }
                }

                int x = gridX + (h * step);
                scene.Add(new ImageShape(x, y, pixel, image)
                {
                    Kind = "thumb",
                    Tip = $"layer {l}, head {h}: strongest weight {Fixed(max)} ({set.QueryTokens[argRow]} -> {set.KeyTokens[argCol]})",
                });
                scene.Add(new RectShape(x - 1, y - 1, thumbWidth + 2, thumbHeight + 2, Rgb.White) { Filled = false, Stroke = new Rgb(200, 200, 200) });
            }
        }

        AddColorBar(scene, scale, barX, gridY, barHeight);
        if (anyMasked) AddMaskedKey(scene, barX, gridY + barHeight + 18, hatched: false);
        return scene;
    }

    /// <summary>
    /// The head view: query tokens on the left, key tokens on the right, a line from each query to each key it attends to,
    /// as thick and as opaque as the weight; one colour per head. Lines are shapes of kind "edge", drawn only for weights of
    /// at least <paramref name="minWeight"/>.
    /// </summary>
    /// <param name="set">The weights.</param>
    /// <param name="layer">The layer.</param>
    /// <param name="head">One head, or null for every head of the layer overlaid.</param>
    /// <param name="minWeight">The smallest weight drawn.</param>
    /// <exception cref="HeedException">The layer or head is out of range.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Scene HeadView(AttentionSet set, int layer, int? head = null, double minWeight = DefaultMinWeight)
    {
        ArgumentNullException.ThrowIfNull(set);
        set.CheckIndex(layer, head);
        int[] heads = head is int only ? [only] : Enumerable.Range(0, set.Heads).ToArray();
        string[] rows = set.QueryTokens.Select(x => TokenLabel.Display(x, MaxLabel)).ToArray();
        string[] cols = set.KeyTokens.Select(x => TokenLabel.Display(x, MaxLabel)).ToArray();
        const int Span = 240;
        int rowHeight = Math.Max(set.QueryLength, set.KeyLength) <= 32 ? 22 : 14;
        int legendRows = heads.Length > 1 ? ((heads.Length + 7) / 8) : 0;
        int top = Header + 10 + (legendRows * 16);
        int leftX = Margin + LabelWidth(rows);
        int rightX = leftX + 12 + Span;
        string title = head is int h1 ? $"Head view: layer {layer}, head {h1}"
            : set.Heads == 1 ? $"Head view: layer {layer}, head 0" : $"Head view: layer {layer}, all {set.Heads} heads";
        string subtitle = "left: query tokens; right: key tokens; line thickness and opacity = attention weight";
        int width = Math.Max(rightX + LabelWidth(cols) + Margin, TitleWidth(title, subtitle));
        int height = top + (Math.Max(set.QueryLength, set.KeyLength) * rowHeight) + Margin;
        var scene = new Scene(width, height, title);
        AddTitle(scene, title, subtitle);
        if (heads.Length > 1)
        {
            for (int n = 0; n < heads.Length; n++)
            {
                int x = Margin + ((n % 8) * 56), y = Header + 4 + ((n / 8) * 16);
                scene.Add(new RectShape(x, y, 12, 8, HeadColors[heads[n] % HeadColors.Length]));
                scene.Add(new TextShape(x + 16, y + 4, "H" + heads[n].ToString(CultureInfo.InvariantCulture), Rgb.Ink));
            }
        }

        double Row(int i) => top + (i * rowHeight) + (rowHeight / 2.0);
        for (int i = 0; i < rows.Length; i++) scene.Add(new TextShape(leftX, Row(i), rows[i], Rgb.Ink) { Anchor = TextAnchor.End, Tip = set.QueryTokens[i] });
        for (int j = 0; j < cols.Length; j++) scene.Add(new TextShape(rightX, Row(j), cols[j], Rgb.Ink) { Tip = set.KeyTokens[j] });
        double fade = heads.Length > 1 ? 0.7 : 1.0;
        foreach (int h in heads)
        {
            Rgb color = HeadColors[h % HeadColors.Length];
            for (int i = 0; i < set.QueryLength; i++)
            {
                for (int j = 0; j < set.KeyLength; j++)
                {
                    double w = set.Weight(layer, h, i, j);
                    if (!(w >= minWeight)) continue;
                    scene.Add(new PathShape([(leftX + 6, Row(i)), (rightX - 6, Row(j))], 0.6 + (4.4 * w), color, (0.2 + (0.8 * w)) * fade)
                    {
                        Kind = "edge",
                        Tip = $"head {h}: {set.QueryTokens[i]} -> {set.KeyTokens[j]}: {Fixed(w)}",
                    });
                }
            }
        }

        return scene;
    }

    /// <summary>
    /// One head as a directed weighted network (the network that "springs into existence" for one input): tokens are nodes
    /// on a circle, an arrow j → i means token i reads from token j, thick and opaque as the weight. Because W_Q and W_K differ,
    /// i → j and j → i are different edges, drawn bending to opposite sides. A node's fill is the weight on itself. Labels
    /// point outward along their node's radius, so neighbours never overlap. Edges are shapes of kind "edge" (weights of at
    /// least the threshold, self-weights excluded; the legend states the threshold); nodes "node".
    /// </summary>
    /// <param name="set">The weights.</param>
    /// <param name="layer">The layer.</param>
    /// <param name="head">The head.</param>
    /// <param name="minWeight">The smallest weight drawn; by default 0.02 up to 4 tokens and 1/n (uniform attention) beyond,
    /// so a prompt shows the links that stand out instead of a tangle.</param>
    /// <exception cref="HeedException">The layer or head is out of range, or the set is not self-attention (T ≠ S).</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Scene Network(AttentionSet set, int layer, int head, double? minWeight = null)
    {
        ArgumentNullException.ThrowIfNull(set);
        set.CheckIndex(layer, head);
        if (set.QueryLength != set.KeyLength)
        {
            throw new HeedException($"the network view needs self-attention (as many keys as queries); this set has {set.QueryLength} queries and {set.KeyLength} keys");
        }

        int n = set.QueryLength;
        double threshold = minWeight ?? (n <= 4 ? DefaultMinWeight : Math.Max(DefaultMinWeight, 1.0 / n));
        string[] labels = set.QueryTokens.Select(x => TokenLabel.Display(x, 10)).ToArray();
        ColorScale scale = ColorScale.Weights("weight on itself");
        double nodeRadius = n <= 12 ? 14 : n <= 32 ? 9 : 6;
        double radius = Math.Max(110, n * 34 / (2 * Math.PI));
        int labelPad = LabelWidth(labels) + 12;
        double cx = Margin + labelPad + nodeRadius + radius, cy = Header + 16 + labelPad + nodeRadius + radius;
        string title = $"Layer {layer}, head {head} as a network";
        string subtitle = "arrow j -> i: token i reads from token j; thickness and opacity = weight; node colour = weight on itself";
        string drawn = minWeight is null && n > 4
            ? $"Edges below {Short(threshold)} (uniform attention, 1/{n}) are not drawn; hover a node or edge for exact values."
            : $"Edges below {Short(threshold)} are not drawn.";
        var legend = new List<string>
        {
            "Each token is a node and each weight an edge: a network that exists only for this input.",
            "a -> b and b -> a are different edges because queries and keys come from different matrices (W_Q, W_K).",
            drawn,
        };
        int barX = (int)(cx + radius + nodeRadius + labelPad + 12);
        int width = Math.Max(barX + 100, TitleWidth(title, subtitle));
        List<string> footer = Wrap(legend, width);
        int height = (int)(cy + radius + nodeRadius + labelPad + 8) + (footer.Count * 14) + Margin;
        var scene = new Scene(width, height, title);
        AddTitle(scene, title, subtitle);
        var positions = new (double X, double Y)[n];
        for (int i = 0; i < n; i++)
        {
            double angle = (-Math.PI / 2) + (2 * Math.PI * i / n);
            positions[i] = (cx + (radius * Math.Cos(angle)), cy + (radius * Math.Sin(angle)));
        }

        var edgeLabels = new List<(double Weight, double X, double Y)>();
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double w = set.Weight(layer, head, i, j);
                if (i == j || !(w >= threshold)) continue;
                double thickness = 0.8 + (6 * w);
                List<(double X, double Y)> curve = Bend(positions[j], positions[i], nodeRadius, out (double X, double Y) middle);
                string score = set.HasScores ? $", score {Fixed(set.Score(layer, head, i, j))}" : "";
                scene.Add(new PathShape(curve, thickness, EdgeColor, 0.3 + (0.7 * w))
                {
                    Kind = "edge",
                    Arrow = 7 + (1.2 * thickness),
                    Tip = $"{set.KeyTokens[j]} -> {set.QueryTokens[i]}: {set.QueryTokens[i]} reads {set.KeyTokens[j]} with weight {Fixed(w)}{score}",
                });
                if (n <= 8) edgeLabels.Add((w, middle.X, middle.Y));
            }
        }

        // Edge values, strongest first, each only where it overlaps no value already placed (the rest are on hover).
        var placed = new List<(double X0, double Y0, double X1, double Y1)>();
        foreach ((double w, double x, double y) in edgeLabels.OrderByDescending(e => e.Weight))
        {
            string text = Short(w);
            double half = (TextWidth(text) / 2.0) + 2;
            (double X0, double Y0, double X1, double Y1) box = (x - half, y - 7, x + half, y + 7);
            if (placed.Any(p => box.X0 < p.X1 && p.X0 < box.X1 && box.Y0 < p.Y1 && p.Y0 < box.Y1)) continue;
            placed.Add(box);
            scene.Add(new RectShape(box.X0, box.Y0, box.X1 - box.X0, 14, Rgb.White));
            scene.Add(new TextShape(x, y, text, new Rgb(120, 50, 10)) { Anchor = TextAnchor.Middle, Kind = "edge-label" });
        }

        for (int i = 0; i < n; i++)
        {
            double self = set.Weight(layer, head, i, i);
            scene.Add(new CircleShape(positions[i].X, positions[i].Y, nodeRadius, scale.Map(self), Rgb.Ink, 1.5)
            {
                Kind = "node",
                Tip = $"{set.QueryTokens[i]}: weight on itself {Fixed(self)}",
            });

            // Along the radius, reading outward; on the left half turned half a circle more so it never reads upside down.
            double angle = (-Math.PI / 2) + (2 * Math.PI * i / n), reach = radius + nodeRadius + 6;
            double degrees = angle * 180 / Math.PI;
            bool left = Math.Cos(angle) < -1e-9;
            scene.Add(new TextShape(cx + (reach * Math.Cos(angle)), cy + (reach * Math.Sin(angle)), labels[i], Rgb.Ink)
            {
                Anchor = left ? TextAnchor.End : TextAnchor.Start,
                Angle = left ? degrees + 180 : degrees,
                Tip = set.QueryTokens[i],
            });
        }

        AddColorBar(scene, scale, barX, Header + 24, 140);
        AddFooter(scene, footer, height - Margin - (footer.Count * 14));
        return scene;
    }

    /// <summary>The attention rollout of a self-attention set as a heatmap, with the note on what it shows and does not show.</summary>
    /// <exception cref="HeedException">The set is not self-attention (T ≠ S).</exception>
    public static Scene RolloutHeatmap(AttentionSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        AttentionSet rollout = Rollout.AsSet(set);
        string title = $"Attention rollout through {set.Layers} layer{(set.Layers == 1 ? "" : "s")} (heads averaged)";
        return Heatmap(rollout, 0, 0, title, [Rollout.Note], "rollout weight");
    }

    /// <summary>
    /// Every picture of <paramref name="set"/>: the heatmap, head view and network of one layer (or of every layer), the
    /// model view and the rollout. Returns (file stem, scene, one-line description); with <paramref name="allLayers"/> the
    /// per-layer stems end in "-layerN". With <paramref name="head"/> null the head view overlays every head and the heatmap
    /// and network show head 0, or, with <paramref name="everyHead"/>, every head (stems ending in "-headN").
    /// </summary>
    /// <param name="set">The weights.</param>
    /// <param name="layer">The layer for the heatmap, head view and network (ignored with <paramref name="allLayers"/>).</param>
    /// <param name="head">The head for the heatmap, network and head view; null for all heads in the head view.</param>
    /// <param name="allLayers">Draw the heatmap, head view and network of every layer.</param>
    /// <param name="everyHead">With <paramref name="head"/> null, draw the heatmap and network of every head.</param>
    /// <exception cref="HeedException">The layer or head is out of range.</exception>
    public static IReadOnlyList<(string Name, Scene Scene, string Description)> All(AttentionSet set, int layer, int? head, bool allLayers = false, bool everyHead = false)
    {
        ArgumentNullException.ThrowIfNull(set);
        set.CheckIndex(layer, head);
        bool square = set.QueryLength == set.KeyLength;
        int[] layers = allLayers ? [.. Enumerable.Range(0, set.Layers)] : [layer];
        everyHead = everyHead && head is null && set.Heads > 1;
        int[] heads = everyHead ? [.. Enumerable.Range(0, set.Heads)] : [head ?? 0];
        var perLayer = new (string, Scene, string)[layers.Length][];

        // Each layer's scenes are independent: build them in parallel (the rendering that follows is parallel too).
        Parallel.For(0, layers.Length, k =>
        {
            int l = layers[k];
            string suffix = allLayers ? string.Create(CultureInfo.InvariantCulture, $"-layer{l}") : "";
            var scenes = new List<(string, Scene, string)>();
            foreach (int h in heads)
            {
                string stem = suffix + (everyHead ? string.Create(CultureInfo.InvariantCulture, $"-head{h}") : "");
                scenes.Add(("heatmap" + stem, Heatmap(set, l, h), $"Layer {l}, head {h}: each cell is how much the row's token attends to the column's token; each row sums to 1."));
            }

            scenes.Add(("head-view" + suffix, HeadView(set, l, head), $"Layer {l}: lines from each query token (left) to the key tokens (right) it attends to; thicker and darker = more weight."));
            if (square)
            {
                foreach (int h in heads)
                {
                    string stem = suffix + (everyHead ? string.Create(CultureInfo.InvariantCulture, $"-head{h}") : "");
                    scenes.Add(("network" + stem, Network(set, l, h), $"Layer {l}, head {h} as a directed network: asymmetric, built for this input only."));
                }
            }

            perLayer[k] = [.. scenes];
        });

        var pictures = new List<(string, Scene, string)>();
        foreach ((string, Scene, string)[] scenes in perLayer) pictures.AddRange(scenes);
        pictures.Insert(Math.Min(1, pictures.Count), ("model-view", ModelView(set), "Every layer and head at once, on one colour scale: look for diagonal, previous-token and first-token patterns."));
        if (square) pictures.Add(("rollout", RolloutHeatmap(set), Rollout.Note));
        return pictures;
    }

    private static List<(double X, double Y)> Bend((double X, double Y) from, (double X, double Y) to, double nodeRadius, out (double X, double Y) middle)
    {
        double dx = to.X - from.X, dy = to.Y - from.Y, length = Math.Sqrt((dx * dx) + (dy * dy));
        (double X, double Y) control = (((from.X + to.X) / 2) - (dy * 0.22), ((from.Y + to.Y) / 2) + (dx * 0.22));
        (double X, double Y) Toward((double X, double Y) p, (double X, double Y) q, double d)
        {
            double ex = q.X - p.X, ey = q.Y - p.Y, l = Math.Max(Math.Sqrt((ex * ex) + (ey * ey)), 1e-9);
            return (p.X + (ex / l * d), p.Y + (ey / l * d));
        }

        (double X, double Y) start = Toward(from, control, nodeRadius + 1), end = Toward(to, control, nodeRadius + 2);
        int segments = Math.Clamp((int)(length / 6), 8, 40);
        var points = new List<(double X, double Y)>(segments + 1);
        for (int k = 0; k <= segments; k++)
        {
            double u = (double)k / segments, a = (1 - u) * (1 - u), b = 2 * u * (1 - u), c = u * u;
            points.Add(((a * start.X) + (b * control.X) + (c * end.X), (a * start.Y) + (b * control.Y) + (c * end.Y)));
        }

        // The label sits three quarters along, near the arrowhead, so the numbers of a -> b and b -> a do not meet in the middle.
        const double T = 0.75;
        middle = (((1 - T) * (1 - T) * start.X) + (2 * T * (1 - T) * control.X) + (T * T * end.X), ((1 - T) * (1 - T) * start.Y) + (2 * T * (1 - T) * control.Y) + (T * T * end.Y));
        return points;
    }

    private static void AddTitle(Scene scene, string title, string subtitle)
    {
        scene.Add(new TextShape(Margin, Margin + 8, title, Rgb.Ink) { Size = 2 });
        scene.Add(new TextShape(Margin, Margin + 30, subtitle, Rgb.Gray));
    }

    private static int TitleWidth(string title, string subtitle) =>
        (2 * Margin) + 8 + (int)Math.Ceiling(Math.Max(TextWidth(title, 2), TextWidth(subtitle)));

    private static double TextWidth(string text, int size = 1) => PictureFont.Width(text, TextShape.FontSizeOf(size));

    private static int LabelWidth(IEnumerable<string> labels) => (int)Math.Ceiling(labels.Max(l => TextWidth(l)));

    private const string MaskedKeyText = "masked (never attended)";

    // Room right of the colour bar's left edge for the bar, its numbers and label, and the masked-cell key.
    private static int MaskedKeyWidth => Math.Max(100, 20 + (int)Math.Ceiling(TextWidth(MaskedKeyText)) + Margin);

    /// <summary>The legend entry for masked cells: a hatched (heatmap) or plain (thumbnail) swatch and its meaning.</summary>
    private static void AddMaskedKey(Scene scene, int x, int y, bool hatched)
    {
        scene.Add(new RectShape(x, y, 14, 14, MaskedThumb) { Masked = hatched, Stroke = Rgb.Gray, Kind = "masked-key" });
        scene.Add(new TextShape(x + 20, y + 7, MaskedKeyText, Rgb.Ink));
    }

    private static void AddColorBar(Scene scene, ColorScale scale, int x, int y, int height)
    {
        const int Width = 14, Steps = 64;
        for (int k = 0; k < Steps; k++)
        {
            double top = y + (height * k / (double)Steps), bottom = y + (height * (k + 1) / (double)Steps);
            double value = scale.Max - ((scale.Max - scale.Min) * (k + 0.5) / Steps);
            scene.Add(new RectShape(x, Math.Floor(top), Width, Math.Ceiling(bottom) - Math.Floor(top), scale.Map(value)) { Kind = "scale" });
        }

        scene.Add(new RectShape(x, y, Width, height, Rgb.White) { Filled = false, Stroke = Rgb.Gray });
        for (int k = 0; k <= 4; k++)
        {
            double value = scale.Max - ((scale.Max - scale.Min) * k / 4);
            double ty = y + (height * k / 4.0);
            scene.Add(new PathShape([(x + Width, ty), (x + Width + 4, ty)], 1, Rgb.Gray));
            scene.Add(new TextShape(x + Width + 7, ty, value.ToString("0.00", CultureInfo.InvariantCulture), Rgb.Ink));
        }

        scene.Add(new TextShape(x + Width + 58, y + (height / 2.0), scale.Label, Rgb.Ink) { Vertical = true, Anchor = TextAnchor.Middle });
    }

    private static List<string> Wrap(IReadOnlyList<string>? notes, int width)
    {
        var lines = new List<string>();
        if (notes is null) return lines;
        double available = Math.Max(160, width - (2 * Margin));
        foreach (string note in notes)
        {
            string line = "";
            foreach (string word in note.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (line.Length > 0 && TextWidth(line + " " + word) > available)
                {
                    lines.Add(line);
                    line = word;
                }
                else
                {
                    line = line.Length == 0 ? word : line + " " + word;
                }
            }

            if (line.Length > 0) lines.Add(line);
        }

        return lines;
    }

    private static void AddFooter(Scene scene, List<string> lines, int top)
    {
        for (int k = 0; k < lines.Count; k++)
        {
            scene.Add(new TextShape(Margin, top + (k * 14) + 7, lines[k], Rgb.Gray) { Kind = "note" });
        }
    }

    private static string Fixed(double x) => x.ToString("0.0000", CultureInfo.InvariantCulture);

    private static string Short(double x) => x.ToString("0.00", CultureInfo.InvariantCulture);
}

using System.Xml.Linq;
using Heed.Explain.Pictures;
using Heed.Explain.Seeds;
using SkiaSharp;

namespace Heed.Explain.Tests;

public class PictureTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static XDocument ParseSvg(Scene scene) => XDocument.Parse(SvgWriter.Write(scene));

    private static int CountClass(XDocument doc, string cls) =>
        doc.Descendants().Count(e => (string?)e.Attribute("class") == cls);

    [Theory]
    [InlineData(1, 1, 6)]
    [InlineData(2, 3, 9)]
    [InlineData(1, 2, 40)]
    public void Heatmap_svg_is_valid_xml_with_one_cell_per_weight(int layers, int heads, int tokens)
    {
        AttentionSet set = Sets.Random(layers, heads, tokens);
        XDocument doc = ParseSvg(AttentionPictures.Heatmap(set, layers - 1, heads - 1));
        Assert.Equal(Svg + "svg", doc.Root!.Name);
        Assert.Equal(tokens * tokens, CountClass(doc, "cell"));
        XElement first = doc.Descendants(Svg + "rect").First(e => (string?)e.Attribute("class") == "cell");
        string expected = $"t0 -> t0: weight {set.Weight(layers - 1, heads - 1, 0, 0):0.0000}, score {set.Score(layers - 1, heads - 1, 0, 0):0.0000}";
        Assert.Equal(expected, first.Element(Svg + "title")!.Value);
    }

    [Fact]
    public void Seed_heatmap_cells_carry_the_seed_weights()
    {
        Scene scene = AttentionPictures.Heatmap(AttentionSet.FromTrace(CatSatOnTheMat.Trace()), 0, 0);
        RectShape catSat = scene.Shapes.OfType<RectShape>().Where(s => s.Kind == "cell").ElementAt((1 * 6) + 2);
        Assert.Equal("cat -> sat: weight 0.2437, score 1.0000", catSat.Tip);
    }

    [Theory]
    [InlineData(0.0, 30)]   // every off-diagonal weight of the seed is drawn
    [InlineData(0.1, 18)]   // 18 weights of at least 0.1 (counted with NumPy); 0.0950, 0.0896, 0.0350 and 0.0197 are left out
    public void Network_draws_one_directed_edge_per_weight_above_the_threshold(double minWeight, int expectedEdges)
    {
        AttentionSet set = AttentionSet.FromTrace(CatSatOnTheMat.Trace());
        int count = 0;
        for (int i = 0; i < 6; i++)
        {
            for (int j = 0; j < 6; j++) count += i != j && set.Weight(0, 0, i, j) >= minWeight ? 1 : 0;
        }

        Assert.Equal(expectedEdges, count);
        XDocument doc = ParseSvg(AttentionPictures.Network(set, 0, 0, minWeight));
        Assert.Equal(expectedEdges, CountClass(doc, "edge"));
        Assert.Equal(6, CountClass(doc, "node"));
        // Asymmetry: "cat" reads "on" with 0.0896 (score Q_cat.K_on = 0) but "on" reads "cat" with 0.2437 (Q_on.K_cat = 0 too,
        // against a different row of scores); the two directions are two edges with their own weights.
        string[] tips = doc.Descendants(Svg + "g").Where(e => (string?)e.Attribute("class") == "edge").Select(e => e.Element(Svg + "title")!.Value).ToArray();
        if (minWeight == 0)
        {
            Assert.Contains("on -> cat: cat reads on with weight 0.0896, score 0.0000", tips);
            Assert.Contains("cat -> on: on reads cat with weight 0.2437, score 0.0000", tips);
        }
    }

    [Fact]
    public void Head_view_and_model_view_count_their_shapes()
    {
        AttentionSet set = Sets.Random(3, 4, 5);
        int above = 0;
        for (int h = 0; h < 4; h++)
        {
            for (int i = 0; i < 5; i++)
            {
                for (int j = 0; j < 5; j++) above += set.Weight(1, h, i, j) >= AttentionPictures.DefaultMinWeight ? 1 : 0;
            }
        }

        Assert.Equal(above, CountClass(ParseSvg(AttentionPictures.HeadView(set, 1)), "edge"));
        Assert.Equal(12, CountClass(ParseSvg(AttentionPictures.ModelView(set)), "thumb"));
        Assert.Equal(25, CountClass(ParseSvg(AttentionPictures.RolloutHeatmap(set)), "cell"));
    }

    [Theory]
    [InlineData(2, 0)]
    [InlineData(0, 4)]
    [InlineData(-1, 0)]
    public void Layer_or_head_out_of_range_is_refused(int layer, int head)
    {
        AttentionSet set = Sets.Random(2, 4, 3);
        var ex = Assert.Throws<HeedException>(() => AttentionPictures.Heatmap(set, layer, head));
        Assert.Contains("out of range", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Odd_tokens_are_escaped_in_svg()
    {
        string[] tokens = ["<b>", "a&b", "\"q\"", "\u0120cat", "\u0001"];
        var set = new AttentionSet(tokens, tokens, [[Enumerable.Repeat(0.2, 25).ToArray()]]);
        foreach ((_, Scene scene, _) in AttentionPictures.All(set, 0, null))
        {
            XDocument doc = ParseSvg(scene); // throws when the XML is not well formed
            Assert.NotNull(doc.Root);
        }
    }

    /// <summary>Decodes a PNG with SkiaSharp's codec (libpng-compatible), independent of how it was drawn.</summary>
    private static SKBitmap Decode(byte[] png) => SKBitmap.Decode(png) ?? throw new InvalidOperationException("not a PNG");

    private static (int R, int G, int B) Pixel(SKBitmap bitmap, double x, double y)
    {
        SKColor c = bitmap.GetPixel((int)x, (int)y);
        return (c.Red, c.Green, c.Blue);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    public void Png_decodes_with_the_scene_size_times_the_scale_and_cell_colours(double scale)
    {
        AttentionSet set = AttentionSet.FromTrace(CatSatOnTheMat.Trace());
        Scene scene = AttentionPictures.Heatmap(set, 0, 0);
        using SKBitmap png = Decode(PngRenderer.Render(scene, scale));
        Assert.Equal((int)Math.Ceiling(scene.Width * scale), png.Width);
        Assert.Equal((int)Math.Ceiling(scene.Height * scale), png.Height);
        Assert.Equal((255, 255, 255), Pixel(png, 0, 0));
        ColorScale colors = ColorScale.Weights();
        RectShape[] cells = scene.Shapes.OfType<RectShape>().Where(s => s.Kind == "cell").ToArray();
        foreach ((int i, int j) in new[] { (0, 0), (1, 2), (2, 2), (3, 5) })
        {
            RectShape cell = cells[(i * 6) + j];
            Rgb expected = colors.Map(set.Weight(0, 0, i, j));

            // A corner pixel of the cell: the number is drawn in its middle.
            Assert.Equal((expected.R, expected.G, expected.B), Pixel(png, (cell.X + 3) * scale, (cell.Y + 3) * scale));
        }

        // The darkest colour of the scale appears at the top of the colour bar.
        RectShape top = scene.Shapes.OfType<RectShape>().First(s => s.Kind == "scale");
        Assert.Equal((top.Fill.R, top.Fill.G, top.Fill.B), Pixel(png, (top.X + 5) * scale, (top.Y + 1.5) * scale));
    }

    [Fact]
    public void Masked_cells_are_hatched_and_differ_from_zero_weight_cells_in_svg_and_png()
    {
        AttentionSet set = Sets.Random(1, 1, 5, causal: true);
        Scene scene = AttentionPictures.Heatmap(set, 0, 0);
        RectShape[] cells = scene.Shapes.OfType<RectShape>().Where(s => s.Kind == "cell").ToArray();
        Assert.Equal(10, cells.Count(c => c.Masked)); // above the diagonal of 5 x 5
        Assert.All(cells.Where(c => c.Masked), c => Assert.Contains("masked", c.Tip, StringComparison.Ordinal));
        XDocument doc = ParseSvg(scene);
        Assert.Equal(10, doc.Descendants(Svg + "rect").Count(e => (string?)e.Attribute("fill") == $"url(#{SvgWriter.MaskedId})" && (string?)e.Attribute("class") == "cell"));
        Assert.Single(doc.Descendants(Svg + "pattern"));
        Assert.Equal(1, CountClass(doc, "masked-key"));

        // In the PNG a masked cell has grey stripes over light grey; a zero-weight cell is the scale's white.
        using SKBitmap png = Decode(PngRenderer.Render(scene, 2));
        RectShape masked = cells[1]; // row 0, column 1
        var seen = new HashSet<(int, int, int)>();
        for (double x = masked.X + 2; x < masked.X + masked.Width - 2; x += 0.5) seen.Add(Pixel(png, x * 2, (masked.Y + (masked.Height / 2)) * 2));
        Assert.DoesNotContain((255, 255, 255), seen);
        Assert.True(seen.Any(c => c.Item1 < 180) && seen.Any(c => c.Item1 > 220), $"a masked cell is striped (dark and light grey), not one flat colour: {string.Join(" ", seen)}");
        Rgb zero = ColorScale.Weights().Map(0);
        Assert.Equal((255, 255, 255), (zero.R, zero.G, zero.B));
    }

    [Fact]
    public void Png_of_every_picture_decodes()
    {
        foreach ((_, Scene scene, _) in AttentionPictures.All(Sets.Random(2, 3, 12, causal: true), 1, null, everyHead: true))
        {
            using SKBitmap png = Decode(PngRenderer.Render(scene));
            Assert.Equal(((int)Math.Ceiling(scene.Width * 2.0), (int)Math.Ceiling(scene.Height * 2.0)), (png.Width, png.Height));
        }
    }

    [Fact]
    public void Every_head_gets_a_heatmap_and_a_network_with_head_all()
    {
        string[] names = [.. AttentionPictures.All(Sets.Random(2, 3, 6), 0, null, allLayers: true, everyHead: true).Select(p => p.Name)];
        foreach (int l in new[] { 0, 1 })
        {
            foreach (int h in new[] { 0, 1, 2 })
            {
                Assert.Contains($"heatmap-layer{l}-head{h}", names);
                Assert.Contains($"network-layer{l}-head{h}", names);
            }

            Assert.Contains($"head-view-layer{l}", names);
        }

        // Without everyHead, head 0 alone (as runs draw them).
        Assert.Equal(["heatmap", "model-view", "head-view", "network", "rollout"], AttentionPictures.All(Sets.Random(1, 3, 6), 0, null).Select(p => p.Name));
    }

    [Fact]
    public void Png_draws_lines_circles_and_text_at_their_places()
    {
        var scene = new Scene(60, 40, "t");
        scene.Add(new PathShape([(2, 5.5), (58, 5.5)], 3, new Rgb(200, 0, 0)));
        scene.Add(new CircleShape(20, 22, 6, new Rgb(0, 0, 200), new Rgb(0, 0, 200), 0));
        scene.Add(new TextShape(36, 22, "M", Rgb.Black) { Size = 2 });
        using SKBitmap png = Decode(PngRenderer.Render(scene, 1));
        Assert.Equal((200, 0, 0), Pixel(png, 30, 5));
        Assert.Equal((255, 255, 255), Pixel(png, 30, 12));
        Assert.Equal((0, 0, 200), Pixel(png, 20, 22));

        // The "M" is inked inside its box (18-pixel text at x 36.., centred on y 22) and nowhere right of it.
        int inked = 0;
        for (int x = 36; x < 52; x++)
        {
            for (int y = 16; y < 29; y++) inked += Pixel(png, x, y).R < 128 ? 1 : 0;
        }

        Assert.True(inked > 20, $"only {inked} dark pixels where the M is");
        for (int y = 10; y < 35; y++) Assert.Equal((255, 255, 255), Pixel(png, 57, y));
    }

    [Fact]
    public void The_picture_font_has_the_marks_labels_use_and_long_labels_end_in_an_ellipsis()
    {
        using var font = new SKFont(PictureFont.Typeface, 11);
        foreach (char c in "␣…<>_~0123456789abcXYZ")
        {
            Assert.True(font.ContainsGlyph(c), $"U+{(int)c:X4} is missing from the picture font");
        }

        Assert.Equal("␣cat", TokenLabel.Display("\u2581cat"));
        Assert.Equal("␣cat", TokenLabel.Display("\u0120cat"));
        Assert.Equal("snake_case", TokenLabel.Display("snake_case"));
        Assert.Equal("abcdefghijklm…", TokenLabel.Display("abcdefghijklmnopqrstuvwxyz", 14));
        Assert.True(PictureFont.Width("mmmm", 11) > PictureFont.Width("iiii", 11), "the font is proportional");
        string fitted = PictureFont.Fit("a rather long token label", 11, 60);
        Assert.EndsWith("…", fitted, StringComparison.Ordinal);
        Assert.True(PictureFont.Width(fitted, 11) <= 60);

        // A long token in a heatmap is cut in its label and whole in its hover text.
        string[] tokens = ["short", "an-unusually-long-token-indeed"];
        var set = new AttentionSet(tokens, tokens, [[[1, 0, 0.5, 0.5]]]);
        TextShape label = AttentionPictures.Heatmap(set, 0, 0).Shapes.OfType<TextShape>().First(t => t.Tip == tokens[1]);
        Assert.EndsWith("…", label.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Scales_outside_the_range_and_oversized_pictures_are_refused_with_one_line()
    {
        Scene scene = AttentionPictures.Heatmap(Sets.Random(1, 1, 4), 0, 0);
        Assert.Contains("expected a number in (0, 8]", Assert.Throws<HeedException>(() => PngRenderer.Render(scene, 0)).Message, StringComparison.Ordinal);
        Assert.Contains("expected a number in (0, 8]", Assert.Throws<HeedException>(() => PngRenderer.Render(scene, double.NaN)).Message, StringComparison.Ordinal);
        Assert.Contains("the limit is 16384", Assert.Throws<HeedException>(() => PngRenderer.Render(new Scene(9000, 10, "wide"), 2)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Html_report_is_self_contained()
    {
        AttentionSet set = Sets.Random(2, 2, 6);
        IReadOnlyList<(string Name, Scene Scene, string Description)> pictures = AttentionPictures.All(set, 0, null);
        string html = HtmlReport.Build("report <test>", ["intro"], pictures, "trace & steps");
        foreach (string forbidden in new[] { "http:", "https:", "src=", "<link", "url(", "@import", "//cdn", "xmlns=" })
        {
            Assert.DoesNotContain(forbidden, html, StringComparison.OrdinalIgnoreCase);
        }

        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(html, "href=\"([^\"]*)\""))
        {
            string target = m.Groups[1].Value;
            Assert.True(target.StartsWith('#') || target.StartsWith("data:image/png;base64,", StringComparison.Ordinal), target);
        }

        Assert.Equal(pictures.Count, System.Text.RegularExpressions.Regex.Count(html, "<svg"));
        Assert.Contains("data-tip=", html, StringComparison.Ordinal);
        Assert.Contains("report &lt;test&gt;", html, StringComparison.Ordinal);
        Assert.Contains("trace &amp; steps", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Picture_files_are_written_all_or_nothing()
    {
        using var dir = new TempFolder();
        string file = dir.File("not-a-folder");
        File.WriteAllText(file, "x");
        Assert.Contains("is a file", Assert.Throws<HeedException>(() => PictureFiles.WriteAll(file, [("a.svg", [1])])).Message, StringComparison.Ordinal);
        string missing = Path.Combine(dir.Path, "no", "such");
        Assert.Contains("does not exist", Assert.Throws<HeedException>(() => PictureFiles.WriteAll(missing, [("a.svg", [1])])).Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "no")));

        // A name that cannot be created fails the whole set: the first file is not left behind and the new folder is removed.
        string fresh = Path.Combine(dir.Path, "fresh");
        Assert.Throws<HeedException>(() => PictureFiles.WriteAll(fresh, [("a.svg", [1]), ("sub/b.svg", [2])]));
        Assert.False(Directory.Exists(fresh));

        IReadOnlyList<string> written = PictureFiles.WriteAll(fresh, [("a.svg", [1]), ("b.png", [2])]);
        Assert.Equal(2, written.Count);
        Assert.Equal([2], File.ReadAllBytes(Path.Combine(fresh, "b.png")));
        Assert.Equal(2, Directory.GetFiles(fresh).Length);
    }

    [Fact]
    public void Picture_names_up_to_the_file_system_limit_are_written_and_errors_never_quote_temporary_names()
    {
        using var dir = new TempFolder();
        string name = new string('a', 251) + ".svg";
        PictureFiles.WriteAll(dir.Path, [(name, [1])]);
        Assert.Equal([1], File.ReadAllBytes(Path.Combine(dir.Path, name)));

        string tooLong = new string('b', 300) + ".svg";
        string message = Assert.Throws<HeedException>(() => PictureFiles.WriteAll(dir.Path, [(tooLong, [2])])).Message;
        Assert.StartsWith($"--out {dir.Path}: cannot write: ", message, StringComparison.Ordinal);
        Assert.DoesNotContain(".tmp", message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', message);
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}

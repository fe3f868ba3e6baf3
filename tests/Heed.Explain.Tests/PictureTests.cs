using System.Text;
using System.Xml.Linq;
using Heed.Explain.Pictures;
using Heed.Explain.Seeds;

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
        string expected = $"t0 -> t0: weight {set.Weight(layers - 1, heads - 1, 0, 0):0.0000}";
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

    [Fact]
    public void Png_decodes_with_the_scene_size_and_cell_colours()
    {
        AttentionSet set = AttentionSet.FromTrace(CatSatOnTheMat.Trace());
        Scene scene = AttentionPictures.Heatmap(set, 0, 0);
        PngDecoder png = PngDecoder.Decode(PngEncoder.Encode(Rasterizer.Render(scene)));
        Assert.Equal(scene.Width, png.Width);
        Assert.Equal(scene.Height, png.Height);
        Assert.Equal((255, 255, 255), png[0, 0]);
        ColorScale scale = ColorScale.Weights();
        RectShape[] cells = scene.Shapes.OfType<RectShape>().Where(s => s.Kind == "cell").ToArray();
        foreach ((int i, int j) in new[] { (0, 0), (1, 2), (2, 2), (3, 5) })
        {
            RectShape cell = cells[(i * 6) + j];
            Rgb expected = scale.Map(set.Weight(0, 0, i, j));
            // A corner pixel of the cell: the number is drawn in its middle.
            Assert.Equal((expected.R, expected.G, expected.B), png[(int)cell.X + 2, (int)cell.Y + 2]);
        }

        // The darkest colour of the scale appears at the top of the colour bar.
        RectShape top = scene.Shapes.OfType<RectShape>().First(s => s.Kind == "scale");
        Assert.Equal((top.Fill.R, top.Fill.G, top.Fill.B), png[(int)top.X + 5, (int)top.Y + 1]);
    }

    [Fact]
    public void Png_of_every_picture_decodes()
    {
        foreach ((_, Scene scene, _) in AttentionPictures.All(Sets.Random(2, 3, 12, causal: true), 1, null))
        {
            PngDecoder png = PngDecoder.Decode(PngEncoder.Encode(Rasterizer.Render(scene)));
            Assert.Equal((scene.Width, scene.Height), (png.Width, png.Height));
        }
    }

    [Fact]
    public void Rasterizer_draws_lines_circles_and_text()
    {
        var scene = new Scene(40, 30, "t");
        scene.Add(new PathShape([(2, 5.5), (38, 5.5)], 3, new Rgb(200, 0, 0)));
        scene.Add(new CircleShape(20, 20, 5, new Rgb(0, 0, 200), new Rgb(0, 0, 200), 0));
        scene.Add(new TextShape(1, 26, "I", Rgb.Black));
        RgbImage image = Rasterizer.Render(scene);
        Assert.Equal(new Rgb(200, 0, 0), image[20, 5]);
        Assert.Equal(Rgb.White, image[20, 10]);
        Assert.Equal(new Rgb(0, 0, 200), image[20, 20]);
        // "I" at size 1: its stem is column 2 of the glyph, rows 1..5 around the centre line y = 26.
        Assert.Equal(Rgb.Black, image[3, 26]);
        Assert.Equal(Rgb.White, image[0, 26]);
    }

    [Fact]
    public void Every_glyph_is_distinct_and_space_is_blank()
    {
        var seen = new Dictionary<string, char>();
        for (char c = '!'; c <= '~'; c++)
        {
            var bits = new StringBuilder();
            for (int r = 0; r < BitmapFont.Rows; r++)
            {
                for (int x = 0; x < 5; x++) bits.Append(BitmapFont.Ink(c, x, r) ? '#' : '.');
            }

            Assert.Contains('#', bits.ToString());
            Assert.False(seen.TryGetValue(bits.ToString(), out char twin), $"'{c}' draws like '{twin}'");
            seen[bits.ToString()] = c;
        }

        for (int r = 0; r < BitmapFont.Rows; r++)
        {
            for (int x = 0; x < 5; x++) Assert.False(BitmapFont.Ink(' ', x, r));
        }
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

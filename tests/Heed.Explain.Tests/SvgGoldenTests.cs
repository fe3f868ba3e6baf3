using System.Xml.Linq;
using Heed.Explain.Pictures;
using Heed.Explain.Seeds;

namespace Heed.Explain.Tests;

/// <summary>
/// The seed's pictures against SVG files kept under tests/TestData/pictures: any change to what a picture shows (a value, a
/// position, a label, a colour) shows up as a difference here. After an intended change, rewrite them with
/// <c>HEED_UPDATE_GOLDEN=1 dotnet test tests/Heed.Explain.Tests --filter SvgGoldenTests</c>, look at them, and commit them.
/// </summary>
public class SvgGoldenTests
{
    public static TheoryData<string> Pictures => new(["heatmap", "model-view", "head-view", "network", "rollout"]);

    [Theory]
    [MemberData(nameof(Pictures))]
    public void Seed_picture_matches_its_golden_svg(string name)
    {
        AttentionSet set = AttentionSet.FromTrace(CatSatOnTheMat.Trace());
        Scene scene = AttentionPictures.All(set, 0, 0).Single(p => p.Name == name).Scene;
        string svg = SvgWriter.Write(scene);
        string golden = TestPaths.TestData("pictures", $"seed-{name}.svg");
        if (Environment.GetEnvironmentVariable("HEED_UPDATE_GOLDEN") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(golden)!);
            File.WriteAllText(golden, svg);
        }

        string expected = File.ReadAllText(golden);
        if (expected == svg) return;

        // Name the first element that differs, so the failure says what moved.
        XElement[] want = [.. XDocument.Parse(expected).Descendants()], got = [.. XDocument.Parse(svg).Descendants()];
        int at = Enumerable.Range(0, Math.Min(want.Length, got.Length)).FirstOrDefault(k => !XNode.DeepEquals(Shallow(want[k]), Shallow(got[k])), -1);
        Assert.Fail(at < 0
            ? $"seed-{name}.svg: {got.Length} elements, the golden file has {want.Length}"
            : $"seed-{name}.svg, element {at}: expected {Shallow(want[at])}, got {Shallow(got[at])}");
    }

    [Fact]
    public void The_golden_heatmap_holds_the_seed_weights_and_every_label()
    {
        XDocument doc = XDocument.Load(TestPaths.TestData("pictures", "seed-heatmap.svg"));
        XNamespace svg = "http://www.w3.org/2000/svg";
        string[] tips = [.. doc.Descendants(svg + "rect").Where(e => (string?)e.Attribute("class") == "cell").Select(e => e.Element(svg + "title")!.Value)];
        Assert.Equal(36, tips.Length);
        Assert.Equal("cat -> sat: weight 0.2437, score 1.0000", tips[(1 * 6) + 2]);
        string[] texts = [.. doc.Descendants(svg + "text").Select(t => t.Value)];
        foreach (string word in new[] { "The", "cat", "sat", "on", "the", "mat" }) Assert.Equal(2, texts.Count(t => t == word)); // a row and a column label
    }

    // The element with its attributes and text, without its children.
    private static XElement Shallow(XElement e) => new(e.Name, e.Attributes(), e.Nodes().OfType<XText>());
}

namespace Heed.Models.Tests;

/// <summary>llama.cpp's tokenizer conformance vectors: strings in .inp, expected ids in .out (one line per string).</summary>
internal static class VocabConformance
{
    private const string Separator = "\n__ggml_vocab_test__\n";

    public static IReadOnlyList<(string Text, int[] Ids)> Cases(string vocab)
    {
        string input = File.ReadAllText(TestPaths.Shared("vocab", vocab + ".inp"));
        string[] texts = input.Split(Separator);
        string[] lines = File.ReadAllLines(TestPaths.Shared("vocab", vocab + ".out"));

        // Each string is followed by the separator, so splitting leaves one empty tail.
        Assert.Equal("", texts[^1]);
        Assert.Equal(texts.Length - 1, lines.Length);
        var cases = new List<(string, int[])>();
        for (int i = 0; i < lines.Length; i++)
        {
            int[] ids = [.. lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];
            cases.Add((texts[i], ids));
        }

        return cases;
    }
}

using System.Diagnostics;
using System.Text;
using Heed.Models.Tokenizers;

namespace Heed.Models.Tests;

/// <summary>
/// How each <c>tokenizer.ggml.pre</c> type cuts text into words, by llama.cpp's rules (the ids themselves are compared
/// with llama.cpp in Heed.Models.LlamaCppTests): code points, not UTF-16 units; collapsed categories.
/// </summary>
public class BpePreTokenizerTests
{
    [Theory]
    [InlineData("gpt-2", "Hello  world 1234567 I'm", "Hello| | world| 1234567| I|'m")]
    [InlineData("llama-bpe", "Hello  world 1234567 I'M", "Hello| | world| |123|456|7| I|'M")]
    [InlineData("llama-bpe", "a \n\n b\n", "a| \n\n| b|\n")]
    [InlineData("qwen2", "x 1234", "x| |1|2|3|4")]
    [InlineData("starcoder", "a 12", "a| |1|2")]
    [InlineData("default", "a+b=c 12345!", "a|+|b|=|c| |123|45|!")]
    [InlineData("falcon", "a`b 123456", "a|`|b| |123|456")]
    [InlineData("poro-chat", "Hei, maailma! (x)", "Hei|,| maailma|! (|x|)")]
    [InlineData("deepseek-coder", "def f(x):\n  return 42", "def| f|(|x|):|\n| | return| |4|2")]
    [InlineData("deepseek-llm", "Ωμέγα 中文 ok  ", "Ωμέγα| |中文| ok|  ")]
    // Supplementary letters (𝐀 U+1D400, 𠀀 U+20000) are letters: .NET's \p{L} on UTF-16 units would miss them.
    [InlineData("llama-bpe", "x𝐀𝐁 𠀀𠀁", "x𝐀𝐁| 𠀀𠀁")]
    [InlineData("gpt-2", "x𝐀 🦙🦙 1𝟏", "x𝐀| 🦙🦙| 1𝟏")]
    // llama.cpp's Tekken expression reads "upper case" as "a letter that is not a-z" and "lower case" as "a letter that is
    // not A-Z", so a non-ASCII capital after a lower-case letter stays in the word ("aÉ"), unlike Unicode's classes.
    [InlineData("tekken", "HelloWorld aÉ bÀ", "Hello|World| aÉ| bÀ")]
    public void Splits_like_llama_cpp(string type, string text, string expected)
    {
        int[] codePoints = [.. text.EnumerateRunes().Select(r => r.Value)];
        List<(int Start, int Length)> pieces = BpePreTokenizer.ForType(type, "test").Split(codePoints);

        string Piece((int Start, int Length) p) => string.Concat(codePoints.AsSpan(p.Start, p.Length).ToArray().Select(char.ConvertFromUtf32));
        Assert.Equal(expected, string.Join('|', pieces.Select(Piece)));
        Assert.Equal(codePoints.Length, pieces.Sum(p => p.Length));
    }

    [Theory]
    [InlineData(null, "default")]
    [InlineData("", "default")]
    [InlineData("llama3", "llama3")]
    [InlineData("smollm", "smollm")]
    public void A_missing_type_is_default_as_in_llama_cpp(string? type, string expected) =>
        Assert.Equal(expected, BpePreTokenizer.ForType(type, "v.gguf").Type);

    [Theory]
    [InlineData("gpt2")] // GPT-2's type is "gpt-2" in GGUF; llama.cpp refuses "gpt2" too
    [InlineData("chameleon")]
    [InlineData("evil\u202Etype")]
    public void An_unknown_type_is_refused_naming_it(string type)
    {
        HeedException ex = HeedAssert.Fails(() => BpePreTokenizer.ForType(type, "v.gguf"), "v.gguf: tokenizer.ggml.pre ", "is a pre-tokenizer type Heed does not implement", "llama-bpe");
        Assert.Contains(GgufFile.Quote(type), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_type_splits_a_long_adversarial_text_in_linear_time()
    {
        // Long runs of spaces, newlines, digits, letters and symbols: no expression may backtrack quadratically.
        var sb = new StringBuilder();
        foreach (string run in (string[])[" ", "\n", " \n", "1", "a", "É", "'", "!", "\t ", "中", "🦙"])
        {
            for (int i = 0; i < 20_000; i++) sb.Append(run);
            sb.Append('x');
        }

        int[] codePoints = [.. sb.ToString().EnumerateRunes().Select(r => r.Value)];
        foreach (string type in BpePreTokenizer.KnownTypes)
        {
            var clock = Stopwatch.StartNew();
            List<(int Start, int Length)> pieces = BpePreTokenizer.ForType(type, "test").Split(codePoints);
            Assert.Equal(codePoints.Length, pieces.Sum(p => p.Length));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"{type}: {clock.Elapsed.TotalSeconds:F1} s for {codePoints.Length} code points");
        }
    }
}

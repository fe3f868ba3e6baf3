using System.Text;
using Heed.Models.Tokenizers;

namespace Heed.Models.Tests;

/// <summary>llama2.c's tok*.bin tokenizer: encode against an independent script, round trips, decode rules, bad files.</summary>
public class LlamaTokenizerTests
{
    private const string Tok = "models/stories260K/tok512.bin";

    private static readonly Lazy<LlamaTokenizer> Tok512 = new(() => LlamaTokenizer.Load(SharedData.Tok512));

    // Expected ids from tests/TestData/tok512/encode_reference.py (a separate implementation of the README's rules).
    [SharedTheory(Tok)]
    [InlineData("Once upon a time", new[] { 1, 403, 407, 261, 378 })]
    [InlineData("Lily's mom said, \"Let's go!\"", new[] { 1, 317, 439, 419, 357, 336, 432, 313, 438, 316, 439, 419, 298, 414, 443, 436 })]
    [InlineData("héllo wörld", new[] { 1, 270, 485, 306, 414, 263, 198, 185, 420, 341 })]
    [InlineData("日本語 🦙", new[] { 1, 410, 233, 154, 168, 233, 159, 175, 235, 173, 161, 410, 243, 162, 169, 156 })]
    [InlineData("tab\there\nnew line", new[] { 1, 259, 412, 430, 12, 260, 276, 13, 416, 411, 424, 278, 271, 411 })]
    [InlineData("", new[] { 1 })]
    public void Encode_matches_the_reference_script(string text, int[] expected)
    {
        Assert.Equal(expected, Tok512.Value.Encode(text, addBos: true, addEos: false));
    }

    [SharedTheory(Tok)]
    [InlineData("Once upon a time, there was a little girl.")]   // ASCII, merged pieces
    [InlineData("  two leading spaces and trailing  ")]
    [InlineData("naïve café, Führer, résumé")]                  // UTF-8: some code points have pieces, some fall back to bytes
    [InlineData("日本語のテキスト 🦙🚀 ∑∞")]                         // byte fallback only
    [InlineData("ctrl \u0001\u001f and newline\n")]
    public void Decode_of_encode_round_trips(string text)
    {
        int[] ids = Tok512.Value.Encode(text, addBos: true, addEos: true);
        Assert.Equal(LlamaTokenizer.Bos, ids[0]);
        Assert.Equal(LlamaTokenizer.Eos, ids[^1]);
        string decoded = Tok512.Value.Decode(ids.AsSpan(0, ids.Length - 1)); // </s> decodes to its own text
        Assert.Equal(text, decoded);
    }

    [SharedFact(Tok)]
    public void Byte_pieces_decode_to_bytes_and_the_first_piece_after_bos_loses_one_space()
    {
        LlamaTokenizer t = Tok512.Value;
        Assert.Equal("<0x0A>", t.PieceText(13));
        Assert.Equal(new byte[] { 0x0A }, t.DecodePiece(5, 13));
        Assert.Equal(new byte[] { 0xE6 }, t.DecodePiece(LlamaTokenizer.Bos, 0xE6 + 3));
        int once = t.Encode("Once", addBos: false, addEos: false)[0];
        Assert.StartsWith(" ", t.PieceText(once), StringComparison.Ordinal);
        Assert.Equal("Once"u8.ToArray(), t.DecodePiece(LlamaTokenizer.Bos, once));
        Assert.Equal(" Once"u8.ToArray(), t.DecodePiece(300, once));
        Assert.Equal(512, t.VocabSize);
    }

    [Fact]
    public void A_truncated_or_foreign_file_is_refused_with_one_line()
    {
        byte[] good = Build(("<unk>", 0), ("<s>", 0), ("</s>", 0));
        HeedAssert.Fails(() => LlamaTokenizer.Parse(good.AsSpan(0, good.Length - 2), "t.bin"), "t.bin", "token 2", "truncated");
        HeedAssert.Fails(() => LlamaTokenizer.Parse(good.AsSpan(0, 3), "t.bin"), "t.bin", "3 bytes");
        HeedAssert.Fails(() => LlamaTokenizer.Parse("GGUF\u0003\0\0\0"u8, "t.bin"), "max_token_length");
        byte[] negative = Build(("<unk>", 0));
        BitConverter.TryWriteBytes(negative.AsSpan(8), -5);
        HeedAssert.Fails(() => LlamaTokenizer.Parse(negative, "t.bin"), "token 0 has length -5");
    }

    [Fact]
    public void A_vocabulary_without_byte_pieces_or_of_another_size_is_refused()
    {
        HeedAssert.Fails(() => LlamaTokenizer.Parse(Build(("<unk>", 0), ("<s>", 0), ("</s>", 0)), "t.bin"), "no byte piece <0x00>");
        LlamaTokenizer full = LlamaTokenizer.Parse(BuildWithBytes(("hi", 1f)), "t.bin");
        Assert.Equal(260, full.VocabSize);
        HeedAssert.Fails(() => full.CheckMatches(512), "260 tokens", "512");
    }

    [Fact]
    public void Merges_take_the_highest_score_and_the_leftmost_pair_on_ties()
    {
        // "abab": pairs ab (score 2) and ba (score 3): ba merges first (a|ba|b), then nothing else exists.
        LlamaTokenizer t = LlamaTokenizer.Parse(BuildWithBytes(("a", 0), ("b", 0), ("ab", 2), ("ba", 3), (" ", 0)), "t.bin");
        int a = 259, b = 260, ba = 262, space = 263;
        Assert.Equal(new[] { space, a, ba, b }, t.Encode("abab", addBos: false, addEos: false));
        // equal scores: the leftmost pair wins
        LlamaTokenizer tie = LlamaTokenizer.Parse(BuildWithBytes(("a", 0), ("b", 0), ("ab", 2), ("ba", 2), (" ", 0)), "t.bin");
        Assert.Equal(new[] { space, 261, 261 }, tie.Encode("abab", addBos: false, addEos: false));
    }

    [SharedTheory(Tok)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Merges_match_the_straightforward_algorithm_on_random_text(int seed)
    {
        string text = RandomText(Tok512.Value, new Random(seed), 2_000);
        int[] expected = SlowLlamaEncoder.ReadTokBin(File.ReadAllBytes(SharedData.Tok512)).Encode(text);

        Assert.Equal(expected, Tok512.Value.Encode(text, addBos: false, addEos: false));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Merges_match_the_straightforward_algorithm_when_most_scores_tie(int seed)
    {
        // Every piece of a, b and their pairs and triples scores 1 or 2: the leftmost-on-ties rule decides most merges.
        (string, float)[] extra = [("a", 0), ("b", 0), (" ", 0), ("ab", 1), ("ba", 1), ("aa", 1), ("bb", 1), (" a", 1), ("aab", 2), ("bab", 2), ("abb", 1), ("baa", 2)];
        byte[] file = BuildWithBytes(extra);
        var random = new Random(seed);
        string text = new([.. Enumerable.Range(0, 2_000).Select(_ => "ab "[random.Next(3)])]);

        Assert.Equal(SlowLlamaEncoder.ReadTokBin(file).Encode(text), LlamaTokenizer.Parse(file, "t.bin").Encode(text, addBos: false, addEos: false));
    }

    [SharedFact(Tok)]
    public void A_hundred_thousand_character_prompt_encodes_and_round_trips()
    {
        // Once quadratic: 40,000 characters took 26 s. Encoding is O(n log n) now (about 0.1 s here); no time is asserted.
        string text = RandomText(Tok512.Value, new Random(4), 100_000);

        int[] ids = Tok512.Value.Encode(text, addBos: true, addEos: false);

        Assert.Equal(text, Tok512.Value.Decode(ids));
        Assert.InRange(ids.Length, 10_000, 100_000);
    }

    /// <summary>Text of about <paramref name="length"/> characters: random pieces of the vocabulary, some other letters, emoji and controls.</summary>
    internal static string RandomText(LlamaTokenizer tokenizer, Random random, int length)
    {
        string[] others = ["é", "日本", "🦙", "\n", "\t", "  ", "<0x41>", "\u0001"];
        var text = new StringBuilder(length + 64);
        while (text.Length < length)
        {
            text.Append(random.Next(8) == 0 ? others[random.Next(others.Length)] : tokenizer.PieceText(random.Next(3, tokenizer.VocabSize)));
        }

        return text.ToString(0, length - (char.IsHighSurrogate(text[length - 1]) ? 1 : 0));
    }

    internal static byte[] BuildWithBytes(params (string Piece, float Score)[] extra)
    {
        var all = new List<(string, float)> { ("<unk>", 0), ("<s>", 0), ("</s>", 0) };
        for (int b = 0; b < 256; b++) all.Add(($"<0x{b:X2}>", 0));
        all.AddRange(extra);
        return Build([.. all]);
    }

    internal static byte[] Build(params (string Piece, float Score)[] tokens)
    {
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream);
        writer.Write(tokens.Max(t => Encoding.UTF8.GetByteCount(t.Piece)));
        foreach ((string piece, float score) in tokens)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(piece);
            writer.Write(score);
            writer.Write(bytes.Length);
            writer.Write(bytes);
        }

        writer.Flush();
        return stream.ToArray();
    }
}

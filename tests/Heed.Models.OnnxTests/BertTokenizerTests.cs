using Heed.Models.Tokenizers;

namespace Heed.Models.OnnxTests;

/// <summary>
/// The WordPiece tokenizer on hard strings against all-MiniLM-L6-v2's vocab.txt. Expected ids were worked out by hand from
/// Hugging Face's BertTokenizer rules (which words the basic tokenizer makes), then looked up with a separate greedy
/// longest-match over vocab.txt; Microsoft.ML.Tokenizers' BertTokenizer was not used (it drops "$" and turns "café" into [UNK]).
/// </summary>
public class BertTokenizerTests
{
    private static readonly Lazy<WordPieceTokenizer> Uncased = new(() => WordPieceTokenizer.Load(MiniLm.Vocab));

    public static TheoryData<string, string, int[]> HardStrings => new()
    {
        // accents go, "$" and "." are words of their own
        { "money", "Café au lait costs $0.02!", [7668, 8740, 21110, 2102, 5366, 1002, 1014, 1012, 6185, 999] },

        // Unicode punctuation (dash, curly quotes, guillemets) splits like ASCII punctuation
        { "quotes", "Naïve RÉSUMÉ—“quoted” ‘text’ «non»", [15743, 13746, 1517, 1523, 9339, 1524, 1520, 3793, 1521, 1077, 2512, 1090] },

        // each CJK ideograph is a word; U+FF5E (fullwidth tilde) is a math symbol, so it stays a word of its own only
        // because 天 before it is split off
        { "cjk", "我想在apple工作1314151天～", [1855, 100, 100, 6207, 100, 100, 14677, 23632, 22203, 1811, 1995] },

        // ❤️ loses its variation selector (a non-spacing mark) and is still unknown; symbols other than ASCII do not split
        { "emoji", "I ❤️ 🦙s 👍🏽 ok", [1045, 100, 100, 100, 7929] },

        // NUL, U+0085, U+200B and U+000B are dropped (joining their neighbours); tab, NBSP and U+2028 separate words
        { "control", "tab\there\0nul\u0085nel\u200Bzw\u000Bvt\u00A0end\u2028x", [21628, 2182, 11231, 19666, 2884, 2480, 2860, 2615, 2102, 2203, 1060] },

        // 101 code points is one too many: [UNK]
        { "long101", new string('a', 101) + " ok", [100, 7929] },

        // accents with two marks, a dotted capital I, a capital with an accent
        { "marks", "Việt Nam ǖ İstanbul École", [19710, 15125, 1057, 9960, 12431] },

        // special tokens written in the text are kept, exactly as written (lower case is text)
        { "special", "[MASK] is [mask][SEP]", [103, 2003, 1031, 7308, 1033, 102] },

        // Hangul syllables decompose into jamo, which are letters: all of them stay
        { "hangul", "한국", [1469, 30006, 30021, 29991, 30014, 30020] },

        // every ASCII symbol is punctuation
        { "ascii", "don't x+y=z`~^|", [2123, 1005, 1056, 1060, 1009, 1061, 1027, 1062, 1036, 1066, 1034, 1064] },
    };

    [Theory]
    [MemberData(nameof(HardStrings))]
    public void Hard_strings_give_the_ids_of_hugging_faces_rules(string name, string text, int[] expected)
    {
        int[] actual = Uncased.Value.Encode(text, addBos: false, addEos: false);
        Assert.True(expected.SequenceEqual(actual), $"{name}: expected [{string.Join(' ', expected)}] got [{string.Join(' ', actual)}]");
    }

    [Fact]
    public void A_hundred_code_points_are_still_one_word()
    {
        int[] ids = Uncased.Value.Encode(new string('a', 100), addBos: false, addEos: false);

        // aaa + 48 × ##aa + ##a = 3 + 96 + 1 letters
        Assert.Equal([13360, .. Enumerable.Repeat(11057, 48), 2050], ids);
    }

    [Fact]
    public void Cased_keeps_capitals_and_accents_unless_told_to_strip()
    {
        var vocab = File.ReadAllLines(MiniLm.Vocab);
        var cased = new WordPieceTokenizer(vocab, new WordPieceOptions { LowerCase = false });
        var strippedOnly = new WordPieceTokenizer(vocab, new WordPieceOptions { LowerCase = false, StripAccents = true });

        // the uncased vocabulary has no capitals and no "##é": cased text falls to [UNK] where it keeps them
        Assert.Equal([100, 7592, 100], cased.Encode("Hello hello café", addBos: false, addEos: false));
        Assert.Equal([100, 7592, 7668], strippedOnly.Encode("Hello hello café", addBos: false, addEos: false));
    }

    [Fact]
    public void The_model_input_is_cls_text_sep_and_truncation_keeps_the_first_pieces()
    {
        WordPieceTokenizer t = Uncased.Value;
        Assert.Equal([101, 1996, 4937, 2938, 2006, 1996, 13523, 2153, 102], t.EncodeForModel("The cat sat on the mat again"));
        Assert.Equal([101, 1996, 4937, 2938, 2006, 1996, 13523, 102], t.EncodeForModel("The cat sat on the mat again", maxLength: 8));
        Assert.Equal([101, 102], t.EncodeForModel("The cat", maxLength: 2));
        Assert.Equal([101, 102], t.EncodeForModel(""));
        HeedAssert.Fails(() => t.EncodeForModel("x", maxLength: 1), "at least 2");
    }

    [SharedFact("vocab/ggml-vocab-bert-bge.gguf")]
    public void The_gguf_vocabulary_gives_the_same_ids_through_the_same_code()
    {
        // bge's GGUF vocabulary is bert-base-uncased's, stored in llama.cpp's form ("▁" word starts, bare continuations).
        WordPieceTokenizer gguf = WordPieceTokenizer.FromGguf(GgufFile.Load(TestPaths.Shared("vocab", "ggml-vocab-bert-bge.gguf")));
        Assert.Equal(Uncased.Value.VocabSize, gguf.VocabSize);
        for (int id = 0; id < gguf.VocabSize; id += 97) Assert.Equal(Uncased.Value.PieceText(id), gguf.PieceText(id));
        foreach (object[] row in HardStrings)
        {
            var text = (string)row[1];
            Assert.Equal(Uncased.Value.Encode(text, false, false), gguf.Encode(text, false, false));
        }
    }

    [Fact]
    public void Decoding_joins_continuations_and_drops_special_tokens()
    {
        WordPieceTokenizer t = Uncased.Value;
        Assert.Equal("cafe au lait costs $ 0 . 02 !", t.Decode(t.EncodeForModel("Café au lait costs $0.02!")));
        Assert.Equal(["[CLS]", "cafe", "au", "lai", "##t", "[SEP]"], t.EncodeForModel("Café au lait").Select(t.PieceText));
    }
}

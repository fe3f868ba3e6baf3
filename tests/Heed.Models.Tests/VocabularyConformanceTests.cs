using System.Text.Json;
using Heed.Models.Tokenizers;

namespace Heed.Models.Tests;

/// <summary>Tokenizers against llama.cpp's conformance vectors in ../shared/vocab/.</summary>
public class VocabularyConformanceTests
{
    private const string Gpt2 = "vocab/ggml-vocab-gpt-2.gguf";

    private static readonly Lazy<Gpt2Tokenizer> Gpt2Tokenizer = new(() =>
        Tokenizers.Gpt2Tokenizer.FromGguf(GgufFile.Load(TestPaths.Shared(Gpt2)), Gpt2));

    [SharedFact(Gpt2)]
    public void Gpt2_byte_level_bpe_matches_every_vector()
    {
        var failures = new List<string>();
        foreach ((string text, int[] ids) in VocabConformance.Cases("ggml-vocab-gpt-2.gguf"))
        {
            int[] actual = Gpt2Tokenizer.Value.Encode(text, addBos: false, addEos: false);
            if (!actual.SequenceEqual(ids))
            {
                failures.Add($"{JsonSerializer.Serialize(text)}: expected [{string.Join(' ', ids)}] got [{string.Join(' ', actual)}]");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [SharedFact(Gpt2)]
    public void Gpt2_decodes_every_vector_back_to_its_text()
    {
        foreach ((string text, int[] ids) in VocabConformance.Cases("ggml-vocab-gpt-2.gguf"))
        {
            Assert.Equal(text, Gpt2Tokenizer.Value.Decode(ids));
        }
    }
}

/// <summary>The SentencePiece (llama) vocabulary through llama2.c's algorithm.</summary>
public class LlamaSpmConformanceTests
{
    private const string Spm = "vocab/ggml-vocab-llama-spm.gguf";

    private static readonly Lazy<LlamaTokenizer> Tokenizer = new(() => LlamaTokenizer.FromGguf(GgufFile.Load(TestPaths.Shared(Spm)), Spm));

    private static readonly Lazy<SlowLlamaEncoder> Slow = new(() => SlowLlamaEncoder.FromGguf(GgufFile.Load(TestPaths.Shared(Spm))));

    [SharedFact(Spm)]
    public void Llama_spm_matches_every_vector()
    {
        var failures = new List<string>();
        foreach ((string text, int[] ids) in VocabConformance.Cases("ggml-vocab-llama-spm.gguf"))
        {
            int[] actual = Tokenizer.Value.Encode(text, addBos: false, addEos: false);
            if (!actual.SequenceEqual(ids))
            {
                failures.Add($"{JsonSerializer.Serialize(text)}: expected [{string.Join(' ', ids)}] got [{string.Join(' ', actual)}]");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [SharedTheory(Spm)]
    [InlineData(1)]
    [InlineData(2)]
    public void Merges_match_the_straightforward_algorithm_on_random_text(int seed)
    {
        string text = LlamaTokenizerTests.RandomText(Tokenizer.Value, new Random(seed), 2_000);
        int[] expected = Slow.Value.Encode(text);

        Assert.Equal(expected, Tokenizer.Value.Encode(text, addBos: false, addEos: false));
    }
}

/// <summary>BERT's WordPiece (the bge vocabulary, from GGUF) against the ids Hugging Face's tokenizer gave for llama.cpp's vectors.</summary>
public class BertWordPieceConformanceTests
{
    private const string Bge = "vocab/ggml-vocab-bert-bge.gguf";

    private static readonly Lazy<WordPieceTokenizer> Tokenizer = new(() => WordPieceTokenizer.FromGguf(GgufFile.Load(TestPaths.Shared(Bge)), Bge));

    [SharedFact(Bge)]
    public void Bert_bge_matches_every_vector()
    {
        var failures = new List<string>();
        foreach ((string text, int[] ids) in VocabConformance.Cases("ggml-vocab-bert-bge.gguf"))
        {
            int[] actual = Tokenizer.Value.Encode(text, addBos: false, addEos: false);
            if (!actual.SequenceEqual(ids))
            {
                failures.Add($"{JsonSerializer.Serialize(text)}: expected [{string.Join(' ', ids)}] got [{string.Join(' ', actual)}]");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [SharedFact(Bge)]
    public void Cls_and_sep_surround_the_text_and_decoding_joins_word_pieces()
    {
        WordPieceTokenizer t = Tokenizer.Value;
        int[] ids = t.Encode("Hello, World! Führer", addBos: true, addEos: true);
        Assert.Equal(101, ids[0]);
        Assert.Equal(102, ids[^1]);
        Assert.Equal("hello, world! fuhrer", t.Decode(ids).Replace(" ,", ",", StringComparison.Ordinal).Replace(" !", "!", StringComparison.Ordinal));
        Assert.Equal(30522, t.VocabSize);
        Assert.Equal("[UNK]", t.PieceText(100));
    }

    [Theory]
    [InlineData(0x00FC, "u")] // ü
    [InlineData(0x1EC7, "e")] // ệ (two marks)
    [InlineData(0x212B, "A")] // Å (angstrom sign, a singleton decomposition)
    [InlineData(0xD55C, "\u1112\u1161\u11AB")] // 한 → ᄒ ᅡ ᆫ (jamo are letters, not marks: all three stay)
    [InlineData(0x0958, "\u0915")] // क़ → क (the nukta is a mark)
    [InlineData(0x0301, "")] // a combining acute accent on its own
    [InlineData(0x00BD, "\u00BD")] // ½: only a compatibility decomposition, kept
    [InlineData(0x0041, "A")]
    public void Accent_stripping_keeps_the_decomposition_without_its_marks(int codePoint, string expected) =>
        Assert.Equal(expected, WordPieceTokenizer.StripAccents(codePoint));
}

/// <summary>The small GGUF reader: what it refuses.</summary>
public class GgufFileTests
{
    [Fact]
    public void Foreign_truncated_and_oversized_files_are_refused()
    {
        HeedAssert.Fails(() => GgufFile.Parse("GGML\u0003"u8.ToArray(), "v.gguf"), "v.gguf", "GGUF magic");
        byte[] header = new byte[24];
        "GGUF"u8.CopyTo(header);
        BitConverter.TryWriteBytes(header.AsSpan(4), 1u);
        HeedAssert.Fails(() => GgufFile.Parse(header, "v.gguf"), "version 1");
        BitConverter.TryWriteBytes(header.AsSpan(4), 3u);
        BitConverter.TryWriteBytes(header.AsSpan(16), ulong.MaxValue); // metadata entries
        HeedAssert.Fails(() => GgufFile.Parse(header, "v.gguf"), "cannot fit");
        BitConverter.TryWriteBytes(header.AsSpan(16), 1UL);
        byte[] entry = [.. header, .. BitConverter.GetBytes(100UL), 0, 0, 0, 0]; // a key claiming 100 bytes
        HeedAssert.Fails(() => GgufFile.Parse(entry, "v.gguf"), "claims 100 bytes");
        byte[] cut = [.. header, .. BitConverter.GetBytes(0UL), .. BitConverter.GetBytes(4u)]; // key "", uint32 value missing
        HeedAssert.Fails(() => GgufFile.Parse(cut, "v.gguf"), "truncated");
    }

    [Fact]
    public void Arrays_nested_deeper_than_eight_levels_are_refused_naming_the_key()
    {
        GgufFile eight = GgufFile.Parse(Gguf(("ok", NestedArrays(8))), "v.gguf");
        object level = eight["ok"]!;
        for (int i = 1; i < 8; i++) level = Assert.Single((object[])level);
        Assert.Equal([7L], (long[])level);

        HeedAssert.Fails(() => GgufFile.Parse(Gguf(("deep\u0001key", NestedArrays(9))), "v.gguf"), "v.gguf: key \"deep\\x01key\"", "more than 8 levels deep");
    }

    [Fact]
    public void Arrays_nested_a_hundred_thousand_levels_are_refused_without_overflowing_the_stack()
    {
        // Before the limit, 30,000 levels overflowed the stack, which kills the process instead of throwing.
        HeedAssert.Fails(() => GgufFile.Parse(Gguf(("k", NestedArrays(100_000))), "v.gguf"), "more than 8 levels deep");
    }

    [Fact]
    public void Keys_in_messages_are_escaped_and_cut()
    {
        string key = "a\nb\u202Ec\\\"" + new string('x', 10_000);
        HeedException ex = HeedAssert.Fails(() => GgufFile.Parse(Gguf((key, [.. BitConverter.GetBytes(99u)])), "v.gguf"), "key \"a\\x0Ab\\u202Ec\\\\\\\"xxx", "xxx\"…", "unknown value type 99");
        Assert.True(ex.Message.Length < 120, ex.Message);
        Assert.Equal("\"\\x00\\x7F\\x85\\uFEFF\\U000E0041\\uD800é🦙\"", GgufFile.Quote("\0\u007F\u0085\uFEFF\U000E0041\uD800é🦙"));
    }

    [Fact]
    public void A_foreign_tokenizer_model_string_is_escaped_in_the_message()
    {
        GgufFile gguf = GgufFile.Parse(Gguf(("tokenizer.ggml.model", StringValue("evil\r\n\u2028" + new string('m', 500)))), "v.gguf");

        foreach (Action load in (Action[])[() => LlamaTokenizer.FromGguf(gguf, "v.gguf"), () => Gpt2Tokenizer.FromGguf(gguf, "v.gguf"), () => WordPieceTokenizer.FromGguf(gguf, "v.gguf")])
        {
            HeedException ex = HeedAssert.Fails(load, "v.gguf: tokenizer.ggml.model is \"evil\\x0D\\x0A\\u2028mmm", "mmm\"…; expected");
            Assert.True(ex.Message.Length < 160, ex.Message);
        }
    }

    /// <summary>A GGUF version 3 file with no tensors and the given keys, each value its type tag and bytes.</summary>
    private static byte[] Gguf(params (string Key, byte[] TypedValue)[] entries)
    {
        var bytes = new List<byte>();
        bytes.AddRange("GGUF"u8.ToArray());
        bytes.AddRange(BitConverter.GetBytes(3u));
        bytes.AddRange(BitConverter.GetBytes(0UL));
        bytes.AddRange(BitConverter.GetBytes((ulong)entries.Length));
        foreach ((string key, byte[] value) in entries)
        {
            bytes.AddRange(StringBytes(key));
            bytes.AddRange(value);
        }

        return [.. bytes];
    }

    private static byte[] StringBytes(string text)
    {
        byte[] utf8 = System.Text.Encoding.UTF8.GetBytes(text);
        return [.. BitConverter.GetBytes((ulong)utf8.Length), .. utf8];
    }

    private static byte[] StringValue(string text) => [.. BitConverter.GetBytes(8u), .. StringBytes(text)];

    /// <summary>Type tag 9 (array) holding one array, <paramref name="levels"/> deep, around one int32 array [7].</summary>
    private static byte[] NestedArrays(int levels)
    {
        byte[] arrayOfArray = [.. BitConverter.GetBytes(9u), .. BitConverter.GetBytes(1UL)];
        var bytes = new byte[(4 * 1) + (12 * (levels - 1)) + 12 + 4];
        int at = 0;
        BitConverter.TryWriteBytes(bytes.AsSpan(at), 9u); // the key's value is an array
        at += 4;
        for (int i = 1; i < levels; i++)
        {
            arrayOfArray.CopyTo(bytes, at);
            at += 12;
        }

        BitConverter.TryWriteBytes(bytes.AsSpan(at), 5u); // the innermost array: one int32
        BitConverter.TryWriteBytes(bytes.AsSpan(at + 4), 1UL);
        BitConverter.TryWriteBytes(bytes.AsSpan(at + 12), 7);
        return bytes;
    }

    [SharedFact("vocab/ggml-vocab-gpt-2.gguf")]
    public void The_gpt2_vocabulary_holds_its_documented_sizes()
    {
        GgufFile g = GgufFile.Load(TestPaths.Shared("vocab", "ggml-vocab-gpt-2.gguf"));
        Assert.Equal(3, g.Version);
        Assert.Equal(50257, g.Strings("tokenizer.ggml.tokens").Length);
        Assert.Equal(50000, g.Strings("tokenizer.ggml.merges").Length);
        Assert.Equal(50256, g.Integer("tokenizer.ggml.bos_token_id"));
    }
}

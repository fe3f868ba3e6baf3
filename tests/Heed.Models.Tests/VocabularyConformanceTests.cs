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
}

/// <summary>BERT's WordPiece (the bge vocabulary) as llama.cpp preprocesses and splits it.</summary>
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
    [InlineData(0x00FC, 0x0075)] // ü → u
    [InlineData(0x1EC7, 0x0065)] // ệ → e (two marks)
    [InlineData(0x212B, 0x0041)] // Å (angstrom sign) → A
    [InlineData(0xD55C, 0x1112)] // 한 → its leading jamo ᄒ
    [InlineData(0x00BD, 0x00BD)] // ½: only a compatibility decomposition, kept
    [InlineData(0x0041, 0x0041)]
    public void Decomposition_keeps_the_first_code_point(int codePoint, int expected) =>
        Assert.Equal(expected, WordPieceTokenizer.FirstOfDecomposition(codePoint));
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

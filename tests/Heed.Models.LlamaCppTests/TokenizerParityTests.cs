using System.Text;
using System.Text.Json;
using Heed.Models.Tests;
using Heed.Models.Tokenizers;
using LLama;
using LLama.Common;

namespace Heed.Models.LlamaCppTests;

/// <summary>
/// Heed's tokenizers against llama.cpp's own <c>llama_tokenize</c> (LLamaSharp 0.30.0, vocabulary-only loads) on hard
/// strings, id for id: llama.cpp's SentencePiece and GPT-2 vocabularies from ../shared/vocab, and the GPT-2 vocabulary
/// rewritten with each <c>tokenizer.ggml.pre</c> type Heed implements, with BOS/EOS flags and user-defined tokens.
/// Each string is tokenized four ways: with and without the file's BOS/EOS rule (llama.cpp's <c>add_special</c>), and
/// with and without turning special-token text into those tokens (<c>parse_special</c>).
/// </summary>
public class TokenizerParityTests
{
    internal const string Gpt2Vocab = "vocab/ggml-vocab-gpt-2.gguf";
    internal const string SpmVocab = "vocab/ggml-vocab-llama-spm.gguf";

    /// <summary>Empty and whitespace runs, digits, contractions, accents, CJK, emoji and ZWJ sequences, stray surrogates, mixed scripts, code.</summary>
    public static readonly string[] HardStrings =
    [
        "", " ", "  ", "   ", "\t", "\n", "\n\n\n", "\r\n", " \n ", "\t\tx", " \t \n\t x", "a  \n  b", "x\n\n  \n y",
        "Hello world", " Hello world", "Hello world ", "  Hello  world  ", "   leading", "trailing   ", "trailing\n",
        "1234567", "1 23 456 7890 12345", "3.14159 -42 1e10 0x1F 12:30pm", "١٢٣٤ ໑໒ ⅣⅫ ²³ ½",
        "I'm don't 'll 'LL 'Re we'VE you'd they're 's", "'s' 't '", "O'Neil's rock'n'roll",
        "café naïve résumé Ünïcödé", "Führer Straße ß ÀÉÎÕÜ", "e\u0301 a\u030A\u0323 combining", "ΑΒΓ αβγ Ωμέγα", "Ǆǅǆ ſt ﬁ",
        "你好，世界！", "日本語のテキスト、カタカナ。", "한국어 텍스트", "Привет, мир!", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया।", "ภาษาไทย",
        "🦙 llama 🦙🦙", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "emoji🙂text🙂", "𝐀𝐁𝐂 math 𝟏𝟐𝟑", "𠀀𠀁 ext-B 𐐀𐐁 deseret",
        "\uFFFD replacement", "lone \uD800 high", "lone \uDC00 low", "a\u0000b", "\u00FF\u00FE bytes", "\u0001\u001F\u007F\u0080\u009F",
        "\u00A0nbsp\u3000ideographic\u2028line\u2029para", "\u0085next \u180E mongolian \u200B zero \u200D joiner \u00AD soft",
        "Ａｂｃ　ｆｕｌｌ１２３", "…。，、।۔، poro stops", "—–‑ dashes “quotes” «guillemets» ‘single’",
        new string('x', 300), "supercalifragilisticexpialidocious" + new string('a', 100) + "z", new string(' ', 40) + "x", new string('1', 50),
        "mixed English и русский 中文 123 and العربية",
        "int main() { return a->b[0] <= c && d != e; } // done", "    indented\n\tcode();\n", "x = [1, 2, 3]; y = {'a': 1}",
        "path/to/file.txt ~user $HOME ^caret `tick` |pipe| #hash @at %pct &amp *star +plus =eq", "...!!!???;;", "<|endoftext|> literal <s> </s> <unk>",
        "<s>Hello</s> world<unk>", " <s> x <s>", "a<|endoftext|>b<|endoftext|><|endoftext|>", "<|endoftext|>\n<|endoftext",
        "Hello\r\nworld\r\n\r\n", "tab\tseparated\tvalues\t", "   \n\n   ", "a\u3000\u3000b",
        "\u2581", "a\u2581b", "\u2581\u2581x \u2581y", "▁Hello▁world",
    ];

    /// <summary>Every pre-tokenizer type (and alias) Heed implements, each tried on the GPT-2 vocabulary.</summary>
    public static TheoryData<string> PreTypes => [.. Gpt2Tokenizer.PreTokenizerTypes];

    [SharedFact(SpmVocab)]
    public void Llama_spm_vocabulary_matches_llama_cpp_on_hard_strings() =>
        Compare(File.ReadAllBytes(TestPaths.Shared("vocab", "ggml-vocab-llama-spm.gguf")), SpmVocab);

    [SharedFact(Gpt2Vocab)]
    public void Gpt2_vocabulary_matches_llama_cpp_on_hard_strings() =>
        Compare(File.ReadAllBytes(TestPaths.Shared("vocab", "ggml-vocab-gpt-2.gguf")), Gpt2Vocab);

    [SharedTheory(Gpt2Vocab)]
    [MemberData(nameof(PreTypes))]
    public void Each_pre_tokenizer_type_matches_llama_cpp_on_hard_strings(string type) =>
        Compare(Gpt2File(w => w.String("tokenizer.ggml.pre", type)), $"gpt-2 vocabulary with tokenizer.ggml.pre \"{type}\"");

    [SharedFact(Gpt2Vocab)]
    public void A_file_without_a_pre_tokenizer_type_is_split_as_default_like_llama_cpp()
    {
        byte[] file = Gpt2File(_ => { });
        Assert.Equal("default", Gpt2Tokenizer.FromGguf(GgufFile.Parse(file, "v.gguf"), "v.gguf").PreTokenizerType);
        Compare(file, "gpt-2 vocabulary without tokenizer.ggml.pre");
    }

    [SharedFact(Gpt2Vocab)]
    public void An_unknown_pre_tokenizer_type_is_refused_by_both()
    {
        byte[] file = Gpt2File(w => w.String("tokenizer.ggml.pre", "no-such-pre\n"));
        HeedException ex = HeedAssert.Fails(() => Gpt2Tokenizer.FromGguf(GgufFile.Parse(file, "v.gguf"), "v.gguf"), "v.gguf: tokenizer.ggml.pre \"no-such-pre\\x0A\" is a pre-tokenizer type Heed does not implement");
        Assert.DoesNotContain('\n', ex.Message);
        using var folder = new TempFolder();
        string path = folder.File("unknown-pre.gguf");
        File.WriteAllBytes(path, file);
        Assert.ThrowsAny<Exception>(() => LLamaWeights.LoadFromFile(VocabOnly(path)).Dispose());
    }

    [SharedTheory(Gpt2Vocab)]
    [InlineData("gpt-2", true, true)]
    [InlineData("llama-bpe", false, true)]
    [InlineData("tekken", false, false)]
    [InlineData("qwen2", true, false)]
    public void Bos_and_eos_flags_from_the_file_match_llama_cpp(string type, bool addBos, bool addEos) =>
        Compare(Gpt2File(w => w.String("tokenizer.ggml.pre", type).Bool("tokenizer.ggml.add_bos_token", addBos).Bool("tokenizer.ggml.add_eos_token", addEos)), $"{type}, add_bos {addBos}, add_eos {addEos}");

    [SharedFact(SpmVocab)]
    public void Spm_eos_flag_and_missing_space_prefix_match_llama_cpp()
    {
        Compare(SpmFile(w => w.Bool("tokenizer.ggml.add_bos_token", false).Bool("tokenizer.ggml.add_eos_token", true)), "llama-spm, add_bos false, add_eos true");
        Compare(SpmFile(w => w.Bool("tokenizer.ggml.add_space_prefix", false)), "llama-spm, add_space_prefix false");
    }

    [SharedFact(SpmVocab)]
    public void Spm_pieces_scored_minus_infinity_still_merge_like_llama_cpp()
    {
        // llama2.c never merges into a piece scored at or below -1e10; llama.cpp has no such floor, and GGUF files follow it.
        GgufFile v = GgufFile.Load(TestPaths.Shared("vocab", "ggml-vocab-llama-spm.gguf"));
        string[] tokens = v.Strings("tokenizer.ggml.tokens");
        float[] scores = v.Floats("tokenizer.ggml.scores")!;
        scores[Array.IndexOf(tokens, "he")] = -1e10f;
        scores[Array.IndexOf(tokens, "▁th")] = float.NegativeInfinity;
        scores[Array.IndexOf(tokens, "or")] = -3e38f;
        Compare(SpmFile(w => w.Floats("tokenizer.ggml.scores", scores)), "llama-spm with very low scores", ["the other", "he or she", "thee", "(he) (or) x th. 1th"]);
    }

    [SharedTheory(Gpt2Vocab, SpmVocab)]
    [InlineData("gpt-2")]
    [InlineData("llama-bpe")]
    [InlineData("spm")]
    public void User_defined_tokens_are_cut_out_of_the_text_first_like_llama_cpp(string vocabulary)
    {
        // Normal tokens retyped as user-defined (4): llama.cpp takes them out of the text before splitting even when it
        // does not parse special tokens; overlapping ones go longest first.
        string[] userDefined = vocabulary == "spm" ? ["ll", "orld", "▁wor", "中"] : ["ll", "orld", "Ġwor", "Hello"];
        byte[] file = vocabulary == "spm"
            ? SpmFile(w => w.Ints("tokenizer.ggml.token_type", Retyped(SpmVocab, userDefined)))
            : Gpt2File(w => w.String("tokenizer.ggml.pre", vocabulary).Ints("tokenizer.ggml.token_type", Retyped(Gpt2Vocab, userDefined)));
        Compare(file, $"{vocabulary} with user-defined {string.Join(", ", userDefined)}", ["Hello world", "all llamas ll", "hello   world\nworld", "ll", "llll", " ▁wor ▁world", "中文 中 llama"]);
    }

    /// <summary>
    /// Tokenizes every string with Heed and llama.cpp, without and with the file's own BOS/EOS rule (llama.cpp's
    /// add_special), and checks the BOS/EOS ids and flags; all differences are listed in one failure.
    /// </summary>
    private static void Compare(byte[] file, string what, IEnumerable<string>? extra = null)
    {
        using var folder = new TempFolder();
        string path = folder.File("vocab.gguf");
        File.WriteAllBytes(path, file);
        ITokenizer heed = ModelFiles.LoadTokenizer(path);
        (bool addBos, bool addEos, int? eos, Func<string, bool, bool, bool, int[]> encode) = heed switch
        {
            Gpt2Tokenizer g => (g.PrependsBos, g.AppendsEos, g.EosId, g.Encode),
            LlamaTokenizer l => (l.PrependsBos, l.AppendsEos, (int?)LlamaTokenizer.Eos, (Func<string, bool, bool, bool, int[]>)l.Encode),
            _ => throw new InvalidOperationException(heed.GetType().Name),
        };
        using LLamaWeights weights = LLamaWeights.LoadFromFile(VocabOnly(path));
        var failures = new List<string>();
        Check("BOS id", (int?)weights.Vocab.BOS, heed.BosId);
        Check("EOS id", (int?)weights.Vocab.EOS, eos);
        Check("add BOS", weights.Vocab.ShouldAddBOS, addBos);
        Check("add EOS", weights.Vocab.ShouldAddEOS, addEos);
        Check("vocabulary size", weights.Vocab.Count, heed.VocabSize);
        foreach (string text in HardStrings.Concat(extra ?? []))
        {
            foreach ((bool special, bool parse) in (ReadOnlySpan<(bool, bool)>)[(false, false), (true, false), (false, true), (true, true)])
            {
                int[] theirs = [.. weights.Tokenize(text, special, parse, Encoding.UTF8).Select(t => (int)t)];
                int[] ours = encode(text, special && addBos, special && addEos, parse);
                if (!ours.SequenceEqual(theirs))
                {
                    failures.Add($"{JsonSerializer.Serialize(text)} (add_special {special}, parse_special {parse}): llama.cpp [{string.Join(' ', theirs)}], Heed [{string.Join(' ', ours)}]");
                }
            }
        }

        Assert.True(failures.Count == 0, $"{what}: {failures.Count} differences\n{string.Join('\n', failures)}");

        void Check<T>(string name, T expected, T actual)
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual)) failures.Add($"{name}: llama.cpp {expected}, Heed {actual}");
        }
    }

    internal static ModelParams VocabOnly(string path) => new(path) { VocabOnly = true, GpuLayerCount = 0 };

    /// <summary>
    /// A vocabulary-only GGUF of the llama architecture (llama.cpp reads the hyperparameters even for vocab_only loads)
    /// with the GPT-2 vocabulary's tokens, types, merges and BOS/EOS ids, and whatever <paramref name="metadata"/> adds.
    /// </summary>
    internal static byte[] Gpt2File(Action<GgufWriter> metadata)
    {
        GgufFile v = GgufFile.Load(TestPaths.Shared("vocab", "ggml-vocab-gpt-2.gguf"));
        var w = Hyperparameters()
            .String("tokenizer.ggml.model", "gpt2")
            .Strings("tokenizer.ggml.tokens", v.Strings("tokenizer.ggml.tokens"))
            .Strings("tokenizer.ggml.merges", v.Strings("tokenizer.ggml.merges"))
            .UInt32("tokenizer.ggml.bos_token_id", 50256)
            .UInt32("tokenizer.ggml.eos_token_id", 50256);
        metadata(w);
        if (!w.Has("tokenizer.ggml.token_type")) w.Ints("tokenizer.ggml.token_type", [.. v.Integers("tokenizer.ggml.token_type")!.Select(t => (int)t)]);
        return w.ToArray();
    }

    /// <summary>The llama SentencePiece vocabulary in the same way, with its scores and ids.</summary>
    internal static byte[] SpmFile(Action<GgufWriter> metadata)
    {
        GgufFile v = GgufFile.Load(TestPaths.Shared("vocab", "ggml-vocab-llama-spm.gguf"));
        var w = Hyperparameters()
            .String("tokenizer.ggml.model", "llama")
            .String("tokenizer.ggml.pre", "default")
            .Strings("tokenizer.ggml.tokens", v.Strings("tokenizer.ggml.tokens"))
            .UInt32("tokenizer.ggml.bos_token_id", 1)
            .UInt32("tokenizer.ggml.eos_token_id", 2)
            .UInt32("tokenizer.ggml.unknown_token_id", 0);
        metadata(w);
        if (!w.Has("tokenizer.ggml.scores")) w.Floats("tokenizer.ggml.scores", v.Floats("tokenizer.ggml.scores")!);
        if (!w.Has("tokenizer.ggml.token_type")) w.Ints("tokenizer.ggml.token_type", [.. v.Integers("tokenizer.ggml.token_type")!.Select(t => (int)t)]);
        return w.ToArray();
    }

    private static GgufWriter Hyperparameters() => new GgufWriter()
        .String("general.architecture", "llama")
        .UInt32("llama.context_length", 64)
        .UInt32("llama.embedding_length", 64)
        .UInt32("llama.block_count", 1)
        .UInt32("llama.feed_forward_length", 128)
        .UInt32("llama.attention.head_count", 4)
        .Float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);

    /// <summary>The vocabulary's token types with the tokens <paramref name="texts"/> made user-defined (4).</summary>
    private static int[] Retyped(string vocabulary, string[] texts)
    {
        GgufFile v = GgufFile.Load(TestPaths.Shared(vocabulary.Split('/')));
        string[] tokens = v.Strings("tokenizer.ggml.tokens");
        int[] types = [.. v.Integers("tokenizer.ggml.token_type")!.Select(t => (int)t)];
        foreach (string text in texts)
        {
            int id = Array.IndexOf(tokens, text);
            Assert.True(id >= 0, $"{text} is not a token of {vocabulary}");
            types[id] = 4;
        }

        return types;
    }
}

using System.Text;
using Heed.Models.Chat;
using Heed.Models.Tests;
using Heed.Models.Tokenizers;
using LLama;
using LLama.Native;

namespace Heed.Models.LlamaCppTests;

/// <summary>
/// Heed's chat formats against llama.cpp's own <c>llama_chat_apply_template</c> (LLamaSharp 0.30.0): the same format
/// recognised from the same template text, the same prompt written for the same conversations, and the same tokens once
/// llama.cpp tokenizes its prompt with special tokens parsed, on the GPT-2 and SentencePiece vocabularies with each
/// format's markers added as control tokens. Also the end-of-generation tokens, id for id.
/// </summary>
public class ChatTemplateParityTests
{
    private const string Gpt2Vocab = TokenizerParityTests.Gpt2Vocab;
    private const string SpmVocab = TokenizerParityTests.SpmVocab;

    // The formats' markers, added to the vocabularies as control tokens (type 3) where they are not tokens already.
    private static readonly string[] Markers =
    [
        "<|im_start|>", "<|im_end|>", "<|im_sep|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<start_of_turn>",
        "<end_of_turn>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]",
        "[/SYSTEM_PROMPT]", "<s>", "</s>", "<|end_of_turn|>", "<|EOT|>", "<|endoftext|>",
    ];

    /// <summary>Template texts shaped like the models' own, each holding the markers llama.cpp looks for.</summary>
    public static TheoryData<string, ChatTemplateKind> Templates => new()
    {
        { "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}", ChatTemplateKind.ChatML },
        { "{% for message in messages %}{{'<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>'}}{% endfor %}", ChatTemplateKind.Phi4 },
        { "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}", ChatTemplateKind.Llama2 },
        { "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}{% endif %}{{ '[INST] ' + content + ' [/INST]' }}", ChatTemplateKind.Llama2Sys },
        { "{{ bos_token + '[INST] ' + content + ' [/INST]' }}{{ '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' }}", ChatTemplateKind.Llama2SysBos },
        { "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{{ '<<SYS>>\\n' }}", ChatTemplateKind.Llama2SysStrip },
        { "{{ bos_token }}{% for message in loop_messages %}{{ ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}{% endfor %}", ChatTemplateKind.MistralV1 },
        { "{%- if tools %}[AVAILABLE_TOOLS]{% endif %}{%- for message in messages %}{%- if message['role'] == 'user' %}{{- '[INST]' + message['content'] + '[/INST]' }}{%- endif %}{%- endfor %}", ChatTemplateKind.MistralV3 },
        { "{%- if tools %}[AVAILABLE_TOOLS]{% endif %}{%- for message in messages %}{{- \"[INST]\" + message[\"content\"] + \"[/INST]\" }}{%- endfor %}", ChatTemplateKind.MistralV3Tekken },
        { "{{- '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}{{- '[INST]' + message['content'] + '[/INST]' }}", ChatTemplateKind.MistralV7 },
        { "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n'}}{% endfor %}{{ '<|assistant|>\n' }}", ChatTemplateKind.Phi3 },
        { "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '\n' }}{% endfor %}{{ '<|assistant|>\n' }}{{ '</s>' }}{{ '<|user|>' }}", ChatTemplateKind.Falcon3 },
        { "{% for item in messages %}{{ '<|user|>\n' + item['content'] }}{% endfor %}{{ '<|assistant|>' }}", ChatTemplateKind.GlmEdge },
        { "{% for message in messages %}{{ '<|user|>\n' + message['content'] + '<|endoftext|>' }}{% endfor %}", ChatTemplateKind.Zephyr },
        { "{% for message in messages %}{{ bos_token + message['role'] + '\n' + message['content'] + eos_token + '\n' }}{% endfor %}", ChatTemplateKind.Monarch },
        { "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}", ChatTemplateKind.Gemma },
        { "{{ bos_token }}{% for message in messages %}{{ 'GPT4 Correct ' + message['role'].title() + ': ' + message['content'] + '<|end_of_turn|>'}}{% endfor %}", ChatTemplateKind.OpenChat },
        { "{% for message in messages %}{% if message['role'] == 'user' %}{{ 'USER: ' + message['content'] + '\n' }}{% else %}{{ 'ASSISTANT: ' + message['content'] + eos_token }}{% endif %}{% endfor %}", ChatTemplateKind.Vicuna },
        { "{% if system %}{{ 'SYSTEM: ' + system + '\n' }}{% endif %}{{ 'USER: ' + content + '\n' }}{{ 'ASSISTANT: ' }}", ChatTemplateKind.VicunaOrca },
        { "{{ '### Instruction:\\n' + message['content'] + '\\n' }}{{ '### Response:\\n' + message['content'] + '\\n<|EOT|>\\n' }}", ChatTemplateKind.DeepSeek },
        { "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}", ChatTemplateKind.Llama3 },
        { "llama3", ChatTemplateKind.Llama3 },
        { "mistral-v7-tekken", ChatTemplateKind.MistralV7Tekken },
    };

    /// <summary>Conversations with system texts, several turns, an assistant first, padded and multi-line texts.</summary>
    public static readonly (string Role, string Text)[][] Conversations =
    [
        [("user", "Hi")],
        [("system", "Be brief."), ("user", "Hello there"), ("assistant", "Hi! How can I help?"), ("user", "Why is the sky blue?")],
        [("system", "  padded system  "), ("user", " leading space"), ("assistant", "reply with a trailing space "), ("user", "tab\tand\nnewline\n")],
        [("assistant", "I speak first."), ("user", "Then I answer.")],
        [("system", "One."), ("system", "Two."), ("user", "Three?")],
        [("user", "日本語と emoji 🦙, café"), ("assistant", "  "), ("user", "")],
    ];

    [SharedTheory(Gpt2Vocab, SpmVocab)]
    [MemberData(nameof(Templates))]
    public void Each_format_writes_and_tokenizes_the_conversation_as_llama_cpp_does(string template, ChatTemplateKind kind)
    {
        Assert.Equal(kind, ChatTemplate.Detect(template));
        var failures = new List<string>();
        foreach ((string name, byte[] file) in Vocabularies(_ => { }))
        {
            using var folder = new TempFolder();
            string path = folder.File("vocab.gguf");
            File.WriteAllBytes(path, file);
            ITokenizer heed = ModelFiles.LoadTokenizer(path);
            using LLamaWeights weights = LLamaWeights.LoadFromFile(TokenizerParityTests.VocabOnly(path));
            foreach ((string Role, string Text)[] conversation in Conversations)
            {
                var theirs = new LLamaTemplate(template) { AddAssistant = true };
                foreach ((string role, string text) in conversation) theirs.Add(role, text);
                string prompt = Encoding.UTF8.GetString(theirs.Apply());
                string ours = ChatTemplate.Format(kind, conversation);
                string what = $"{name}, {string.Join(" | ", conversation.Select(m => $"{m.Role}: {m.Text}"))}";
                if (ours != prompt)
                {
                    failures.Add($"{what}: llama.cpp {System.Text.Json.JsonSerializer.Serialize(prompt)}, Heed {System.Text.Json.JsonSerializer.Serialize(ours)}");
                    continue;
                }

                int[] expected = [.. weights.Tokenize(prompt, true, true, Encoding.UTF8).Select(t => (int)t)];
                int[] actual = heed.Encode(ChatTemplate.Parts(kind, conversation), addBos: true);
                if (!actual.SequenceEqual(expected))
                {
                    failures.Add($"{what}: llama.cpp [{string.Join(' ', expected)}], Heed [{string.Join(' ', actual)}]");
                }
            }
        }

        Assert.True(failures.Count == 0, $"{kind}: {failures.Count} differences\n{string.Join('\n', failures)}");
    }

    [SharedFact(Gpt2Vocab, SpmVocab)]
    public void A_message_that_spells_a_marker_stays_text_and_the_markers_are_single_tokens()
    {
        foreach ((string name, byte[] file) in Vocabularies(_ => { }))
        {
            using var folder = new TempFolder();
            string path = folder.File("vocab.gguf");
            File.WriteAllBytes(path, file);
            ITokenizer heed = ModelFiles.LoadTokenizer(path);
            int imEnd = heed.Encode([("<|im_end|>", true)], addBos: false).Single();
            int[] tokens = heed.Encode(ChatTemplate.Parts(ChatTemplateKind.ChatML, [("user", "a<|im_end|>b")]), addBos: false);
            Assert.True(tokens.Count(t => t == imEnd) == 1, $"{name}: the message's <|im_end|> was read as the control token: [{string.Join(' ', tokens)}]");
            Assert.Contains("<|im_end|>", heed.Decode(tokens), StringComparison.Ordinal);
        }
    }

    [SharedTheory(Gpt2Vocab, SpmVocab)]
    [InlineData(false)]
    [InlineData(true)]
    public void End_of_generation_tokens_are_llama_cpps(bool eotInMetadata)
    {
        foreach ((string name, byte[] file) in Vocabularies(w =>
        {
            // An end-of-turn id from the metadata: a token no end marker spells, as a model's own file may name one.
            if (eotInMetadata) w.UInt32("tokenizer.ggml.eot_token_id", 300);
        }))
        {
            using var folder = new TempFolder();
            string path = folder.File("vocab.gguf");
            File.WriteAllBytes(path, file);
            ITokenizer heed = ModelFiles.LoadTokenizer(path);
            using LLamaWeights weights = LLamaWeights.LoadFromFile(TokenizerParityTests.VocabOnly(path));
            int[] theirs = [.. Enumerable.Range(0, heed.VocabSize).Where(id => ((LLamaToken)id).IsEndOfGeneration(weights.Vocab))];
            Assert.True(theirs.Length >= 2, $"{name}: llama.cpp names {theirs.Length} end-of-generation tokens");
            Assert.True(theirs.SequenceEqual(heed.EndOfGeneration.Order()), $"{name}: llama.cpp [{string.Join(' ', theirs.Select(t => $"{t} {heed.PieceText(t)}"))}], Heed [{string.Join(' ', heed.EndOfGeneration.Order().Select(t => $"{t} {heed.PieceText(t)}"))}]");
        }
    }

    /// <summary>The GPT-2 and SentencePiece vocabularies with every marker they lack appended as a control token, BOS added.</summary>
    private static IEnumerable<(string Name, byte[] File)> Vocabularies(Action<GgufWriter> metadata)
    {
        foreach (string vocabulary in new[] { Gpt2Vocab, SpmVocab })
        {
            GgufFile v = GgufFile.Load(TestPaths.Shared(vocabulary.Split('/')));
            string[] tokens = v.Strings("tokenizer.ggml.tokens");
            string[] added = [.. Markers.Where(m => !tokens.Contains(m))];
            string[] all = [.. tokens, .. added];
            int[] types = [.. v.Integers("tokenizer.ggml.token_type")!.Select(t => (int)t), .. added.Select(_ => 3)];
            void Write(GgufWriter w)
            {
                w.Strings("tokenizer.ggml.tokens", all).Ints("tokenizer.ggml.token_type", types).Bool("tokenizer.ggml.add_bos_token", true);
                if (vocabulary == SpmVocab) w.Floats("tokenizer.ggml.scores", [.. v.Floats("tokenizer.ggml.scores")!, .. added.Select(_ => 0f)]);
                metadata(w);
            }

            yield return vocabulary == SpmVocab ? ("llama-spm", TokenizerParityTests.SpmFile(Write)) : ("gpt-2", TokenizerParityTests.Gpt2File(Write));
        }
    }
}

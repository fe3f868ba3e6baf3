using Heed.Models.Chat;
using Heed.Models.Generation;
using Heed.Models.Tokenizers;
using Microsoft.Extensions.AI;

namespace Heed.Models.Tests;

/// <summary>The IChatClient over Heed's models: options mapped to the sampler, streaming, stops, and the chat formats.</summary>
public class ChatClientTests
{
    private const string Model = "models/stories260K/stories260K.f32.gguf";

    private static string Stories => TestPaths.Shared("models", "stories260K", "stories260K.f32.gguf");

    [SharedFact(Model)]
    public async Task A_greedy_reply_is_the_greedy_continuation_of_the_plain_conversation()
    {
        using HeedChatClient client = HeedChatClient.Load(Stories);
        Assert.Equal(ChatTemplateKind.Plain, client.Template);
        ChatResponse response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")], new ChatOptions { MaxOutputTokens = 30 });

        ICausalLanguageModel model = ModelFiles.LoadModel(Stories);
        ITokenizer tokenizer = ModelFiles.LoadTokenizer(Stories);
        int prompt = tokenizer.Encode("Once upon a time", addBos: true, addEos: false).Length;
        // Steps counts positions and the token sampled at the last one is printed too: prompt + 29 positions give 30 new tokens.
        GenerationResult expected = TextGenerator.Generate(model, tokenizer, "Once upon a time", new GenerationOptions { Steps = prompt + 29 });
        Assert.Equal(expected.Text, "Once upon a time" + response.Text);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(30, response.Usage!.OutputTokenCount);
        Assert.Equal(prompt, response.Usage.InputTokenCount);
    }

    [SharedFact(Model)]
    public async Task Streaming_updates_add_up_to_the_reply_and_stop_before_a_stop_sequence()
    {
        using HeedChatClient client = HeedChatClient.Load(Stories);
        var options = new ChatOptions { MaxOutputTokens = 60, StopSequences = ["Lily"] };
        var parts = new List<string>();
        ChatFinishReason? finish = null;
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")], options))
        {
            parts.Add(update.Text);
            finish = update.FinishReason ?? finish;
        }

        ChatResponse whole = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")], new ChatOptions { MaxOutputTokens = 60 });
        int at = whole.Text.IndexOf("Lily", StringComparison.Ordinal);
        Assert.True(at > 0, whole.Text);
        Assert.Equal(whole.Text[..at], string.Concat(parts));
        Assert.Equal(ChatFinishReason.Stop, finish);
        Assert.True(parts.Count(p => p.Length > 0) > 3, "streamed in pieces");
    }

    [SharedFact(Model)]
    public async Task Sampling_options_are_mapped_and_a_seed_repeats_the_reply()
    {
        using HeedChatClient client = HeedChatClient.Load(Stories);
        var options = new ChatOptions { Temperature = 1f, TopP = 0.9f, TopK = 40, Seed = 7, MaxOutputTokens = 40 };
        SamplingOptions sampling = HeedChatClient.Sampling(options);
        Assert.Equal(new SamplingOptions { Temperature = 1f, TopP = 0.9f, TopK = 40, Seed = 7 }, sampling);
        ChatMessage[] messages = [new ChatMessage(ChatRole.User, "Once upon a time")];
        ChatResponse a = await client.GetResponseAsync(messages, options), b = await client.GetResponseAsync(messages, options);
        ChatResponse c = await client.GetResponseAsync(messages, new ChatOptions { Temperature = 1f, Seed = 8, MaxOutputTokens = 40 });
        Assert.Equal(a.Text, b.Text);
        Assert.NotEqual(a.Text, c.Text);
        HeedAssert.Fails(() => HeedChatClient.Sampling(new ChatOptions { Seed = 0 }), "Seed 0");
        HeedAssert.Fails(() => HeedChatClient.Sampling(new ChatOptions { TopP = 2 }), "--top-p 2");
    }

    public static TheoryData<string, ChatTemplateKind> Templates => new()
    {
        { "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>'}}{% endfor %}", ChatTemplateKind.ChatML },
        { "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}", ChatTemplateKind.Llama3 },
        { "{{ bos_token + '[INST] ' + content + ' [/INST]' }}", ChatTemplateKind.Llama2 },
        { "{{ '<|user|>\n' + content + eos_token }}{{ '<|assistant|>' }}", ChatTemplateKind.Zephyr },
        { "{{ '<start_of_turn>' + role + '\n' }}", ChatTemplateKind.Gemma },
        { "{{ messages }}", ChatTemplateKind.Plain },
    };

    [Theory]
    [MemberData(nameof(Templates))]
    public void Templates_are_recognised_by_their_markers(string template, ChatTemplateKind kind) => Assert.Equal(kind, ChatTemplate.Detect(template));

    [Fact]
    public void Each_format_writes_the_conversation_as_its_template_does()
    {
        (string, string)[] chat = [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello."), ("user", "Why?")];
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n", ChatTemplate.Format(ChatTemplateKind.ChatML, chat));
        Assert.Equal("<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", ChatTemplate.Format(ChatTemplateKind.Llama3, chat));
        Assert.Equal("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Why? [/INST]", ChatTemplate.Format(ChatTemplateKind.Llama2, chat));
        Assert.Equal("<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello.</s>\n<|user|>\nWhy?</s>\n<|assistant|>\n", ChatTemplate.Format(ChatTemplateKind.Zephyr, chat));
        Assert.Equal("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n<start_of_turn>user\nWhy?<end_of_turn>\n<start_of_turn>model\n", ChatTemplate.Format(ChatTemplateKind.Gemma, chat));
        Assert.Equal("Be brief.\nHi\nHello.\nWhy?", ChatTemplate.Format(ChatTemplateKind.Plain, chat));
    }
}

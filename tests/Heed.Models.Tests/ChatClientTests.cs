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

    [Theory]
    [InlineData("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>'}}{% endfor %}", ChatTemplateKind.ChatML)]
    [InlineData("{{'<|im_start|>' + m['role'] + '<|im_sep|>' + m['content'] + '<|im_end|>'}}", ChatTemplateKind.Phi4)]
    [InlineData("{{ '<|im_start|>' }}{{ 'User: ' + content + '<end_of_utterance>' }}", ChatTemplateKind.Plain)]
    [InlineData("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}", ChatTemplateKind.Llama3)]
    [InlineData("{{ bos_token + '[INST] ' + content + ' [/INST]' }}", ChatTemplateKind.Llama2SysBos)]
    [InlineData("{{ '[INST] ' + content + ' [/INST]' }}", ChatTemplateKind.Llama2)]
    [InlineData("{{ ' [INST] ' + system_message + content }}", ChatTemplateKind.MistralV1)]
    [InlineData("{{ '<|user|>\n' + content + eos_token }}{{ '<|assistant|>' }}", ChatTemplateKind.GlmEdge)]
    [InlineData("{{ '<|user|>\n' + content + '<|endoftext|>' }}", ChatTemplateKind.Zephyr)]
    [InlineData("{{ '<|user|>' + content + '<|end|>' }}{{ '<|assistant|>' }}", ChatTemplateKind.Phi3)]
    [InlineData("{{ '<start_of_turn>' + role + '\n' }}", ChatTemplateKind.Gemma)]
    [InlineData("{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' }}", ChatTemplateKind.Plain)]
    [InlineData("zephyr", ChatTemplateKind.Zephyr)]
    [InlineData("{{ messages }}", ChatTemplateKind.Plain)]
    public void Templates_are_recognised_by_their_markers_in_llama_cpps_order(string template, ChatTemplateKind kind) => Assert.Equal(kind, ChatTemplate.Detect(template));

    [Fact]
    public void Each_format_writes_the_conversation_as_llama_cpp_writes_it()
    {
        // Written out from llama.cpp's llm_chat_apply_template; the LlamaCpp test project compares every format with
        // llama.cpp itself.
        (string, string)[] chat = [("system", "Be brief."), ("user", "Hi"), ("assistant", " Hello. "), ("user", "Why?")];
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n Hello. <|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n", ChatTemplate.Format(ChatTemplateKind.ChatML, chat));
        Assert.Equal("<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", ChatTemplate.Format(ChatTemplateKind.Llama3, chat));
        Assert.Equal("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Why? [/INST]", ChatTemplate.Format(ChatTemplateKind.Llama2SysBos, chat));
        Assert.Equal("[INST] Be brief.\nHi [/INST] Hello. </s>[INST] Why? [/INST]", ChatTemplate.Format(ChatTemplateKind.Llama2, chat));
        Assert.Equal("[INST] Be brief.\n\nHi[/INST] Hello.</s>[INST] Why?[/INST]", ChatTemplate.Format(ChatTemplateKind.MistralV3, chat));
        Assert.Equal("<|system|>\nBe brief.<|endoftext|>\n<|user|>\nHi<|endoftext|>\n<|assistant|>\n Hello. <|endoftext|>\n<|user|>\nWhy?<|endoftext|>\n<|assistant|>\n", ChatTemplate.Format(ChatTemplateKind.Zephyr, chat));
        Assert.Equal("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n<start_of_turn>user\nWhy?<end_of_turn>\n<start_of_turn>model\n", ChatTemplate.Format(ChatTemplateKind.Gemma, chat));
        Assert.Equal("Be brief.\nHi\n Hello. \nWhy?", ChatTemplate.Format(ChatTemplateKind.Plain, chat));
    }

    [Fact]
    public void Markup_and_message_texts_are_apart_in_the_parts()
    {
        IReadOnlyList<(string Text, bool Markup)> parts = ChatTemplate.Parts(ChatTemplateKind.ChatML, [("user", "x<|im_end|>y")]);
        Assert.Equal([("<|im_start|>user\n", true), ("x<|im_end|>y", false), ("<|im_end|>\n", true), ("<|im_start|>assistant\n", true)], parts);
    }

    [SharedFact(Model)]
    public void Generation_stops_at_the_tokenizers_end_of_generation_tokens_and_says_which()
    {
        ICausalLanguageModel model = ModelFiles.LoadModel(Stories);
        ITokenizer tokenizer = ModelFiles.LoadTokenizer(Stories);
        GenerationResult free = TextGenerator.Generate(model, tokenizer, "Once upon a time", new GenerationOptions { Steps = 80 });
        Assert.Null(free.StopToken);
        int prompt = free.PromptTokens, end = free.Tokens[prompt + 5];
        int first = Array.IndexOf(free.Tokens, end, prompt);

        GenerationResult stopped = TextGenerator.Generate(model, new EndingAt(tokenizer, end), "Once upon a time", new GenerationOptions { Steps = 80 });
        Assert.Equal(free.Tokens[..first], stopped.Tokens);
        Assert.Equal(end, stopped.StopToken);
        Assert.False(stopped.StoppedAtBos);
        byte[] printed = [.. Enumerable.Range(1, first - 1).SelectMany(i => tokenizer.DecodePiece(free.Tokens[i - 1], free.Tokens[i]))];
        Assert.Equal(System.Text.Encoding.UTF8.GetString(printed), stopped.Text);
        Assert.StartsWith(stopped.Text, free.Text, StringComparison.Ordinal);
    }

    [SharedFact(Model)]
    public async Task A_chat_reply_stops_at_an_end_of_generation_token()
    {
        ICausalLanguageModel model = ModelFiles.LoadModel(Stories);
        ITokenizer tokenizer = ModelFiles.LoadTokenizer(Stories);
        ChatMessage[] messages = [new ChatMessage(ChatRole.User, "Once upon a time")];
        ChatResponse free = await new HeedChatClient(model, tokenizer).GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 40 });
        int period = tokenizer.Encode(".", addBos: false, addEos: false)[^1];
        Assert.Contains('.', free.Text);

        ChatResponse stopped = await new HeedChatClient(model, new EndingAt(tokenizer, period)).GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 40 });
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
        Assert.Equal(free.Text[..free.Text.IndexOf('.', StringComparison.Ordinal)], stopped.Text);
    }

    [SharedFact(Model)]
    public async Task Options_heed_does_not_apply_are_refused_not_ignored()
    {
        using HeedChatClient client = HeedChatClient.Load(Stories);
        ChatMessage[] messages = [new ChatMessage(ChatRole.User, "Once upon a time")];
        HeedAssert.Fails(() => HeedChatClient.Sampling(new ChatOptions { FrequencyPenalty = 0.5f }), "FrequencyPenalty 0.5");
        HeedAssert.Fails(() => HeedChatClient.Sampling(new ChatOptions { PresencePenalty = 1f }), "PresencePenalty 1");
        HeedAssert.Fails(() => HeedChatClient.Sampling(new ChatOptions { ResponseFormat = ChatResponseFormat.Json }), "ResponseFormat JSON");
        HeedAssert.Fails(() => HeedChatClient.Sampling(new ChatOptions { Tools = [AIFunctionFactory.Create(() => 1, "one")] }), "1 tools given");
        HeedException ex = await Assert.ThrowsAsync<HeedException>(() => client.GetResponseAsync(messages, new ChatOptions { PresencePenalty = 1f }));
        Assert.Contains("PresencePenalty", ex.Message, StringComparison.Ordinal);
        ChatResponse zero = await client.GetResponseAsync(messages, new ChatOptions { FrequencyPenalty = 0, PresencePenalty = 0, MaxOutputTokens = 3 });
        Assert.Equal(3, zero.Usage!.OutputTokenCount);
    }

    /// <summary>A tokenizer that declares <paramref name="end"/> an end-of-generation token.</summary>
    private sealed class EndingAt(ITokenizer inner, int end) : ITokenizer
    {
        public int VocabSize => inner.VocabSize;

        public int? BosId => inner.BosId;

        public bool PrependsBos => inner.PrependsBos;

        public IReadOnlyList<int> EndOfGeneration => [end];

        public int[] Encode(string text, bool addBos, bool addEos) => inner.Encode(text, addBos, addEos);

        public byte[] DecodePiece(int previous, int token) => inner.DecodePiece(previous, token);

        public string PieceText(int token) => inner.PieceText(token);
    }
}

using System.Runtime.CompilerServices;
using System.Text;
using Heed.Models.Generation;
using Heed.Models.Tokenizers;
using Microsoft.Extensions.AI;

namespace Heed.Models.Chat;

/// <summary>
/// An <see cref="IChatClient"/> over any model Heed runs: the conversation is written in the model's chat format
/// (<see cref="ChatTemplate"/>; plain text when the file names none), then generated token by token with Heed's sampler.
/// The format's markers become the vocabulary's special tokens where it has them (as llama.cpp tokenizes a formatted chat
/// with special tokens parsed), while the messages' own texts are encoded as text, so a message cannot forge a turn.
/// Options map as: Temperature → temperature (null: 0, greedy, which leaves TopP, TopK and Seed without effect), TopP →
/// top-p (null: off), TopK → top-k, Seed → the sampler's seed (null: 1), MaxOutputTokens → new tokens (null: up to
/// <see cref="DefaultMaxOutputTokens"/> or the rest of the context, whichever is less; the cache is sized for them),
/// StopSequences → texts generation stops before. Options Heed does not apply are refused, not ignored: tools, a JSON
/// response format, and non-zero frequency or presence penalties. Generation also stops at BOS, at the vocabulary's
/// end-of-generation tokens (<see cref="ITokenizer.EndOfGeneration"/>; EOS for SentencePiece vocabularies) and at the
/// format's end-of-turn text. Calls run on the caller's thread (the model's work is synchronous); each call makes its
/// own session.
/// </summary>
public sealed class HeedChatClient : IChatClient
{
    private readonly ICausalLanguageModel _model;
    private readonly ITokenizer _tokenizer;
    private readonly string _modelId;

    /// <summary>Creates a client over a model and its tokenizer, with the chat format of <paramref name="chatTemplate"/> (a Jinja template's text, or null).</summary>
    public HeedChatClient(ICausalLanguageModel model, ITokenizer tokenizer, string? chatTemplate = null, string modelId = "heed")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        _model = model;
        _tokenizer = tokenizer;
        _modelId = modelId;
        Template = ChatTemplate.Detect(chatTemplate);
    }

    /// <summary>New tokens a call may generate when <see cref="ChatOptions.MaxOutputTokens"/> is not set.</summary>
    public const int DefaultMaxOutputTokens = 4096;

    /// <summary>The chat format recognised.</summary>
    public ChatTemplateKind Template { get; }

    /// <summary>Threads for the matrix products.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Loads a model file or folder (<see cref="ModelFiles.LoadModel"/>) with its tokenizer and, for GGUF files, its <c>tokenizer.chat_template</c>.</summary>
    /// <exception cref="HeedException">The model or tokenizer cannot be loaded.</exception>
    public static HeedChatClient Load(string modelPath, string? tokenizerPath = null)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        ICausalLanguageModel model = ModelFiles.LoadModel(modelPath);
        ITokenizer tokenizer = ModelFiles.LoadTokenizer(tokenizerPath ?? ModelFiles.FindTokenizer(modelPath));
        string? template = File.Exists(modelPath) && Llama.LlamaModel.IsGguf(modelPath) ? GgufFile.Load(modelPath)["tokenizer.chat_template"] as string : null;
        return new HeedChatClient(model, tokenizer, template, Path.GetFileName(modelPath));
    }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        await foreach (ChatResponseUpdate update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            text.Append(update.Text);
            finish = update.FinishReason ?? finish;
            usage = update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details ?? usage;
        }

        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString())) { FinishReason = finish, Usage = usage, ModelId = _modelId };
    }

    /// <summary>
    /// The key under which every streamed update's <see cref="ChatResponseUpdate.AdditionalProperties"/> holds the number of
    /// tokens generated so far (an int): one update per new token, its text empty while the token may start a stop sequence.
    /// </summary>
    public const string GeneratedTokensProperty = "heed.generated_tokens";

    /// <inheritdoc />
    /// <remarks>
    /// One update per new token (see <see cref="GeneratedTokensProperty"/>), then a last one with the usage and the finish
    /// reason. <paramref name="cancellationToken"/> is checked before every layer of every step.
    /// </remarks>
    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        IReadOnlyList<(string Text, bool Markup)> prompt = ChatTemplate.Parts(Template, [.. messages.Select(m => (m.Role.Value, m.Text))]);
        return StreamAsync(prompt, options, ChatTemplate.EndOfTurn(Template), cancellationToken);
    }

    /// <summary>
    /// Continues <paramref name="prompt"/> as written, without the chat format (BOS first where the tokenizer's models had it;
    /// the texts of special tokens in it become those tokens, as llama.cpp's completion reads a prompt):
    /// the updates of <see cref="GetStreamingResponseAsync"/>, with the same options; only the stop sequences given stop it early,
    /// besides EOS/BOS.
    /// </summary>
    /// <exception cref="HeedException">The prompt does not fit the context or an option is out of range.</exception>
    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingCompletionAsync(string prompt, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return StreamAsync([(prompt, true)], options, null, cancellationToken);
    }

    private async IAsyncEnumerable<ChatResponseUpdate> StreamAsync(IReadOnlyList<(string Text, bool Markup)> prompt, ChatOptions? options, string? endOfTurn, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        SamplingOptions sampling = Sampling(options);
        bool empty = prompt.All(p => p.Text.Length == 0);
        int[] tokens = _tokenizer.Encode(prompt, addBos: _tokenizer.BosId.HasValue && (_tokenizer.PrependsBos || empty));
        if (tokens.Length == 0 || tokens.Length >= _model.ContextLength)
        {
            throw new HeedException($"chat: the conversation takes {tokens.Length} tokens; the model's context holds {_model.ContextLength}, and at least one more is needed");
        }

        int room = _model.ContextLength - tokens.Length;
        int maxNew = options?.MaxOutputTokens is int max ? max : Math.Min(room, DefaultMaxOutputTokens);
        if (maxNew <= 0)
        {
            throw new HeedException($"chat: MaxOutputTokens {maxNew}: expected > 0");
        }

        maxNew = Math.Min(maxNew, room);
        string[] stops = [.. (options?.StopSequences ?? []).Where(s => s.Length > 0).Concat(endOfTurn is string end ? [end] : [])];
        int holdBack = stops.Length == 0 ? 0 : stops.Max(s => s.Length) - 1;

        DecoderSession session = _model.CreateSession(tokens.Length + maxNew);
        session.Threads = Threads;
        var sampler = new Sampler(_model.VocabSize, sampling);
        IReadOnlyList<int> endOfGeneration = _tokenizer.EndOfGeneration;
        Decoder utf8 = new UTF8Encoding(false).GetDecoder();
        var pending = new StringBuilder(); // text decoded but not yet sent: it may be the start of a stop sequence
        var chars = new char[64];
        string responseId = Guid.NewGuid().ToString("N");
        int previous = tokens[^1], generated = 0;
        ChatFinishReason finish = ChatFinishReason.Length;
        ChatResponseUpdate Update(string text) => new(ChatRole.Assistant, text.Length == 0 ? [] : [new TextContent(text)])
        {
            ResponseId = responseId,
            ModelId = _modelId,
            AdditionalProperties = new() { [GeneratedTokensProperty] = generated },
        };

        int next = sampler.Sample(session.Forward(tokens, cancellationToken));
        while (true)
        {
            if (next == _tokenizer.BosId || (_tokenizer is LlamaTokenizer && next == LlamaTokenizer.Eos) || endOfGeneration.Contains(next))
            {
                finish = ChatFinishReason.Stop;
                break;
            }

            generated++;
            byte[] piece = _tokenizer.DecodePiece(previous, next);
            if (chars.Length < piece.Length + 4) chars = new char[piece.Length + 4];
            pending.Append(chars, 0, utf8.GetChars(piece, 0, piece.Length, chars, 0, flush: false));
            previous = next;
            string text = pending.ToString();
            int stopAt = stops.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
            if (stopAt >= 0)
            {
                yield return Update(text[..stopAt]);
                pending.Clear();
                finish = ChatFinishReason.Stop;
                break;
            }

            string released = text.Length > holdBack ? text[..^holdBack] : "";
            pending.Remove(0, released.Length);
            yield return Update(released);
            if (generated >= maxNew) break;
            await Task.Yield();
            next = sampler.Sample(session.Forward([next], cancellationToken));
        }

        if (pending.Length > 0) yield return Update(pending.ToString());
        var usage = new UsageDetails { InputTokenCount = tokens.Length, OutputTokenCount = generated, TotalTokenCount = tokens.Length + generated };
        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(usage)])
        {
            ResponseId = responseId,
            ModelId = _modelId,
            FinishReason = finish,
            AdditionalProperties = new() { [GeneratedTokensProperty] = generated },
        };
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return new ChatClientMetadata("heed", null, _modelId);
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    /// <summary>ChatOptions → Heed's sampler options (see the class summary), checked.</summary>
    /// <exception cref="HeedException">A value is out of range.</exception>
    public static SamplingOptions Sampling(ChatOptions? options)
    {
        if (options?.Tools is { Count: > 0 })
        {
            throw new HeedException($"chat: {options.Tools.Count} tools given; Heed's chat client does not call tools");
        }

        if (options?.ResponseFormat is ChatResponseFormatJson)
        {
            throw new HeedException("chat: ResponseFormat JSON; Heed's chat client does not constrain replies to JSON (use Text)");
        }

        if (options?.FrequencyPenalty is float frequency && frequency != 0)
        {
            throw new HeedException($"chat: FrequencyPenalty {frequency}; Heed's sampler applies no penalties (leave it null or 0)");
        }

        if (options?.PresencePenalty is float presence && presence != 0)
        {
            throw new HeedException($"chat: PresencePenalty {presence}; Heed's sampler applies no penalties (leave it null or 0)");
        }

        if (options?.Seed is <= 0)
        {
            throw new HeedException($"chat: Seed {options.Seed}: expected > 0 (xorshift never leaves the state 0)");
        }

        var sampling = new SamplingOptions
        {
            Temperature = options?.Temperature ?? 0,
            TopP = options?.TopP ?? 0,
            TopK = options?.TopK ?? 0,
            Seed = options?.Seed is long seed ? (ulong)seed : 1,
        };
        sampling.Validate();
        return sampling;
    }
}

using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Serialization;
using Heed.Models.Chat;
using Microsoft.Extensions.AI;

namespace Heed.Server.Services;

/// <summary>Who says a chat message.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ChatTurnRole>))]
public enum ChatTurnRole
{
    /// <summary>Instructions for the model.</summary>
    [JsonStringEnumMemberName("system")]
    System,

    /// <summary>The person talking to the model.</summary>
    [JsonStringEnumMemberName("user")]
    User,

    /// <summary>The model's earlier turns.</summary>
    [JsonStringEnumMemberName("assistant")]
    Assistant,
}

/// <summary>One message of a conversation.</summary>
public sealed record ChatTurn
{
    /// <summary>system, user or assistant.</summary>
    [Description("system, user or assistant.")]
    [Required]
    public ChatTurnRole? Role { get; init; }

    /// <summary>The message's text.</summary>
    [Description("The message's text.")]
    [Required]
    public string? Content { get; init; }
}

/// <summary>A generation: a model, a prompt or a conversation, and the sampler's settings (the MCP tool generate's arguments).</summary>
public record GenerationRequest
{
    /// <summary>The model id of a decoder.</summary>
    [Description("The id of a generative model (GET /api/v1/models lists them with kind \"decoder\"): a llama2.c folder, a GGUF llama file or a GPT-2 folder.")]
    [Required]
    public string? Model { get; init; }

    /// <summary>The text to continue as written; exactly one of prompt and messages.</summary>
    [Description("The text to continue, as written (no chat format); give exactly one of prompt and messages. An empty prompt starts from BOS.")]
    public string? Prompt { get; init; }

    /// <summary>A conversation, written in the model's chat format; exactly one of prompt and messages.</summary>
    [Description("A conversation, written in the model's chat format as llama.cpp writes it for the template the GGUF file carries (ChatML, Llama 2, Llama 3, Mistral, Phi, Zephyr, Gemma and others llama.cpp recognises, else the texts joined by newlines); the reply is the assistant's next turn. Give exactly one of prompt and messages.")]
    public ChatTurn[]? Messages { get; init; }

    /// <summary>The most new tokens; default 128.</summary>
    [Description("The most new tokens (default 128; at most the server's maxGenerateTokens, and generation also ends where the model's context does).")]
    public int? MaxTokens { get; init; }

    /// <summary>0 = greedy (default); higher = more random.</summary>
    [Description("0 = greedy, the most probable token every time (default); higher is more random.")]
    public double? Temperature { get; init; }

    /// <summary>Nucleus sampling threshold; default off.</summary>
    [Description("Nucleus sampling: draw among the smallest set of tokens whose probability exceeds topP, in [0, 1] (default: off; 0 or 1 = off).")]
    public double? TopP { get; init; }

    /// <summary>Draw among the k most probable tokens; default 0 = all.</summary>
    [Description("Draw among the topK most probable tokens (default 0 = all).")]
    public int? TopK { get; init; }

    /// <summary>The sampler's seed; default 1.</summary>
    [Description("The sampler's seed, 1 or more (default 1): the same seed and settings give the same text.")]
    public long? Seed { get; init; }

    /// <summary>Texts generation stops before.</summary>
    [Description("Texts that end generation: the reply stops before the first one found (at most 16, each 1 to 256 characters).")]
    public string[]? Stop { get; init; }
}

/// <summary>A generation as <c>POST /api/v1/generate</c> takes it: the tool's arguments and whether to stream.</summary>
public sealed record GenerateRequest : GenerationRequest
{
    /// <summary>Answer with Server-Sent Events, one per token, instead of one JSON document.</summary>
    [Description("Answer with Server-Sent Events (text/event-stream): a 'token' event per new token, then a 'done' event with the whole result; default false, one JSON document at the end.")]
    public bool Stream { get; init; }
}

/// <summary>What a generation produced.</summary>
/// <param name="Model">The model id.</param>
/// <param name="Text">The new text (the prompt not repeated; stop sequences left out).</param>
/// <param name="PromptTokens">Tokens the prompt or conversation took, BOS included.</param>
/// <param name="Tokens">New tokens generated.</param>
/// <param name="FinishReason">stop (end of text, end of turn or a stop sequence) or length (maxTokens or the model's context reached).</param>
/// <param name="ChatFormat">The chat format the messages were written in; absent for a prompt.</param>
public sealed record GenerateResponse(
    [property: Description("The model id.")] string Model,
    [property: Description("The new text: the prompt is not repeated and a stop sequence is left out.")] string Text,
    [property: Description("Tokens the prompt or conversation took, BOS included.")] int PromptTokens,
    [property: Description("New tokens generated.")] int Tokens,
    [property: Description("stop: the model ended its text or turn, or a stop sequence came; length: maxTokens or the model's context was reached.")] string FinishReason,
    [property: Description("The chat format the messages were written in, as Heed.Models' ChatTemplateKind names it (Plain, ChatML, Llama2, Llama2Sys, MistralV3, Llama3, Zephyr, Gemma, …: the formats llama.cpp writes for its built-in templates); absent for a prompt.")] string? ChatFormat);

/// <summary>One Server-Sent Event of a streamed generation.</summary>
/// <param name="Tokens">New tokens so far.</param>
/// <param name="Text">The text this event adds (empty while a token may start a stop sequence, and in the 'done' event).</param>
/// <param name="Result">The whole result, in the last event ('done') only.</param>
public sealed record GenerateEvent(
    [property: Description("New tokens so far.")] int Tokens,
    [property: Description("The text this event adds; empty while the token may start a stop sequence, and in the 'done' event.")] string Text,
    [property: Description("The whole result, in the last event ('done') only.")] GenerateResponse? Result);

/// <summary>
/// Text generation from the catalog's decoders through Heed.Models' <see cref="HeedChatClient"/>: a prompt is continued as
/// written, messages are written in the model's chat format; the sampler's settings are checked here with their field names.
/// The generation streams one event per new token and stops at the cancellation token's next check (every layer of every step).
/// </summary>
public sealed class GenerationService
{
    /// <summary>The new tokens of a request that names none.</summary>
    public const int DefaultMaxTokens = 128;

    private const int MaxStops = 16;
    private const int MaxStopLength = 256;
    private readonly ModelCatalog _models;
    private readonly ServerLimits _limits;

    /// <summary>Creates the service over the catalog.</summary>
    public GenerationService(ModelCatalog models, ServerLimits limits)
    {
        _models = models;
        _limits = limits;
    }

    /// <summary>The new tokens <paramref name="request"/> asks for, checked against the server's limit.</summary>
    /// <exception cref="HeedException">maxTokens is below 1 or above the limit.</exception>
    public int MaxTokens(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        int max = request.MaxTokens ?? DefaultMaxTokens;
        if (max < 1 || max > _limits.MaxGenerateTokens)
        {
            throw new HeedException($"maxTokens: {max}; expected 1 to {_limits.MaxGenerateTokens} (the server's limit)");
        }

        return max;
    }

    /// <summary>
    /// Generates, one event per new token (and one for text held back until the end), then a last event with the result.
    /// The request is checked and the model loaded before the first event; the prompt's length when the first is asked for.
    /// </summary>
    /// <exception cref="HeedException">A field is missing or out of range, the model does not generate, or the prompt does not fit its context.</exception>
    /// <exception cref="HeedNotFoundException">No such model.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
    public IAsyncEnumerable<GenerateEvent> StreamAsync(GenerationRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        string model = request.Model ?? throw new HeedException("model: required; the id of a generative model (GET /api/v1/models, kind \"decoder\")");
        if ((request.Prompt is null) == (request.Messages is null))
        {
            throw new HeedException(request.Prompt is null ? "prompt: required unless messages are given; give exactly one of prompt and messages" : "messages: not allowed with prompt; give exactly one of prompt and messages");
        }

        ChatOptions options = Options(request);
        if (model == ModelCatalog.SeedModelId)
        {
            throw new HeedException($"model '{model}': a toy model of attention heads over word vectors, which does not generate text");
        }

        LoadedModel loaded = _models.LoadModel(model);
        var client = new HeedChatClient(loaded.Model, loaded.Tokenizer, loaded.ChatTemplate, model) { Threads = Environment.ProcessorCount };
        IAsyncEnumerable<ChatResponseUpdate> updates;
        string? format = null;
        if (request.Messages is ChatTurn[] messages)
        {
            ChatMessage[] chat = [.. messages.Select((m, i) => new ChatMessage(
                new ChatRole(m?.Role?.ToString().ToLowerInvariant() ?? throw new HeedException($"messages[{i}].role: required; expected system, user or assistant")),
                m.Content ?? throw new HeedException($"messages[{i}].content: required; expected a string")))];
            if (chat.Length == 0) throw new HeedException("messages: empty; expected at least one message");
            updates = client.GetStreamingResponseAsync(chat, options, cancellation);
            format = client.Template.ToString();
        }
        else
        {
            updates = client.GetStreamingCompletionAsync(request.Prompt!, options, cancellation);
        }

        return Events(model, format, updates, cancellation);
    }

    /// <summary>Generates to the end and returns the result (<see cref="StreamAsync"/>'s last event).</summary>
    /// <exception cref="HeedException">See <see cref="StreamAsync"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
    public GenerateResponse Generate(GenerationRequest request, CancellationToken cancellation = default) =>
        StreamAsync(request, cancellation).ToBlockingEnumerable(cancellation).Last().Result!;

    private ChatOptions Options(GenerationRequest request)
    {
        int max = MaxTokens(request);
        if (request.Temperature is double t && !(t >= 0 && t <= 100)) throw new HeedException($"temperature: {Show(t)}; expected 0 (greedy) to 100");
        if (request.TopP is double p && !(p >= 0 && p <= 1)) throw new HeedException($"topP: {Show(p)}; expected 0 to 1 (0 or 1 = off)");
        if (request.TopK is int k && k < 0) throw new HeedException($"topK: {k}; expected 0 (all tokens) or more");
        if (request.Seed is long s && s < 1) throw new HeedException($"seed: {s}; expected 1 or more");
        string[] stops = request.Stop ?? [];
        if (stops.Length > MaxStops) throw new HeedException($"stop: {stops.Length} sequences; expected at most {MaxStops}");
        for (int i = 0; i < stops.Length; i++)
        {
            if (stops[i] is not { Length: >= 1 and <= MaxStopLength }) throw new HeedException($"stop[{i}]: expected a text of 1 to {MaxStopLength} characters");
        }

        return new ChatOptions
        {
            MaxOutputTokens = max,
            Temperature = (float?)request.Temperature,
            TopP = (float?)request.TopP,
            TopK = request.TopK,
            Seed = request.Seed,
            StopSequences = stops,
        };
    }

    private static string Show(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static async IAsyncEnumerable<GenerateEvent> Events(string model, string? format, IAsyncEnumerable<ChatResponseUpdate> updates, [EnumeratorCancellation] CancellationToken cancellation)
    {
        var text = new StringBuilder();
        int tokens = 0, promptTokens = 0;
        string finish = "length";
        await foreach (ChatResponseUpdate update in updates.WithCancellation(cancellation).ConfigureAwait(false))
        {
            if (update.FinishReason is ChatFinishReason reason)
            {
                finish = reason == ChatFinishReason.Stop ? "stop" : "length";
                promptTokens = (int)(update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details.InputTokenCount ?? 0);
                continue;
            }

            int count = update.AdditionalProperties?[HeedChatClient.GeneratedTokensProperty] is int n ? n : tokens;
            string piece = update.Text;
            if (count > tokens || piece.Length > 0)
            {
                tokens = count;
                text.Append(piece);
                yield return new GenerateEvent(tokens, piece, null);
            }
        }

        yield return new GenerateEvent(tokens, "", new GenerateResponse(model, text.ToString(), promptTokens, tokens, finish, format));
    }
}

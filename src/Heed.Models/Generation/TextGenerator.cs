using System.Diagnostics;
using System.Text;
using Heed.Models.Tokenizers;

namespace Heed.Models.Generation;

/// <summary>How a text is generated.</summary>
public sealed record GenerationOptions
{
    /// <summary>
    /// Positions to run, prompt included (llama2.c's <c>steps</c>): the prompt's tokens and then new ones until
    /// this many positions have been run. Clamped to the model's context, as run.c does.
    /// </summary>
    public int Steps { get; init; } = 256;

    /// <summary>How each new token is picked.</summary>
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>Threads for the matrix products.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Runs attention on the float64 reference implementation.</summary>
    public bool UseReferenceAttention { get; init; }

    /// <summary>Records every attention call of every step when set.</summary>
    public AttentionRecorder? Recorder { get; init; }
}

/// <summary>What a generation produced and how long it took.</summary>
/// <param name="Tokens">Every token: the prompt's (BOS included) then the generated ones (the stop token excluded).</param>
/// <param name="PromptTokens">How many of <see cref="Tokens"/> came from the prompt.</param>
/// <param name="Text">The printed text: the prompt's pieces after BOS, then the continuation.</param>
/// <param name="Prefill">Time of the batched prompt pass.</param>
/// <param name="Decode">Time of the one-token steps after it.</param>
/// <param name="DecodeSteps">The number of one-token steps.</param>
/// <param name="StoppedAtBos">True when the model emitted BOS (which ends generation, as in run.c).</param>
/// <param name="StopToken">The token that ended generation (BOS or one of the tokenizer's <see cref="ITokenizer.EndOfGeneration"/>), not printed; null when the positions ran out.</param>
public sealed record GenerationResult(int[] Tokens, int PromptTokens, string Text, TimeSpan Prefill, TimeSpan Decode, int DecodeSteps, bool StoppedAtBos, int? StopToken = null)
{
    /// <summary>Decode speed in tokens per second (0 when there were no decode steps).</summary>
    public double DecodeTokensPerSecond => DecodeSteps == 0 || Decode <= TimeSpan.Zero ? 0 : DecodeSteps / Decode.TotalSeconds;
}

/// <summary>
/// Generation as llama2.c's <c>run.c</c> does it, with a KV cache: the prompt (BOS first) runs in one batched pass,
/// then one token per step; every prompt piece after BOS and every new token is printed as it is known;
/// generation stops when the model emits BOS, or a token of the tokenizer's <see cref="ITokenizer.EndOfGeneration"/>
/// (a GGUF vocabulary's EOS, end of turn, … as llama.cpp stops), or <see cref="GenerationOptions.Steps"/> positions have run.
/// </summary>
public static class TextGenerator
{
    /// <summary>
    /// Generates text; <paramref name="onPiece"/> receives each printed piece's bytes as soon as it is known.
    /// <paramref name="cancellationToken"/> is checked before every layer of every step.
    /// </summary>
    /// <exception cref="HeedException">Bad options, a tokenizer that does not match the model, or a prompt longer than the context.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public static GenerationResult Generate(
        ICausalLanguageModel model,
        ITokenizer tokenizer,
        string prompt,
        GenerationOptions options,
        Action<byte[]>? onPiece = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Steps <= 0)
        {
            throw new HeedException($"--steps {options.Steps}: expected > 0 (positions to run, prompt included)");
        }

        if (tokenizer.VocabSize != model.VocabSize)
        {
            throw new HeedException($"tokenizer has {tokenizer.VocabSize} tokens but the model's vocabulary has {model.VocabSize}: they do not belong together");
        }

        var sampler = new Sampler(model.VocabSize, options.Sampling);
        int steps = Math.Min(options.Steps, model.ContextLength);
        bool addBos = tokenizer.PrependsBos || prompt.Length == 0;
        // The texts of special tokens in the prompt become those tokens, as llama.cpp's tools read a prompt (llama2.c's
        // vocabularies have none).
        int[] promptTokens = tokenizer.Encode([(prompt, true)], addBos && tokenizer.BosId.HasValue);
        if (promptTokens.Length == 0)
        {
            throw new HeedException("prompt: empty, and the tokenizer has no BOS token to start from");
        }

        if (promptTokens.Length > model.ContextLength)
        {
            throw new HeedException($"prompt: {promptTokens.Length} tokens but the model's context is {model.ContextLength}");
        }

        if (promptTokens.Length > steps)
        {
            throw new HeedException($"--steps {options.Steps}: the prompt alone takes {promptTokens.Length} positions (steps count positions, prompt included)");
        }

        var tokens = new List<int>(steps + 1);
        tokens.AddRange(promptTokens);
        using var text = new MemoryStream();
        void Emit(int previous, int token)
        {
            byte[] piece = tokenizer.DecodePiece(previous, token);
            text.Write(piece);
            onPiece?.Invoke(piece);
        }

        for (int i = 1; i < promptTokens.Length; i++) Emit(promptTokens[i - 1], promptTokens[i]);

        DecoderSession session = model.CreateSession(steps);
        session.Threads = options.Threads;
        session.Recorder = options.Recorder;
        session.UseReferenceAttention = options.UseReferenceAttention;
        int? stop = tokenizer.BosId;
        IReadOnlyList<int> endOfGeneration = tokenizer.EndOfGeneration;

        // prefill: the whole prompt in one batched pass; its last row predicts the first new token.
        var clock = Stopwatch.StartNew();
        int next = sampler.Sample(session.Forward(promptTokens, cancellationToken));
        TimeSpan prefill = clock.Elapsed;
        clock.Restart();
        int decodeSteps = 0;
        bool stoppedAtBos = false;
        int? stopToken = null;
        Span<int> one = stackalloc int[1];
        while (true)
        {
            if (next == stop || endOfGeneration.Contains(next))
            {
                stoppedAtBos = next == stop;
                stopToken = next;
                break;
            }

            Emit(tokens[^1], next);
            tokens.Add(next);
            if (session.Position >= steps) break;
            one[0] = next;
            next = sampler.Sample(session.Forward(one, cancellationToken));
            decodeSteps++;
        }

        TimeSpan decode = clock.Elapsed;
        string printed = Encoding.UTF8.GetString(text.GetBuffer(), 0, (int)text.Length);
        return new GenerationResult([.. tokens], promptTokens.Length, printed, prefill, decode, decodeSteps, stoppedAtBos, stopToken);
    }

    /// <summary>
    /// Whether run.c's <c>safe_printf</c> would print a piece: a single-byte piece that is an ASCII control
    /// character other than whitespace is dropped. (Unlike run.c, single bytes ≥ 0x80 are kept, so text
    /// assembled from byte-fallback pieces stays valid UTF-8.)
    /// </summary>
    public static bool IsPrintable(ReadOnlySpan<byte> piece)
    {
        if (piece.Length != 1) return true;
        byte b = piece[0];
        return b >= 0x80 || (b >= 0x20 && b < 0x7F) || (b >= 0x09 && b <= 0x0D);
    }
}

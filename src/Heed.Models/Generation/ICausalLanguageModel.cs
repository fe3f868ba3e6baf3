using System.Runtime.CompilerServices;
namespace Heed.Models.Generation;

/// <summary>A decoder-only transformer that predicts the next token.</summary>
public interface ICausalLanguageModel
{
    /// <summary>A short name of the architecture ("llama", "gpt2").</summary>
    string Architecture { get; }

    /// <summary>V, the number of token ids.</summary>
    int VocabSize { get; }

    /// <summary>The number of positions the model was trained for (the largest cache it accepts).</summary>
    int ContextLength { get; }

    /// <summary>L.</summary>
    int NumLayers { get; }

    /// <summary>H.</summary>
    int NumHeads { get; }

    /// <summary>Hkv.</summary>
    int KvNumHeads { get; }

    /// <summary>D.</summary>
    int HeadSize { get; }

    /// <summary>Creates a session with a KV cache preallocated for <paramref name="capacity"/> positions (≤ the context).</summary>
    /// <exception cref="HeedException">The capacity is not in 1..<see cref="ContextLength"/>.</exception>
    DecoderSession CreateSession(int capacity);
}

/// <summary>The logits of every position and, when asked for, the attention of every layer.</summary>
/// <param name="Logits">[T, V].</param>
/// <param name="Attention">One record per layer (layer order) when captured, else empty.</param>
public sealed record ModelOutput(Tensor<float> Logits, IReadOnlyList<LayerAttention> Attention);

/// <summary>Whole-sequence forward passes.</summary>
public static class CausalLanguageModel
{
    /// <summary>
    /// Runs <paramref name="tokens"/> [T] from position 0 in one batched pass: logits [T, V] and, when
    /// <paramref name="capture"/> is given, each layer's attention probabilities [H, T, T] (plus what it asks for).
    /// <paramref name="cancellationToken"/> is checked before every layer.
    /// </summary>
    /// <exception cref="HeedException">A token id is outside the vocabulary or T exceeds the context.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public static ModelOutput Forward(this ICausalLanguageModel model, ReadOnlySpan<int> tokens, AttentionCaptureOptions? capture = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (tokens.IsEmpty)
        {
            throw new HeedException("forward: no tokens given");
        }

        if (tokens.Length > model.ContextLength)
        {
            throw new HeedException($"forward: {tokens.Length} tokens but the model's context is {model.ContextLength}");
        }

        DecoderSession session = model.CreateSession(tokens.Length);
        AttentionRecorder? recorder = capture is null ? null : new AttentionRecorder(capture);
        session.Recorder = recorder;
        Tensor<float> logits = session.ForwardAll(tokens, cancellationToken);
        return new ModelOutput(logits, recorder?.Records ?? []);
    }
}

/// <summary>
/// The state of one sequence being run through a model: its KV cache and scratch buffers. Tokens are appended:
/// each call runs the new tokens at positions <see cref="Position"/>.. in one batched pass (a prefill when there
/// are many, a decode step when there is one). Not thread-safe; one session per sequence.
/// </summary>
public abstract class DecoderSession
{
    private readonly float[] _lastLogits;
    private AttentionOptions? _attentionOptions;

    /// <summary>Creates the session over a cache.</summary>
    protected DecoderSession(KvCache cache, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(cache);
        Cache = cache;
        _lastLogits = new float[vocabSize];
    }

    /// <summary>The KV cache (one entry per position run so far).</summary>
    public KvCache Cache { get; }

    /// <summary>The position the next token will take: the number of tokens run so far.</summary>
    public int Position => Cache.Length;

    /// <summary>Threads the matrix products and attention may use (1 = the calling thread only).</summary>
    public int Threads
    {
        get;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value);
            field = value;
            _attentionOptions = null;
        }
    } = 1;

    /// <summary>Runs attention on Heed's float64 reference implementation instead of the fastest kernel.</summary>
    public bool UseReferenceAttention
    {
        get;
        set
        {
            field = value;
            _attentionOptions = null;
        }
    }

    /// <summary>
    /// Sends one-token decode steps through <see cref="Attention.Compute"/> too, instead of the session's own decode step
    /// (<see cref="CachedAttention"/>); for tests that compare the two.
    /// </summary>
    internal bool DecodeThroughAttentionCompute { get; set; }

    /// <summary>Causal attention over the cache with this session's thread count and kernel choice (built once).</summary>
    internal AttentionOptions AttentionOptions => _attentionOptions ??= new AttentionOptions
    {
        IsCausal = true,
        MaxThreads = Threads,
        UseReference = UseReferenceAttention,
    };

    /// <summary>When set, every attention call is recorded here; null records nothing and costs nothing.</summary>
    public AttentionRecorder? Recorder { get; set; }

    /// <summary>Forgets every token (the cache memory is kept).</summary>
    public void Reset() => Cache.Reset();

    /// <summary>
    /// Runs the tokens and returns the logits [V] of the last one (valid until the next call).
    /// <paramref name="cancellationToken"/> is checked before every layer; a cancelled call leaves the session as it was
    /// before the call (nothing is committed to the cache).
    /// </summary>
    /// <exception cref="HeedException">A token id is outside the vocabulary or the cache is full.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ReadOnlySpan<float> Forward(ReadOnlySpan<int> tokens, CancellationToken cancellationToken = default)
    {
        Check(tokens);
        Run(tokens, _lastLogits, allRows: false, cancellationToken);
        return _lastLogits;
    }

    /// <summary>
    /// Runs the tokens and returns the logits [T, V] of every one. <paramref name="cancellationToken"/> is checked before
    /// every layer; a cancelled call leaves the session as it was before the call.
    /// </summary>
    /// <exception cref="HeedException">A token id is outside the vocabulary or the cache is full.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public Tensor<float> ForwardAll(ReadOnlySpan<int> tokens, CancellationToken cancellationToken = default)
    {
        Check(tokens);
        var logits = new float[tokens.Length * _lastLogits.Length];
        Run(tokens, logits, allRows: true, cancellationToken);
        return new Tensor<float>([tokens.Length, _lastLogits.Length], logits);
    }

    /// <summary>
    /// Runs tokens [T] at positions <see cref="Position"/>.., writes the new keys/values into the cache, commits them,
    /// and writes logits: [T, V] when <paramref name="allRows"/>, else the last row's [V]. Implementations call
    /// <see cref="CancellationToken.ThrowIfCancellationRequested"/> on <paramref name="cancellationToken"/> before every
    /// layer, and commit the cache only after the last one.
    /// </summary>
    protected abstract void Run(ReadOnlySpan<int> tokens, Span<float> logits, bool allRows, CancellationToken cancellationToken);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Check(ReadOnlySpan<int> tokens)
    {
        if (tokens.IsEmpty)
        {
            throw new HeedException("forward: no tokens given");
        }

        foreach (int token in tokens)
        {
            if ((uint)token >= (uint)_lastLogits.Length)
            {
                throw new HeedException($"forward: token id {token} is outside the vocabulary 0..{_lastLogits.Length - 1}");
            }
        }

        Cache.CheckRoom(tokens.Length);
    }
}

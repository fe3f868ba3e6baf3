namespace Heed;

/// <summary>What the optional output <c>qk_matmul_output</c> holds (ONNX <c>qk_matmul_output_mode</c>).</summary>
public enum QkMatmulOutputMode
{
    /// <summary>0: scale·Q·Kᵀ, before softcap and bias.</summary>
    Scaled = 0,

    /// <summary>1: after softcap (equals <see cref="Scaled"/> when there is no softcap).</summary>
    Softcapped = 1,

    /// <summary>2: after softcap and the additive bias (masked positions are −∞).</summary>
    Biased = 2,

    /// <summary>3: the softmax probabilities (all-zero rows where a row is fully masked).</summary>
    Probabilities = 3,
}

/// <summary>The type the softmax is computed in (ONNX <c>softmax_precision</c>).</summary>
public enum SoftmaxPrecision
{
    /// <summary>binary32 (ONNX TensorProto type 1).</summary>
    Float = 1,

    /// <summary>binary16 (ONNX TensorProto type 10).</summary>
    Float16 = 10,

    /// <summary>binary64 (ONNX TensorProto type 11).</summary>
    Double = 11,

    /// <summary>bfloat16 (ONNX TensorProto type 16).</summary>
    BFloat16 = 16,
}

/// <summary>
/// The attributes of the ONNX <c>Attention</c> operator (opsets 23–25), plus Heed's own switches.
/// Defaults are the operator's defaults.
/// </summary>
public sealed record AttentionOptions
{
    /// <summary>H, the number of query heads. Required for 3-D inputs, forbidden for 4-D ones (ONNX <c>q_num_heads</c>).</summary>
    public int? QNumHeads { get; init; }

    /// <summary>Hkv, the number of key/value heads. Required for 3-D inputs, forbidden for 4-D ones (ONNX <c>kv_num_heads</c>).</summary>
    public int? KvNumHeads { get; init; }

    /// <summary>The factor on Q·Kᵀ; null means 1/√D (ONNX <c>scale</c>).</summary>
    public double? Scale { get; init; }

    /// <summary>Masks key j for query i unless j ≤ i + offset (ONNX <c>is_causal</c>).</summary>
    public bool IsCausal { get; init; }

    /// <summary>When &gt; 0, scores become softcap·tanh(scores/softcap) before any mask (ONNX <c>softcap</c>).</summary>
    public double Softcap { get; init; }

    /// <summary>Keys more than this many positions before the query's position are masked; −1 = unbounded.</summary>
    public int LeftWindowSize { get; init; } = -1;

    /// <summary>Keys more than this many positions after the query's position are masked; −1 = unbounded.</summary>
    public int RightWindowSize { get; init; } = -1;

    /// <summary>When true, <see cref="AttentionResult.QkMatmulOutput"/> is produced, as chosen by <see cref="QkMatmulOutputMode"/>.</summary>
    public bool ComputeQkMatmulOutput { get; init; }

    /// <summary>What <see cref="AttentionResult.QkMatmulOutput"/> holds (ONNX <c>qk_matmul_output_mode</c>).</summary>
    public QkMatmulOutputMode QkMatmulOutputMode { get; init; } = QkMatmulOutputMode.Scaled;

    /// <summary>The type the softmax is computed in; null = the input type, computed at least in float32 (ONNX <c>softmax_precision</c>).</summary>
    public SoftmaxPrecision? SoftmaxPrecision { get; init; }

    /// <summary>Forces the float64 reference implementation instead of the fastest kernel that supports the call.</summary>
    public bool UseReference { get; init; }

    /// <summary>The most threads one call may use; null = every core (<see cref="Environment.ProcessorCount"/>). Must be at least 1.</summary>
    public int? MaxThreads { get; init; }

    /// <summary>
    /// Receives the call's steps after it ran: every intermediate (Q, K, V, scores, probabilities, output) from the float64
    /// reference, or only the probabilities from the kernels when the observer's <see cref="IAttentionObserver.Content"/> says
    /// so; null = no tracing, at no cost.
    /// </summary>
    public IAttentionObserver? Observer { get; init; }

    /// <summary>
    /// Stops the call: the kernels look at it between work items (a block of query rows of one head, or one slice of keys) and
    /// the reference between rows, so a cancelled call ends within one block's time and throws
    /// <see cref="OperationCanceledException"/>; its output is then incomplete and must not be read.
    /// </summary>
    public CancellationToken Cancellation { get; init; }
}

/// <summary>
/// The inputs of the ONNX <c>Attention</c> operator.
/// 4-D: Q [B, H, T, D], K [B, Hkv, Skv, D], V [B, Hkv, Skv, Dv].
/// 3-D: Q [B, T, H·D], K [B, Skv, Hkv·D], V [B, Skv, Hkv·Dv] with the head counts in <see cref="AttentionOptions"/>.
/// </summary>
/// <param name="Query">Q, float32, float16, bfloat16 or float64.</param>
/// <param name="Key">K, a floating-point type.</param>
/// <param name="Value">V, a floating-point type.</param>
public sealed record AttentionInputs(Tensor Query, Tensor Key, Tensor Value)
{
    /// <summary>Boolean (true = may attend) or additive float mask, broadcastable to [B, H, T, S]; its last axis may be shorter than S (missing columns are masked).</summary>
    public Tensor? AttnMask { get; init; }

    /// <summary>Cached keys [B, Hkv, P, D], prepended to K. Given together with <see cref="PastValue"/>.</summary>
    public Tensor? PastKey { get; init; }

    /// <summary>Cached values [B, Hkv, P, Dv], prepended to V. Given together with <see cref="PastKey"/>.</summary>
    public Tensor? PastValue { get; init; }

    /// <summary>int64 [B]: keys at positions ≥ nonpad_kv_seqlen[b] are masked for batch b (opset 24+). Not combinable with a past cache.</summary>
    public Tensor? NonpadKvSeqlen { get; init; }

    /// <summary>
    /// Where Y is written: a tensor of Y's shape and Q's element type that the call fills and returns as
    /// <see cref="AttentionResult.Output"/>, instead of allocating a new one (for loops that call attention again and again:
    /// no allocation, no fresh pages to fault in, like ONNX Runtime's bound outputs or PyTorch's <c>out=</c>). It must not
    /// share storage with any input. Null = a new tensor per call.
    /// </summary>
    public Tensor? Destination { get; init; }
}

/// <summary>The outputs of the ONNX <c>Attention</c> operator.</summary>
/// <param name="Output">Y: [B, H, T, Dv] for 4-D inputs, [B, T, H·Dv] for 3-D inputs, in Q's element type.</param>
/// <param name="PresentKey">concat(past_key, K) as [B, Hkv, S, D] in K's type.</param>
/// <param name="PresentValue">concat(past_value, V) as [B, Hkv, S, Dv] in V's type.</param>
/// <param name="QkMatmulOutput">[B, H, T, S] in Q's type when requested, else null.</param>
public sealed record AttentionResult(Tensor Output, Tensor PresentKey, Tensor PresentValue, Tensor? QkMatmulOutput);

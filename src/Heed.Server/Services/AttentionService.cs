using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace Heed.Server.Services;

/// <summary>The ONNX <c>Attention</c> operator's inputs and attributes, as the REST API and the MCP tool take them.</summary>
public sealed record AttentionRequest
{
    /// <summary>Q [B, H, T, D] or [B, T, H·D].</summary>
    [Description("Q: [B, H, T, D], or [B, T, H·D] with qNumHeads and kvNumHeads.")]
    [Required]
    public TensorData? Q { get; init; }

    /// <summary>K [B, Hkv, S, D] or [B, S, Hkv·D].</summary>
    [Description("K: [B, Hkv, S, D] or [B, S, Hkv·D].")]
    [Required]
    public TensorData? K { get; init; }

    /// <summary>V [B, Hkv, S, Dv] or [B, S, Hkv·Dv].</summary>
    [Description("V: [B, Hkv, S, Dv] or [B, S, Hkv·Dv].")]
    [Required]
    public TensorData? V { get; init; }

    /// <summary>Boolean (true = attend) or additive mask, broadcastable to [B, H, T, S].</summary>
    [Description("Boolean (1 = may attend) or additive float mask, broadcastable to [B, H, T, S]; a shorter last axis masks the missing columns.")]
    public TensorData? AttnMask { get; init; }

    /// <summary>Cached keys [B, Hkv, P, D].</summary>
    [Description("Cached keys [B, Hkv, P, D], prepended to K.")]
    public TensorData? PastKey { get; init; }

    /// <summary>Cached values [B, Hkv, P, Dv].</summary>
    [Description("Cached values [B, Hkv, P, Dv], prepended to V.")]
    public TensorData? PastValue { get; init; }

    /// <summary>int64 [B]: valid key count per batch.</summary>
    [Description("int64 [B]: keys at positions >= nonpadKvSeqlen[b] are masked.")]
    public TensorData? NonpadKvSeqlen { get; init; }

    /// <summary>ONNX q_num_heads (3-D inputs only).</summary>
    [Description("H, for 3-D inputs only.")]
    public int? QNumHeads { get; init; }

    /// <summary>ONNX kv_num_heads (3-D inputs only).</summary>
    [Description("Hkv, for 3-D inputs only.")]
    public int? KvNumHeads { get; init; }

    /// <summary>The factor on Q·Kᵀ; null = 1/√D.</summary>
    [Description("The factor on Q·Kᵀ; default 1/sqrt(D).")]
    public double? Scale { get; init; }

    /// <summary>ONNX is_causal.</summary>
    [Description("Query i attends key j only if j <= i + offset.")]
    public bool IsCausal { get; init; }

    /// <summary>ONNX softcap (0 = off).</summary>
    [Description("When > 0, scores become softcap·tanh(scores/softcap).")]
    public double Softcap { get; init; }

    /// <summary>ONNX left window (−1 = unbounded).</summary>
    [Description("Sliding window: keys more than this many positions before the query are masked; -1 = unbounded.")]
    public int LeftWindowSize { get; init; } = -1;

    /// <summary>ONNX right window (−1 = unbounded).</summary>
    [Description("Sliding window: keys more than this many positions after the query are masked; -1 = unbounded.")]
    public int RightWindowSize { get; init; } = -1;

    /// <summary>0–3: which qk_matmul_output to return; null = none.</summary>
    [Description("0 scaled scores, 1 after softcap, 2 after softcap and mask, 3 softmax probabilities; omit for none.")]
    public int? QkMatmulOutputMode { get; init; }

    /// <summary>float, float16, double or bfloat16.</summary>
    [Description("The type the softmax is computed in: float, float16, double or bfloat16.")]
    public string? SoftmaxPrecision { get; init; }

    /// <summary>Run the float64 reference.</summary>
    [Description("Run the float64 reference implementation.")]
    public bool Reference { get; init; }

    /// <summary>How tensors in the response are written.</summary>
    [Description("How output tensors are written: Json (shape, dtype, data) or Npy (base64 .npy).")]
    public OutputEncoding Encoding { get; init; }
}

/// <summary>The ONNX <c>Attention</c> operator's outputs.</summary>
/// <param name="Output">Y [B, H, T, Dv] or [B, T, H·Dv].</param>
/// <param name="PresentKey">[B, Hkv, S, D].</param>
/// <param name="PresentValue">[B, Hkv, S, Dv].</param>
/// <param name="QkMatmulOutput">[B, H, T, S] when requested.</param>
public sealed record AttentionResponse(TensorData Output, TensorData PresentKey, TensorData PresentValue, TensorData? QkMatmulOutput);

/// <summary>Runs <see cref="Attention.Compute"/> on decoded requests: the one place the server's attention goes through.</summary>
public sealed class AttentionService
{
    private readonly TensorCodec _codec;

    /// <summary>Creates the service.</summary>
    public AttentionService(TensorCodec codec) => _codec = codec;

    /// <summary>Decodes, computes and encodes. Q, K, V → Y (+ present key/value, + qk_matmul_output when asked).</summary>
    /// <exception cref="HeedException">An input is missing, over a limit, or breaks the semantics.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired (the attention call stops at its next block of rows).</exception>
    public AttentionResponse Compute(AttentionRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var inputs = new AttentionInputs(_codec.Decode("q", request.Q), _codec.Decode("k", request.K), _codec.Decode("v", request.V))
        {
            AttnMask = _codec.DecodeOptional("attnMask", request.AttnMask, allowMinusInfinity: true),
            PastKey = _codec.DecodeOptional("pastKey", request.PastKey),
            PastValue = _codec.DecodeOptional("pastValue", request.PastValue),
            NonpadKvSeqlen = _codec.DecodeOptional("nonpadKvSeqlen", request.NonpadKvSeqlen),
        };
        if (request.QkMatmulOutputMode is int mode && mode is < 0 or > 3)
        {
            throw new HeedException($"qkMatmulOutputMode: {mode}; expected 0, 1, 2 or 3");
        }

        SoftmaxPrecision? precision = request.SoftmaxPrecision?.ToLowerInvariant() switch
        {
            null => null,
            "float" or "float32" => SoftmaxPrecision.Float,
            "float16" => SoftmaxPrecision.Float16,
            "double" or "float64" => SoftmaxPrecision.Double,
            "bfloat16" => SoftmaxPrecision.BFloat16,
            _ => throw new HeedException($"softmaxPrecision: '{request.SoftmaxPrecision}'; expected float, float16, double or bfloat16"),
        };
        var options = new AttentionOptions
        {
            QNumHeads = request.QNumHeads,
            KvNumHeads = request.KvNumHeads,
            Scale = request.Scale,
            IsCausal = request.IsCausal,
            Softcap = request.Softcap,
            LeftWindowSize = request.LeftWindowSize,
            RightWindowSize = request.RightWindowSize,
            ComputeQkMatmulOutput = request.QkMatmulOutputMode is not null,
            QkMatmulOutputMode = (QkMatmulOutputMode)(request.QkMatmulOutputMode ?? 0),
            SoftmaxPrecision = precision,
            UseReference = request.Reference,
            Cancellation = cancellation,
        };
        cancellation.ThrowIfCancellationRequested();
        AttentionResult result = Attention.Compute(inputs, options);
        cancellation.ThrowIfCancellationRequested();
        OutputEncoding encoding = request.Encoding;
        return new AttentionResponse(
            TensorData.From(result.Output, encoding),
            TensorData.From(result.PresentKey, encoding),
            TensorData.From(result.PresentValue, encoding),
            result.QkMatmulOutput is null ? null : TensorData.From(result.QkMatmulOutput, encoding));
    }
}

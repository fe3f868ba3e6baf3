using Heed.Kernels;
using Heed.Reference;

namespace Heed;

/// <summary>
/// Heed's attention entry points: the ONNX <c>Attention</c> operator (opsets 23–25) and PyTorch's
/// <c>scaled_dot_product_attention</c>. Each call runs the fastest implementation that supports it, or the
/// float64 reference when <see cref="AttentionOptions.UseReference"/> is set.
/// </summary>
public static class Attention
{
    /// <summary>
    /// The ONNX <c>Attention</c> operator: Y = softmax(scale·Q·Kᵀ (softcapped) + bias) · V.
    /// Q [B, H, T, D], K [B, Hkv, S, D], V [B, Hkv, S, Dv] → Y [B, H, T, Dv]
    /// (or 3-D Q [B, T, H·D], K [B, S, Hkv·D], V [B, S, Hkv·Dv] → Y [B, T, H·Dv] with head counts in the options).
    /// </summary>
    /// <param name="inputs">Q, K, V and the optional mask, past cache and nonpad lengths.</param>
    /// <param name="options">The operator's attributes; null = the defaults.</param>
    /// <returns>Y, present key/value [B, Hkv, P+S, D|Dv] and, when requested, qk_matmul_output [B, H, T, P+S].</returns>
    /// <exception cref="HeedException">An input breaks a rule of the semantics.</exception>
    /// <exception cref="OperationCanceledException"><see cref="AttentionOptions.Cancellation"/> fired (looked at between blocks of rows).</exception>
    public static AttentionResult Compute(AttentionInputs inputs, AttentionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        options ??= new AttentionOptions();
        if (options.Observer is not IAttentionObserver observer)
        {
            return AttentionKernels.Compute(inputs, options);
        }

        // Tracing every intermediate is the slow path: the reference recomputes the call in float64. An observer of the
        // probabilities alone gets the kernels' float32 ones, unless the call asked for the reference, Q is narrower, or a
        // softmax_precision asks for the reference's own rounding of each probability. The flash kernel hands them over on the
        // way when each block's keys fit one tile; otherwise they take a pass of their own.
        bool kernelCapture = observer.Content == AttentionCaptureContent.Probabilities && !options.UseReference
            && inputs.Query.DType == DType.Float32 && options.SoftmaxPrecision is null;
        if (!kernelCapture)
        {
            AttentionResult exact = AttentionKernels.Compute(inputs, options);
            observer.OnAttention(ReferenceAttention.Capture(inputs, options));
            return exact;
        }

        AttentionResult result = AttentionKernels.Compute(inputs, options, out Tensor<double>? probabilities, out AttentionGeometry g);
        observer.OnAttention(probabilities is not null ? KernelCapture.FromProbabilities(g, probabilities) : KernelCapture.Capture(inputs, options, result, g));
        return result;
    }

    /// <summary>
    /// The backward pass of <see cref="Compute"/>: given dY = ∂loss/∂Y, the gradients
    /// dV = Pᵀ·dY, dQ = scale·dS·K and dK = scale·dSᵀ·Q with dS = P ∘ (dY·Vᵀ − rowsum(dY ∘ Y)) (times the softcap's slope
    /// 1 − tanh² when a softcap is set), P the attention probabilities. With GQA the gradients of the query heads that share a
    /// kv head are summed into it; a fully masked row gives zero gradients. Masks carry no gradient.
    /// Q [B, H, T, D], K [B, Hkv, S, D], V [B, Hkv, S, Dv], dY [B, H, T, Dv] → Y [B, H, T, Dv], dQ [B, H, T, D],
    /// dK [B, Hkv, S, D], dV [B, Hkv, S, Dv] (3-D inputs: dY and Y [B, T, H·Dv], each gradient in its input's 3-D shape).
    /// </summary>
    /// <param name="inputs">Q, K, V and the optional mask and nonpad lengths; no past cache (the cache is not differentiated).</param>
    /// <param name="gradOutput">dY, the gradient of the loss with respect to Y, in Y's shape; float32, float16, bfloat16 or float64.</param>
    /// <param name="options">The forward's attributes; null = the defaults. <see cref="AttentionOptions.UseReference"/> runs the
    /// float64 reference backward; <see cref="AttentionOptions.SoftmaxPrecision"/> and qk_matmul_output do not apply.</param>
    /// <returns>Y (recomputed on the way) and dQ, dK, dV, each in its input's shape and element type.</returns>
    /// <exception cref="HeedException">An input breaks a rule of the semantics, dY does not have Y's shape, or a past cache is given.</exception>
    /// <exception cref="OperationCanceledException"><see cref="AttentionOptions.Cancellation"/> fired (looked at between blocks of rows).</exception>
    public static AttentionGradients Backward(AttentionInputs inputs, Tensor gradOutput, AttentionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(gradOutput);
        return AttentionKernels.ComputeBackward(inputs, gradOutput, options ?? new AttentionOptions());
    }

    /// <summary>
    /// The forward pass of <see cref="Compute"/> for training: Y and the log-sum-exp L of each query row, which
    /// <see cref="Backward(AttentionInputs, Tensor, AttentionForwardState, AttentionOptions?)"/> takes so that it does not compute
    /// them again (as PyTorch's flash attention keeps its output and log-sum-exp for the backward). Same inputs and options as
    /// <see cref="Compute"/>, without a past cache; no observer, present key/value or qk_matmul_output.
    /// </summary>
    /// <param name="inputs">Q, K, V and the optional mask and nonpad lengths; no past cache.</param>
    /// <param name="options">The operator's attributes; null = the defaults. <see cref="AttentionOptions.UseReference"/> (and float64
    /// inputs) compute Y and L with the float64 reference.</param>
    /// <returns>Y and L ([B, H, T] float32).</returns>
    /// <exception cref="HeedException">An input breaks a rule of the semantics, or a past cache is given.</exception>
    /// <exception cref="OperationCanceledException"><see cref="AttentionOptions.Cancellation"/> fired.</exception>
    public static AttentionForwardState ComputeForBackward(AttentionInputs inputs, AttentionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return AttentionKernels.ComputeForBackward(inputs, options ?? new AttentionOptions());
    }

    /// <summary>
    /// <see cref="Backward(AttentionInputs, Tensor, AttentionOptions?)"/> given the forward's Y and L from
    /// <see cref="ComputeForBackward"/> on the same inputs and options: the kernel reuses them instead of running the forward
    /// again (δ = rowsum(dY ∘ Y) is computed from the given Y). The returned <see cref="AttentionGradients.Output"/> is the given Y.
    /// The float64 reference (<see cref="AttentionOptions.UseReference"/>, float64 inputs) ignores the state and recomputes.
    /// </summary>
    /// <param name="inputs">The inputs the state was computed from.</param>
    /// <param name="gradOutput">dY, in Y's shape.</param>
    /// <param name="forward">Y and L from <see cref="ComputeForBackward"/>.</param>
    /// <param name="options">The forward's attributes; null = the defaults.</param>
    /// <returns>Y (the given one) and dQ, dK, dV, each in its input's shape and element type.</returns>
    /// <exception cref="HeedException">An input breaks a rule, dY or the state does not have the expected shape or type, or a past cache is given.</exception>
    /// <exception cref="OperationCanceledException"><see cref="AttentionOptions.Cancellation"/> fired.</exception>
    public static AttentionGradients Backward(AttentionInputs inputs, Tensor gradOutput, AttentionForwardState forward, AttentionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(gradOutput);
        ArgumentNullException.ThrowIfNull(forward);
        return AttentionKernels.ComputeBackward(inputs, gradOutput, options ?? new AttentionOptions(), saved: forward);
    }

    /// <summary>
    /// PyTorch's <c>scaled_dot_product_attention</c> (inference only: dropout is not offered).
    /// query [B, H, T, D], key [B, Hkv, S, D], value [B, Hkv, S, Dv] → [B, H, T, Dv].
    /// </summary>
    /// <param name="query">Q [B, H, T, D].</param>
    /// <param name="key">K [B, Hkv, S, D]; Hkv must equal H unless <paramref name="enableGqa"/>.</param>
    /// <param name="value">V [B, Hkv, S, Dv].</param>
    /// <param name="attnMask">Boolean (true = attend) or additive float mask, broadcastable to [B, H, T, S] by PyTorch's rules.</param>
    /// <param name="isCausal">Query i attends keys j ≤ i (aligned top-left). Cannot be combined with <paramref name="attnMask"/>, as in PyTorch.</param>
    /// <param name="scale">The factor on Q·Kᵀ; null = 1/√D.</param>
    /// <param name="enableGqa">Allows H to be a multiple of Hkv (query head h reads kv head h / (H / Hkv)).</param>
    /// <param name="useReference">Forces the float64 reference implementation.</param>
    /// <returns>The output [B, H, T, Dv] in the query's element type. Rows with every key masked are zeros (as PyTorch ≥ 2.5).</returns>
    /// <exception cref="HeedException">An input breaks a rule.</exception>
    public static Tensor ScaledDotProductAttention(
        Tensor query,
        Tensor key,
        Tensor value,
        Tensor? attnMask = null,
        bool isCausal = false,
        double? scale = null,
        bool enableGqa = false,
        bool useReference = false)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (query.Rank != 4 || key.Rank != 4 || value.Rank != 4)
        {
            throw new HeedException($"scaled_dot_product_attention takes 4-D query [B, H, T, D], key and value [B, Hkv, S, D|Dv]; got {query.ShapeText}, {key.ShapeText}, {value.ShapeText}");
        }

        if (attnMask is not null && isCausal)
        {
            throw new HeedException("scaled_dot_product_attention: give attn_mask or is_causal, not both (PyTorch semantics; the ONNX entry point combines them)");
        }

        if (!enableGqa && key.Dim(1) != query.Dim(1))
        {
            throw new HeedException($"key has {key.Dim(1)} heads but query has {query.Dim(1)}: pass enableGqa to let query heads share key/value heads");
        }

        if (attnMask is not null && attnMask.Rank >= 1 && attnMask.Dim(-1) == 1 && key.Dim(2) > 1)
        {
            // PyTorch broadcasts a last axis of 1; the ONNX rules would read it as a short mask.
            attnMask = BroadcastLastAxis(attnMask, key.Dim(2));
        }
        else if (attnMask is not null && attnMask.Rank >= 1 && attnMask.Dim(-1) != key.Dim(2))
        {
            throw new HeedException($"attn_mask {attnMask.ShapeText} has {attnMask.Dim(-1)} columns; expected 1 or {key.Dim(2)} (S, the key length)");
        }

        var inputs = new AttentionInputs(query, key, value) { AttnMask = attnMask };
        var options = new AttentionOptions { IsCausal = isCausal, Scale = scale, UseReference = useReference };
        return Compute(inputs, options).Output;
    }

    private static Tensor BroadcastLastAxis(Tensor mask, int length)
    {
        double[] data = mask.ToDoubleArray();
        int[] shape = mask.Shape.ToArray();
        shape[^1] = length;
        var wide = new double[data.Length * length];
        for (int n = 0; n < data.Length; n++)
        {
            wide.AsSpan(n * length, length).Fill(data[n]);
        }

        return Tensor.FromDoubles(mask.DType, shape, wide);
    }
}

namespace Heed;

/// <summary>
/// What the backward pass of the ONNX <c>Attention</c> operator returns: Y (recomputed on the way) and the gradients of a
/// scalar loss with respect to Q, K and V, each in its input's shape, layout and element type.
/// </summary>
/// <param name="Output">Y: [B, H, T, Dv] (or [B, T, H·Dv] for 3-D inputs) in Q's element type.</param>
/// <param name="GradQuery">dQ: Q's shape, [B, H, T, D] or [B, T, H·D], in Q's element type.</param>
/// <param name="GradKey">dK: K's shape, [B, Hkv, S, D] or [B, S, Hkv·D], in K's element type; with GQA the sum over the query heads that share each kv head.</param>
/// <param name="GradValue">dV: V's shape, [B, Hkv, S, Dv] or [B, S, Hkv·Dv], in V's element type; summed over shared heads like dK.</param>
public sealed record AttentionGradients(Tensor Output, Tensor GradQuery, Tensor GradKey, Tensor GradValue);

/// <summary>
/// What <see cref="Attention.ComputeForBackward"/> keeps for the backward pass, as PyTorch's flash attention saves it: Y and each
/// query row's log-sum-exp of its scores, L = log Σ_j exp(z_j) with z the scores after scale, softcap and bias.
/// </summary>
/// <param name="Output">Y, as <see cref="Attention.Compute"/> returns it (within float32 rounding).</param>
/// <param name="LogSumExp">L: [B, H, T] float32; +∞ for a row whose every key is masked (its Y is 0 and its gradients are 0).</param>
public sealed record AttentionForwardState(Tensor Output, Tensor LogSumExp);

namespace Heed.Kernels;

/// <summary>
/// The capture of an observer that reads only the probabilities (<see cref="AttentionCaptureContent.Probabilities"/>): the
/// float32 probabilities of the materialized kernel instead of every intermediate recomputed by the float64 reference. The
/// reference replays the call in scalar float64 loops (for a one-sentence encoder layer about as long as the layer's float32
/// products); this costs the scores and softmax of the call once more in float32 (no P·V) and a pass that renormalizes each row.
/// A call on the flash kernel whose keys fit one tile needs neither: its blocks write the renormalized float64 rows on the way.
/// </summary>
internal static class KernelCapture
{
    /// <summary>The largest Y a thread keeps for the capture's run: 1 MiB of float32.</summary>
    private const int KeptOutputLimit = 1 << 18;

    // The kernel call needs a Y it then leaves unwritten: each thread keeps one, so that a traced model allocates little besides
    // what it hands the observer (allocation here showed up as garbage collections in the profile of a one-sentence encoder).
    [ThreadStatic]
    private static Tensor<float>? _discardedOutput;

    /// <summary>
    /// Q [B, H, T, D] or [B, T, H·D] float32, K, V → probabilities [B, H, T, S] as float64, each row scaled by the inverse of its float64 sum.
    /// <paramref name="result"/> is the call's own result and <paramref name="g"/> its geometry: its qk_matmul_output is reused when it already holds the probabilities;
    /// otherwise the materialized kernel runs the call once more for them alone (no P·V), apart from the caller's destination, so
    /// that the caller's Y is the one an untraced call computes.
    /// </summary>
    /// <exception cref="OperationCanceledException"><see cref="AttentionOptions.Cancellation"/> fired.</exception>
    public static AttentionCapture Capture(AttentionInputs inputs, AttentionOptions options, AttentionResult result, AttentionGeometry g)
    {
        Tensor probabilities = options.ComputeQkMatmulOutput && options.QkMatmulOutputMode == QkMatmulOutputMode.Probabilities
            ? result.QkMatmulOutput!
            : AttentionKernels.Probabilities(inputs, options, DiscardedOutput(g));
        double[] wide = probabilities is Tensor<double> d ? d.Data : probabilities.ToDoubleArray(); // [B, H, T, S]
        return Normalized(g, wide);
    }

    /// <summary>
    /// The capture from probabilities the flash kernel wrote, widened and renormalized, during the call (see
    /// <see cref="AttentionKernels.Compute(AttentionInputs, AttentionOptions, out Tensor{double}?, out AttentionGeometry)"/>).
    /// </summary>
    public static AttentionCapture FromProbabilities(AttentionGeometry g, Tensor<double> probabilities) =>
        new(g, null, null, null, null, probabilities, null);

    private static AttentionCapture Normalized(AttentionGeometry g, double[] wide)
    {
        int kvLength = g.KvLength;
        for (int start = 0; start + kvLength <= wide.Length && kvLength > 0; start += kvLength)
        {
            // The float32 division leaves a row's sum within a few float32 units of 1; scaling the widened row by its float64
            // sum makes it a distribution to float64 rounding, as the reference's rows are. A fully masked row stays zeros.
            Span<double> row = wide.AsSpan(start, kvLength);
            double sum = 0;
            foreach (double p in row) sum += p;
            if (sum > 0 && sum != 1)
            {
                double inverse = 1 / sum;
                foreach (ref double p in row) p *= inverse;
            }
        }

        return new AttentionCapture(g, null, null, null, null, new Tensor<double>([g.Batch, g.NumHeads, g.QueryLength, kvLength], wide), null);
    }

    /// <summary>
    /// A float32 tensor of Y's shape for <paramref name="g"/> (Q is float32 here): this thread's kept one when it fits, or null (the
    /// kernel then allocates) for outputs over <see cref="KeptOutputLimit"/> elements, which a thread should not hold on to.
    /// </summary>
    private static Tensor<float>? DiscardedOutput(AttentionGeometry g)
    {
        int[] shape = g.IsPacked ? [g.Batch, g.QueryLength, g.NumHeads * g.ValueHeadSize] : [g.Batch, g.NumHeads, g.QueryLength, g.ValueHeadSize];
        if (Tensor.LengthOrNull(shape) is not int length || length > KeptOutputLimit)
        {
            return null;
        }

        if (_discardedOutput is not Tensor<float> t || !t.Shape.SequenceEqual(shape))
        {
            t = new Tensor<float>(shape, new float[length]);
            _discardedOutput = t;
        }

        return t;
    }
}

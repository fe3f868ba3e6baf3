using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Heed.Reference;

namespace Heed.Kernels;

/// <summary>The implementations a call of <see cref="Attention.Compute"/> can run on.</summary>
public enum AttentionKernel
{
    /// <summary>The float64 reference (<see cref="ReferenceAttention"/>): forced by <see cref="AttentionOptions.UseReference"/>, and used for float64 inputs and D = 0.</summary>
    Reference,

    /// <summary>Fused tiles with an online softmax, no T×S matrix (<c>FlashAttention</c>).</summary>
    Flash,

    /// <summary>A few query rows per kv head, split along the keys with a log-sum-exp merge (<c>DecodeAttention</c>).</summary>
    Decode,

    /// <summary>Whole rows of scores, for <c>qk_matmul_output</c> and a float16, bfloat16 or double <c>softmax_precision</c> (<c>MaterializedAttention</c>).</summary>
    Materialized,
}

/// <summary>
/// The dispatcher: picks the kernel for a call, prepares its inputs once (checks, present key/value, pinned rows, the
/// bias) and runs it on the widest vector tier the machine has, with up to <see cref="AttentionOptions.MaxThreads"/> threads.
/// </summary>
public static class AttentionKernels
{
    /// <summary>The widest vector tier the JIT uses on this machine (honours <c>DOTNET_EnableAVX512=0</c> and the like).</summary>
    public static SimdTier Tier =>
        Vector512.IsHardwareAccelerated ? SimdTier.Vector512
        : Vector256.IsHardwareAccelerated ? SimdTier.Vector256
        : Vector128.IsHardwareAccelerated ? SimdTier.Vector128
        : SimdTier.Scalar;

    /// <summary>The kernel <see cref="Attention.Compute"/> runs for these inputs and options (inputs must pass <see cref="AttentionGeometry.Resolve"/>).</summary>
    /// <exception cref="HeedException">An input breaks a rule of the semantics.</exception>
    public static AttentionKernel Choose(AttentionInputs inputs, AttentionOptions options)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(options);
        return Choose(inputs, options, AttentionGeometry.Resolve(inputs, options));
    }

    /// <summary>The threads a call uses: <see cref="AttentionOptions.MaxThreads"/>, or every core.</summary>
    /// <exception cref="HeedException">MaxThreads is below 1.</exception>
    public static int Threads(AttentionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxThreads is int n && n < 1)
        {
            throw new HeedException($"MaxThreads (--threads) must be at least 1; got {n}");
        }

        return options.MaxThreads ?? Environment.ProcessorCount;
    }

    /// <summary>
    /// Runs the ONNX <c>Attention</c> operator on the chosen kernel (see <see cref="Attention.Compute"/> for shapes).
    /// </summary>
    /// <exception cref="HeedException">An input breaks a rule of the semantics.</exception>
    /// <exception cref="OperationCanceledException"><see cref="AttentionOptions.Cancellation"/> fired.</exception>
    public static AttentionResult Compute(AttentionInputs inputs, AttentionOptions options) => Compute(inputs, options, null, null);

    /// <summary>As <see cref="Compute(AttentionInputs, AttentionOptions)"/>, optionally forcing a kernel and a vector tier (tests and benchmarks).</summary>
    /// <exception cref="HeedException">An input breaks a rule, or the forced kernel cannot run the call.</exception>
    /// <exception cref="OperationCanceledException"><see cref="AttentionOptions.Cancellation"/> fired.</exception>
    public static AttentionResult Compute(AttentionInputs inputs, AttentionOptions options, AttentionKernel? kernel, SimdTier? tier) =>
        Compute(inputs, options, kernel, tier, probabilitiesOnly: false);

    /// <summary>
    /// As <see cref="Compute(AttentionInputs, AttentionOptions)"/>; when the flash kernel runs it with every key in one tile
    /// (S ≤ <see cref="FlashAttention.MaxTile"/>) and every block could use its tile, <paramref name="probabilities"/> is the
    /// call's probabilities [B, H, T, S] as float64, each row scaled by the inverse of its float64 sum, written by the kernel's
    /// blocks on the way (see <see cref="KernelCapture"/>); otherwise it is null. <paramref name="geometry"/> is the call's
    /// resolved geometry. Y is the same as without.
    /// </summary>
    internal static AttentionResult Compute(AttentionInputs inputs, AttentionOptions options, out Tensor<double>? probabilities, out AttentionGeometry geometry)
    {
        var sink = new CaptureSink();
        AttentionResult result = Compute(inputs, options, null, null, probabilitiesOnly: false, sink);
        probabilities = sink.Misses == 0 && sink.Buffer is double[] p
            ? new Tensor<double>([sink.Geometry!.Batch, sink.Geometry.NumHeads, sink.Geometry.QueryLength, sink.Geometry.KvLength], p)
            : null;
        geometry = sink.Geometry!;
        return result;
    }

    /// <summary>
    /// A capture's request to the dispatcher: the call's geometry, the float64 buffer it gave the flash kernel (null when the call
    /// could not hand its probabilities over on the way) and how many blocks could not write theirs (−1: the kernel did not run).
    /// </summary>
    private sealed class CaptureSink
    {
        public AttentionGeometry? Geometry { get; set; }

        public double[]? Buffer { get; set; }

        public int Misses { get; set; } = -1;
    }

    /// <summary>
    /// The probabilities softmax(scale·Q·Kᵀ (softcapped) + bias) [B, H, T, S] as float64 (computed in float32 by the materialized
    /// kernel, which then skips P·V; Y, written to <paramref name="scratch"/> or not at all, is not returned). For an observer of the
    /// probabilities alone.
    /// </summary>
    /// <exception cref="OperationCanceledException"><see cref="AttentionOptions.Cancellation"/> fired.</exception>
    internal static Tensor Probabilities(AttentionInputs inputs, AttentionOptions options, Tensor? scratch) =>
        Compute(
            inputs with { Destination = scratch },
            options with { Observer = null, ComputeQkMatmulOutput = true, QkMatmulOutputMode = QkMatmulOutputMode.Probabilities },
            kernel: null,
            tier: null,
            probabilitiesOnly: true).QkMatmulOutput!;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-call setup: optimized from the first call, not after tiering
    private static unsafe AttentionResult Compute(AttentionInputs inputs, AttentionOptions options, AttentionKernel? kernel, SimdTier? tier, bool probabilitiesOnly, CaptureSink? sink = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(options);
        options.Cancellation.ThrowIfCancellationRequested();
        AttentionGeometry g = AttentionGeometry.Resolve(inputs, options);
        int threads = Threads(options);
        AttentionKernel chosen = Choose(inputs, options, g);
        if (sink is not null)
        {
            sink.Geometry = g;
        }

        if (kernel is AttentionKernel forced && forced != chosen)
        {
            bool possible = forced == AttentionKernel.Reference
                || (chosen != AttentionKernel.Reference && (forced == AttentionKernel.Materialized || !NeedsRows(options)));
            if (!possible)
            {
                throw new HeedException($"the {forced} kernel cannot run this call; the dispatcher picks {chosen}");
            }

            chosen = forced;
        }

        int[] outputShape = g.IsPacked
            ? [g.Batch, g.QueryLength, g.NumHeads * g.ValueHeadSize]
            : [g.Batch, g.NumHeads, g.QueryLength, g.ValueHeadSize];
        CheckDestination(inputs, outputShape);
        if (chosen == AttentionKernel.Reference)
        {
            AttentionResult exact = ReferenceAttention.Compute(inputs, options);
            if (inputs.Destination is Tensor into)
            {
                CopyData(exact.Output, into);
                exact = exact with { Output = into };
            }

            return exact;
        }

        SimdTier simd = tier ?? Tier;
        int newLength = g.KvLength - g.PastLength;
        Tensor presentKey = Present(inputs.PastKey, inputs.Key, g, newLength, g.HeadSize, inputs.Key.DType);
        Tensor presentValue = Present(inputs.PastValue, inputs.Value, g, newLength, g.ValueHeadSize, inputs.Value.DType);

        // The kernels read the concatenated cache; when the past has another element type the reference computes with the
        // past's own values, so the kernels then read a float32 concatenation (exact for float32, float16 and bfloat16).
        Tensor keys = inputs.PastKey is Tensor pk && pk.DType != inputs.Key.DType
            ? Present(pk, inputs.Key, g, newLength, g.HeadSize, DType.Float32) : presentKey;
        Tensor values = inputs.PastValue is Tensor pv && pv.DType != inputs.Value.DType
            ? Present(pv, inputs.Value, g, newLength, g.ValueHeadSize, DType.Float32) : presentValue;

        // The flash kernel writes every element of Y (closed rows as zeros); the others are given a cleared destination.
        Tensor output = inputs.Destination ?? Tensor.Zeros(inputs.Query.DType, outputShape);
        if (inputs.Destination is not null && chosen != AttentionKernel.Flash && !probabilitiesOnly)
        {
            ClearData(output);
        }

        // A capture's probabilities are written straight to float64 (the observer's type), from the same float32 rows.
        DType qkType = probabilitiesOnly ? DType.Float64 : inputs.Query.DType;
        Tensor? qk = options.ComputeQkMatmulOutput ? Tensor.Zeros(qkType, [g.Batch, g.NumHeads, g.QueryLength, g.KvLength]) : null;

        if ((long)g.Batch * g.NumHeads * g.QueryLength * g.ValueHeadSize > 0 || qk is not null)
        {
            using var call = new KernelCall(
                g,
                options,
                new KernelBias(inputs, options, g),
                TensorRows.Create(inputs.Query, g.NumHeads, g.QueryLength, g.HeadSize, g.IsPacked),
                TensorRows.Create(keys, g.KvNumHeads, g.KvLength, g.HeadSize, packed: false),
                TensorRows.Create(values, g.KvNumHeads, g.KvLength, g.ValueHeadSize, packed: false),
                TensorRows.Create(output, g.NumHeads, g.QueryLength, g.ValueHeadSize, g.IsPacked),
                threads);

            // Tiles outside every row's open interval are skipped only when that cannot change the result: Q and K finite.
            // The flash kernel checks each block's own Q rows (hot in cache) and each tile's V rows as it uses them, so only K
            // is scanned up front (and only when some row is narrower than [0, S − 1]).
            call.SkipClosed = call.HasNarrowRow && TensorRows.AllFinite(keys) && (chosen == AttentionKernel.Flash || TensorRows.AllFinite(inputs.Query));
            call.ProbabilitiesOnly = probabilitiesOnly;
            switch (chosen)
            {
                case AttentionKernel.Flash:
                    // The observer keeps the array, so it is a fresh one per call; the blocks write the open rows' keys in
                    // their tile. (Uninitialized, with the blocks writing the zeros too, cost more: 4% more CPU per traced
                    // sentence and more collections.) Only when every key fits one tile can no block miss for want of tiles.
                    if (sink is not null && g.KvLength <= FlashAttention.MaxTile && !options.ComputeQkMatmulOutput)
                    {
                        sink.Buffer = new double[checked(g.Batch * g.NumHeads * g.QueryLength * g.KvLength)];
                    }

                    fixed (double* captured = sink?.Buffer)
                    {
                        call.CapturedProbabilities = captured;
                        FlashAttention.Run(call, simd);
                        call.CapturedProbabilities = null;
                    }

                    if (sink is not null) sink.Misses = call.CaptureMisses;
                    break;
                case AttentionKernel.Decode:
                    DecodeAttention.Run(call, simd);
                    break;
                default:
                    using (TensorRows? qkRows = qk is null ? null : TensorRows.Create(qk, g.NumHeads, g.QueryLength, g.KvLength, packed: false))
                    {
                        MaterializedAttention.Run(call, qkRows, simd);
                    }

                    break;
            }
        }

        return new AttentionResult(output, presentKey, presentValue, qk);
    }

    /// <summary>
    /// The backward pass (see <see cref="Attention.Backward(AttentionInputs, Tensor, AttentionOptions?)"/> for shapes) on the flash
    /// backward kernel, or on the float64 reference for <see cref="AttentionOptions.UseReference"/>, float64 inputs and D = 0;
    /// with <paramref name="saved"/> (the forward's Y and L) the kernel skips its forward sweep. Tests may force a vector tier
    /// and the fused or split arrangement of the second pass.
    /// </summary>
    /// <exception cref="HeedException">An input breaks a rule, dY does not have Y's shape, or a past cache is given.</exception>
    /// <exception cref="OperationCanceledException"><see cref="AttentionOptions.Cancellation"/> fired.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-call setup: optimized from the first call, not after tiering
    public static AttentionGradients ComputeBackward(AttentionInputs inputs, Tensor gradOutput, AttentionOptions options, SimdTier? tier = null, AttentionForwardState? saved = null, bool? fused = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(gradOutput);
        ArgumentNullException.ThrowIfNull(options);
        options.Cancellation.ThrowIfCancellationRequested();
        AttentionGeometry g = ReferenceAttentionBackward.Check(inputs, gradOutput, options);
        float[]? savedLogSumExp = saved is null ? null : CheckSaved(saved, inputs, g);
        int threads = Threads(options);
        bool float64 = inputs.Query.DType == DType.Float64 || inputs.Key.DType == DType.Float64 || inputs.Value.DType == DType.Float64
            || gradOutput.DType == DType.Float64;
        if (options.UseReference || float64 || g.HeadSize == 0)
        {
            return ReferenceAttentionBackward.Compute(inputs, gradOutput, options);
        }

        int[] outputShape = OutputShape(g);
        Tensor output = saved?.Output ?? Tensor.Zeros(inputs.Query.DType, outputShape);
        Tensor gradQuery = Tensor.Zeros(inputs.Query.DType, inputs.Query.Shape);
        Tensor gradKey = Tensor.Zeros(inputs.Key.DType, inputs.Key.Shape);
        Tensor gradValue = Tensor.Zeros(inputs.Value.DType, inputs.Value.Shape);
        using var call = new BackwardCall(
            ForwardCall(inputs, options, g, output, threads),
            TensorRows.Create(gradOutput, g.NumHeads, g.QueryLength, g.ValueHeadSize, g.IsPacked),
            TensorRows.Create(gradQuery, g.NumHeads, g.QueryLength, g.HeadSize, g.IsPacked),
            TensorRows.Create(gradKey, g.KvNumHeads, g.KvLength, g.HeadSize, g.IsPacked),
            TensorRows.Create(gradValue, g.KvNumHeads, g.KvLength, g.ValueHeadSize, g.IsPacked),
            savedLogSumExp);
        if (fused is bool force)
        {
            call.Fused = force;
        }

        FlashAttentionBackward.Run(call, tier ?? Tier);
        return new AttentionGradients(output, gradQuery, gradKey, gradValue);
    }

    /// <summary>
    /// The forward pass that keeps what the backward needs (see <see cref="Attention.ComputeForBackward"/>): Y and each row's
    /// log-sum-exp L, from the flash backward kernel's forward sweep, or from the float64 reference as <see cref="ComputeBackward"/>
    /// chooses it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-call setup: optimized from the first call, not after tiering
    public static AttentionForwardState ComputeForBackward(AttentionInputs inputs, AttentionOptions options, SimdTier? tier = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(options);
        options.Cancellation.ThrowIfCancellationRequested();
        AttentionGeometry g = AttentionGeometry.Resolve(inputs, options);
        if (inputs.PastKey is not null || inputs.PastValue is not null)
        {
            throw new HeedException("the forward for the backward pass takes no past_key/past_value: the cache is not differentiated; concatenate it into K and V instead");
        }

        int[] outputShape = OutputShape(g);
        int rows = g.Batch * g.NumHeads * g.QueryLength;
        var logSumExp = new float[rows];
        bool float64 = inputs.Query.DType == DType.Float64 || inputs.Key.DType == DType.Float64 || inputs.Value.DType == DType.Float64;
        if (options.UseReference || float64 || g.HeadSize == 0)
        {
            // The reference backward with dY = 0 runs the reference forward's passes and reports L on the way.
            var exact = new double[rows];
            AttentionGradients reference = ReferenceAttentionBackward.Compute(inputs, Tensor.Zeros(inputs.Query.DType, outputShape), options, exact);
            for (int r = 0; r < rows; r++) logSumExp[r] = (float)exact[r];
            return new AttentionForwardState(reference.Output, new Tensor<float>([g.Batch, g.NumHeads, g.QueryLength], logSumExp));
        }

        Tensor output = Tensor.Zeros(inputs.Query.DType, outputShape);
        using var call = new BackwardCall(ForwardCall(inputs, options, g, output, Threads(options)), null, null, null, null);
        FlashAttentionBackward.Run(call, tier ?? Tier);
        call.LogSumExp.CopyTo(logSumExp, 0);
        return new AttentionForwardState(output, new Tensor<float>([g.Batch, g.NumHeads, g.QueryLength], logSumExp));
    }

    /// <summary>Y's shape for a geometry: [B, H, T, Dv], or [B, T, H·Dv] for 3-D inputs.</summary>
    private static int[] OutputShape(AttentionGeometry g) => g.IsPacked
        ? [g.Batch, g.QueryLength, g.NumHeads * g.ValueHeadSize]
        : [g.Batch, g.NumHeads, g.QueryLength, g.ValueHeadSize];

    /// <summary>The forward's call over the inputs (no past cache) writing Y into <paramref name="output"/>.</summary>
    private static KernelCall ForwardCall(AttentionInputs inputs, AttentionOptions options, AttentionGeometry g, Tensor output, int threads) => new(
        g,
        options,
        new KernelBias(inputs, options, g),
        TensorRows.Create(inputs.Query, g.NumHeads, g.QueryLength, g.HeadSize, g.IsPacked),
        TensorRows.Create(inputs.Key, g.KvNumHeads, g.KvLength, g.HeadSize, g.IsPacked),
        TensorRows.Create(inputs.Value, g.KvNumHeads, g.KvLength, g.ValueHeadSize, g.IsPacked),
        TensorRows.Create(output, g.NumHeads, g.QueryLength, g.ValueHeadSize, g.IsPacked),
        threads);

    /// <summary>The forward's saved Y must have Y's shape and Q's element type, L [B, H, T] of float32; returns L's values.</summary>
    private static float[] CheckSaved(AttentionForwardState saved, AttentionInputs inputs, AttentionGeometry g)
    {
        int[] outputShape = OutputShape(g);
        if (saved.Output.DType != inputs.Query.DType || !saved.Output.Shape.SequenceEqual(outputShape))
        {
            throw new HeedException($"the saved forward's Y: expected {Tensor.FormatShape(outputShape)} of {DTypes.Name(inputs.Query.DType)}, got {saved.Output.ShapeText} of {DTypes.Name(saved.Output.DType)}");
        }

        int[] lseShape = [g.Batch, g.NumHeads, g.QueryLength];
        if (saved.LogSumExp is not Tensor<float> lse || !lse.Shape.SequenceEqual(lseShape))
        {
            throw new HeedException($"the saved forward's log-sum-exp: expected {Tensor.FormatShape(lseShape)} of float32, got {saved.LogSumExp.ShapeText} of {DTypes.Name(saved.LogSumExp.DType)}");
        }

        float[] values = new float[lse.Length];
        lse.Data.AsSpan(0, values.Length).CopyTo(values);
        return values;
    }

    /// <summary>A destination must have Y's shape and Q's element type, and no storage of its own in common with an input.</summary>
    private static void CheckDestination(AttentionInputs inputs, int[] outputShape)
    {
        if (inputs.Destination is not Tensor into)
        {
            return;
        }

        if (into.DType != inputs.Query.DType || !into.Shape.SequenceEqual(outputShape))
        {
            throw new HeedException($"destination: expected {Tensor.FormatShape(outputShape)} of {DTypes.Name(inputs.Query.DType)} (Y for these inputs), got {into.ShapeText} of {DTypes.Name(into.DType)}");
        }

        Array storage = TensorRows.StorageOf(into);
        (string Name, Tensor? Tensor)[] named =
        [
            ("Q", inputs.Query), ("K", inputs.Key), ("V", inputs.Value), ("attn_mask", inputs.AttnMask),
            ("past_key", inputs.PastKey), ("past_value", inputs.PastValue), ("nonpad_kv_seqlen", inputs.NonpadKvSeqlen),
        ];
        foreach ((string name, Tensor? tensor) in named)
        {
            if (tensor is not null && ReferenceEquals(TensorRows.StorageOf(tensor), storage))
            {
                throw new HeedException($"destination: shares its storage with {name}; Y must be written to a tensor of its own");
            }
        }
    }

    private static void ClearData(Tensor t) => Array.Clear(TensorRows.StorageOf(t));

    /// <summary>Copies the elements of <paramref name="from"/> into <paramref name="to"/> (same type and length).</summary>
    private static void CopyData(Tensor from, Tensor to) => Array.Copy(TensorRows.StorageOf(from), TensorRows.StorageOf(to), from.Length);

    internal static AttentionKernel Choose(AttentionInputs inputs, AttentionOptions options, AttentionGeometry g)
    {
        bool float64 = inputs.Query.DType == DType.Float64 || inputs.Key.DType == DType.Float64 || inputs.Value.DType == DType.Float64
            || inputs.PastKey?.DType == DType.Float64 || inputs.PastValue?.DType == DType.Float64;
        if (options.UseReference || float64 || g.HeadSize == 0)
        {
            return AttentionKernel.Reference;
        }

        if (NeedsRows(options))
        {
            return AttentionKernel.Materialized;
        }

        return DecodeAttention.Fits(g) ? AttentionKernel.Decode : AttentionKernel.Flash;
    }

    private static bool NeedsRows(AttentionOptions options) =>
        options.ComputeQkMatmulOutput || options.SoftmaxPrecision is SoftmaxPrecision.Float16 or SoftmaxPrecision.BFloat16 or SoftmaxPrecision.Double;

    /// <summary>
    /// present = concat(past, fresh) as [B, Hkv, S, size] in <paramref name="type"/>. Without a past, a 4-D input of that
    /// type is returned as it is (no copy: present_key then shares storage with K).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-call setup: optimized from the first call, not after tiering
    private static Tensor Present(Tensor? past, Tensor fresh, AttentionGeometry g, int newLength, int size, DType type)
    {
        if (past is null && !g.IsPacked && fresh.DType == type)
        {
            return fresh;
        }

        int heads = g.KvNumHeads, pastLength = g.PastLength, total = pastLength + newLength;
        Tensor present = Tensor.Zeros(type, [g.Batch, heads, total, size]);
        Array target = TensorRows.StorageOf(present);
        Array source = TensorRows.StorageOf(fresh.DType == type ? fresh : Tensor.FromDoubles(type, fresh.Shape, fresh.ToDoubleArray()));
        Array? old = past is null ? null
            : TensorRows.StorageOf(past.DType == type ? past : Tensor.FromDoubles(type, past.Shape, past.ToDoubleArray()));
        for (int b = 0; b < g.Batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                long row = ((long)b * heads) + h;
                if (old is not null)
                {
                    Array.Copy(old, row * pastLength * size, target, row * total * size, (long)pastLength * size);
                }

                if (g.IsPacked)
                {
                    for (int j = 0; j < newLength; j++)
                    {
                        Array.Copy(source, ((((long)b * newLength) + j) * heads + h) * size, target, ((row * total) + pastLength + j) * size, size);
                    }
                }
                else
                {
                    Array.Copy(source, row * newLength * size, target, ((row * total) + pastLength) * size, (long)newLength * size);
                }
            }
        }

        return present;
    }
}

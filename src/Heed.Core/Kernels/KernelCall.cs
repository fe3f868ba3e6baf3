using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Heed.Kernels;

/// <summary>The instruction-set tier a kernel runs on.</summary>
public enum SimdTier
{
    /// <summary>No vector instructions (hardware intrinsics off).</summary>
    Scalar,

    /// <summary>128-bit vectors (SSE, NEON).</summary>
    Vector128,

    /// <summary>256-bit vectors (AVX2).</summary>
    Vector256,

    /// <summary>512-bit vectors (AVX-512).</summary>
    Vector512,
}

/// <summary>Everything a kernel needs for one call, checked and prepared once: sizes, in-place row access, the bias and the thread count.</summary>
internal sealed unsafe class KernelCall : IDisposable
{
    private readonly int[] _lo;
    private readonly int[] _hi;
    private readonly int[] _valueHeads; // per (b, kv head): 0 not checked yet, 1 every V row finite, 2 not

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-call setup: optimized from the first call, not after tiering
    public KernelCall(AttentionGeometry geometry, AttentionOptions options, KernelBias bias, TensorRows query, TensorRows key, TensorRows value, TensorRows output, int threads)
    {
        Geometry = geometry;
        Options = options;
        Bias = bias;
        Query = query;
        Key = key;
        Value = value;
        Output = output;
        Threads = threads;
        Scale = (float)geometry.Scale;
        Softcap = (float)options.Softcap;
        int batch = geometry.Batch, queryLength = geometry.QueryLength;
        _lo = new int[batch * queryLength];
        _hi = new int[batch * queryLength];
        _valueHeads = new int[batch * geometry.KvNumHeads];
        for (int b = 0; b < batch; b++)
        {
            for (int i = 0; i < queryLength; i++)
            {
                int at = (b * queryLength) + i;
                bias.Range(b, i, out _lo[at], out _hi[at]);
                HasNarrowRow |= _lo[at] <= _hi[at] && (_lo[at] > 0 || _hi[at] < geometry.KvLength - 1);
            }
        }
    }

    public AttentionGeometry Geometry { get; }

    /// <summary>
    /// True when every V row of (b, kvHead) is finite (float32 V, read in place), so P·V may run as a plain product there
    /// (0·x = 0). Checked once per call by the first block that asks; a race only checks twice.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per work item or tile: optimized from the first call, not after tiering
    public unsafe bool ValueHeadFinite<TOps, TV>(int b, int kvHead)
        where TOps : ISimd<TV>
        where TV : struct
    {
        int at = (b * Geometry.KvNumHeads) + kvHead;
        int state = Volatile.Read(ref _valueHeads[at]);
        if (state == 0)
        {
            state = Geometry.KvLength == 0 || RowSteps.AllFiniteRows<TOps, TV>(Value.InPlace(b, kvHead, 0), Value.PositionStride, Geometry.KvLength, Geometry.ValueHeadSize) ? 1 : 2;
            Volatile.Write(ref _valueHeads[at], state);
        }

        return state == 1;
    }

    public AttentionOptions Options { get; }

    public KernelBias Bias { get; }

    /// <summary>Q rows (b, h, i).</summary>
    public TensorRows Query { get; }

    /// <summary>K rows (b, kvHead, j) over the whole key length S (past included).</summary>
    public TensorRows Key { get; }

    /// <summary>V rows (b, kvHead, j).</summary>
    public TensorRows Value { get; }

    /// <summary>Y rows (b, h, i).</summary>
    public TensorRows Output { get; }

    /// <summary>Worker threads to use (at least 1).</summary>
    public int Threads { get; }

    /// <summary>Stops the call between work items (<see cref="AttentionOptions.Cancellation"/>).</summary>
    public CancellationToken Cancellation => Options.Cancellation;

    /// <summary>
    /// True when key tiles outside every row's open interval may be skipped (Q and K are finite, so their masked scores are
    /// exactly −∞). For the flash kernel only K has been checked: each block also checks its own rows of Q.
    /// </summary>
    public bool SkipClosed { get; set; }

    /// <summary>True when only qk_matmul_output is wanted (a capture of the probabilities): the materialized kernel skips P·V and leaves Y unwritten.</summary>
    public bool ProbabilitiesOnly { get; set; }

    /// <summary>
    /// When set, [B, H, T, S] float64 (cleared): the flash kernel writes each block's probabilities there, each row renormalized in
    /// float64, when its keys fit one tile (an observer of the probabilities then needs no second pass); a block that cannot counts
    /// itself in <see cref="CaptureMisses"/>.
    /// </summary>
    public double* CapturedProbabilities { get; set; }

    /// <summary>Blocks that could not write their probabilities to <see cref="CapturedProbabilities"/>.</summary>
    public int CaptureMisses;

    /// <summary>True when some open row may attend fewer than all S keys by the structural rules (so skipping could apply).</summary>
    public bool HasNarrowRow { get; }

    public float Scale { get; }

    /// <summary>0 = off.</summary>
    public float Softcap { get; }

    /// <summary>The open key interval of query row i of batch b (lo &gt; hi: none).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Range(int b, int i, out int lo, out int hi)
    {
        int at = (b * Geometry.QueryLength) + i;
        lo = _lo[at];
        hi = _hi[at];
    }

    public void Dispose()
    {
        Bias.Dispose();
        Query.Dispose();
        Key.Dispose();
        Value.Dispose();
        Output.Dispose();
    }
}

/// <summary>A worker's scratch memory: one pinned float array carved into named regions, allocated once per worker.</summary>
internal sealed unsafe class Workspace
{
    private readonly float[] _memory;
    private readonly float* _base;
    private readonly int _start;
    private int _used;

    public Workspace(int floats)
    {
        // Pinned so the kernels can hold raw pointers; managed so the allocation is visible to GC accounting.
        _memory = GC.AllocateUninitializedArray<float>(floats + 64, pinned: true);
        _base = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_memory));
        _start = (int)((64 - ((nint)_base & 63)) / sizeof(float)) & 15; // start 64-byte aligned
        _used = _start;
    }

    /// <summary>Largest workspace a thread keeps between calls (1 MiB): small calls then allocate nothing per call.</summary>
    private const int MaxCachedFloats = 1 << 18;

    [ThreadStatic]
    private static Workspace? _cached;

    /// <summary>Floats available.</summary>
    public int Capacity => _memory.Length - 64;

    /// <summary>A workspace of at least <paramref name="floats"/>: this thread's cached one when it is large enough, else a new one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per work item or tile: optimized from the first call, not after tiering
    public static Workspace Rent(int floats)
    {
        Workspace? cached = _cached;
        if (cached is not null && cached.Capacity >= floats)
        {
            _cached = null;
            cached.Reset();
            return cached;
        }

        return new Workspace(floats);
    }

    /// <summary>Keeps <paramref name="workspace"/> for this thread's next call when it is at most 1 MiB.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per work item or tile: optimized from the first call, not after tiering
    public static void Return(Workspace workspace)
    {
        if (workspace.Capacity <= MaxCachedFloats && (_cached is null || _cached.Capacity < workspace.Capacity))
        {
            _cached = workspace;
        }
    }

    /// <summary>Frees every region for the next work item.</summary>
    public void Reset() => _used = _start;

    /// <summary>The next <paramref name="floats"/> floats, 64-byte aligned.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float* Take(int floats)
    {
        float* region = _base + _used;
        _used += (floats + 15) & ~15;
        if (_used > _memory.Length)
        {
            throw new InvalidOperationException("kernel workspace too small");
        }

        return region;
    }

    /// <summary>Floats a workspace needs for regions of the given sizes (including alignment).</summary>
    public static int Size(params int[] regions)
    {
        int total = 0;
        foreach (int r in regions) total += (r + 15) & ~15;
        return total;
    }
}

/// <summary>Runs work items on up to N threads, one workspace per worker.</summary>
internal static class KernelThreads
{
    /// <summary>
    /// Runs body(item, workspace) for every item on up to <paramref name="threads"/> threads, each with its own workspace of
    /// <paramref name="workspaceFloats"/> floats (kept per thread between calls when small). One thread, or one item, runs
    /// on the calling thread. <paramref name="cancellation"/> is looked at before each item (one flag read per block of
    /// rows, nothing measurable next to the block's products): once it fires no item starts, the running ones finish, and
    /// <see cref="OperationCanceledException"/> is thrown.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per work item or tile: optimized from the first call, not after tiering
    public static void For(int items, int threads, int workspaceFloats, Action<int, Workspace> body, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        if (items <= 0)
        {
            return;
        }

        if (threads <= 1 || items == 1)
        {
            Workspace w = Workspace.Rent(workspaceFloats);
            for (int i = 0; i < items; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                w.Reset();
                body(i, w);
            }

            Workspace.Return(w);
            return;
        }

        Parallel.For(
            0,
            items,
            // Parallel.For stops handing out items once the token fires and then throws OperationCanceledException itself.
            new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cancellation },
            () => Workspace.Rent(workspaceFloats),
            (item, _, w) =>
            {
                w.Reset();
                body(item, w);
                return w;
            },
            Workspace.Return);
    }
}

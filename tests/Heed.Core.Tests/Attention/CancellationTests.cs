using System.Diagnostics;
using Heed.Kernels;

namespace Heed.Core.Tests.Attention;

/// <summary>
/// AttentionOptions.Cancellation: a cancelled call stops at its next block of rows and throws, on every path. The class runs
/// alone in its process (no other test's threads), so the process's CPU time after a cancellation is the cancelled call's.
/// </summary>
[Collection(Name)]
public class CancellationTests
{
    public const string Name = "Cancellation, alone in the process";

    public static TheoryData<AttentionKernel> LongKernels => [AttentionKernel.Flash, AttentionKernel.Materialized, AttentionKernel.Reference];

    [Theory]
    [MemberData(nameof(LongKernels))]
    public void A_big_call_cancelled_midway_throws_within_a_second_of_work(AttentionKernel kernel)
    {
        // Calls of many seconds on any machine: flash and materialized ~550 GFLOP (8 query heads of 4096 rows over 65,536
        // keys, GQA so K and V stay 16 MiB), the scalar float64 reference ~8.6 GFLOP.
        (AttentionInputs inputs, AttentionOptions options) = kernel == AttentionKernel.Reference
            ? (Inputs(DType.Float64, 8, 1024, 8, 8192), new AttentionOptions())
            : (Inputs(DType.Float32, 8, 4096, 1, 65536), new AttentionOptions { SoftmaxPrecision = kernel == AttentionKernel.Materialized ? SoftmaxPrecision.Double : null });
        // Two threads at most, so that "a second of work" is at most two seconds of the process's CPU time.
        using var cts = new CancellationTokenSource();
        options = options with { Cancellation = cts.Token, MaxThreads = 2 };
        Task<AttentionResult> call = Task.Run(() => AttentionKernels.Compute(inputs, options, kernel, null));

        Thread.Sleep(200);
        Assert.False(call.IsCompleted, "the call ended before it was cancelled: make it bigger");
        using var process = Process.GetCurrentProcess();
        TimeSpan cpuBefore = process.TotalProcessorTime;
        var sinceCancel = Stopwatch.StartNew();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => call.WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult());
        process.Refresh();
        TimeSpan work = process.TotalProcessorTime - cpuBefore;

        // CPU time, not wall-clock time: on a machine shared with other test processes the wall clock also counts their turns.
        Assert.True(work < TimeSpan.FromSeconds(2), $"{kernel}: {work.TotalMilliseconds:F0} ms of CPU time ({sinceCancel.Elapsed.TotalMilliseconds:F0} ms) after the cancellation");
    }

    [Fact]
    public void A_cancelled_token_stops_the_call_before_any_work()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        AttentionInputs inputs = Inputs(DType.Float32, 2, 16, 2, 16);
        Assert.ThrowsAny<OperationCanceledException>(() => Heed.Attention.Compute(inputs, new AttentionOptions { Cancellation = cts.Token }));
        Assert.ThrowsAny<OperationCanceledException>(() => Heed.Attention.Compute(inputs, new AttentionOptions { Cancellation = cts.Token, UseReference = true }));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Work_items_stop_once_the_token_fires(int threads)
    {
        // Item 10 cancels: from then on every thread finishes the item it holds and takes no other. What ran before the
        // cancellation depends on scheduling (the thread holding item 10 may be descheduled while others run thousands of
        // items), so the count is taken when the token has fired, and only the items started after it are bounded.
        using var cts = new CancellationTokenSource();
        int ran = 0, atCancel = -1;
        Assert.ThrowsAny<OperationCanceledException>(() => KernelThreads.For(100_000, threads, 16, (item, _) =>
        {
            Interlocked.Increment(ref ran);
            if (item == 10)
            {
                cts.Cancel();
                Volatile.Write(ref atCancel, Volatile.Read(ref ran));
            }
        }, cts.Token));
        Assert.True(atCancel >= 1 && atCancel < 100_000, $"{atCancel} items had run when the token fired");
        Assert.InRange(ran - atCancel, 0, 4 * threads);
    }

    [Fact]
    public void An_uncancelled_token_changes_nothing()
    {
        AttentionInputs inputs = Inputs(DType.Float32, 2, 40, 1, 70);
        using var cts = new CancellationTokenSource();
        float[] plain = ((Tensor<float>)Heed.Attention.Compute(inputs).Output).Data;
        float[] withToken = ((Tensor<float>)Heed.Attention.Compute(inputs, new AttentionOptions { Cancellation = cts.Token }).Output).Data;
        Assert.Equal(plain, withToken);
    }

    /// <summary>Q [1, H, T, 64], K and V [1, Hkv, S, 64] of small pseudo-random values.</summary>
    private static AttentionInputs Inputs(DType type, int heads, int queryLength, int kvHeads, int kvLength)
    {
        Tensor Make(int seed, int h, int length) => Tensor.FromDoubles(type, [1, h, length, 64], TestTensors.Random(seed, h * length * 64));
        return new AttentionInputs(Make(1, heads, queryLength), Make(2, kvHeads, kvLength), Make(3, kvHeads, kvLength));
    }
}

/// <summary>Keeps <see cref="CancellationTests"/> from running beside other test classes.</summary>
[CollectionDefinition(CancellationTests.Name, DisableParallelization = true)]
public sealed class CancellationRunsAlone
{
}

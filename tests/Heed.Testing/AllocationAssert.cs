namespace Heed.Testing;

/// <summary>Assertions about what a repeated step allocates.</summary>
public static class AllocationAssert
{
    /// <summary>
    /// Asserts that <paramref name="step"/> allocates nothing per call on the calling thread: the calls run in three windows
    /// of <paramref name="calls"/>, and at most one window may allocate. A step that allocated on every call would allocate in
    /// all three; what one window may hold is a one-time cost of the runtime on this thread (the first time it blocks on a
    /// lock that another test's thread holds, .NET allocates the thread's wait state), which test runs in parallel can make
    /// land after any warm-up.
    /// </summary>
    /// <param name="step">One call of the code under test (warmed up by the caller).</param>
    /// <param name="calls">Calls per window.</param>
    public static void NothingPerCall(Action step, int calls = 8)
    {
        ArgumentNullException.ThrowIfNull(step);
        var windows = new long[3];
        for (int w = 0; w < windows.Length; w++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < calls; i++) step();
            windows[w] = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Assert.True(windows.Count(bytes => bytes != 0) <= 1, $"bytes allocated in three windows of {calls} calls: {string.Join(", ", windows)}");
    }
}

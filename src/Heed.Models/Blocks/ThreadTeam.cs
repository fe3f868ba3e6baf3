namespace Heed.Models.Blocks;

/// <summary>Work a <see cref="ThreadTeam"/> splits: part p of n runs on one thread.</summary>
public abstract class TeamJob
{
    /// <summary>Runs part <paramref name="part"/> of <paramref name="parts"/> (0 ≤ part &lt; parts).</summary>
    public abstract void Execute(int part, int parts);
}

/// <summary>
/// Threads started once and kept waiting, so that splitting one matrix product across threads costs a wake-up instead of
/// the set-up of a parallel loop (a decode step at the 110M shape runs 85 products of ~50 µs each). Workers spin briefly
/// after each job, because the next product follows within microseconds, then sleep on a monitor, so an idle team costs
/// nothing. One job runs at a time; a caller that finds the team busy (another session on another thread) runs its
/// parts itself.
/// </summary>
public sealed class ThreadTeam
{
    // 1 ms of spinning: longer than any gap between two products of a decode step (norms, RoPE, an attention the team
    // does not split) and than the sampler's and the caller's work between two tokens, and long enough to ride out a short
    // preemption of the caller's core by the host. With 50 µs, a 15M-shape decode on two threads put its worker to sleep
    // 17–178 times per 256 tokens and paid a wake-up each time; with 1 ms, 6–13 (docs/kernels.md, GGUF entry 23). An idle
    // team still costs nothing after the first millisecond, and while spinning a worker yields its core whenever another
    // thread wants it.
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 1_000;

    private static readonly Lock Growth = new();
    private static ThreadTeam? _shared;

    private readonly object _gate = new(); // Monitor.Wait/PulseAll need a monitor, not a System.Threading.Lock
    private readonly Lock _running = new();
    private readonly int _workers;
    private TeamJob? _job;
    private int _parts;
    private Exception? _error;

    // The counters that every product touches, each on its own cache line: workers spin reading the generation while
    // they finish by decrementing the pending count, and a shared line would bounce between the cores on every write.
    private PaddedInt _generation;
    private PaddedInt _pending;
    private PaddedInt _sleepers; // workers blocked on the monitor: only then does a product take the lock to wake them

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 128)]
    private struct PaddedInt
    {
        [System.Runtime.InteropServices.FieldOffset(64)]
        public int Value;
    }

    private ThreadTeam(int workers)
    {
        _workers = workers;
        for (int i = 0; i < workers; i++)
        {
            int part = i + 1;
            var thread = new Thread(() => Work(part)) { IsBackground = true, Name = $"heed-team-{part}" };
            thread.Start();
        }
    }

    /// <summary>The process's team, grown (never shrunk) to hold at least <paramref name="threads"/> threads, the caller included.</summary>
    public static ThreadTeam Shared(int threads)
    {
        ThreadTeam? team = Volatile.Read(ref _shared);
        if (team is not null && team._workers + 1 >= threads) return team;
        lock (Growth)
        {
            // An outgrown team's threads keep sleeping on its monitor; the growth happens once per larger thread count.
            if (_shared is null || _shared._workers + 1 < threads)
            {
                _shared = new ThreadTeam(Math.Max(threads - 1, 0));
            }

            return _shared;
        }
    }

    /// <summary>Runs parts 0..<paramref name="parts"/>−1 of <paramref name="job"/>: part 0 on the caller, the rest on workers; returns when all are done.</summary>
    public void Run(TeamJob job, int parts)
    {
        ArgumentNullException.ThrowIfNull(job);
        parts = Math.Min(parts, _workers + 1);
        if (parts <= 1 || !_running.TryEnter())
        {
            for (int p = 0; p < Math.Max(parts, 1); p++) job.Execute(p, Math.Max(parts, 1));
            return;
        }

        try
        {
            _job = job;
            _parts = parts;
            Volatile.Write(ref _pending.Value, parts - 1);

            // A full fence on each side (this increment; the sleeper's increment before it rechecks the generation) means
            // that either the worker sees the new generation or this thread sees the sleeper and wakes it.
            Interlocked.Increment(ref _generation.Value);
            if (Volatile.Read(ref _sleepers.Value) > 0)
            {
                lock (_gate) Monitor.PulseAll(_gate);
            }

            job.Execute(0, parts);
            var spinner = default(SpinWait);
            while (Volatile.Read(ref _pending.Value) > 0) spinner.SpinOnce(sleep1Threshold: -1);
            _job = null;
            if (Interlocked.Exchange(ref _error, null) is Exception error)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
            }
        }
        finally
        {
            _running.Exit();
        }
    }

    private void Work(int part)
    {
        int seen = 0;
        while (true)
        {
            long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
            int spins = 0;
            while (Volatile.Read(ref _generation.Value) == seen)
            {
                if (System.Diagnostics.Stopwatch.GetTimestamp() < deadline)
                {
                    if (++spins % 16 == 0) Thread.Yield();
                    else Thread.SpinWait(8);
                    continue;
                }

                lock (_gate)
                {
                    Interlocked.Increment(ref _sleepers.Value);
                    while (Volatile.Read(ref _generation.Value) == seen) Monitor.Wait(_gate);
                    Interlocked.Decrement(ref _sleepers.Value);
                }
            }

            seen = Volatile.Read(ref _generation.Value);
            if (part < _parts)
            {
                try
                {
                    _job!.Execute(part, _parts);
                }
                catch (Exception ex)
                {
                    // Thrown on the caller by Run: an exception escaping a worker thread would end the process.
                    Interlocked.CompareExchange(ref _error, ex, null);
                }
                finally
                {
                    Interlocked.Decrement(ref _pending.Value);
                }
            }
        }
    }
}

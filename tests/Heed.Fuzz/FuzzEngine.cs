using System.Diagnostics;
using System.Security.Cryptography;

namespace Heed.Fuzz;

/// <summary>What went wrong in one case.</summary>
/// <param name="Case">The case index (with the run's seed it regenerates the input).</param>
/// <param name="Kind">"exception", "time" or "allocation".</param>
/// <param name="Detail">The exception type and message, or the figure over budget.</param>
/// <param name="Input">The input (minimized for exceptions).</param>
internal sealed record FuzzDefect(long Case, string Kind, string Detail, FuzzInput Input);

/// <summary>A run's figures.</summary>
internal sealed record FuzzReport(string Format, long Cases, TimeSpan Elapsed, long Refused, TimeSpan Slowest, long MostAllocated, IReadOnlyList<FuzzDefect> Defects);

/// <summary>
/// Runs a target's cases one after another on a worker thread. Case <c>i</c> of seed <c>s</c> draws everything from
/// <c>new Random(Hash(s, i))</c>, so any case reproduces alone (--from i --cases 1). The worker measures each case's
/// wall time and its thread's allocations (<see cref="GC.GetAllocatedBytesForCurrentThread"/>); the calling thread
/// watches the clock, so a case that never returns is reported (and left running: .NET cannot stop a thread) instead
/// of stalling the run. A stack overflow ends the process, as it would end Heed's; the progress line says where.
/// </summary>
internal sealed class FuzzEngine(FuzzTarget target)
{
    /// <summary>The time one case may take.</summary>
    public TimeSpan TimeBudget { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The bytes one case may allocate.</summary>
    public long AllocationBudget { get; init; } = 1L << 30;

    /// <summary>Called about every second with (cases done, defects so far).</summary>
    public Action<long, int>? Progress { get; init; }

    /// <summary>Prints each case index before it runs (to find a case that crashes the process).</summary>
    public bool Verbose { get; init; }

    /// <summary>Stop at the first defect.</summary>
    public bool StopAtFirst { get; init; } = true;

    /// <summary>Runs cases <paramref name="from"/> .. <paramref name="from"/> + <paramref name="count"/> − 1 of <paramref name="seed"/>.</summary>
    public FuzzReport Run(int seed, long from, long count)
    {
        string scratch = Directory.CreateTempSubdirectory("heed-fuzz-").FullName;
        var defects = new List<FuzzDefect>();
        long done = 0, refused = 0, mostAllocated = 0, caseStart = 0, current = -1;
        TimeSpan slowest = TimeSpan.Zero;
        FuzzInput? currentInput = null;
        var clock = Stopwatch.StartNew();
        // 8 MB of stack, as the main thread of the heed process has: a recursion that overflows here overflows there.
        var worker = new Thread(
            () =>
        {
            for (long i = from; i < from + count; i++)
            {
                FuzzInput input = Generate(seed, i);
                if (Verbose) Console.Error.WriteLine($"case {i}");
                Volatile.Write(ref currentInput, input);
                Volatile.Write(ref caseStart, clock.ElapsedTicks);
                Volatile.Write(ref current, i);
                long allocated = GC.GetAllocatedBytesForCurrentThread();
                string? failure = Execute(input, out bool wasRefused);
                allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
                var took = TimeSpan.FromTicks((long)((clock.ElapsedTicks - caseStart) * (TimeSpan.TicksPerSecond / (double)Stopwatch.Frequency)));
                Volatile.Write(ref current, -1);
                if (wasRefused) refused++;
                if (took > slowest) slowest = took;
                mostAllocated = Math.Max(mostAllocated, allocated);
                FuzzDefect? defect = failure is not null ? new FuzzDefect(i, "exception", failure, Minimize(input, failure))
                    : took > TimeBudget ? new FuzzDefect(i, "time", $"{took.TotalSeconds:F1} s", input)
                    : allocated > AllocationBudget ? new FuzzDefect(i, "allocation", $"{allocated / 1e9:F2} GB", input)
                    : null;
                if (defect is not null)
                {
                    lock (defects) defects.Add(defect);
                    if (StopAtFirst) break;
                }

                Interlocked.Increment(ref done);
            }
        },
            8 << 20)
        { IsBackground = true, Name = "heed-fuzz" };
        worker.Start();
        TimeSpan nextProgress = TimeSpan.FromSeconds(1);
        while (!worker.Join(100))
        {
            long running = Volatile.Read(ref current);
            double seconds = (clock.ElapsedTicks - Volatile.Read(ref caseStart)) / (double)Stopwatch.Frequency;
            if (running >= 0 && seconds > TimeBudget.TotalSeconds * 2)
            {
                // The case is stuck; report it and give up on the worker (it stays a background thread).
                lock (defects) defects.Add(new FuzzDefect(running, "time", $"still running after {seconds:F0} s", Volatile.Read(ref currentInput)!));
                break;
            }

            if (clock.Elapsed >= nextProgress)
            {
                Progress?.Invoke(Interlocked.Read(ref done), defects.Count);
                nextProgress = clock.Elapsed + TimeSpan.FromSeconds(1);
            }
        }

        try
        {
            Directory.Delete(scratch, recursive: true);
        }
        catch (IOException)
        {
            // A stuck case may still hold a file open there; the temporary folder is the system's to clean.
        }

        lock (defects) return new FuzzReport(target.Name, Interlocked.Read(ref done), clock.Elapsed, refused, slowest, mostAllocated, [.. defects]);

        string? Execute(FuzzInput input, out bool wasRefused) => RunOne(input, scratch, out wasRefused);
    }

    /// <summary>The input of case <paramref name="index"/>: a seed with one to four stacked mutations.</summary>
    public FuzzInput Generate(int seed, long index)
    {
        var rng = new Random(Hash(seed, index));
        FuzzInput input = Mutations.Pick(target.Seeds, rng);
        int rounds = 1 + (rng.Next(8) == 0 ? rng.Next(4) : 0);
        for (int r = 0; r < rounds; r++)
        {
            input = input with { Data = target.Mutate(input, rng) };
        }

        return input;
    }

    /// <summary>Runs one input; returns null when it passed, else the foreign exception's type and one-line message.</summary>
    public string? RunOne(FuzzInput input, string scratch, out bool refused)
    {
        refused = false;
        try
        {
            target.Run(input, scratch);
            return null;
        }
        catch (HeedException)
        {
            refused = true;
            return null;
        }
        catch (OperationCanceledException)
        {
            refused = true;
            return null;
        }
        catch (Exception ex)
        {
            string frame = ex.StackTrace?.Split('\n').FirstOrDefault()?.Trim() ?? "";
            return $"{ex.GetType().FullName}: {ex.Message.ReplaceLineEndings(" ")} {frame}";
        }
    }

    /// <summary>
    /// Shrinks an input that throws a foreign exception while it still throws the same type: truncations, then removal
    /// of ever smaller ranges (at most 2,000 tries), so a saved reproducer is as small as the search finds.
    /// </summary>
    public FuzzInput Minimize(FuzzInput input, string failure)
    {
        string type = failure[..failure.IndexOf(':', StringComparison.Ordinal)];
        string scratch = Directory.CreateTempSubdirectory("heed-fuzz-min-").FullName;
        try
        {
            int tries = 0;
            bool Fails(byte[] data) => tries++ < 2000 && RunOne(input with { Data = data }, scratch, out _) is string f && f.StartsWith(type + ":", StringComparison.Ordinal);
            byte[] best = input.Data;
            for (int chunk = Math.Max(1, best.Length / 2); chunk >= 1 && tries < 2000; chunk /= 2)
            {
                for (int at = 0; at + chunk <= best.Length && tries < 2000;)
                {
                    byte[] candidate = [.. best.AsSpan(0, at), .. best.AsSpan(at + chunk)];
                    if (Fails(candidate)) best = candidate;
                    else at += chunk;
                }
            }

            return input with { Data = best };
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    /// <summary>Saves <paramref name="defect"/>'s input under <paramref name="folder"/> as format-kind-hash.ext; returns the path.</summary>
    public string Save(FuzzDefect defect, string folder)
    {
        Directory.CreateDirectory(folder);
        string hash = Convert.ToHexStringLower(SHA256.HashData(defect.Input.Data))[..12];
        string path = Path.Combine(folder, $"{target.Name}-{defect.Input.Kind}-{hash}{target.Extension(defect.Input.Kind)}");
        File.WriteAllBytes(path, defect.Input.Data);
        return path;
    }

    private static int Hash(int seed, long index)
    {
        ulong x = unchecked(((ulong)(uint)seed << 40) ^ (ulong)index ^ 0x9E3779B97F4A7C15UL);
        x = unchecked((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL);
        x = unchecked((x ^ (x >> 27)) * 0x94D049BB133111EBUL);
        return (int)(x ^ (x >> 31));
    }
}

using System.Diagnostics;
using Heed.Fuzz.Targets;

namespace Heed.Fuzz;

/// <summary>
/// The fixed-seed fuzz run of every format (so `dotnet test` keeps the readers honest: a failure names the case, and
/// <c>dotnet run --project tests/Heed.Fuzz -c Release -- --format F --seed 20250 --from CASE --cases 1</c> reproduces
/// and saves it), and one regression test per reproducer under tests/TestData/fuzz.
/// </summary>
public sealed class FuzzTests
{
    /// <summary>The seed of the test run; a fixed one, so a failure reproduces.</summary>
    private const int Seed = 20250;

    [Theory]
    [InlineData("npy", 30000)]
    [InlineData("safetensors", 20000)]
    [InlineData("checkpoint", 20000)]
    [InlineData("tokenizer", 50000)]
    [InlineData("gguf", 8000)]
    [InlineData("json", 8000)]
    public void Fixed_seed_run_finds_no_defect(string format, int cases)
    {
        // A case that takes over 15 s is a defect (unbounded work). The fuzz program's own budget is 5 s; here the test projects
        // share a CI machine's cores, so a wall-clock bound that tight would fail on load rather than on a reader.
        var engine = new FuzzEngine(FuzzTarget.Find(format)) { StopAtFirst = false, TimeBudget = TimeSpan.FromSeconds(15) };
        FuzzReport report = engine.Run(Seed, 0, cases);
        string defects = string.Join("; ", report.Defects.Take(5).Select(d => $"case {d.Case}: {d.Kind}: {d.Detail}"));
        Assert.True(report.Defects.Count == 0, $"{format}: {report.Defects.Count} defects (seed {Seed}): {defects}");
        Assert.Equal(cases, report.Cases);
    }

    public static TheoryData<string> Reproducers() =>
        [.. Directory.EnumerateFiles(TestPaths.TestData("fuzz")).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Reproducers))]
    public void Reproducer_is_refused_with_one_line_in_bounded_time(string file)
    {
        // format-kind-label.ext: the format picks the target, the kind its reader.
        string[] parts = Path.GetFileNameWithoutExtension(file).Split('-');
        FuzzTarget target = FuzzTarget.Find(parts[0]);
        var input = new FuzzInput(string.Join('-', parts[1..^1]), File.ReadAllBytes(TestPaths.TestData("fuzz", file)));
        using var scratch = new TempFolder();
        var clock = Stopwatch.StartNew();
        HeedException ex = Assert.Throws<HeedException>(() => target.Run(input, scratch.Path));
        // Each reproducer is refused in milliseconds on a quiet machine; the bound catches unbounded work, not load.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"{file}: {clock.Elapsed.TotalSeconds:F2} s");
        Assert.DoesNotContain('\n', ex.Message);
        Assert.True(ex.Message.Length <= 300 + scratch.Path.Length, ex.Message);
    }

    [Fact]
    public void Every_target_has_seeds_that_read_cleanly()
    {
        // Some seeds (tests/TestData/npy's complex and structured arrays) are refused on purpose; the rest must read.
        using var scratch = new TempFolder();
        foreach (FuzzTarget target in FuzzTarget.All)
        {
            int clean = target.Seeds.Count(seed => new FuzzEngine(target).RunOne(seed, scratch.Path, out bool refused) is null && !refused);
            string first = string.Join("; ", target.Seeds.Select(seed => new FuzzEngine(target).RunOne(seed, scratch.Path, out bool refused) ?? (refused ? Refusal(target, seed, scratch.Path) : "ok")));
            Assert.True(target.Name == "npy" ? clean * 2 > target.Seeds.Count : clean == target.Seeds.Count, $"{target.Name}: {clean} of {target.Seeds.Count} seeds read cleanly: {first}");
        }
    }

    private static string Refusal(FuzzTarget target, FuzzInput seed, string scratch)
    {
        try
        {
            target.Run(seed, scratch);
            return "ok";
        }
        catch (HeedException ex)
        {
            return ex.Message;
        }
    }

    [Fact]
    public void A_case_reproduces_from_its_seed_and_index()
    {
        var engine = new FuzzEngine(new NpyTarget());
        Assert.Equal(engine.Generate(7, 12345).Data, engine.Generate(7, 12345).Data);
    }

    [Fact]
    public void A_foreign_exception_is_a_defect_and_is_minimized()
    {
        var engine = new FuzzEngine(new ThrowingTarget());
        FuzzReport report = engine.Run(1, 0, 10);
        FuzzDefect defect = Assert.Single(report.Defects);
        Assert.Equal("exception", defect.Kind);
        Assert.StartsWith("System.FormatException:", defect.Detail, StringComparison.Ordinal);
        Assert.Equal([0xEE], defect.Input.Data); // everything but the byte that triggers it was removed
    }

    /// <summary>A target whose "reader" throws a foreign exception on any input holding 0xEE.</summary>
    private sealed class ThrowingTarget : FuzzTarget
    {
        public override string Name => "throwing";

        public override IReadOnlyList<FuzzInput> Seeds { get; } = [new("x", [1, 2, 0xEE, 3, 4, 5, 6, 7])];

        public override string Extension(string kind) => ".bin";

        public override byte[] Mutate(FuzzInput input, Random rng) => input.Data;

        public override void Run(FuzzInput input, string scratch)
        {
            if (input.Data.Contains((byte)0xEE)) throw new FormatException("found 0xEE");
            throw new HeedException("refused");
        }
    }
}

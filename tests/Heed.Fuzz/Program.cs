using System.Globalization;

namespace Heed.Fuzz;

/// <summary>
/// The long-run command line:
/// <c>dotnet run --project tests/Heed.Fuzz -c Release -- --format npy --cases 1000000 --seed 7</c>.
/// Options: --format NAME|all, --cases N, --seed S, --from I (first case index), --save DIR (where reproducers go;
/// default tests/TestData/fuzz), --keep-going (do not stop at the first defect), --verbose (print each case index
/// first, to find a case that ends the process). Exit 0 when no defect was found, 1 otherwise, 2 on a usage error.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        string format = "all", save = TestPaths.TestData("fuzz");
        long cases = 10_000, from = 0;
        int seed = 1;
        bool keepGoing = false, verbose = false;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--format": format = Next(); break;
                    case "--cases": cases = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--seed": seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--from": from = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--save": save = Next(); break;
                    case "--keep-going": keepGoing = true; break;
                    case "--verbose": verbose = true; break;
                    default: throw new ArgumentException($"unknown option {args[i]}");
                }
            }

            IReadOnlyList<FuzzTarget> targets = format == "all" ? FuzzTarget.All : [FuzzTarget.Find(format)];
            int defects = 0;
            foreach (FuzzTarget target in targets)
            {
                var engine = new FuzzEngine(target)
                {
                    StopAtFirst = !keepGoing,
                    Verbose = verbose,
                    Progress = (done, found) => Console.WriteLine($"{target.Name}: {done:N0} cases, {found} defects"),
                };
                FuzzReport report = engine.Run(seed, from, cases);
                Console.WriteLine(
                    $"{target.Name}: {report.Cases:N0} cases in {report.Elapsed.TotalSeconds:F1} s ({report.Cases / Math.Max(report.Elapsed.TotalSeconds, 1e-9):N0}/s), " +
                    $"{report.Refused:N0} refused with HeedException, slowest {report.Slowest.TotalMilliseconds:F0} ms, most allocated {report.MostAllocated / 1e6:F1} MB, {report.Defects.Count} defects");
                foreach (FuzzDefect defect in report.Defects)
                {
                    Console.WriteLine($"  case {defect.Case} (seed {seed}): {defect.Kind}: {defect.Detail}; saved {engine.Save(defect, save)}");
                }

                defects += report.Defects.Count;
            }

            return defects == 0 ? 0 : 1;
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine($"heed-fuzz: {ex.Message}");
            return 2;
        }
    }
}

namespace Heed.Fuzz;

/// <summary>One input of a target: what kind of file it is (a target may read several) and its bytes.</summary>
/// <param name="Kind">The kind, which picks the reader (e.g. "trace" or "vectors-text" for the json target).</param>
/// <param name="Data">The file's bytes.</param>
internal sealed record FuzzInput(string Kind, byte[] Data);

/// <summary>
/// A file format under fuzz: its seeds, its structure-aware mutator and the public reader calls one case runs. A
/// case passes when it returns or throws <see cref="HeedException"/> (or <see cref="OperationCanceledException"/>);
/// any other exception is a defect, and so is a case over the engine's time or allocation budget.
/// </summary>
internal abstract class FuzzTarget
{
    /// <summary>The name on the command line (--format) and in reproducer file names.</summary>
    public abstract string Name { get; }

    /// <summary>The valid files mutation starts from (small: the engine copies one per case).</summary>
    public abstract IReadOnlyList<FuzzInput> Seeds { get; }

    /// <summary>The file name extension of each kind, so path-based readers see the name they dispatch on.</summary>
    public abstract string Extension(string kind);

    /// <summary>One mutation of <paramref name="input"/> that knows the format's layout.</summary>
    public abstract byte[] Mutate(FuzzInput input, Random rng);

    /// <summary>Reads <paramref name="input"/> through Heed's public API; files go into <paramref name="scratch"/>.</summary>
    public abstract void Run(FuzzInput input, string scratch);

    /// <summary>Writes <paramref name="input"/> as <c>case</c> + its extension in <paramref name="scratch"/> and returns the path.</summary>
    protected string WriteCase(FuzzInput input, string scratch)
    {
        string path = Path.Combine(scratch, "case" + Extension(input.Kind));
        File.WriteAllBytes(path, input.Data);
        return path;
    }

    /// <summary>Every target, by name.</summary>
    public static IReadOnlyList<FuzzTarget> All { get; } =
        [new Targets.NpyTarget(), new Targets.SafetensorsTarget(), new Targets.CheckpointTarget(), new Targets.TokenizerTarget(), new Targets.GgufTarget(), new Targets.JsonTarget()];

    /// <summary>The target called <paramref name="name"/>.</summary>
    public static FuzzTarget Find(string name) =>
        All.FirstOrDefault(t => t.Name == name) ?? throw new ArgumentException($"unknown format {name}; expected {string.Join(", ", All.Select(t => t.Name))}");
}

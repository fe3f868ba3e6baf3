using System.Text;
using Heed.Explain;

namespace Heed.Fuzz.Targets;

/// <summary>
/// The JSON (and text) inputs of heed explain and heed lookup: a trace input (<see cref="TraceInput.Load"/>, then the
/// trace itself), a .json matrix (<see cref="TraceInput.LoadMatrix"/>), and word vectors as JSON or text
/// (<see cref="WordVectors.Load"/>). The mutator edits the text: numbers beyond float64, nesting, long rows,
/// strings where numbers belong, unknown fields, broken syntax.
/// </summary>
internal sealed class JsonTarget : FuzzTarget
{
    private const string Matrix = "[[1, 0.5], [0, -1]]";

    private static readonly FuzzInput[] SeedFiles =
    [
        new("trace", Encoding.UTF8.GetBytes("""
            {"tokens": ["The", "cat", "sat"], "embeddings": [[1, 0], [0, 1], [1, 1]], "wq": [[1, 0], [0, 1]],
             "wk": "m.json", "wv": [[1, 1], [1, -1]], "scale": 0.5, "causal": true, "focus": "cat"}
            """)),
        new("trace", Encoding.UTF8.GetBytes("""{"tokens": ["a"], "embeddings": [[2]], "wq": [[1]], "wk": [[1]], "wv": [[3]]}""")),
        new("matrix", Encoding.UTF8.GetBytes(Matrix)),
        new("vectors-json", Encoding.UTF8.GetBytes("""{"apple": [1.5, 0.5, -0.5], "banana": [1, 0, 0], "chair": [-1, 2e-3, 1]}""")),
        new("vectors-text", Encoding.UTF8.GetBytes("# words\napple 1.5 0.5 -0.5\nbanana 1 0 0\n\nchair -1 2e-3 1\n")),
    ];

    public override string Name => "json";

    public override IReadOnlyList<FuzzInput> Seeds => SeedFiles;

    public override string Extension(string kind) => kind == "vectors-text" ? ".txt" : ".json";

    public override byte[] Mutate(FuzzInput input, Random rng) => rng.Next(5) == 0
        ? Mutations.Bytes(input.Data, rng)
        : Mutations.Utf8.GetBytes(Mutations.Text(Encoding.UTF8.GetString(input.Data), rng));

    public override void Run(FuzzInput input, string scratch)
    {
        string path = WriteCase(input, scratch);
        switch (input.Kind)
        {
            case "trace":
                {
                    string matrix = Path.Combine(scratch, "m.json");
                    if (!File.Exists(matrix)) File.WriteAllText(matrix, Matrix);
                    TraceInput trace = TraceInput.Load(path);
                    AttentionTrace result = trace.Trace();
                    _ = AttentionSet.FromTrace(result, trace.Source);
                    break;
                }

            case "matrix":
                _ = TraceInput.LoadMatrix(path, "--embeddings");
                break;
            default:
                {
                    WordVectors vectors = WordVectors.Load(path);
                    _ = vectors.Get(vectors.Words.First(), "--query");
                    break;
                }
        }
    }
}

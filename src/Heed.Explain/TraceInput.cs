using System.Globalization;
using System.Text.Json;
using Heed.IO;

namespace Heed.Explain;

/// <summary>
/// Everything a single-head trace needs, read from the user's files. The JSON input format:
/// <code>
/// {
///   "tokens":     ["The", "cat", "sat"],          // T labels
///   "embeddings": [[1, 0], [0, 1], [1, 1]],       // E [T, C], or the path of a .npy / .json file holding it
///   "wq":         [[1, 0], [0, 1]],               // W_Q [C, D] (or a path)
///   "wk":         "wk.npy",                       // W_K [C, D]
///   "wv":         [[1, 1], [1, -1]],              // W_V [C, Dv]
///   "scale":      1.0,                            // optional; default 1/sqrt(D)
///   "causal":     false,                          // optional; true masks future tokens
///   "focus":      "cat"                           // optional; default the first token
/// }
/// </code>
/// Relative paths are resolved against the JSON file's folder. A matrix file is a 2-D <c>.npy</c> (any float or integer
/// type) or a <c>.json</c> array of rows.
/// </summary>
public sealed record TraceInput
{
    private static readonly string[] Fields = ["tokens", "embeddings", "wq", "wk", "wv", "scale", "causal", "focus"];

    /// <summary>The T token labels.</summary>
    public required IReadOnlyList<string> Tokens { get; init; }

    /// <summary>E [T, C].</summary>
    public required double[][] Embeddings { get; init; }

    /// <summary>W_Q [C, D].</summary>
    public required double[][] WQ { get; init; }

    /// <summary>W_K [C, D].</summary>
    public required double[][] WK { get; init; }

    /// <summary>W_V [C, Dv].</summary>
    public required double[][] WV { get; init; }

    /// <summary>The factor on Q·Kᵀ; null = 1/√D.</summary>
    public double? Scale { get; init; }

    /// <summary>Whether future tokens are masked.</summary>
    public bool Causal { get; init; }

    /// <summary>The token to follow step by step; null = the first.</summary>
    public string? Focus { get; init; }

    /// <summary>Where the input came from (a file name), for titles.</summary>
    public string Source { get; init; } = "";

    /// <summary>Runs the attention on this input (see <see cref="TraceBuilder.Build"/>).</summary>
    /// <exception cref="HeedException">The sizes do not fit together.</exception>
    public AttentionTrace Trace(bool useReference = false) =>
        TraceBuilder.Build(Tokens, Embeddings, WQ, WK, WV, Scale, useReference, Causal);

    /// <summary>Reads the JSON input format described on <see cref="TraceInput"/>.</summary>
    /// <exception cref="HeedException">The file is missing, not JSON, or a field is missing, unknown or of the wrong kind; the message names the file and field.</exception>
    public static TraceInput Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        using JsonDocument doc = ParseJson(path);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new HeedException($"{path}: expected a JSON object with the fields {string.Join(", ", Fields)}");
        foreach (JsonProperty p in root.EnumerateObject())
        {
            if (!Fields.Contains(p.Name)) throw new HeedException($"{path}: unknown field \"{p.Name}\"; expected {string.Join(", ", Fields)}");
        }

        JsonElement Required(string name) => root.TryGetProperty(name, out JsonElement e) ? e : throw new HeedException($"{path}: the field \"{name}\" is missing");
        double[][] Matrix(string name)
        {
            JsonElement e = Required(name);
            return e.ValueKind == JsonValueKind.String
                ? LoadMatrix(Path.Combine(folder, e.GetString()!), $"{path}: \"{name}\"")
                : ReadMatrix(e, $"{path}: \"{name}\"", $"{path}: \"{name}\"");
        }

        JsonElement tokens = Required("tokens");
        if (tokens.ValueKind != JsonValueKind.Array || tokens.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.String))
        {
            throw new HeedException($"{path}: \"tokens\" must be an array of strings");
        }

        double? scale = null;
        if (root.TryGetProperty("scale", out JsonElement s) && s.ValueKind != JsonValueKind.Null)
        {
            scale = s.ValueKind == JsonValueKind.Number ? FiniteNumber(s, $"{path}: \"scale\"") : throw new HeedException($"{path}: \"scale\" must be a number");
        }

        bool causal = false;
        if (root.TryGetProperty("causal", out JsonElement c))
        {
            causal = c.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new HeedException($"{path}: \"causal\" must be true or false"),
            };
        }

        string? focus = null;
        if (root.TryGetProperty("focus", out JsonElement f) && f.ValueKind != JsonValueKind.Null)
        {
            focus = f.ValueKind == JsonValueKind.String ? f.GetString() : throw new HeedException($"{path}: \"focus\" must be a string");
        }

        return new TraceInput
        {
            Tokens = tokens.EnumerateArray().Select(t => t.GetString()!).ToArray(),
            Embeddings = Matrix("embeddings"),
            WQ = Matrix("wq"),
            WK = Matrix("wk"),
            WV = Matrix("wv"),
            Scale = scale,
            Causal = causal,
            Focus = focus,
            Source = Path.GetFileName(path),
        };
    }

    /// <summary>Reads a matrix from a 2-D <c>.npy</c> file or a <c>.json</c> array of rows.</summary>
    /// <param name="path">The file.</param>
    /// <param name="name">What the matrix is (a flag or field), for messages.</param>
    /// <exception cref="HeedException">Missing file, wrong rank, ragged rows or not numbers.</exception>
    public static double[][] LoadMatrix(string path, string name)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new HeedException($"{name}: {path} does not exist");
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            using JsonDocument doc = ParseJson(path);
            return ReadMatrix(doc.RootElement, $"{name} ({Path.GetFileName(path)})", $"{name}: {Path.GetFileName(path)}");
        }

        Tensor t;
        try
        {
            t = Npy.Read(path);
        }
        catch (HeedException ex)
        {
            throw new HeedException($"{name}: {ex.Message}", ex);
        }

        if (t.Rank != 2) throw new HeedException($"{name}: {Path.GetFileName(path)} has shape {t.ShapeText}; expected a 2-D matrix");
        if (t.DType == DType.Bool) throw new HeedException($"{name}: {Path.GetFileName(path)} holds booleans; expected numbers");
        double[] flat = t.ToDoubleArray();
        int cols = t.Dim(1);
        int bad = Array.FindIndex(flat, x => !double.IsFinite(x));
        if (bad >= 0)
        {
            // NaN and ±∞ would walk through attention as NaN; the JSON inputs refuse them the same way.
            string value = double.IsNaN(flat[bad]) ? "NaN" : flat[bad] > 0 ? "Infinity" : "-Infinity";
            throw new HeedException($"{name}: {Path.GetFileName(path)}[{bad / cols}][{bad % cols}]: {value}; expected a finite number");
        }

        return Enumerable.Range(0, t.Dim(0)).Select(i => flat.AsSpan(i * cols, cols).ToArray()).ToArray();
    }

    /// <summary>Splits a comma-separated token list (the <c>--tokens</c> flag); surrounding spaces are kept inside tokens only.</summary>
    public static IReadOnlyList<string> SplitTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Split(',').Select(t => t.Trim()).ToArray();
    }

    private static JsonDocument ParseJson(string path)
    {
        if (!File.Exists(path)) throw new HeedException($"{path} does not exist");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new HeedException($"{path}: not valid JSON (line {ex.LineNumber + 1}): {ex.Message.Split('.')[0]}", ex);
        }

        try
        {
            JsonStrings.Check(doc.RootElement, path);
            return doc;
        }
        catch
        {
            doc.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A JSON number as a finite double. JSON has no infinities, so a number that parses to ±∞ (1e400) only overflowed
    /// float64; letting it through would turn the whole walk-through into NaN with exit 0, so it is refused where it stands.
    /// </summary>
    /// <param name="e">A JSON number.</param>
    /// <param name="at">The file and field or position, for the message (<c>in.json: "embeddings"[1][0]</c>).</param>
    /// <exception cref="HeedException">The number is outside the float64 range.</exception>
    internal static double FiniteNumber(JsonElement e, string at) =>
        e.TryGetDouble(out double value) && double.IsFinite(value) ? value : throw new HeedException($"{at}: a number outside the float64 range");

    private static double[][] ReadMatrix(JsonElement e, string name, string at)
    {
        if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() == 0) throw new HeedException($"{name} must be a non-empty array of rows (or a file path)");
        var rows = new double[e.GetArrayLength()][];
        int i = 0;
        foreach (JsonElement row in e.EnumerateArray())
        {
            if (row.ValueKind != JsonValueKind.Array) throw new HeedException($"{name} row {i} is not an array of numbers");
            rows[i] = row.EnumerateArray().Select((x, j) => x.ValueKind == JsonValueKind.Number
                ? FiniteNumber(x, $"{at}[{i.ToString(CultureInfo.InvariantCulture)}][{j.ToString(CultureInfo.InvariantCulture)}]")
                : throw new HeedException($"{name} row {i} value {j.ToString(CultureInfo.InvariantCulture)} is not a number")).ToArray();
            if (rows[i].Length != rows[0].Length) throw new HeedException($"{name} row {i} has {rows[i].Length} values; expected {rows[0].Length} like row 0");
            i++;
        }

        return rows;
    }
}

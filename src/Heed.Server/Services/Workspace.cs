using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Heed.Explain;
using Heed.IO;

namespace Heed.Server.Services;

/// <summary>A named matrix's shape and metadata, as listed.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Rows">Its row count.</param>
/// <param name="Columns">Its column count.</param>
/// <param name="Metadata">Free-form string pairs the client attached.</param>
/// <param name="Updated">When it last changed.</param>
public sealed record MatrixInfo(string Name, int Rows, int Columns, IReadOnlyDictionary<string, string> Metadata, DateTimeOffset Updated);

/// <summary>A new named matrix: its values, or a shape and a fill value.</summary>
public sealed record MatrixCreateRequest
{
    /// <summary>The name: a letter, then letters, digits, '.', '_' or '-' (at most 64).</summary>
    [Description("A letter, then letters, digits, '.', '_' or '-' (at most 64 characters).")]
    [Required]
    public string? Name { get; init; }

    /// <summary>The values, one list per row.</summary>
    [Description("The values, one list per row; or give rows, columns and fill.")]
    public double[][]? Values { get; init; }

    /// <summary>The row count (with <see cref="Columns"/>, when no values are given).</summary>
    [Description("The row count, when no values are given.")]
    public int? Rows { get; init; }

    /// <summary>The column count (with <see cref="Rows"/>).</summary>
    [Description("The column count, when no values are given.")]
    public int? Columns { get; init; }

    /// <summary>The value of every cell when no values are given.</summary>
    [Description("The value of every cell, when no values are given (default 0).")]
    public double Fill { get; init; }

    /// <summary>Free-form string pairs.</summary>
    [Description("Free-form string pairs kept with the matrix (units, source, meaning of rows).")]
    public Dictionary<string, string>? Metadata { get; init; }
}

/// <summary>A rectangle of a named matrix.</summary>
/// <param name="Name">The matrix.</param>
/// <param name="RowStart">The first row of the rectangle.</param>
/// <param name="ColumnStart">The first column of the rectangle.</param>
/// <param name="Values">The rectangle's values, one list per row.</param>
/// <param name="Rows">The whole matrix's row count.</param>
/// <param name="Columns">The whole matrix's column count.</param>
public sealed record MatrixRange(string Name, int RowStart, int ColumnStart, double[][] Values, int Rows, int Columns);

/// <summary>New values for a rectangle of a named matrix (and, optionally, new metadata).</summary>
public sealed record MatrixUpdateRequest
{
    /// <summary>The first row written.</summary>
    [Description("The first row written (0-based).")]
    public int RowStart { get; init; }

    /// <summary>The first column written.</summary>
    [Description("The first column written (0-based).")]
    public int ColumnStart { get; init; }

    /// <summary>The values, one list per row.</summary>
    [Description("The new values, one list per row; the rectangle must fit inside the matrix.")]
    public double[][]? Values { get; init; }

    /// <summary>Metadata pairs to set (merged into the existing ones).</summary>
    [Description("Metadata pairs to set, merged into the existing ones.")]
    public Dictionary<string, string>? Metadata { get; init; }
}

/// <summary>What <see cref="Workspace.Analyse"/> runs.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AnalysisKind>))]
public enum AnalysisKind
{
    /// <summary>Single-head attention on matrices Q [T, D], K [S, D], V [S, Dv].</summary>
    Attention,

    /// <summary>The step-by-step trace of embeddings [T, C] with W_Q, W_K, W_V.</summary>
    Explain,
}

/// <summary>The picture an analysis returns.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ChartFormat>))]
public enum ChartFormat
{
    /// <summary>An SVG heatmap with labels (text).</summary>
    Svg,

    /// <summary>A PNG heatmap (base64).</summary>
    Png,

    /// <summary>No picture.</summary>
    None,
}

/// <summary>An analysis of named matrices.</summary>
public sealed record AnalyseRequest
{
    /// <summary>What to run.</summary>
    [Description("Attention (q, k, v) or Explain (embeddings, wq, wk, wv).")]
    public AnalysisKind Kind { get; init; }

    /// <summary>Matrix name of Q [T, D] (attention).</summary>
    [Description("Attention: the matrix holding Q [T, D].")]
    public string? Q { get; init; }

    /// <summary>Matrix name of K [S, D] (attention).</summary>
    [Description("Attention: the matrix holding K [S, D].")]
    public string? K { get; init; }

    /// <summary>Matrix name of V [S, Dv] (attention).</summary>
    [Description("Attention: the matrix holding V [S, Dv].")]
    public string? V { get; init; }

    /// <summary>Causal mask.</summary>
    [Description("Query i attends keys j <= i.")]
    public bool IsCausal { get; init; }

    /// <summary>Matrix name of E [T, C] (explain).</summary>
    [Description("Explain: the matrix holding the embeddings E [T, C].")]
    public string? Embeddings { get; init; }

    /// <summary>Matrix name of W_Q (explain).</summary>
    [Description("Explain: the matrix holding W_Q [C, D].")]
    public string? Wq { get; init; }

    /// <summary>Matrix name of W_K (explain).</summary>
    [Description("Explain: the matrix holding W_K [C, D].")]
    public string? Wk { get; init; }

    /// <summary>Matrix name of W_V (explain).</summary>
    [Description("Explain: the matrix holding W_V [C, Dv].")]
    public string? Wv { get; init; }

    /// <summary>Row labels; default "0", "1", … (or the embeddings matrix's "tokens" metadata, comma-separated).</summary>
    [Description("Row labels (tokens); default the embeddings matrix's 'tokens' metadata (comma-separated), else 0, 1, 2, ...")]
    public string[]? Tokens { get; init; }

    /// <summary>The focus token (explain).</summary>
    [Description("Explain: the token walked through; default the first.")]
    public string? Focus { get; init; }

    /// <summary>The factor on Q·Kᵀ; null = 1/√D.</summary>
    [Description("The factor on Q·Kᵀ; default 1/sqrt(D).")]
    public double? Scale { get; init; }

    /// <summary>Store the output [T, Dv] under this name.</summary>
    [Description("Store the output [T, Dv] in the workspace under this name (replacing a matrix of that name).")]
    public string? OutputName { get; init; }

    /// <summary>The picture to return.</summary>
    [Description("Svg (default), Png or None: a heatmap of the attention weights.")]
    public ChartFormat Chart { get; init; }
}

/// <summary>The result of an analysis.</summary>
/// <param name="Kind">What ran.</param>
/// <param name="Tokens">Row labels.</param>
/// <param name="Weights">The attention weights [T, S].</param>
/// <param name="Output">The output [T, Dv].</param>
/// <param name="OutputName">Where the output was stored, if asked.</param>
/// <param name="Chart">The heatmap of the weights, if asked.</param>
/// <param name="Explanation">The step-by-step walk-through (explain only).</param>
public sealed record AnalyseResponse(AnalysisKind Kind, IReadOnlyList<string> Tokens, double[][] Weights, double[][] Output, string? OutputName, Picture? Chart, ExplainResponse? Explanation);

/// <summary>
/// The workspace: named float64 matrices that clients read and write like a spreadsheet, and analyse with attention.
/// With a folder, every change is written to it (NAME.npy + NAME.json, each replaced atomically) before the call returns,
/// and the folder is read back at start.
/// </summary>
public sealed partial class Workspace
{
    private static readonly JsonSerializerOptions MetaJson = new(JsonSerializerDefaults.Web);
    private readonly Dictionary<string, Entry> _matrices = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly string? _folder;
    private readonly TensorCodec _codec;

    /// <summary>Creates the workspace, reloading <paramref name="folder"/> when given.</summary>
    /// <exception cref="HeedException">A file in the folder is malformed.</exception>
    public Workspace(string? folder, TensorCodec codec)
    {
        _codec = codec;
        _folder = folder is null ? null : Path.GetFullPath(folder);
        if (_folder is not null)
        {
            Directory.CreateDirectory(_folder);
            foreach (string meta in Directory.EnumerateFiles(_folder, "*.json"))
            {
                string name = Path.GetFileNameWithoutExtension(meta);
                string npy = Path.Combine(_folder, name + ".npy");
                if (!NamePattern().IsMatch(name) || !File.Exists(npy))
                {
                    continue;
                }

                StoredMeta stored = JsonSerializer.Deserialize<StoredMeta>(File.ReadAllText(meta), MetaJson)
                    ?? throw new HeedException($"workspace {meta}: empty metadata");
                Tensor t = Npy.Read(npy);
                if (t.Rank != 2)
                {
                    throw new HeedException($"workspace {npy}: rank {t.Rank}; workspace matrices are 2-D");
                }

                _matrices[name] = new Entry(t.Dim(0), t.Dim(1), t.ToDoubleArray(), stored.Metadata ?? [], stored.Updated);
            }
        }
    }

    /// <summary>The folder the workspace persists to, or null.</summary>
    public string? Folder => _folder;

    /// <summary>Every matrix's name, shape and metadata, sorted by name.</summary>
    public IReadOnlyList<MatrixInfo> List()
    {
        lock (_gate)
        {
            return _matrices.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => Info(p.Key, p.Value)).ToArray();
        }
    }

    /// <summary>Creates a matrix.</summary>
    /// <exception cref="HeedException">The name or values are invalid, or the workspace is full.</exception>
    /// <exception cref="HeedConflictException">The name is taken.</exception>
    public MatrixInfo Create(MatrixCreateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string name = CheckName(request.Name);
        (int rows, int cols, double[] data) = request.Values is not null ? Flatten("values", request.Values) : Filled(request);
        CheckMetadata(request.Metadata);
        lock (_gate)
        {
            if (_matrices.ContainsKey(name))
            {
                throw new HeedConflictException($"name: a matrix '{name}' exists; update it or delete it first");
            }

            if (_matrices.Count >= _codec.Limits.MaxMatrices)
            {
                throw new HeedException($"workspace: holds {_matrices.Count} matrices, the server's limit; delete some first");
            }

            var entry = new Entry(rows, cols, data, new Dictionary<string, string>(request.Metadata ?? [], StringComparer.Ordinal), DateTimeOffset.UtcNow);
            Persist(name, entry);
            _matrices[name] = entry;
            return Info(name, entry);
        }
    }

    /// <summary>Reads a rectangle: rows [rowStart, rowStart + rowCount), columns [columnStart, columnStart + columnCount); null counts = to the end.</summary>
    /// <exception cref="HeedNotFoundException">No such matrix.</exception>
    /// <exception cref="HeedException">The rectangle does not fit.</exception>
    public MatrixRange Get(string name, int rowStart = 0, int? rowCount = null, int columnStart = 0, int? columnCount = null)
    {
        lock (_gate)
        {
            Entry e = Find(name);
            int rows = rowCount ?? (e.Rows - rowStart), cols = columnCount ?? (e.Columns - columnStart);
            CheckRectangle(name, e, rowStart, rows, columnStart, cols);
            var values = new double[rows][];
            for (int i = 0; i < rows; i++)
            {
                values[i] = e.Data.AsSpan(((rowStart + i) * e.Columns) + columnStart, cols).ToArray();
            }

            return new MatrixRange(name, rowStart, columnStart, values, e.Rows, e.Columns);
        }
    }

    /// <summary>Writes a rectangle of values (and merges metadata).</summary>
    /// <exception cref="HeedNotFoundException">No such matrix.</exception>
    /// <exception cref="HeedException">The rectangle does not fit or the values are ragged.</exception>
    public MatrixInfo Update(string name, MatrixUpdateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckMetadata(request.Metadata);
        lock (_gate)
        {
            Entry e = Find(name);
            double[] data = (double[])e.Data.Clone();
            if (request.Values is not null)
            {
                (int rows, int cols, double[] block) = Flatten("values", request.Values);
                CheckRectangle(name, e, request.RowStart, rows, request.ColumnStart, cols);
                for (int i = 0; i < rows; i++)
                {
                    block.AsSpan(i * cols, cols).CopyTo(data.AsSpan(((request.RowStart + i) * e.Columns) + request.ColumnStart));
                }
            }

            var metadata = new Dictionary<string, string>(e.Metadata, StringComparer.Ordinal);
            foreach ((string k, string v) in request.Metadata ?? [])
            {
                metadata[k] = v;
            }

            var updated = new Entry(e.Rows, e.Columns, data, metadata, DateTimeOffset.UtcNow);
            Persist(name, updated);
            _matrices[name] = updated;
            return Info(name, updated);
        }
    }

    /// <summary>Deletes a matrix.</summary>
    /// <exception cref="HeedNotFoundException">No such matrix.</exception>
    public void Delete(string name)
    {
        lock (_gate)
        {
            Find(name);
            if (_folder is not null)
            {
                File.Delete(Path.Combine(_folder, name + ".json"));
                File.Delete(Path.Combine(_folder, name + ".npy"));
            }

            _matrices.Remove(name);
        }
    }

    /// <summary>Runs attention or explain with named matrices as inputs; returns the weights, the output and a chart.</summary>
    /// <exception cref="HeedException">A matrix is missing or the shapes do not fit.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
    public AnalyseResponse Analyse(AnalyseRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        double[][] weights, output;
        string[] tokens;
        ExplainResponse? explanation = null;
        if (request.Kind == AnalysisKind.Explain)
        {
            MatrixRange e = Get(Required("embeddings", request.Embeddings));
            tokens = Labels(request.Tokens, request.Embeddings!, e.Rows);
            var input = new TraceInput
            {
                Tokens = tokens,
                Embeddings = e.Values,
                WQ = Get(Required("wq", request.Wq)).Values,
                WK = Get(Required("wk", request.Wk)).Values,
                WV = Get(Required("wv", request.Wv)).Values,
                Scale = request.Scale,
                Causal = request.IsCausal,
                Source = $"workspace matrices {request.Embeddings}, {request.Wq}, {request.Wk}, {request.Wv}",
            };
            AttentionTrace trace = input.Trace();
            explanation = ExplainService.Describe(trace, request.Focus ?? tokens[0], input.Source);
            (weights, output) = (trace.Weights, trace.Outputs);
        }
        else
        {
            MatrixRange q = Get(Required("q", request.Q)), k = Get(Required("k", request.K)), v = Get(Required("v", request.V));
            tokens = Labels(request.Tokens, request.Q!, q.Rows);
            var inputs = new AttentionInputs(
                Tensor.FromDoubles(DType.Float64, [1, 1, q.Rows, q.Columns], q.Values.SelectMany(r => r).ToArray()),
                Tensor.FromDoubles(DType.Float64, [1, 1, k.Rows, k.Columns], k.Values.SelectMany(r => r).ToArray()),
                Tensor.FromDoubles(DType.Float64, [1, 1, v.Rows, v.Columns], v.Values.SelectMany(r => r).ToArray()));
            AttentionResult result = Attention.Compute(inputs, new AttentionOptions
            {
                Scale = request.Scale,
                IsCausal = request.IsCausal,
                ComputeQkMatmulOutput = true,
                QkMatmulOutputMode = QkMatmulOutputMode.Probabilities,
                Cancellation = cancellation,
            });
            weights = Rows(result.QkMatmulOutput!.ToDoubleArray(), k.Rows);
            output = Rows(result.Output.ToDoubleArray(), v.Columns);
        }

        cancellation.ThrowIfCancellationRequested();
        if (request.OutputName is not null)
        {
            string name = CheckName(request.OutputName);
            (int rows, int cols, double[] data) = Flatten("output", output);
            var entry = new Entry(rows, cols, data, new(StringComparer.Ordinal) { ["source"] = $"analyse {request.Kind}", ["tokens"] = string.Join(',', tokens) }, DateTimeOffset.UtcNow);
            lock (_gate)
            {
                if (!_matrices.ContainsKey(name) && _matrices.Count >= _codec.Limits.MaxMatrices)
                {
                    throw new HeedException($"outputName: the workspace holds {_matrices.Count} matrices, the server's limit; delete some first");
                }

                Persist(name, entry);
                _matrices[name] = entry;
            }
        }

        string[] keyLabels = weights.Length > 0 && weights[0].Length == tokens.Length ? tokens : Enumerable.Range(0, weights.Length == 0 ? 0 : weights[0].Length).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Picture? chart = request.Chart == ChartFormat.None ? null
            : Pictures.Render(Pictures.Set(tokens, keyLabels, weights, $"analyse {request.Kind}"), PictureKind.Heatmap, request.Chart == ChartFormat.Png ? PictureFormat.Png : PictureFormat.Svg);
        return new AnalyseResponse(request.Kind, tokens, weights, output, request.OutputName, chart, explanation);
    }

    private string[] Labels(string[]? given, string matrix, int rows)
    {
        if (given is not null)
        {
            if (given.Length != rows)
            {
                throw new HeedException($"tokens: {given.Length} labels for {rows} rows of {matrix}");
            }

            return given;
        }

        lock (_gate)
        {
            if (_matrices.TryGetValue(matrix, out Entry? e) && e.Metadata.TryGetValue("tokens", out string? list))
            {
                string[] labels = list.Split(',');
                if (labels.Length == rows)
                {
                    return labels;
                }
            }
        }

        return Enumerable.Range(0, rows).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    private static string Required(string field, string? name) => name ?? throw new HeedException($"{field}: required, the name of a workspace matrix");

    private static double[][] Rows(double[] flat, int width) =>
        Enumerable.Range(0, width == 0 ? 0 : flat.Length / width).Select(i => flat.AsSpan(i * width, width).ToArray()).ToArray();

    private Entry Find(string name) =>
        _matrices.TryGetValue(name, out Entry? e) ? e : throw new HeedNotFoundException($"matrix '{name}': no such matrix in the workspace");

    private static void CheckRectangle(string name, Entry e, int rowStart, int rows, int columnStart, int cols)
    {
        if (rowStart < 0 || rows < 0 || rowStart + rows > e.Rows)
        {
            throw new HeedException($"rows: {rowStart}..{rowStart + rows} does not fit in '{name}', which has {e.Rows} rows");
        }

        if (columnStart < 0 || cols < 0 || columnStart + cols > e.Columns)
        {
            throw new HeedException($"columns: {columnStart}..{columnStart + cols} does not fit in '{name}', which has {e.Columns} columns");
        }
    }

    private (int Rows, int Cols, double[] Data) Flatten(string field, double[][] values)
    {
        int cols = _codec.CheckMatrix(field, values);
        return (values.Length, cols, values.SelectMany(r => r).ToArray());
    }

    private (int Rows, int Cols, double[] Data) Filled(MatrixCreateRequest request)
    {
        if (request.Rows is not int rows || request.Columns is not int cols || rows <= 0 || cols <= 0)
        {
            throw new HeedException("values: give values, or positive rows and columns (with fill)");
        }

        _codec.CheckShape("rows x columns", [rows, cols]);
        var data = new double[rows * cols];
        Array.Fill(data, request.Fill);
        return (rows, cols, data);
    }

    private static void CheckMetadata(Dictionary<string, string>? metadata)
    {
        if (metadata is { Count: > 64 } || metadata?.Any(p => p.Key.Length > 128 || p.Value.Length > 4096) == true)
        {
            throw new HeedException("metadata: at most 64 pairs, keys up to 128 characters, values up to 4096");
        }
    }

    private static string CheckName(string? name) =>
        name is not null && NamePattern().IsMatch(name)
            ? name
            : throw new HeedException($"name: '{name}'; expected a letter, then letters, digits, '.', '_' or '-' (at most 64 characters)");

    private void Persist(string name, Entry entry)
    {
        if (_folder is null)
        {
            return;
        }

        // Each file goes to a temporary name and is renamed over the old one: a crash leaves the old or the new file, never half of one.
        string npy = Path.Combine(_folder, name + ".npy"), meta = Path.Combine(_folder, name + ".json");
        string npyTemp = npy + ".tmp", metaTemp = meta + ".tmp";
        Npy.Write(npyTemp, Tensor.FromDoubles(DType.Float64, [entry.Rows, entry.Columns], entry.Data));
        File.WriteAllText(metaTemp, JsonSerializer.Serialize(new StoredMeta(entry.Metadata, entry.Updated), MetaJson));
        File.Move(npyTemp, npy, overwrite: true);
        File.Move(metaTemp, meta, overwrite: true);
    }

    private static MatrixInfo Info(string name, Entry e) => new(name, e.Rows, e.Columns, e.Metadata, e.Updated);

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex NamePattern();

    private sealed record Entry(int Rows, int Columns, double[] Data, Dictionary<string, string> Metadata, DateTimeOffset Updated);

    private sealed record StoredMeta(Dictionary<string, string>? Metadata, DateTimeOffset Updated);
}

using System.Globalization;
using System.Text.Json;

namespace Heed.Explain;

/// <summary>
/// A table of word vectors, all of one size. Two file formats:
/// JSON, an object of word → array of numbers (<c>{"apple": [1.5, 0.5, -0.5], …}</c>), or
/// text, one word per line followed by its numbers separated by spaces (<c>apple 1.5 0.5 -0.5</c>, the GloVe text layout;
/// blank lines and lines starting with # are skipped).
/// </summary>
public sealed class WordVectors
{
    private readonly Dictionary<string, double[]> _vectors;

    /// <summary>Creates a table; every vector must have the same size.</summary>
    /// <exception cref="HeedException">The table is empty or the sizes differ; the message names the word.</exception>
    public WordVectors(IReadOnlyDictionary<string, double[]> vectors, string source)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        if (vectors.Count == 0) throw new HeedException($"{source}: no word vectors");
        _vectors = new Dictionary<string, double[]>(vectors, StringComparer.Ordinal);
        Source = source;
        (string first, double[] v0) = vectors.First();
        Dimension = v0.Length;
        if (Dimension == 0) throw new HeedException($"{source}: the vector of \"{first}\" is empty");
        foreach ((string word, double[] v) in vectors)
        {
            if (v.Length != Dimension) throw new HeedException($"{source}: the vector of \"{word}\" has {v.Length} numbers; expected {Dimension} like \"{first}\"");
        }
    }

    /// <summary>Where the vectors came from.</summary>
    public string Source { get; }

    /// <summary>d, the size of every vector.</summary>
    public int Dimension { get; }

    /// <summary>The words, in file order.</summary>
    public IEnumerable<string> Words => _vectors.Keys;

    /// <summary>The vector of <paramref name="word"/>: an exact match first, then one ignoring case.</summary>
    /// <param name="word">The word.</param>
    /// <param name="flag">The flag that named the word, for the message.</param>
    /// <exception cref="HeedException">The word is not in the table; the message names the flag and some known words.</exception>
    public double[] Get(string word, string flag)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (_vectors.TryGetValue(word, out double[]? v)) return v;
        foreach ((string w, double[] vector) in _vectors)
        {
            if (string.Equals(w, word, StringComparison.OrdinalIgnoreCase)) return vector;
        }

        string known = string.Join(", ", _vectors.Keys.Take(12)) + (_vectors.Count > 12 ? ", …" : "");
        throw new HeedException($"{flag}: \"{word}\" has no vector in {Source} ({_vectors.Count} words: {known})");
    }

    /// <summary>Reads a JSON or text vector file (JSON when the name ends in .json or the text starts with '{').</summary>
    /// <exception cref="HeedException">Missing file, bad JSON, a line without numbers, or vectors of different sizes.</exception>
    public static WordVectors Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new HeedException($"--vectors: {path} does not exist");
        string text = File.ReadAllText(path);
        string name = Path.GetFileName(path);
        var vectors = new Dictionary<string, double[]>(StringComparer.Ordinal);
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || text.TrimStart().StartsWith('{'))
        {
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            }
            catch (JsonException ex)
            {
                throw new HeedException($"--vectors: {name} is not valid JSON (line {ex.LineNumber + 1})", ex);
            }

            using (doc)
            {
                JsonStrings.Check(doc.RootElement, $"--vectors: {name}");
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new HeedException($"--vectors: {name} must be a JSON object of word: [numbers]");
                foreach (JsonProperty p in doc.RootElement.EnumerateObject())
                {
                    if (p.Value.ValueKind != JsonValueKind.Array || p.Value.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.Number))
                    {
                        throw new HeedException($"--vectors: {name}: the value of \"{p.Name}\" must be an array of numbers");
                    }

                    string word = p.Name;
                    vectors[word] = p.Value.EnumerateArray()
                        .Select((x, k) => TraceInput.FiniteNumber(x, $"--vectors: {name}: \"{word}\"[{k.ToString(CultureInfo.InvariantCulture)}]"))
                        .ToArray();
                }
            }
        }
        else
        {
            string[] lines = text.Split('\n');
            for (int n = 0; n < lines.Length; n++)
            {
                string line = lines[n].Trim();
                if (line.Length == 0 || line.StartsWith('#')) continue;
                string[] parts = line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length < 2) throw new HeedException($"--vectors: {name} line {n + 1}: expected a word followed by numbers");
                var v = new double[parts.Length - 1];
                for (int k = 1; k < parts.Length; k++)
                {
                    if (!double.TryParse(parts[k], NumberStyles.Float, CultureInfo.InvariantCulture, out v[k - 1]))
                    {
                        throw new HeedException($"--vectors: {name} line {n + 1}: \"{parts[k]}\" is not a number");
                    }

                    // "1e400", "inf" and "NaN" all parse; none is a coordinate the lookup can use.
                    if (!double.IsFinite(v[k - 1]))
                    {
                        throw new HeedException($"--vectors: {name} line {n + 1}: \"{parts[k]}\" is not a finite number (number {k} of \"{parts[0]}\")");
                    }
                }

                vectors[parts[0]] = v;
            }
        }

        return new WordVectors(vectors, name);
    }
}

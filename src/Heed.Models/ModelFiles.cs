using Heed.Models.Generation;
using Heed.Models.Llama;
using Heed.Models.Tokenizers;

namespace Heed.Models;

/// <summary>What a model file or folder on disk is.</summary>
/// <param name="Path">The file or folder.</param>
/// <param name="Kind">"llama2.c checkpoint", "llama2.c tokenizer", "gpt2 (safetensors)", "gguf llama", "gguf vocabulary", or "unknown".</param>
/// <param name="Details">Sizes read from the header (or why it could not be read).</param>
/// <param name="Bytes">Size on disk.</param>
public sealed record ModelFileInfo(string Path, string Kind, string Details, long Bytes);

/// <summary>Finds, recognizes and loads models and tokenizers from paths.</summary>
public static class ModelFiles
{
    private static readonly string[] Gpt2ModelFiles = ["config.json", "model.safetensors"];
    private static readonly string[] Gpt2TokenizerFiles = ["vocab.json", "merges.txt"];

    /// <summary>Where <c>heed pull</c> puts models and <c>heed models</c> looks: $HEED_MODELS, else ~/.heed/models.</summary>
    public static string DefaultDirectory => Environment.GetEnvironmentVariable("HEED_MODELS") is { Length: > 0 } env
        ? env
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".heed", "models");

    /// <summary>
    /// Loads a model: a folder with config.json and model.safetensors is GPT-2 (Hugging Face layout); a file is a GGUF
    /// model of the llama architecture (by its magic) or a llama2.c checkpoint.
    /// </summary>
    /// <exception cref="HeedException">The path is missing or holds something else.</exception>
    public static ICausalLanguageModel LoadModel(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            string[] missing = [.. Gpt2ModelFiles.Where(f => !File.Exists(Path.Combine(path, f)))];
            if (missing.Length > 0)
            {
                throw new HeedException($"model {path}: a folder without {string.Join(" and ", missing)}; a model folder is a Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json, merges.txt), and a llama2.c model is given as its .bin file");
            }

            return Gpt2.Gpt2Model.Load(path);
        }

        if (!File.Exists(path))
        {
            throw new HeedException($"model {path}: no such file or folder");
        }

        return LlamaModel.Load(path);
    }

    /// <summary>
    /// Loads a tokenizer: a folder (vocab.json + merges.txt, GPT-2), a vocab.json (merges.txt beside it), a .gguf
    /// vocabulary (gpt2 or llama), or a llama2.c tok*.bin.
    /// </summary>
    /// <exception cref="HeedException">The path is missing or holds something else.</exception>
    public static ITokenizer LoadTokenizer(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            string[] missing = [.. Gpt2TokenizerFiles.Where(f => !File.Exists(Path.Combine(path, f)))];
            if (missing.Length > 0)
            {
                throw new HeedException($"tokenizer {path}: a folder without {string.Join(" and ", missing)}; a tokenizer folder holds a GPT-2 vocab.json and merges.txt, and other tokenizers are given as their file (tok*.bin, .gguf)");
            }

            return Gpt2Tokenizer.Load(Path.Combine(path, "vocab.json"), Path.Combine(path, "merges.txt"));
        }

        if (!File.Exists(path))
        {
            throw new HeedException($"tokenizer {path}: no such file or folder");
        }

        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            return Gpt2Tokenizer.Load(path, Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "merges.txt"));
        }

        if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || LlamaModel.IsGguf(path))
        {
            GgufFile gguf = GgufFile.Load(path);
            return gguf["tokenizer.ggml.model"] switch
            {
                "gpt2" => Gpt2Tokenizer.FromGguf(gguf, path),
                "llama" => LlamaTokenizer.FromGguf(gguf, path),
                "bert" => WordPieceTokenizer.FromGguf(gguf, path),
                var other => throw new HeedException($"tokenizer {path}: tokenizer.ggml.model {GgufFile.Quote(other?.ToString() ?? "")} is not supported (gpt2, llama, bert)"),
            };
        }

        return LlamaTokenizer.Load(path);
    }

    /// <summary>
    /// The tokenizer that belongs to a model when none is named: a GPT-2 folder's own files, a GGUF model itself (it
    /// carries its vocabulary), or the single tok*.bin / tokenizer.bin beside a llama2.c checkpoint.
    /// </summary>
    /// <exception cref="HeedException">None or several candidates were found.</exception>
    public static string FindTokenizer(string modelPath)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        if (Directory.Exists(modelPath) || (File.Exists(modelPath) && LlamaModel.IsGguf(modelPath)))
        {
            return modelPath;
        }

        string folder = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        string[] candidates = [.. Directory.EnumerateFiles(folder, "tok*.bin").Order(StringComparer.Ordinal)];
        return candidates.Length switch
        {
            1 => candidates[0],
            0 => throw new HeedException($"--tokenizer: not given and no tok*.bin beside {modelPath}"),
            _ => throw new HeedException($"--tokenizer: not given and {candidates.Length} tok*.bin files beside {modelPath} ({string.Join(", ", candidates.Select(Path.GetFileName))}); name one"),
        };
    }

    /// <summary>Every model, tokenizer and vocabulary file under <paramref name="root"/>, recognized by content.</summary>
    public static IReadOnlyList<ModelFileInfo> Scan(string root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var found = new List<ModelFileInfo>();
        if (!Directory.Exists(root)) return found;
        foreach (string dir in Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories).Prepend(root).Order(StringComparer.Ordinal))
        {
            if (File.Exists(Path.Combine(dir, "config.json")) && File.Exists(Path.Combine(dir, "model.safetensors")))
            {
                found.Add(Describe(dir));
            }

            foreach (string file in Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(file);
                if (name.EndsWith(".bin", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
                {
                    found.Add(Describe(file));
                }
            }
        }

        return found;
    }

    /// <summary>Recognizes one file or folder by its content.</summary>
    public static ModelFileInfo Describe(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            if (Directory.Exists(path))
            {
                Gpt2.Gpt2Config c = Gpt2.Gpt2Config.Load(Path.Combine(path, "config.json"));
                long bytes = new FileInfo(Path.Combine(path, "model.safetensors")).Length;
                return new ModelFileInfo(path, "gpt2 (safetensors)", $"layers {c.NumLayers}, heads {c.NumHeads}, width {c.Width}, vocab {c.VocabSize}, context {c.ContextLength}", bytes);
            }

            long length = new FileInfo(path).Length;
            if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            {
                GgufFile g = GgufFile.Load(path);
                string vocabulary = $"{GgufFile.Quote(g["tokenizer.ggml.model"]?.ToString() ?? "")}, {(g["tokenizer.ggml.tokens"] as string[])?.Length ?? 0} tokens";
                if (g["general.architecture"] is not string architecture)
                {
                    return new ModelFileInfo(path, "gguf vocabulary", vocabulary, length);
                }

                string types = string.Join(" + ", g.Tensors.GroupBy(t => t.Type).OrderByDescending(t => t.Count()).Select(t => $"{Gguf.GgmlTypes.Name(t.Key)} ×{t.Count()}"));
                if (architecture != "llama")
                {
                    return new ModelFileInfo(path, $"gguf {GgufFile.Quote(architecture)} (not run by Heed)", $"{g.Tensors.Count} tensors: {types}", length);
                }

                LlamaConfig c = LlamaGguf.ReadConfig(g, path);
                return new ModelFileInfo(path, "gguf llama", $"dim {c.Dim}, layers {c.NumLayers}, heads {c.NumHeads}/{c.KvNumHeads} kv, vocab {c.VocabSize}, context {c.SeqLen}, tensors {types}, tokenizer {vocabulary}", length);
            }

            string file = Path.GetFileName(path);
            if (file.StartsWith("tok", StringComparison.OrdinalIgnoreCase))
            {
                LlamaTokenizer t = LlamaTokenizer.Load(path);
                return new ModelFileInfo(path, "llama2.c tokenizer", $"{t.VocabSize} tokens", length);
            }

            LlamaConfig l = LlamaCheckpoint.ReadConfig(path);
            return new ModelFileInfo(path, "llama2.c checkpoint", $"dim {l.Dim}, layers {l.NumLayers}, heads {l.NumHeads}/{l.KvNumHeads} kv, vocab {l.VocabSize}, context {l.SeqLen}", length);
        }
        catch (HeedException ex)
        {
            long length = File.Exists(path) ? new FileInfo(path).Length : 0;
            return new ModelFileInfo(path, "unknown", ex.Message, length);
        }
    }
}

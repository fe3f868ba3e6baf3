using System.Text.RegularExpressions;
using Heed.Explain;
using Heed.Models;
using Heed.Models.Bert;
using Heed.Models.Generation;
using Heed.Models.Gpt2;
using Heed.Models.Llama;
using Heed.Models.Tokenizers;

namespace Heed.Server.Services;

/// <summary>One model the server knows, by id.</summary>
/// <param name="Id">The id clients use: a built-in name or the name of an entry directly inside the models folder.</param>
/// <param name="Format">heed-toy, llama2c, gguf, gpt2-safetensors, bert-safetensors, bert-onnx, or unknown.</param>
/// <param name="Kind">toy (attention heads over word vectors), decoder (generates text: POST /api/v1/generate), encoder (embeds text: POST /api/v1/embed), or unknown.</param>
/// <param name="Runnable">Whether <c>POST /api/v1/runs</c> can run it in this build.</param>
/// <param name="BuiltIn">Whether it ships with the server rather than living in the models folder.</param>
/// <param name="Bytes">Its size on disk (0 for built-ins).</param>
/// <param name="Description">One line about it.</param>
public sealed record ModelInfo(string Id, string Format, string Kind, bool Runnable, bool BuiltIn, long Bytes, string Description);

/// <summary>A transformer checkpoint loaded with its tokenizer.</summary>
/// <param name="Id">The model id.</param>
/// <param name="Format">llama2c, gguf or gpt2-safetensors.</param>
/// <param name="Model">The model.</param>
/// <param name="Tokenizer">Its tokenizer.</param>
/// <param name="ChatTemplate">The chat template the file carries (a GGUF's tokenizer.chat_template), or null.</param>
public sealed record LoadedModel(string Id, string Format, ICausalLanguageModel Model, ITokenizer Tokenizer, string? ChatTemplate = null);

/// <summary>
/// The models a server may use: built-ins and the entries of one configured folder, addressed by id only.
/// An id is one path segment (letters, digits, '.', '_', '-', not starting with '.'); absolute paths, '..', separators and
/// symbolic links anywhere under the folder are refused, so no request can make the server read outside it. Loaded models
/// are kept in a <see cref="ModelCache"/>, so a model is read from disk once per id until its files change.
/// </summary>
public sealed partial class ModelCatalog
{
    /// <summary>The id of the built-in model of seed 000's worked example.</summary>
    public const string SeedModelId = "seed-cat-sat";

    private const long MaxConfigBytes = 1024 * 1024;
    private static readonly Lazy<ToyModel> Seed = new(ToyModel.Seed);
    private readonly string? _root;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (string Folder, string Description)> _registered = new(StringComparer.Ordinal);

    /// <summary>Creates the catalog over <paramref name="modelsDirectory"/> (null = built-ins only).</summary>
    public ModelCatalog(string? modelsDirectory, ModelCache? cache = null)
    {
        _root = modelsDirectory is null ? null : Path.GetFullPath(modelsDirectory);
        Cache = cache ?? new ModelCache();
    }

    /// <summary>The models folder, or null.</summary>
    public string? Root => _root;

    /// <summary>The models loaded so far.</summary>
    public ModelCache Cache { get; }

    /// <summary>Every model: the built-ins, then the folder's entries sorted by id (symbolic links are skipped).</summary>
    public IReadOnlyList<ModelInfo> List()
    {
        var models = new List<ModelInfo> { SeedInfo() };
        if (_root is not null && Directory.Exists(_root))
        {
            foreach (FileSystemInfo entry in new DirectoryInfo(_root).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                if (entry.LinkTarget is null && IdPattern().IsMatch(entry.Name) && !_registered.ContainsKey(entry.Name))
                {
                    models.Add(Describe(entry));
                }
            }
        }

        foreach ((string id, (string folder, string description)) in _registered.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            if (Directory.Exists(folder))
            {
                models.Add(Describe(new DirectoryInfo(folder)) with { Description = description });
            }
        }

        return models;
    }

    /// <summary>
    /// Makes a folder the server wrote itself (a trained model) a model under <paramref name="id"/>, outside the models folder;
    /// the folder's name must be the id. It is listed, described and loaded like the models folder's entries.
    /// </summary>
    /// <exception cref="ArgumentException">The id is not a plain name or is not the folder's name.</exception>
    public void Register(string id, string folder, string description)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(folder);
        if (!IdPattern().IsMatch(id) || Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)) != id)
        {
            throw new ArgumentException($"a registered model's folder must be named by its id '{id}'", nameof(folder));
        }

        _registered[id] = (Path.GetFullPath(folder), description);
    }

    /// <summary>Forgets a model <see cref="Register"/> added (its files are the caller's to delete).</summary>
    public void Unregister(string id) => _registered.TryRemove(id, out _);

    /// <summary>The model with this id.</summary>
    /// <exception cref="HeedException">The id is not a plain name, or it names a symbolic link.</exception>
    /// <exception cref="HeedNotFoundException">No such model.</exception>
    public ModelInfo Get(string id) => id == SeedModelId ? SeedInfo()
        : _registered.TryGetValue(id, out var registered) ? Describe(Resolve(id)) with { Description = registered.Description }
        : Describe(Resolve(id));

    /// <summary>The model's configuration: sizes, heads and layers, read from the toy model, the llama2.c header or config.json.</summary>
    /// <exception cref="HeedException">The id is refused or the model's files are malformed.</exception>
    public ModelConfiguration Config(string id)
    {
        if (id == SeedModelId)
        {
            return Seed.Value.Config();
        }

        FileSystemInfo entry = Resolve(id);
        ModelInfo info = Describe(entry);
        switch (info.Format)
        {
            case "heed-toy":
                return LoadToy(id).Config();
            case "llama2c":
                {
                    string file = entry is FileInfo f ? f.FullName : CheckedFile(entry.FullName, FindCheckpoint((DirectoryInfo)entry)!.Name);
                    return Llama(id, info.Format, ReadNamed(id, file, LlamaCheckpoint.ReadConfig));
                }

            case "gguf":
                return Llama(id, info.Format, ReadNamed(id, entry.FullName, LlamaGguf.ReadConfig));
            case "bert-safetensors" or "bert-onnx":
                {
                    BertConfig config = LoadEncoder(id).Model.Config;
                    return new ModelConfiguration
                    {
                        Id = id,
                        Format = info.Format,
                        Architecture = "bert",
                        Width = config.Width,
                        NumLayers = config.NumLayers,
                        NumHeads = config.NumHeads,
                        NumKvHeads = config.NumHeads,
                        HeadSize = config.HeadSize,
                        FeedForwardWidth = config.InnerWidth,
                        VocabularySize = config.VocabSize,
                        ContextLength = config.MaxPositions,
                        NormEpsilon = config.LayerNormEpsilon,
                        Activation = config.Activation,
                    };
                }

            case "gpt2-safetensors":
                {
                    string file = CheckedFile(entry.FullName, "config.json");
                    if (new FileInfo(file).Length > MaxConfigBytes)
                    {
                        throw new HeedException($"model {id}: config.json is larger than {MaxConfigBytes} bytes");
                    }

                    Gpt2Config config = ReadNamed(id, file, Gpt2Config.Load);
                    return new ModelConfiguration
                    {
                        Id = id,
                        Format = info.Format,
                        Architecture = "gpt2",
                        Width = config.Width,
                        NumLayers = config.NumLayers,
                        NumHeads = config.NumHeads,
                        NumKvHeads = config.NumHeads,
                        HeadSize = config.HeadSize,
                        FeedForwardWidth = config.InnerWidth,
                        VocabularySize = config.VocabSize,
                        ContextLength = config.ContextLength,
                        NormEpsilon = config.LayerNormEpsilon,
                        Activation = config.Activation,
                        TiedEmbeddings = true,
                    };
                }

            default:
                return new ModelConfiguration { Id = id, Format = info.Format };
        }
    }

    private static ModelConfiguration Llama(string id, string format, LlamaConfig header) => new()
    {
        Id = id,
        Format = format,
        Architecture = "llama",
        Width = header.Dim,
        NumLayers = header.NumLayers,
        NumHeads = header.NumHeads,
        NumKvHeads = header.KvNumHeads,
        HeadSize = header.HeadSize,
        FeedForwardWidth = header.HiddenDim,
        VocabularySize = header.VocabSize,
        ContextLength = header.SeqLen,
        NormEpsilon = header.NormEpsilon,
        RopeTheta = header.RopeTheta,
        Activation = "swiglu",
        TiedEmbeddings = header.SharedClassifier,
    };

    // Readers name the file by its full path; clients know the model by id, and the file by its name.
    private static T ReadNamed<T>(string id, string file, Func<string, T> read)
    {
        try
        {
            return read(file);
        }
        catch (HeedException ex)
        {
            throw new HeedException($"model {id}: {ex.Message.Replace(file, Path.GetFileName(file), StringComparison.Ordinal)}", ex);
        }
    }

    /// <summary>Loads a toy model (the built-in seed model or a <c>*.heed-toy.json</c> file), once per id and file version.</summary>
    /// <exception cref="HeedException">The id is refused, the model is not a toy model, or its file is malformed.</exception>
    public ToyModel LoadToy(string id)
    {
        if (id == SeedModelId)
        {
            return Seed.Value;
        }

        FileSystemInfo entry = Resolve(id);
        if (entry is not FileInfo file || !file.Name.EndsWith(".heed-toy.json", StringComparison.Ordinal))
        {
            ModelInfo info = Describe(entry);
            throw new HeedException($"model {id}: format {info.Format} is not a heed-toy model (it has no word embedding table)");
        }

        return Cache.GetOrLoad(id, [file.FullName], () => ToyModel.Load(file.FullName, id));
    }

    /// <summary>
    /// Loads a transformer checkpoint with its tokenizer, once per id and file version: a llama2.c folder (checkpoint *.bin
    /// and tok*.bin) or a Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json, merges.txt).
    /// </summary>
    /// <exception cref="HeedException">The id is refused, the folder lacks a file, or a file is malformed.</exception>
    public LoadedModel LoadModel(string id)
    {
        FileSystemInfo entry = Resolve(id);
        ModelInfo info = Describe(entry);
        var folder = entry as DirectoryInfo;
        switch (info.Format)
        {
            case "llama2c" when folder is not null && FindCheckpoint(folder) is FileInfo checkpoint && FindTokenizer(folder) is FileInfo tokenizer:
                {
                    string model = CheckedFile(folder.FullName, checkpoint.Name), vocabulary = CheckedFile(folder.FullName, tokenizer.Name);
                    return Cache.GetOrLoad(id, [model, vocabulary], () => Loading(id, folder.FullName, () =>
                    {
                        ICausalLanguageModel checkpointModel = ModelFiles.LoadModel(model);
                        LlamaTokenizer tokenizer = LlamaTokenizer.Load(vocabulary);
                        ModelAttentionRun.CheckTokenizer(checkpointModel, tokenizer);
                        return new LoadedModel(id, info.Format, checkpointModel, tokenizer);
                    }));
                }

            case "llama2c":
                throw new HeedException($"model '{id}': runs of llama2.c models need a folder holding the checkpoint (*.bin) and its tokenizer (tok*.bin)");
            case "gguf":
                {
                    string file = entry.FullName;
                    return Cache.GetOrLoad(id, [file], () => Loading(id, file, () =>
                    {
                        ICausalLanguageModel model = ModelFiles.LoadModel(file);
                        ITokenizer tokenizer = ModelFiles.LoadTokenizer(file);
                        ModelAttentionRun.CheckTokenizer(model, tokenizer);
                        return new LoadedModel(id, info.Format, model, tokenizer, GgufFile.Load(file)["tokenizer.chat_template"] as string);
                    }));
                }

            case "gpt2-safetensors":
                {
                    string[] files = Gpt2Files.Select(name => CheckedFile(folder!.FullName, name)).ToArray();
                    string? missing = files.FirstOrDefault(f => !File.Exists(f));
                    if (missing is not null)
                    {
                        throw new HeedException($"model '{id}': runs of GPT-2 folders need {string.Join(", ", Gpt2Files)}; {Path.GetFileName(missing)} is missing");
                    }

                    return Cache.GetOrLoad(id, files, () => Loading(id, folder!.FullName, () =>
                    {
                        Gpt2Model model = Gpt2Model.Load(folder!.FullName);
                        Gpt2Tokenizer tokenizer = Gpt2Tokenizer.Load(files[2], files[3]);
                        ModelAttentionRun.CheckTokenizer(model, tokenizer);
                        return new LoadedModel(id, info.Format, model, tokenizer);
                    }));
                }

            default:
                throw new HeedException($"model '{id}': format {info.Format} is not a {(info.Kind == "encoder" ? "decoder: an encoder embeds text (POST /api/v1/embed, the tool embed) and does not generate" : "transformer checkpoint (llama2c, gguf, gpt2-safetensors)")}");
        }
    }

    /// <summary>
    /// Loads a BERT-family encoder with its tokenizer and pooling, once per id and file version: a Hugging Face folder
    /// (config.json, model.safetensors, vocab.txt, with sentence-transformers' pooling files when present) or an ONNX export
    /// (model.onnx and vocab.txt).
    /// </summary>
    /// <exception cref="HeedException">The id is refused, the model is not an encoder, or a file is malformed.</exception>
    public SentenceEncoder LoadEncoder(string id)
    {
        if (id == SeedModelId)
        {
            throw new HeedException($"model '{id}': a toy model of attention heads over word vectors, not an encoder");
        }

        FileSystemInfo entry = Resolve(id);
        ModelInfo info = Describe(entry);
        if (info.Kind != "encoder")
        {
            throw new HeedException($"model '{id}': format {info.Format} is not an encoder (a folder with config.json, model.safetensors and vocab.txt, or model.onnx and vocab.txt){(info.Kind == "decoder" ? "; it generates text (POST /api/v1/generate, the tool generate)" : "")}");
        }

        var folder = (DirectoryInfo)entry;
        string[] files = EncoderFiles.Select(name => CheckedFile(folder.FullName, name)).ToArray();
        return Cache.GetOrLoad(id, files, () => Loading(id, folder.FullName, () => SentenceEncoder.Load(folder.FullName)));
    }

    // What an encoder's loader may read: a change to any of them loads it again.
    private static readonly string[] EncoderFiles = ["config.json", "model.safetensors", "model.safetensors.index.json", "model.onnx", "vocab.txt", "tokenizer_config.json", "modules.json", "sentence_bert_config.json"];

    private static readonly string[] Gpt2Files = ["config.json", "model.safetensors", "vocab.json", "merges.txt"];

    // Loader messages name files by full path; clients know the model by id only.
    private static T Loading<T>(string id, string path, Func<T> load)
    {
        try
        {
            return load();
        }
        catch (HeedException ex)
        {
            throw new HeedException($"model '{id}': {ex.Message.Replace(path + Path.DirectorySeparatorChar, "", StringComparison.Ordinal).Replace(path, id, StringComparison.Ordinal)}", ex);
        }
    }

    /// <summary>Maps an id to its entry inside the folder, refusing anything that could lead outside it.</summary>
    /// <exception cref="HeedException">The id is not a plain name, or names a symbolic link.</exception>
    /// <exception cref="HeedNotFoundException">No such entry.</exception>
    public FileSystemInfo Resolve(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (!IdPattern().IsMatch(id))
        {
            throw new HeedException($"model id '{id}': expected a plain name (letters, digits, '.', '_', '-'; no '/', no '..', not absolute)");
        }

        if (_registered.TryGetValue(id, out var registered))
        {
            return Directory.Exists(registered.Folder) ? new DirectoryInfo(registered.Folder) : throw new HeedNotFoundException($"model '{id}': no such model (its training was deleted)");
        }

        if (_root is null)
        {
            throw new HeedNotFoundException($"model '{id}': no such model (no models folder is configured; built-in: {SeedModelId})");
        }

        string full = Path.GetFullPath(Path.Combine(_root, id));
        if (!full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new HeedException($"model id '{id}': resolves outside the models folder");
        }

        FileSystemInfo entry = Directory.Exists(full) ? new DirectoryInfo(full) : new FileInfo(full);
        if (entry.LinkTarget is not null)
        {
            throw new HeedException($"model '{id}': is a symbolic link; models must be regular files or folders inside the models folder");
        }

        if (!entry.Exists)
        {
            throw new HeedNotFoundException($"model '{id}': no such model in the models folder");
        }

        return entry;
    }

    // GGUF headers read for the listing, by file, length and time of writing (cleared past 1,024 entries).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Path, long Length, DateTime Written), ModelFileInfo> GgufHeaders = new();

    private static ModelInfo SeedInfo() =>
        new(SeedModelId, "heed-toy", "toy", true, true, 0, "Seed 000's worked example: 2-d embeddings, one layer, one head, unscaled (unknown words get a fixed vector from a hash)");

    private static ModelInfo Describe(FileSystemInfo entry)
    {
        if (entry is FileInfo file)
        {
            if (file.Name.EndsWith(".heed-toy.json", StringComparison.Ordinal))
            {
                return new ModelInfo(file.Name, "heed-toy", "toy", true, false, file.Length, "A small attention-only model in JSON (embeddings and per-head W_Q, W_K, W_V)");
            }

            if (file.Name.EndsWith(".bin", StringComparison.Ordinal))
            {
                return new ModelInfo(file.Name, "llama2c", "decoder", false, false, file.Length, "A llama2.c checkpoint without its tokenizer (put it in a folder with its tok*.bin to run it)");
            }

            if (file.Name.EndsWith(".gguf", StringComparison.Ordinal))
            {
                // The header says what the file holds: only llama-architecture models run; a vocabulary-only file or
                // another architecture is listed as such. Read once per file version.
                if (GgufHeaders.Count > 1024) GgufHeaders.Clear();
                ModelFileInfo read = GgufHeaders.GetOrAdd((file.FullName, file.Length, file.LastWriteTimeUtc), _ => ModelFiles.Describe(file.FullName));
                return read.Kind == "gguf llama"
                    ? new ModelInfo(file.Name, "gguf", "decoder", true, false, file.Length, $"A GGUF llama model with its tokenizer: {read.Details}")
                    : new ModelInfo(file.Name, "gguf", "unknown", false, false, file.Length, $"Not runnable ({read.Kind}: {read.Details}); Heed runs GGUF files of the llama architecture");
            }

            return new ModelInfo(file.Name, "unknown", "unknown", false, false, file.Length, "Not a format Heed recognises");
        }

        var folder = (DirectoryInfo)entry;
        long bytes = folder.EnumerateFiles().Where(f => f.LinkTarget is null).Sum(f => f.Length);
        if (File.Exists(Path.Combine(folder.FullName, "vocab.txt")) && new FileInfo(Path.Combine(folder.FullName, "config.json")) is { Exists: false } or { Length: <= MaxConfigBytes } && SentenceEncoder.IsEncoder(folder.FullName))
        {
            bool onnx = !File.Exists(Path.Combine(folder.FullName, "model.safetensors")) && !File.Exists(Path.Combine(folder.FullName, "model.safetensors.index.json"));
            return onnx
                ? new ModelInfo(folder.Name, "bert-onnx", "encoder", true, false, bytes, "A BERT-family encoder exported to ONNX (model.onnx, vocab.txt): embeddings, and runs of its bidirectional attention")
                : new ModelInfo(folder.Name, "bert-safetensors", "encoder", true, false, bytes, "A Hugging Face BERT-family encoder (config.json, model.safetensors, vocab.txt): embeddings, and runs of its bidirectional attention");
        }

        if (File.Exists(Path.Combine(folder.FullName, "model.safetensors")) && File.Exists(Path.Combine(folder.FullName, "config.json")))
        {
            bool tokenizer = File.Exists(Path.Combine(folder.FullName, "vocab.json")) && File.Exists(Path.Combine(folder.FullName, "merges.txt"));
            return new ModelInfo(folder.Name, "gpt2-safetensors", "decoder", tokenizer, false, bytes, tokenizer
                ? "A Hugging Face GPT-2 folder (config.json, model.safetensors) with its tokenizer (vocab.json, merges.txt)"
                : "A Hugging Face GPT-2 folder without its tokenizer (add vocab.json and merges.txt to run it)");
        }

        if (FindCheckpoint(folder) is not null)
        {
            bool tokenizer = FindTokenizer(folder) is not null;
            return new ModelInfo(folder.Name, "llama2c", "decoder", tokenizer, false, bytes, tokenizer
                ? "A llama2.c checkpoint folder with its tok*.bin tokenizer"
                : "A llama2.c checkpoint folder without a tok*.bin tokenizer (add one to run it)");
        }

        return new ModelInfo(folder.Name, "unknown", "unknown", false, false, bytes, "A folder without a model Heed recognises");
    }

    private static FileInfo? FindTokenizer(DirectoryInfo folder) =>
        folder.EnumerateFiles("tok*.bin").OrderBy(f => f.Name, StringComparer.Ordinal).FirstOrDefault();

    private static FileInfo? FindCheckpoint(DirectoryInfo folder) =>
        folder.EnumerateFiles("*.bin").Where(f => !f.Name.StartsWith("tok", StringComparison.Ordinal)).OrderBy(f => f.Name, StringComparer.Ordinal).FirstOrDefault();

    private static string CheckedFile(string folder, string name)
    {
        var file = new FileInfo(Path.Combine(folder, name));
        if (file.LinkTarget is not null)
        {
            throw new HeedException($"{name}: is a symbolic link; model files must be regular files inside the models folder");
        }

        return file.FullName;
    }

    [GeneratedRegex("^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex IdPattern();
}

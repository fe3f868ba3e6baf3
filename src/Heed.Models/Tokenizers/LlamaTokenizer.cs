using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Heed.Models.Tokenizers;

/// <summary>
/// The SentencePiece-style tokenizer of llama2.c (<c>tok*.bin</c>): a scored vocabulary, a dummy-prefix space,
/// per-code-point lookup with byte fallback (&lt;0xNN&gt;), then repeated merging of the adjacent pair whose
/// concatenation is in the vocabulary with the highest score. Ids 0, 1, 2 are &lt;unk&gt;, &lt;s&gt; (BOS), &lt;/s&gt; (EOS).
/// </summary>
public sealed class LlamaTokenizer : ITokenizer
{
    /// <summary>The beginning-of-sequence id.</summary>
    public const int Bos = 1;

    /// <summary>The end-of-sequence id.</summary>
    public const int Eos = 2;

    // run.c starts the merge search at this score, so pairs scored at or below it never merge (llama2.c files only:
    // llama.cpp, the reference for GGUF vocabularies, merges into a piece whatever its score).
    private const float NoScore = -1e10f;

    private readonly byte[][] _pieces;
    private readonly float[] _scores;
    private readonly Dictionary<string, int> _ids; // piece bytes as Latin-1 text (one char per byte) → id
    private readonly string[] _texts; // each id's piece as Latin-1 text, the form merges concatenate
    private readonly int[] _byteIds = new int[256];
    private readonly byte[]?[] _byteOfPiece;

    /// <summary>Creates a tokenizer from its pieces (UTF-8 bytes) and merge scores.</summary>
    /// <exception cref="HeedException">The arrays differ in length or the vocabulary lacks the byte pieces.</exception>
    public LlamaTokenizer(IReadOnlyList<byte[]> pieces, IReadOnlyList<float> scores, string source = "tokenizer")
    {
        ArgumentNullException.ThrowIfNull(pieces);
        ArgumentNullException.ThrowIfNull(scores);
        if (pieces.Count != scores.Count)
        {
            throw new HeedException($"{source}: {pieces.Count} pieces but {scores.Count} scores");
        }

        if (pieces.Count < 3)
        {
            throw new HeedException($"{source}: {pieces.Count} tokens; expected at least <unk>, <s>, </s>");
        }

        _pieces = [.. pieces];
        _scores = [.. scores];
        _ids = new Dictionary<string, int>(pieces.Count, StringComparer.Ordinal);
        _byteOfPiece = new byte[]?[pieces.Count];
        _texts = new string[pieces.Count];
        for (int id = 0; id < pieces.Count; id++)
        {
            // The first id wins when a piece appears twice, as a search of the sorted vocabulary would find it first.
            _texts[id] = Latin1(pieces[id]);
            _ids.TryAdd(_texts[id], id);
            if (ParseByte(pieces[id]) is byte b)
            {
                _byteOfPiece[id] = [b];
            }
        }

        for (int b = 0; b < 256; b++)
        {
            if (!_ids.TryGetValue(string.Create(CultureInfo.InvariantCulture, $"<0x{b:X2}>"), out _byteIds[b]))
            {
                throw new HeedException($"{source}: the vocabulary has no byte piece <0x{b:X2}> for byte fallback");
            }
        }
    }

    /// <inheritdoc />
    public int VocabSize => _pieces.Length;

    /// <inheritdoc />
    public int? BosId => Bos;

    /// <summary>Whether BOS starts every text: GGUF <c>tokenizer.ggml.add_bos_token</c>, true by default (llama2.c: always).</summary>
    public bool PrependsBos { get; private init; } = true;

    /// <summary>Whether EOS ends every text: GGUF <c>tokenizer.ggml.add_eos_token</c>, false by default.</summary>
    public bool AppendsEos { get; private init; }

    /// <summary>Whether a space goes before the text (SentencePiece's dummy prefix): GGUF <c>tokenizer.ggml.add_space_prefix</c>, true by default.</summary>
    public bool AddsSpacePrefix { get; private init; } = true;

    // GGUF unknown, control and user-defined tokens (types 2, 3, 4), longest first: cut out of the text before merges,
    // as llama.cpp does (the user-defined ones even when special tokens are not parsed).
    private int[] _special = [];
    private int[] _userDefined = [];
    private bool _mergesAnyScore; // GGUF: every scored piece merges, as in llama.cpp (NaN scores never do)

    /// <summary>The merge score of each token.</summary>
    public ReadOnlySpan<float> Scores => _scores;

    /// <summary>The length in bytes of the longest piece (the file's header value).</summary>
    public int MaxTokenLength => _pieces.Max(p => p.Length);

    /// <summary>
    /// Reads a llama2.c tokenizer file: int32 max_token_length, then per token float32 score, int32 length, the bytes.
    /// The token count is what the file holds; compare it with the model's vocabulary with <see cref="CheckMatches"/>.
    /// </summary>
    /// <exception cref="HeedException">The file is missing, truncated or not in this format.</exception>
    public static LlamaTokenizer Load(string path)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HeedException($"tokenizer {path}: cannot read: {ex.Message}", ex);
        }

        return Parse(data, path);
    }

    /// <summary>Parses the bytes of a llama2.c tokenizer file (see <see cref="Load"/>).</summary>
    public static LlamaTokenizer Parse(ReadOnlySpan<byte> data, string name = "tokenizer")
    {
        if (data.Length < 4)
        {
            throw new HeedException($"tokenizer {name}: {data.Length} bytes; a llama2.c tokenizer starts with an int32 max_token_length");
        }

        int maxLength = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (maxLength <= 0 || maxLength > 1 << 16)
        {
            throw new HeedException($"tokenizer {name}: max_token_length {maxLength} is not in 1..65536; not a llama2.c tokenizer file");
        }

        var pieces = new List<byte[]>();
        var scores = new List<float>();
        int at = 4;
        while (at < data.Length)
        {
            if (data.Length - at < 8)
            {
                throw new HeedException($"tokenizer {name}: token {pieces.Count} at byte {at} is truncated: {data.Length - at} bytes left, a token needs at least 8 (score, length)");
            }

            float score = BinaryPrimitives.ReadSingleLittleEndian(data[at..]);
            int length = BinaryPrimitives.ReadInt32LittleEndian(data[(at + 4)..]);
            at += 8;
            if (length < 0 || length > maxLength)
            {
                throw new HeedException($"tokenizer {name}: token {pieces.Count} has length {length}; expected 0..{maxLength} (max_token_length)");
            }

            if (data.Length - at < length)
            {
                throw new HeedException($"tokenizer {name}: token {pieces.Count} is truncated: length {length} but {data.Length - at} bytes left");
            }

            pieces.Add(data.Slice(at, length).ToArray());
            scores.Add(score);
            at += length;
        }

        return new LlamaTokenizer(pieces, scores, "tokenizer " + name);
    }

    /// <summary>
    /// Builds the tokenizer from a GGUF vocabulary whose <c>tokenizer.ggml.model</c> is "llama" (SentencePiece):
    /// its pieces, with SentencePiece's "▁" (U+2581) read as a space as llama2.c's export does, and its scores.
    /// </summary>
    /// <exception cref="HeedException">The file holds another kind of vocabulary.</exception>
    public static LlamaTokenizer FromGguf(GgufFile gguf, string name = "gguf")
    {
        ArgumentNullException.ThrowIfNull(gguf);
        string model = gguf.String("tokenizer.ggml.model");
        if (model != "llama")
        {
            throw new HeedException($"{name}: tokenizer.ggml.model is {GgufFile.Quote(model)}; expected \"llama\" (SentencePiece)");
        }

        string[] tokens = gguf.Strings("tokenizer.ggml.tokens");
        float[] scores = gguf.Floats("tokenizer.ggml.scores") ?? throw new HeedException($"{name}: tokenizer.ggml.scores is missing");
        byte[][] pieces = [.. tokens.Select(t => Encoding.UTF8.GetBytes(t.Replace('\u2581', ' ')))];
        foreach ((string key, int expected) in (ReadOnlySpan<(string, int)>)[("tokenizer.ggml.bos_token_id", Bos), ("tokenizer.ggml.eos_token_id", Eos)])
        {
            if (Gpt2Tokenizer.TokenId(gguf, key, tokens.Length, name) is int id && id != expected)
            {
                throw new HeedException($"{name}: {key} is {id}; Heed's SentencePiece tokenizer has <s> = 1 and </s> = 2");
            }
        }

        long[]? types = gguf.Integers("tokenizer.ggml.token_type");
        var tokenizer = new LlamaTokenizer(pieces, scores, name)
        {
            PrependsBos = Gpt2Tokenizer.Flag(gguf, "tokenizer.ggml.add_bos_token", name) ?? true,
            AppendsEos = Gpt2Tokenizer.Flag(gguf, "tokenizer.ggml.add_eos_token", name) ?? false,
            AddsSpacePrefix = Gpt2Tokenizer.Flag(gguf, "tokenizer.ggml.add_space_prefix", name) ?? true,
            _mergesAnyScore = true,
            EndOfGeneration = Tokenizer.EndOfGeneration(gguf, tokens, Eos, name),
        };
        (tokenizer._special, tokenizer._userDefined) = Tokenizer.SpecialTokens(tokens, types);
        return tokenizer;
    }

    /// <summary>Throws unless this tokenizer has exactly <paramref name="modelVocabSize"/> tokens.</summary>
    /// <exception cref="HeedException">The sizes differ.</exception>
    public void CheckMatches(int modelVocabSize, string what = "the model")
    {
        if (VocabSize != modelVocabSize)
        {
            throw new HeedException($"tokenizer has {VocabSize} tokens but {what} has a vocabulary of {modelVocabSize}: they do not belong together");
        }
    }

    /// <summary>
    /// Encodes text as llama2.c and llama.cpp do: [BOS], then each span between user-defined tokens (GGUF token type 4,
    /// cut out first, longest first) with a dummy-prefix space before the first span and after every user-defined token
    /// (llama.cpp's rule), each UTF-8 code point's piece (or its bytes' pieces), merged by score; [EOS].
    /// </summary>
    public int[] Encode(string text, bool addBos, bool addEos) => Encode(text, addBos, addEos, parseSpecial: false);

    /// <summary>
    /// As <see cref="Encode(string, bool, bool)"/>; with <paramref name="parseSpecial"/>, the text of a control or unknown
    /// token ("&lt;s&gt;", "&lt;/s&gt;", "&lt;unk&gt;") becomes that token, as llama.cpp's <c>parse_special</c> does.
    /// </summary>
    public int[] Encode(string text, bool addBos, bool addEos, bool parseSpecial)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Encode(Tokenizer.Partition(text, parseSpecial ? _special : _userDefined, SpecialText), text.Length, addBos, addEos);
    }

    /// <inheritdoc />
    public int[] Encode(IReadOnlyList<(string Text, bool Markup)> parts, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(parts);
        return Encode(Tokenizer.Partition(parts, _special, _userDefined, SpecialText), parts.Sum(p => p.Text.Length), addBos, addEos: false);
    }

    /// <inheritdoc />
    public IReadOnlyList<int> EndOfGeneration { get; private init; } = [];

    private string SpecialText(int id) => Encoding.UTF8.GetString(_pieces[id]).Replace(' ', '\u2581');

    private int[] Encode(List<(string? Span, int Token)> fragments, int length, bool addBos, bool addEos)
    {
        var tokens = new List<int>(length + 3);
        if (addBos) tokens.Add(Bos);
        bool afterSpecial = true;
        foreach ((string? span, int token) in fragments)
        {
            if (span is null)
            {
                tokens.Add(token);
                afterSpecial = true;
                continue;
            }

            // llama.cpp writes spaces as "▁" before looking text up, so a "▁" typed in the text is a space too (GGUF
            // vocabularies; llama2.c's run.c looks the text up as it is).
            EncodeSpan(_mergesAnyScore ? span.Replace('\u2581', ' ') : span, AddsSpacePrefix && afterSpecial, tokens);
            afterSpecial = false;
        }

        if (addEos) tokens.Add(Eos);
        return [.. tokens];
    }

    private void EncodeSpan(string text, bool spacePrefix, List<int> output)
    {
        var tokens = new List<int>(text.Length + 1);
        if (spacePrefix && _ids.TryGetValue(" ", out int space))
        {
            tokens.Add(space);
        }

        byte[] bytes = Encoding.UTF8.GetBytes(text);
        int start = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            // A code point is a lead byte and up to three continuation bytes (10xxxxxx).
            if ((bytes[i] & 0xC0) != 0x80) start = i;
            bool continues = i + 1 < bytes.Length && (bytes[i + 1] & 0xC0) == 0x80 && i + 1 - start < 4;
            if (continues) continue;
            string codePoint = Encoding.Latin1.GetString(bytes, start, i + 1 - start);
            if (_ids.TryGetValue(codePoint, out int id))
            {
                tokens.Add(id);
            }
            else
            {
                for (int j = start; j <= i; j++) tokens.Add(_byteIds[bytes[j]]);
            }

            start = i + 1;
        }

        Merge(tokens);
        output.AddRange(tokens);
    }

    /// <summary>
    /// Merges adjacent symbols until no pair's concatenation is a piece scored above <see cref="NoScore"/> (any score but NaN for
    /// GGUF vocabularies), each time the
    /// pair with the highest score, the leftmost among equal scores (run.c's left-to-right scan keeps the first best).
    /// run.c rescans every pair after each merge, which is quadratic in the text; here the candidate pairs wait in a
    /// priority queue over a linked list of symbols, so each merge costs O(log n) and the whole O(n log n), with the
    /// same merges in the same order.
    /// </summary>
    private void Merge(List<int> tokens)
    {
        int count = tokens.Count;
        if (count < 2) return;

        // Symbol i is ids[i] linked to next[i] / prev[i] (-1: none). A merge keeps the left symbol's index, so index order
        // is text order and "leftmost" is "smallest index". version[i] changes whenever symbol i merges, which makes every
        // candidate queued with the old symbol stale.
        int[] ids = [.. tokens];
        var next = new int[count];
        var prev = new int[count];
        var version = new int[count];
        for (int i = 0; i < count; i++)
        {
            next[i] = i + 1 < count ? i + 1 : -1;
            prev[i] = i - 1;
        }

        var queue = new PriorityQueue<MergeCandidate, (float Score, int Left)>(count, MergeOrder.Instance);
        for (int i = 0; i + 1 < count; i++) Enqueue(i, i + 1);

        while (queue.TryDequeue(out MergeCandidate c, out _))
        {
            if (version[c.Left] != c.LeftVersion || version[c.Right] != c.RightVersion || next[c.Left] != c.Right)
            {
                continue; // one of the two symbols has merged since this pair was queued
            }

            ids[c.Left] = c.Id;
            version[c.Left]++;
            version[c.Right]++;
            int after = next[c.Right];
            next[c.Left] = after;
            if (after >= 0) prev[after] = c.Left;
            if (prev[c.Left] >= 0) Enqueue(prev[c.Left], c.Left);
            if (after >= 0) Enqueue(c.Left, after);
        }

        tokens.Clear();
        for (int i = 0; i >= 0; i = next[i]) tokens.Add(ids[i]);

        void Enqueue(int left, int right)
        {
            if (_ids.TryGetValue(_texts[ids[left]] + _texts[ids[right]], out int id) && (_mergesAnyScore ? !float.IsNaN(_scores[id]) : _scores[id] > NoScore))
            {
                queue.Enqueue(new MergeCandidate(left, right, version[left], version[right], id), (_scores[id], left));
            }
        }
    }

    /// <summary>Two adjacent symbols, their versions when queued, and the piece they merge into.</summary>
    private readonly record struct MergeCandidate(int Left, int Right, int LeftVersion, int RightVersion, int Id);

    /// <summary>The highest score first; among equal scores the leftmost pair (NaN scores are never queued).</summary>
    private sealed class MergeOrder : IComparer<(float Score, int Left)>
    {
        public static readonly MergeOrder Instance = new();

        public int Compare((float Score, int Left) x, (float Score, int Left) y)
        {
            int byScore = y.Score.CompareTo(x.Score);
            return byScore != 0 ? byScore : x.Left.CompareTo(y.Left);
        }
    }

    /// <summary>
    /// A piece's bytes; a byte piece &lt;0xNN&gt; is that byte; after BOS a leading space is dropped. BOS itself prints
    /// nothing (run.c never prints it: it starts every sequence and ends generation); every other piece, EOS included,
    /// prints as stored.
    /// </summary>
    public byte[] DecodePiece(int previous, int token)
    {
        CheckId(token);
        if (token == Bos) return [];
        if (_byteOfPiece[token] is byte[] raw) return raw;
        byte[] piece = _pieces[token];
        if (previous == Bos && piece.Length > 0 && piece[0] == (byte)' ')
        {
            return piece[1..];
        }

        return piece;
    }

    /// <inheritdoc />
    public string PieceText(int token)
    {
        CheckId(token);
        return Encoding.UTF8.GetString(_pieces[token]);
    }

    private void CheckId(int token)
    {
        if ((uint)token >= (uint)_pieces.Length)
        {
            throw new HeedException($"token id {token} is outside the vocabulary 0..{_pieces.Length - 1}");
        }
    }

    private static string Latin1(byte[] bytes) => Encoding.Latin1.GetString(bytes);

    private static byte? ParseByte(byte[] piece)
    {
        // Exactly "<0xNN>" with two hex digits.
        if (piece.Length != 6 || piece[0] != '<' || piece[1] != '0' || piece[2] != 'x' || piece[5] != '>') return null;
        return byte.TryParse(Encoding.ASCII.GetString(piece, 3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b) ? b : null;
    }
}

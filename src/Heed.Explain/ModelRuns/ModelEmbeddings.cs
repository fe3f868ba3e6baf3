using Heed.Models.Bert;
using Heed.Models.Generation;
using Heed.Models.Gpt2;
using Heed.Models.Llama;
using Heed.Models.Tokenizers;

namespace Heed.Explain;

/// <summary>A word and the token pieces whose embeddings make its vector.</summary>
/// <param name="Word">The word as given.</param>
/// <param name="Ids">The token ids its vector averages.</param>
/// <param name="Pieces">Their display labels.</param>
public sealed record WordPieces(string Word, IReadOnlyList<int> Ids, IReadOnlyList<string> Pieces);

/// <summary>
/// Word vectors from a model's token embedding table (Llama's token_embedding_table, GPT-2's wte) [V, C].
/// A word is encoded as it appears inside a sentence — after a space, so "apple" is the piece "▁apple"/"Ġapple" when
/// the vocabulary has it — and its vector is the mean of its pieces' embedding rows. Pieces that are only whitespace
/// are left out when the word has others (a lone space carries nothing of the word).
/// </summary>
public static class ModelEmbeddings
{
    /// <summary>The embedding row of <paramref name="id"/> [C], widened to float64.</summary>
    /// <exception cref="HeedException">The id is outside the vocabulary, or the model's architecture has no known table.</exception>
    public static double[] Row(ICausalLanguageModel model, int id)
    {
        ArgumentNullException.ThrowIfNull(model);
        if ((uint)id >= (uint)model.VocabSize) throw new HeedException($"token id {id} is outside the vocabulary 0..{model.VocabSize - 1}");
        switch (model)
        {
            case LlamaModel llama:
                var values = new float[llama.Config.Dim];
                llama.Weights.TokenEmbedding.DequantizeRow(id, values);
                return [.. values.Select(v => (double)v)];
            case Gpt2Model gpt2:
                return [.. gpt2.Wte.AsSpan(id * gpt2.Config.Width, gpt2.Config.Width).ToArray().Select(v => (double)v)];
            default:
                throw new HeedException($"model: the {model.Architecture} architecture has no embedding table Heed knows how to read");
        }
    }

    /// <summary>The token ids a word's vector averages (see the class summary for the rule).</summary>
    /// <exception cref="HeedException">The word is empty or gives no tokens; the message names <paramref name="flag"/>.</exception>
    public static WordPieces Pieces(ITokenizer tokenizer, string word, string flag)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(word);
        if (word.Trim().Length == 0) throw new HeedException($"{flag}: an empty word has no tokens");

        // llama2.c's encoder puts the dummy-prefix space itself; byte-level BPE needs it written.
        int[] ids = tokenizer is LlamaTokenizer ? tokenizer.Encode(word, addBos: false, addEos: false) : tokenizer.Encode(" " + word, addBos: false, addEos: false);
        int[] kept = ids.Where(id => !string.IsNullOrWhiteSpace(tokenizer.Decode([id]))).ToArray();
        if (kept.Length == 0) kept = ids;
        if (kept.Length == 0) throw new HeedException($"{flag}: \"{word}\" gives no tokens");
        return new WordPieces(word, kept, kept.Select(id => ModelAttentionRun.Label(tokenizer, id)).ToArray());
    }

    /// <summary>
    /// A table holding the vector of each word: the mean of its pieces' embedding rows.
    /// </summary>
    /// <param name="model">The model whose embedding table is read.</param>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="words">Each word with the flag that named it (for messages).</param>
    /// <param name="source">What the table is, for output ("the embeddings of stories260K.bin").</param>
    /// <param name="pieces">Each word's pieces, in the order given.</param>
    /// <exception cref="HeedException">The tokenizer does not fit the model, or a word gives no tokens.</exception>
    public static WordVectors Vectors(ICausalLanguageModel model, ITokenizer tokenizer, IEnumerable<(string Word, string Flag)> words, string source, out IReadOnlyList<WordPieces> pieces)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(words);
        ModelAttentionRun.CheckTokenizer(model, tokenizer);
        var vectors = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var list = new List<WordPieces>();
        foreach ((string word, string flag) in words)
        {
            if (vectors.ContainsKey(word)) continue;
            WordPieces p = Pieces(tokenizer, word, flag);
            double[] mean = new double[Width(model)];
            foreach (int id in p.Ids)
            {
                double[] row = Row(model, id);
                for (int c = 0; c < mean.Length; c++) mean[c] += row[c] / p.Ids.Count;
            }

            vectors[word] = mean;
            list.Add(p);
        }

        pieces = list;
        return new WordVectors(vectors, source);
    }

    /// <summary>
    /// Contextual word vectors from an encoder: each word runs through the encoder on its own ([CLS] word [SEP]), every token
    /// attending to every other, and its vector is the encoder's sentence embedding of it (pooled and normalized as the model
    /// was trained: for sentence-transformers models, so that q·k is the cosine of the meanings).
    /// </summary>
    /// <exception cref="HeedException">A word is empty.</exception>
    public static WordVectors Vectors(SentenceEncoder encoder, IEnumerable<(string Word, string Flag)> words, string source, out IReadOnlyList<WordPieces> pieces)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(words);
        (string Word, string Flag)[] unique = [.. words.DistinctBy(w => w.Word, StringComparer.Ordinal)];
        foreach ((string word, string flag) in unique)
        {
            if (word.Trim().Length == 0) throw new HeedException($"{flag}: an empty word has no tokens");
        }

        EmbeddingResult result = encoder.Embed([.. unique.Select(w => w.Word)]);
        var vectors = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var list = new List<WordPieces>();
        for (int i = 0; i < unique.Length; i++)
        {
            vectors[unique[i].Word] = [.. result.Embeddings![i].Select(x => (double)x)];
            string[] tokens = [.. result.Tokens[i].Skip(1).SkipLast(1)]; // without [CLS] and [SEP]
            list.Add(new WordPieces(unique[i].Word, [.. tokens.Select(t => encoder.Tokenizer.IdOf(t) ?? -1)], tokens));
        }

        pieces = list;
        return new WordVectors(vectors, source);
    }

    // The width C of the [V, C] embedding table of the architectures Heed runs.
    private static int Width(ICausalLanguageModel model) => model switch
    {
        LlamaModel llama => llama.Config.Dim,
        Gpt2Model gpt2 => gpt2.Config.Width,
        _ => throw new HeedException($"model: the {model.Architecture} architecture has no embedding table Heed knows how to read"),
    };
}

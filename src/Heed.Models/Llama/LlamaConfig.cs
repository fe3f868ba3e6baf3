namespace Heed.Models.Llama;

/// <summary>
/// The hyperparameters of a Llama-architecture model, as in the header of a llama2.c checkpoint.
/// </summary>
/// <param name="Dim">C, the model width (llama2.c <c>dim</c>).</param>
/// <param name="HiddenDim">The feed-forward width (llama2.c <c>hidden_dim</c>).</param>
/// <param name="NumLayers">L, the number of transformer blocks (<c>n_layers</c>).</param>
/// <param name="NumHeads">H, query heads (<c>n_heads</c>).</param>
/// <param name="KvNumHeads">Hkv, key/value heads (<c>n_kv_heads</c>); H is a multiple of it.</param>
/// <param name="VocabSize">V, the vocabulary size (<c>vocab_size</c>, sign removed).</param>
/// <param name="SeqLen">The context length (<c>seq_len</c>): positions 0..SeqLen−1.</param>
/// <param name="SharedClassifier">True when the classifier reuses the token embedding table (positive vocab_size in the file).</param>
public sealed record LlamaConfig(int Dim, int HiddenDim, int NumLayers, int NumHeads, int KvNumHeads, int VocabSize, int SeqLen, bool SharedClassifier)
{
    /// <summary>D = C / H.</summary>
    public int HeadSize => Dim / NumHeads;

    /// <summary>Hkv·D, the width of the key and value projections.</summary>
    public int KvDim => KvNumHeads * HeadSize;

    /// <summary>ε of RMSNorm (llama2.c uses 1e-5).</summary>
    public float NormEpsilon { get; init; } = 1e-5f;

    /// <summary>θ of RoPE.</summary>
    public float RopeTheta { get; init; } = 10000f;

    /// <summary>How many leading elements of each head RoPE rotates (GGUF <c>rope.dimension_count</c>); 0 means all D.</summary>
    public int RopeDimensions
    {
        get => field == 0 ? HeadSize : field;

        // Stored as 0 when it is the head size, so that configurations that mean the same compare equal.
        init => field = value == HeadSize ? 0 : value;
    }

    /// <summary>The factor positions are multiplied by before RoPE (linear scaling: 1 / <c>rope.scaling.factor</c>).</summary>
    public float RopeScale { get; init; } = 1f;

    /// <summary>The number of float32 weights the checkpoint stores after its header, in 64-bit arithmetic (never overflows silently).</summary>
    /// <exception cref="OverflowException">The sizes cannot be those of a real file.</exception>
    public long StoredFloatCount()
    {
        checked
        {
            long c = Dim, h = HiddenDim, l = NumLayers, v = VocabSize, kv = KvDim, hs = HeadSize;
            long count = v * c;                 // token_embedding_table [V, C]
            count += l * c;                     // rms_att_weight [L, C]
            count += l * c * c;                 // wq [L, C, C]
            count += 2 * l * kv * c;            // wk, wv [L, Hkv·D, C]
            count += l * c * c;                 // wo [L, C, C]
            count += l * c;                     // rms_ffn_weight [L, C]
            count += 3 * l * h * c;             // w1 [L, hidden, C], w2 [L, C, hidden], w3 [L, hidden, C]
            count += c;                         // rms_final_weight [C]
            count += SeqLen * hs;               // freq_cis_real and freq_cis_imag [SeqLen, D/2] each (legacy, skipped)
            if (!SharedClassifier) count += v * c; // wcls [V, C]
            return count;
        }
    }
}

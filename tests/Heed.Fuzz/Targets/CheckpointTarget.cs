using Heed.Models;
using Heed.Models.Generation;

namespace Heed.Fuzz.Targets;

/// <summary>
/// llama2.c checkpoints: seven int32 header fields (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len),
/// then float32 weights whose count the header implies. The mutator sets header fields to boundary values, sometimes
/// resizing the file to what a small random header implies (so the weights are read and the model runs one token),
/// writes NaN and ∞ into the weights, and mutates bytes.
/// </summary>
internal sealed class CheckpointTarget : FuzzTarget
{
    private static readonly Lazy<FuzzInput[]> SeedFiles = new(() =>
    [
        new("checkpoint", Build([8, 16, 1, 2, 2, 16, 4], shared: true)),
        new("checkpoint", Build([8, 12, 2, 4, 2, 10, 3], shared: false)),
    ]);

    public override string Name => "checkpoint";

    public override IReadOnlyList<FuzzInput> Seeds => SeedFiles.Value;

    public override string Extension(string kind) => ".bin";

    public override byte[] Mutate(FuzzInput input, Random rng)
    {
        byte[] data = input.Data;
        if (data.Length < 28 || rng.Next(4) == 0) return Mutations.Bytes(data, rng);
        switch (rng.Next(3))
        {
            case 0:
                {
                    byte[] result = [.. data];
                    int field = rng.Next(7);
                    Mutations.WriteField(result, field * 4, 4, Mutations.FieldValue(4, Mutations.ReadField(data, field * 4, 4), rng));
                    return result;
                }

            case 1:
                {
                    // A consistent small header of odd proportions: the size check passes and the weights are read.
                    int[] header = [rng.Next(1, 17), rng.Next(1, 33), rng.Next(1, 3), rng.Next(1, 9), rng.Next(0, 9), rng.Next(1, 40), rng.Next(1, 9)];
                    return Build(header, shared: rng.Next(2) == 0);
                }

            default:
                {
                    byte[] result = [.. data];
                    int at = 28 + (4 * rng.Next((data.Length - 28) / 4));
                    if (at + 4 <= result.Length) Mutations.WriteInt32(result, at, Mutations.Pick([BitConverter.SingleToInt32Bits(float.NaN), BitConverter.SingleToInt32Bits(float.PositiveInfinity), BitConverter.SingleToInt32Bits(float.MaxValue)], rng));
                    return result;
                }
        }
    }

    public override void Run(FuzzInput input, string scratch)
    {
        ICausalLanguageModel model = ModelFiles.LoadModel(WriteCase(input, scratch));
        model.Forward([0, model.VocabSize - 1]);
    }

    /// <summary>A checkpoint with this header and weights that are small non-zero numbers; vocab_size &lt; 0 means an unshared classifier.</summary>
    private static byte[] Build(int[] header, bool shared)
    {
        long c = header[0], hidden = header[1], layers = header[2], heads = header[3], kvHeads = header[4], vocab = header[5], seq = header[6];
        long headSize = heads == 0 ? 0 : c / heads;
        long kvDim = headSize * kvHeads;
        long floats = (vocab * c) + (layers * (c + (c * c) + (2 * kvDim * c) + (c * c) + c + (3 * hidden * c))) + c + (seq * headSize) + (shared ? 0 : vocab * c);
        floats = Math.Clamp(floats, 0, 1 << 20);
        var data = new byte[28 + (floats * 4)];
        for (int i = 0; i < 7; i++) Mutations.WriteInt32(data, i * 4, i == 5 && !shared ? -header[i] : header[i]);
        for (long i = 0; i < floats; i++) BitConverter.TryWriteBytes(data.AsSpan((int)(28 + (i * 4))), (float)(((i * 37) % 17) - 8) / 16f);
        return data;
    }
}

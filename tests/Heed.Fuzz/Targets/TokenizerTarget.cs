using System.Buffers.Binary;
using System.Text;
using Heed.Models.Tokenizers;

namespace Heed.Fuzz.Targets;

/// <summary>
/// llama2.c tok*.bin tokenizers: int32 max_token_length, then per token a float32 score, an int32 length and the
/// bytes. The mutator walks the tokens to find each score and length field and sets one to a boundary value (NaN,
/// ∞, 0, −1, 2³¹−1), sets max_token_length, and mutates bytes; a parsed tokenizer then encodes and decodes a prompt.
/// </summary>
internal sealed class TokenizerTarget : FuzzTarget
{
    /// <summary>A prompt with ASCII, accents, an emoji, a control byte and spaces, so byte fallback runs too.</summary>
    public const string Prompt = "Once upon a time, Lily  héllo 🙂\u0001\n end";

    private static readonly Lazy<FuzzInput[]> SeedFiles = new(() =>
    {
        var tiny = new List<byte>();
        tiny.AddRange(BitConverter.GetBytes(8));
        // llama2.c's layout: <unk>, <s>, </s>, the 256 byte pieces (byte fallback needs every one), then merges.
        string[] pieces = ["<unk>", "<s>", "</s>", .. Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"), "▁", "a", "b", "▁ab", "ab", "ba"];
        for (int i = 0; i < pieces.Length; i++)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(pieces[i]);
            tiny.AddRange(BitConverter.GetBytes(-(float)i));
            tiny.AddRange(BitConverter.GetBytes(bytes.Length));
            tiny.AddRange(bytes);
        }

        return [new FuzzInput("tokenizer", [.. tiny]), .. SeedFolder.Shared("models", "stories260K", "tok512.bin").Select(d => new FuzzInput("tokenizer", d))];
    });

    public override string Name => "tokenizer";

    public override IReadOnlyList<FuzzInput> Seeds => SeedFiles.Value;

    public override string Extension(string kind) => ".bin";

    public override byte[] Mutate(FuzzInput input, Random rng)
    {
        byte[] data = input.Data;
        if (data.Length < 4 || rng.Next(4) == 0) return Mutations.Bytes(data, rng);
        byte[] result = [.. data];
        var fields = new List<int>();
        for (int at = 4; at + 8 <= data.Length;)
        {
            fields.Add(at);
            int length = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at + 4));
            if (length < 0 || length > data.Length) break;
            at += 8 + length;
        }

        if (fields.Count == 0 || rng.Next(5) == 0)
        {
            Mutations.WriteField(result, 0, 4, Mutations.FieldValue(4, Mutations.ReadField(data, 0, 4), rng));
        }
        else
        {
            int token = fields[rng.Next(fields.Count)];
            if (rng.Next(2) == 0)
            {
                BinaryPrimitives.WriteSingleLittleEndian(result.AsSpan(token), Mutations.Pick([float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, 0f, -0f], rng));
            }
            else
            {
                Mutations.WriteField(result, token + 4, 4, Mutations.FieldValue(4, Mutations.ReadField(data, token + 4, 4), rng));
            }
        }

        return result;
    }

    public override void Run(FuzzInput input, string scratch)
    {
        LlamaTokenizer tokenizer = LlamaTokenizer.Parse(input.Data, "fuzz.bin");
        Exercise(tokenizer);
    }

    /// <summary>Encodes <see cref="Prompt"/> and decodes the ids and every piece, as generation would.</summary>
    public static void Exercise(ITokenizer tokenizer)
    {
        int[] ids = tokenizer.Encode(Prompt, addBos: true, addEos: true);
        _ = tokenizer.Decode(ids);
        for (int i = 0; i < Math.Min(tokenizer.VocabSize, 64); i++)
        {
            _ = tokenizer.PieceText(i);
            _ = tokenizer.DecodePiece(i == 0 ? -1 : i - 1, i);
        }
    }
}

using System.Buffers.Binary;
using System.Text;
using Heed.Models;

namespace Heed.Fuzz.Targets;

/// <summary>
/// GGUF vocabularies: magic, version, tensor and key counts, then typed key/value pairs (strings and arrays carry
/// 64-bit lengths; arrays may hold arrays). The mutator walks the file to find every count, length and type field
/// and sets one to a boundary value, appends a key nesting arrays up to 100,000 deep, swaps the tokenizer model's
/// name, and mutates bytes; a file that loads as a tokenizer then encodes and decodes a prompt.
/// </summary>
internal sealed class GgufTarget : FuzzTarget
{
    private static readonly string[] Models = ["llama", "gpt2", "bert", "", "LLAMA", "t5"];

    private static readonly Lazy<FuzzInput[]> SeedFiles = new(() =>
    [
        new("gguf", Build(w =>
        {
            w.String("tokenizer.ggml.model", "llama");
            w.Strings("tokenizer.ggml.tokens", ["<unk>", "<s>", "</s>", .. Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"), "▁", "a", "b", "▁ab", "ab"]);
            w.Array("tokenizer.ggml.scores", 6, 264, i => BitConverter.GetBytes(-(float)i));
            w.Array("tokenizer.ggml.token_type", 5, 264, i => BitConverter.GetBytes(i < 3 ? 3 : i < 259 ? 6 : 1));
            w.UInt32("tokenizer.ggml.bos_token_id", 1);
            w.UInt32("tokenizer.ggml.eos_token_id", 2);
            w.UInt32("tokenizer.ggml.unknown_token_id", 0);
        })),
        new("gguf", Build(w =>
        {
            w.String("tokenizer.ggml.model", "gpt2");
            w.Strings("tokenizer.ggml.tokens", ["a", "b", "c", "Ġ", "ab", "Ġa", "<|endoftext|>"]);
            w.Strings("tokenizer.ggml.merges", ["a b", "Ġ a"]);
            w.UInt32("tokenizer.ggml.bos_token_id", 6);
            w.UInt32("tokenizer.ggml.eos_token_id", 6);
        })),
        new("gguf", Build(w =>
        {
            w.String("tokenizer.ggml.model", "bert");
            w.Strings("tokenizer.ggml.tokens", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "##b", "hello", "▁x"]);
            w.UInt32("tokenizer.ggml.unknown_token_id", 1);
            w.UInt32("tokenizer.ggml.cls_token_id", 2);
            w.UInt32("tokenizer.ggml.seperator_token_id", 3);
            w.Array("tokenizer.ggml.token_type", 5, 8, i => BitConverter.GetBytes(i < 4 ? 3 : 1));
            w.Nested("general.nested", 2);
            w.Array("general.doubles", 12, 2, i => BitConverter.GetBytes(i + 0.5));
            w.Array("general.bools", 7, 2, i => [(byte)i]);
        })),
    ]);

    public override string Name => "gguf";

    public override IReadOnlyList<FuzzInput> Seeds => SeedFiles.Value;

    public override string Extension(string kind) => ".gguf";

    public override byte[] Mutate(FuzzInput input, Random rng)
    {
        byte[] data = input.Data;
        if (data.Length < 24 || rng.Next(5) == 0) return Mutations.Bytes(data, rng);
        switch (rng.Next(5))
        {
            case 0:
                {
                    // Another tokenizer model name: the same keys read by another builder.
                    int at = data.AsSpan().IndexOf("tokenizer.ggml.model"u8);
                    if (at < 0) return Mutations.Bytes(data, rng);
                    int value = at + 20 + 4;
                    if (value + 8 > data.Length) return Mutations.Bytes(data, rng);
                    long length = Mutations.ReadField(data, value, 8);
                    if (length < 0 || value + 8 + length > data.Length) return Mutations.Bytes(data, rng);
                    byte[] name = Encoding.UTF8.GetBytes(Mutations.Pick(Models, rng));
                    byte[] prefix = data[..value];
                    byte[] lengthBytes = BitConverter.GetBytes((long)name.Length);
                    return [.. prefix, .. lengthBytes, .. name, .. data.AsSpan(value + 8 + (int)length)];
                }

            case 1:
                {
                    // A key whose value nests arrays: the reader must not recurse as deep as the file says.
                    int depth = Mutations.Pick([2, 8, 9, 100, 10_000, 100_000], rng);
                    var w = new Writer();
                    w.Nested("fuzz.nested", depth);
                    byte[] result = [.. data, .. w.Bytes()];
                    Mutations.WriteField(result, 16, 8, Mutations.ReadField(data, 16, 8) + 1);
                    return result;
                }

            default:
                {
                    List<(int At, int Width)> fields = Fields(data);
                    if (fields.Count == 0) return Mutations.Bytes(data, rng);
                    (int at, int width) = fields[rng.Next(fields.Count)];
                    byte[] result = [.. data];
                    long value = width == 4 && rng.Next(3) == 0 ? rng.Next(14) : Mutations.FieldValue(width, Mutations.ReadField(data, at, width), rng);
                    Mutations.WriteField(result, at, width, value);
                    return result;
                }
        }
    }

    public override void Run(FuzzInput input, string scratch) =>
        TokenizerTarget.Exercise(ModelFiles.LoadTokenizer(WriteCase(input, scratch)));

    /// <summary>The offsets and widths of the version, counts, lengths and types of a GGUF file, as far as it parses.</summary>
    private static List<(int At, int Width)> Fields(byte[] data)
    {
        var fields = new List<(int, int)> { (4, 4), (8, 8), (16, 8) };
        int at = 24;
        long count = Mutations.ReadField(data, 16, 8);
        bool Fits(long n) => n >= 0 && at + n <= data.Length;
        bool SkipString()
        {
            if (!Fits(8)) return false;
            fields.Add((at, 8));
            long length = Mutations.ReadField(data, at, 8);
            at += 8;
            if (!Fits(length)) return false;
            at += (int)length;
            return true;
        }

        bool SkipValue(long type, int depth)
        {
            switch (type)
            {
                case 0 or 1 or 7: at += 1; return Fits(0);
                case 2 or 3: at += 2; return Fits(0);
                case 4 or 5 or 6: at += 4; return Fits(0);
                case 10 or 11 or 12: at += 8; return Fits(0);
                case 8: return SkipString();
                case 9 when depth < 16:
                    {
                        if (!Fits(12)) return false;
                        fields.Add((at, 4));
                        fields.Add((at + 4, 8));
                        long elementType = Mutations.ReadField(data, at, 4), n = Mutations.ReadField(data, at + 4, 8);
                        at += 12;
                        if (n < 0 || n > data.Length) return false;
                        for (long i = 0; i < n; i++)
                        {
                            if (!SkipValue(elementType, depth + 1)) return false;
                        }

                        return true;
                    }

                default: return false;
            }
        }

        for (long k = 0; k < count && k < 10_000; k++)
        {
            if (!SkipString() || !Fits(4)) break;
            fields.Add((at, 4));
            long type = Mutations.ReadField(data, at, 4);
            at += 4;
            if (!SkipValue(type, 0)) break;
        }

        return fields;
    }

    private static byte[] Build(Action<Writer> keys)
    {
        var w = new Writer();
        keys(w);
        byte[] body = w.Bytes();
        var header = new byte[24];
        "GGUF"u8.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), 3);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(16), (ulong)w.Count);
        return [.. header, .. body];
    }

    /// <summary>Writes GGUF key/value pairs.</summary>
    private sealed class Writer
    {
        private readonly List<byte> _bytes = [];

        public int Count { get; private set; }

        public byte[] Bytes() => [.. _bytes];

        public void String(string key, string value)
        {
            Key(key, 8);
            Str(value);
        }

        public void UInt32(string key, uint value)
        {
            Key(key, 4);
            _bytes.AddRange(BitConverter.GetBytes(value));
        }

        public void Strings(string key, string[] values)
        {
            Key(key, 9);
            _bytes.AddRange(BitConverter.GetBytes(8u));
            _bytes.AddRange(BitConverter.GetBytes((ulong)values.Length));
            foreach (string v in values) Str(v);
        }

        public void Array(string key, uint type, int count, Func<int, byte[]> element)
        {
            Key(key, 9);
            _bytes.AddRange(BitConverter.GetBytes(type));
            _bytes.AddRange(BitConverter.GetBytes((ulong)count));
            for (int i = 0; i < count; i++) _bytes.AddRange(element(i));
        }

        /// <summary>A key holding an array of one array of one array … <paramref name="depth"/> levels, then one uint32.</summary>
        public void Nested(string key, int depth)
        {
            Key(key, 9);
            for (int level = 1; level < depth; level++)
            {
                _bytes.AddRange(BitConverter.GetBytes(9u));
                _bytes.AddRange(BitConverter.GetBytes(1UL));
            }

            _bytes.AddRange(BitConverter.GetBytes(4u));
            _bytes.AddRange(BitConverter.GetBytes(1UL));
            _bytes.AddRange(BitConverter.GetBytes(7u));
        }

        private void Key(string key, uint type)
        {
            Count++;
            Str(key);
            _bytes.AddRange(BitConverter.GetBytes(type));
        }

        private void Str(string s)
        {
            byte[] b = Encoding.UTF8.GetBytes(s);
            _bytes.AddRange(BitConverter.GetBytes((ulong)b.Length));
            _bytes.AddRange(b);
        }
    }
}

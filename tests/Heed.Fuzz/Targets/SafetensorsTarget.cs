using System.Text;
using Heed.IO;

namespace Heed.Fuzz.Targets;

/// <summary>
/// safetensors: an 8-byte header length, a JSON header, the data. The mutator edits the JSON as text (dtype, shape and
/// data_offsets values, nesting, long shapes, numbers beyond int64 and float64, metadata of other kinds), sets the
/// length field to boundary values, and mutates bytes.
/// </summary>
internal sealed class SafetensorsTarget : FuzzTarget
{
    private static readonly Lazy<FuzzInput[]> SeedFiles = new(() =>
    {
        using var small = new MemoryStream();
        Safetensors.Write(
            small,
            new Dictionary<string, Tensor>
            {
                ["a"] = Tensor.FromDoubles(DType.Float32, [2, 3], [1, 2, 3, 4, 5, 6]),
                ["b"] = Tensor.FromDoubles(DType.Float16, [3], [1, -2, 0.5]),
                ["c"] = Tensor.FromDoubles(DType.Int64, [1, 1], [7]),
            },
            new Dictionary<string, string> { ["format"] = "pt" });
        return [new FuzzInput("safetensors", small.ToArray()), .. SeedFolder.TestData("gpt2-tiny", "*.safetensors").Select(d => new FuzzInput("safetensors", d))];
    });

    public override string Name => "safetensors";

    public override IReadOnlyList<FuzzInput> Seeds => SeedFiles.Value;

    public override string Extension(string kind) => ".safetensors";

    public override byte[] Mutate(FuzzInput input, Random rng)
    {
        byte[] data = input.Data;
        if (data.Length < 8 || rng.Next(4) == 0) return Mutations.Bytes(data, rng);
        long declared = Mutations.ReadField(data, 0, 8);
        if (rng.Next(4) == 0)
        {
            byte[] result = [.. data];
            Mutations.WriteField(result, 0, 8, Mutations.FieldValue(8, declared, rng));
            return result;
        }

        int headerEnd = (int)Math.Clamp(8 + declared, 8, data.Length);
        string header = Encoding.UTF8.GetString(data, 8, headerEnd - 8);
        byte[] text = Mutations.Utf8.GetBytes(Mutations.Text(header, rng));
        byte[] length = new byte[8];
        Mutations.WriteField(length, 0, 8, rng.Next(8) == 0 ? declared : text.Length);
        return [.. length, .. text, .. data.AsSpan(headerEnd)];
    }

    public override void Run(FuzzInput input, string scratch)
    {
        using var stream = new MemoryStream(input.Data, writable: false);
        SafetensorsFile file = Safetensors.ReadWithMetadata(stream, "fuzz.safetensors");
        foreach ((string _, Tensor t) in file.Tensors)
        {
            _ = t.ShapeText;
        }
    }
}

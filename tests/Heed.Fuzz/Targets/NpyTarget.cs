using System.Text;
using Heed.IO;

namespace Heed.Fuzz.Targets;

/// <summary>
/// .npy: magic, version, header length (2 bytes in 1.0, 4 in 2.0 and 3.0), a Python dict literal, the data. The
/// mutator edits the dict as text (descr, shape and fortran_order values, nesting, long shapes, literals beyond
/// float64), sets the version and header-length fields to boundary values, and mutates bytes.
/// </summary>
internal sealed class NpyTarget : FuzzTarget
{
    private static readonly Lazy<FuzzInput[]> SeedFiles = new(() => [.. SeedFolder.TestData("npy", "*.npy").Select(d => new FuzzInput("npy", d))]);

    public override string Name => "npy";

    public override IReadOnlyList<FuzzInput> Seeds => SeedFiles.Value;

    public override string Extension(string kind) => ".npy";

    public override byte[] Mutate(FuzzInput input, Random rng)
    {
        byte[] data = input.Data;
        int lengthBytes = data.Length > 7 && data[6] == 1 ? 2 : 4;
        int headerStart = 8 + lengthBytes;
        if (data.Length < headerStart || rng.Next(4) == 0) return Mutations.Bytes(data, rng);
        long declared = Mutations.ReadField(data, 8, lengthBytes);
        int headerEnd = (int)Math.Min(data.Length, headerStart + Math.Max(0, declared));
        switch (rng.Next(3))
        {
            case 0:
                {
                    byte[] result = [.. data];
                    if (rng.Next(2) == 0) result[6] = (byte)Mutations.Pick([0, 1, 2, 3, 4, 255], rng);
                    else Mutations.WriteField(result, 8, lengthBytes, Mutations.FieldValue(lengthBytes, declared, rng));
                    return result;
                }

            default:
                {
                    string header = Encoding.Latin1.GetString(data, headerStart, headerEnd - headerStart);
                    string mutated = Mutations.Text(header, rng);
                    byte[] text = Mutations.Utf8.GetBytes(mutated);

                    // Mostly a consistent header length and version (so the dict is what gets read), sometimes the stale one.
                    bool wide = text.Length > ushort.MaxValue || lengthBytes == 4;
                    var result = new List<byte>(data.AsSpan(0, 6).ToArray()) { (byte)(wide ? 2 : 1), 0 };
                    byte[] length = new byte[wide ? 4 : 2];
                    Mutations.WriteField(length, 0, length.Length, rng.Next(8) == 0 ? declared : text.Length);
                    result.AddRange(length);
                    result.AddRange(text);
                    result.AddRange(data.AsSpan(headerEnd).ToArray());
                    return [.. result];
                }
        }
    }

    public override void Run(FuzzInput input, string scratch)
    {
        using var stream = new MemoryStream(input.Data, writable: false);
        Tensor t = Npy.Read(stream, "fuzz.npy");
        _ = t.ShapeText;
        if (t.DType != DType.Bool && t.Length <= 1 << 20) _ = t.ToDoubleArray();
    }
}

using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Text;

namespace Heed.Explain.Pictures;

/// <summary>
/// Writes an <see cref="RgbImage"/> as a PNG file (8-bit truecolour, no interlace) with the framework's zlib and a
/// table-driven CRC-32: the format of RFC 2083 without any native dependency.
/// </summary>
public static class PngEncoder
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly uint[] CrcTable = MakeCrcTable();

    /// <summary>The PNG bytes of <paramref name="image"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static byte[] Encode(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var file = new MemoryStream();
        file.Write(Signature);

        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), image.Height);
        header[8] = 8; // bits per sample
        header[9] = 2; // colour type: truecolour (RGB)
        WriteChunk(file, "IHDR", header);

        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            int stride = image.Width * 3;
            var row = new byte[stride + 1];
            for (int y = 0; y < image.Height; y++)
            {
                // Filter 1 (Sub): each byte minus the one a pixel to its left; flat runs of colour become zeros.
                row[0] = 1;
                ReadOnlySpan<byte> source = image.Pixels.AsSpan(y * stride, stride);
                for (int i = 0; i < stride; i++)
                {
                    row[i + 1] = (byte)(source[i] - (i >= 3 ? source[i - 3] : 0));
                }

                zlib.Write(row);
            }
        }

        WriteChunk(file, "IDAT", compressed.ToArray());
        WriteChunk(file, "IEND", []);
        return file.ToArray();
    }

    /// <summary>The CRC-32 (ISO 3309, polynomial 0xEDB88320) of <paramref name="data"/>, as PNG chunks use it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static uint Crc32(ReadOnlySpan<byte> data, uint crc = 0)
    {
        crc = ~crc;
        foreach (byte b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static void WriteChunk(Stream file, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        file.Write(word);
        byte[] typeBytes = Encoding.ASCII.GetBytes(type);
        file.Write(typeBytes);
        file.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(data, Crc32(typeBytes)));
        file.Write(word);
    }

    private static uint[] MakeCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}

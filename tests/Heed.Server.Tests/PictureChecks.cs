using System.Buffers.Binary;
using System.IO.Compression;
using System.Xml.Linq;

namespace Heed.Server.Tests;

/// <summary>Checks pictures by their content: SVG that parses as XML, PNG files whose chunks, checksums and pixel data add up.</summary>
internal static class PictureChecks
{
    /// <summary>Parses SVG text and returns its root element (an svg element with positive width and height).</summary>
    public static XElement Svg(string text)
    {
        XElement root = XDocument.Parse(text).Root!;
        Assert.Equal("svg", root.Name.LocalName);
        Assert.True(SvgSize(root).Width > 0 && SvgSize(root).Height > 0);
        return root;
    }

    public static (int Width, int Height) SvgSize(XElement svg) => ((int)svg.Attribute("width")!, (int)svg.Attribute("height")!);

    /// <summary>
    /// Walks a PNG file: the signature, IHDR first (8-bit RGB or RGBA), every chunk's CRC-32, IEND last, and the inflated IDAT
    /// data holding exactly one filter byte plus three (four) bytes per pixel on each row. Returns the size.
    /// </summary>
    public static (int Width, int Height) AssertPng(byte[] png)
    {
        int channels = 0;
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        int at = 8, width = 0, height = 0;
        var data = new MemoryStream();
        var types = new List<string>();
        while (at < png.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(png, at + 4, 4);
            ReadOnlySpan<byte> body = png.AsSpan(at + 8, length);
            Assert.Equal(Crc32(png.AsSpan(at + 4, 4 + length)), BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at + 8 + length)));
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(body);
                height = BinaryPrimitives.ReadInt32BigEndian(body[4..]);
                Assert.Equal(8, body[8]);
                Assert.True(body[9] is 2 or 6, $"colour type {body[9]}; expected RGB (2) or RGBA (6)");
                channels = body[9] == 2 ? 3 : 4;
            }
            else if (type == "IDAT")
            {
                data.Write(body);
            }

            types.Add(type);
            at += 12 + length;
        }

        Assert.Equal("IHDR", types[0]);
        Assert.Equal("IEND", types[^1]);
        data.Position = 0;
        using var inflated = new MemoryStream();
        using (var zlib = new ZLibStream(data, CompressionMode.Decompress))
        {
            zlib.CopyTo(inflated);
        }

        Assert.True(width > 0 && height > 0);
        Assert.Equal((long)height * (1 + (channels * width)), inflated.Length);
        return (width, height);
    }

    /// <summary>The size of a PNG rendered at the default scale (2 pixels per SVG pixel).</summary>
    public static (int Width, int Height) Doubled((int Width, int Height) svg) => (svg.Width * 2, svg.Height * 2);

    // CRC-32 of ISO 3309 / PNG, bit by bit (independent of the encoder's table).
    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
            }
        }

        return ~crc;
    }
}

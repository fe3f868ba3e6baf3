using System.Globalization;
using System.IO.Compression;
using System.Security;
using System.Text;

namespace Heed.Server.Charts;

/// <summary>
/// A matrix drawn as a grid of coloured cells (rows top to bottom, columns left to right), as SVG with labels and a
/// colour scale, or as PNG (cells only). Colours run from white (the smallest value) to deep blue (the largest).
/// </summary>
public static class Heatmap
{
    private const int Cell = 36;

    /// <summary>Writes an SVG heatmap of <paramref name="values"/> [rows, cols] with row and column labels and a titled colour scale.</summary>
    public static string Svg(string title, IReadOnlyList<string> rowLabels, IReadOnlyList<string> columnLabels, double[][] values)
    {
        ArgumentNullException.ThrowIfNull(rowLabels);
        ArgumentNullException.ThrowIfNull(columnLabels);
        ArgumentNullException.ThrowIfNull(values);
        int rows = values.Length, cols = rows == 0 ? 0 : values[0].Length;
        (double min, double max) = Range(values);
        int labelWidth = 8 + (8 * Math.Max(1, rowLabels.Count == 0 ? 1 : rowLabels.Max(l => l.Length)));
        int top = 56 + (7 * Math.Max(1, columnLabels.Count == 0 ? 1 : Math.Min(16, columnLabels.Max(l => l.Length))));
        int width = labelWidth + (cols * Cell) + 24;
        int height = top + (rows * Cell) + 48;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"8\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{Escape(title)}</text>");
        for (int j = 0; j < cols; j++)
        {
            double x = labelWidth + (j * Cell) + (Cell / 2.0);
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x}\" y=\"{top - 6}\" transform=\"rotate(-45 {x} {top - 6})\">{Escape(Label(columnLabels, j))}</text>");
        }

        for (int i = 0; i < rows; i++)
        {
            int y = top + (i * Cell);
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelWidth - 6}\" y=\"{y + (Cell / 2) + 4}\" text-anchor=\"end\">{Escape(Label(rowLabels, i))}</text>");
            for (int j = 0; j < cols; j++)
            {
                double v = values[i][j];
                (byte r, byte g, byte b) = Colour(v, min, max);
                string number = Number(v);
                svg.Append(CultureInfo.InvariantCulture, $"<rect class=\"cell\" x=\"{labelWidth + (j * Cell)}\" y=\"{y}\" width=\"{Cell}\" height=\"{Cell}\" fill=\"#{r:x2}{g:x2}{b:x2}\" stroke=\"#ffffff\"><title>{Escape(Label(rowLabels, i))} → {Escape(Label(columnLabels, j))}: {number}</title></rect>");
                string ink = Brightness(r, g, b) < 128 ? "#ffffff" : "#000000";
                svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelWidth + (j * Cell) + (Cell / 2)}\" y=\"{y + (Cell / 2) + 4}\" text-anchor=\"middle\" font-size=\"9\" fill=\"{ink}\">{Short(v)}</text>");
            }
        }

        int barY = top + (rows * Cell) + 16;
        svg.Append(CultureInfo.InvariantCulture, $"<defs><linearGradient id=\"scale\"><stop offset=\"0\" stop-color=\"#ffffff\"/><stop offset=\"1\" stop-color=\"#08306b\"/></linearGradient></defs>");
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{labelWidth}\" y=\"{barY}\" width=\"{Math.Max(cols * Cell, 80)}\" height=\"10\" fill=\"url(#scale)\" stroke=\"#999999\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelWidth}\" y=\"{barY + 24}\">{Number(min)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelWidth + Math.Max(cols * Cell, 80)}\" y=\"{barY + 24}\" text-anchor=\"end\">{Number(max)}</text>");
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>Writes a PNG heatmap: one <paramref name="cellPixels"/>-square block per value, no text.</summary>
    public static byte[] Png(double[][] values, int cellPixels = 16)
    {
        ArgumentNullException.ThrowIfNull(values);
        int rows = values.Length, cols = rows == 0 ? 0 : values[0].Length;
        int width = Math.Max(1, cols * cellPixels), height = Math.Max(1, rows * cellPixels);
        (double min, double max) = Range(values);
        var raw = new byte[height * (1 + (width * 3))];
        for (int y = 0; y < height; y++)
        {
            int line = y * (1 + (width * 3)); // filter byte 0 (None), then RGB triples
            for (int x = 0; x < width; x++)
            {
                (byte r, byte g, byte b) = rows == 0 || cols == 0 ? ((byte)255, (byte)255, (byte)255) : Colour(values[y / cellPixels][x / cellPixels], min, max);
                int at = line + 1 + (x * 3);
                raw[at] = r;
                raw[at + 1] = g;
                raw[at + 2] = b;
            }
        }

        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        WriteBigEndian(header, 0, width);
        WriteBigEndian(header, 4, height);
        header[8] = 8;  // bit depth
        header[9] = 2;  // colour type: truecolour RGB
        WriteChunk(png, "IHDR", header);
        using (var compressed = new MemoryStream())
        {
            using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
            {
                zlib.Write(raw);
            }

            WriteChunk(png, "IDAT", compressed.ToArray());
        }

        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>The colour of <paramref name="value"/> on the white → deep blue scale over [min, max].</summary>
    public static (byte R, byte G, byte B) Colour(double value, double min, double max)
    {
        double t = max > min ? (value - min) / (max - min) : (double.IsFinite(value) ? 1 : 0);
        if (!double.IsFinite(t)) t = value > 0 ? 1 : 0;
        t = Math.Clamp(t, 0, 1);
        // Linear from white (255, 255, 255) to #08306b (8, 48, 107).
        return ((byte)Math.Round(255 - (t * 247)), (byte)Math.Round(255 - (t * 207)), (byte)Math.Round(255 - (t * 148)));
    }

    private static (double Min, double Max) Range(double[][] values)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (double[] row in values)
        {
            foreach (double v in row)
            {
                if (!double.IsFinite(v)) continue;
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
        }

        return double.IsFinite(min) ? (min, max) : (0, 0);
    }

    private static int Brightness(byte r, byte g, byte b) => ((299 * r) + (587 * g) + (114 * b)) / 1000;

    private static string Label(IReadOnlyList<string> labels, int index) => index < labels.Count ? labels[index] : index.ToString(CultureInfo.InvariantCulture);

    private static string Number(double v) => double.IsFinite(v) ? v.ToString("0.####", CultureInfo.InvariantCulture) : v > 0 ? "+inf" : v < 0 ? "-inf" : "nan";

    private static string Short(double v) => double.IsFinite(v) ? v.ToString("0.00", CultureInfo.InvariantCulture) : Number(v);

    private static string Escape(string text) => SecurityElement.Escape(text) ?? "";

    private static void WriteBigEndian(byte[] buffer, int at, int value)
    {
        buffer[at] = (byte)(value >> 24);
        buffer[at + 1] = (byte)(value >> 16);
        buffer[at + 2] = (byte)(value >> 8);
        buffer[at + 3] = (byte)value;
    }

    private static void WriteChunk(Stream png, string type, byte[] data)
    {
        var length = new byte[4];
        WriteBigEndian(length, 0, data.Length);
        png.Write(length);
        byte[] typeBytes = Encoding.ASCII.GetBytes(type);
        png.Write(typeBytes);
        png.Write(data);
        uint crc = Crc32.Update(Crc32.Update(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        var crcBytes = new byte[4];
        WriteBigEndian(crcBytes, 0, unchecked((int)crc));
        png.Write(crcBytes);
    }

    /// <summary>The CRC-32 PNG chunks carry (ISO 3309, reflected polynomial 0xEDB88320).</summary>
    private static class Crc32
    {
        private static readonly uint[] Table = CreateTable();

        public static uint Update(uint crc, ReadOnlySpan<byte> bytes)
        {
            foreach (byte b in bytes)
            {
                crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
            }

            return crc;
        }

        private static uint[] CreateTable()
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
}

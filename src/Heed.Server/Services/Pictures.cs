using System.Globalization;
using System.Text.Json.Serialization;
using Heed.Explain;
using Heed.Explain.Pictures;

namespace Heed.Server.Services;

/// <summary>The pictures Heed.Explain draws of attention weights.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PictureKind>))]
public enum PictureKind
{
    /// <summary>One head's [T, S] weights as coloured cells (file name "heatmap").</summary>
    Heatmap,

    /// <summary>Every layer × head as thumbnails on one colour scale ("model-view").</summary>
    ModelView,

    /// <summary>Lines from query tokens to the key tokens they attend to, one colour per head ("head-view").</summary>
    HeadView,

    /// <summary>One head as a directed weighted network of the tokens ("network"; self-attention only).</summary>
    Network,

    /// <summary>The attention rollout through every layer, heads averaged ("rollout"; self-attention only).</summary>
    Rollout,
}

/// <summary>How a picture is encoded.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PictureFormat>))]
public enum PictureFormat
{
    /// <summary>SVG text with hover readouts.</summary>
    Svg,

    /// <summary>A PNG file (base64 in JSON).</summary>
    Png,
}

/// <summary>A drawn picture as it travels in JSON.</summary>
/// <param name="Name">heatmap, model-view, head-view, network or rollout.</param>
/// <param name="Title">The picture's title.</param>
/// <param name="MediaType">image/svg+xml or image/png.</param>
/// <param name="Data">The SVG text, or the PNG file in base64.</param>
public sealed record Picture(string Name, string Title, string MediaType, string Data);

/// <summary>Where a picture of a run can be fetched.</summary>
/// <param name="Name">heatmap, model-view, head-view, network or rollout.</param>
/// <param name="Description">What it shows.</param>
/// <param name="Svg">The path of its SVG.</param>
/// <param name="Png">The path of its PNG.</param>
public sealed record PictureLink(string Name, string Description, string Svg, string Png);

/// <summary>Draws Heed.Explain's pictures (<see cref="AttentionPictures"/>) as SVG or PNG for the server's responses.</summary>
public static class Pictures
{
    /// <summary>The file-style names, in <see cref="PictureKind"/> order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["heatmap", "model-view", "head-view", "network", "rollout"];

    /// <summary>The file-style name of <paramref name="kind"/>.</summary>
    public static string Name(PictureKind kind) => Names[(int)kind];

    /// <summary>The kind named <paramref name="name"/> ("model-view" or "ModelView").</summary>
    /// <exception cref="HeedException">No such picture.</exception>
    public static PictureKind Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        for (int i = 0; i < Names.Count; i++)
        {
            if (string.Equals(Names[i], name, StringComparison.OrdinalIgnoreCase) || string.Equals(((PictureKind)i).ToString(), name, StringComparison.OrdinalIgnoreCase))
            {
                return (PictureKind)i;
            }
        }

        throw new HeedException($"picture: '{name}'; expected one of {string.Join(", ", Names)}");
    }

    /// <summary>The format named <paramref name="name"/> (svg or png).</summary>
    /// <exception cref="HeedException">Neither.</exception>
    public static PictureFormat ParseFormat(string name) => name?.ToLowerInvariant() switch
    {
        "svg" => PictureFormat.Svg,
        "png" => PictureFormat.Png,
        _ => throw new HeedException($"format: '{name}'; expected svg or png"),
    };

    /// <summary>
    /// Draws one picture of <paramref name="set"/>: the heatmap and network of (<paramref name="layer"/>, head, default 0),
    /// the head view of <paramref name="layer"/> (every head unless <paramref name="head"/> is given), the model view or the rollout.
    /// </summary>
    /// <exception cref="HeedException">The layer or head is out of range, or the picture needs self-attention (T = S).</exception>
    public static Scene Draw(AttentionSet set, PictureKind kind, int layer = 0, int? head = null)
    {
        ArgumentNullException.ThrowIfNull(set);
        set.CheckIndex(layer, head, "layer", "head");
        return kind switch
        {
            PictureKind.Heatmap => AttentionPictures.Heatmap(set, layer, head ?? 0),
            PictureKind.ModelView => AttentionPictures.ModelView(set),
            PictureKind.HeadView => AttentionPictures.HeadView(set, layer, head),
            PictureKind.Network => AttentionPictures.Network(set, layer, head ?? 0),
            PictureKind.Rollout => AttentionPictures.RolloutHeatmap(set),
            _ => throw new HeedException($"picture: {kind} is not a picture kind"),
        };
    }

    /// <summary>The standalone SVG file of <paramref name="scene"/>.</summary>
    public static string Svg(Scene scene) => SvgWriter.Write(scene);

    /// <summary>The PNG file of <paramref name="scene"/>.</summary>
    public static byte[] Png(Scene scene) => PngRenderer.Render(scene);

    /// <summary>Draws and encodes one picture for a JSON response.</summary>
    /// <exception cref="HeedException">As <see cref="Draw"/>.</exception>
    public static Picture Render(AttentionSet set, PictureKind kind, PictureFormat format, int layer = 0, int? head = null) =>
        Encode(Draw(set, kind, layer, head), kind, format);

    /// <summary>Encodes a drawn picture for a JSON response: SVG text, or PNG in base64.</summary>
    public static Picture Encode(Scene scene, PictureKind kind, PictureFormat format)
    {
        ArgumentNullException.ThrowIfNull(scene);
        return format == PictureFormat.Png
            ? new Picture(Name(kind), scene.Title, "image/png", Convert.ToBase64String(Png(scene)))
            : new Picture(Name(kind), scene.Title, "image/svg+xml", Svg(scene));
    }

    /// <summary>The weights of every layer and head of a run (each layer must have the same number of heads).</summary>
    /// <exception cref="HeedException">The layers differ in head count or token count.</exception>
    public static AttentionSet Set(IReadOnlyList<IReadOnlyList<AttentionTrace>> layers, string source)
    {
        ArgumentNullException.ThrowIfNull(layers);
        AttentionTrace first = layers[0][0];
        double[][][] weights = layers.Select(l => l.Select(t => Flatten(t.Weights)).ToArray()).ToArray();
        double[][][] scores = layers.Select(l => l.Select(t => Flatten(t.Scores)).ToArray()).ToArray();
        return new AttentionSet(first.Tokens, first.Tokens, weights, scores) { Source = source };
    }

    /// <summary>A one-head set of a [T, S] weight matrix with its row and column labels.</summary>
    /// <exception cref="HeedException">The labels do not match the matrix.</exception>
    public static AttentionSet Set(IReadOnlyList<string> rows, IReadOnlyList<string> columns, double[][] weights, string source) =>
        new(rows, columns, [[Flatten(weights)]]) { Source = source };

    /// <summary>
    /// The links of every picture of a run: the model view, then the head view, heatmap and network (head 0) of layer 0
    /// (names as <see cref="Names"/>), or with <paramref name="layers"/> of every layer 0..layers−1 (names ending in
    /// "-layerN", as <see cref="AttentionPictures.All"/> names them, links with ?layer=N), then the rollout.
    /// </summary>
    public static IReadOnlyList<PictureLink> Links(string basePath, bool selfAttention, int? layers = null)
    {
        var links = new List<PictureLink>
        {
            Link(basePath, PictureKind.ModelView, "Every layer and head at once, on one colour scale: look for diagonal, previous-token and first-token patterns."),
        };
        for (int layer = 0; layer < (layers ?? 1); layer++)
        {
            bool one = layers is null;
            string name = one ? "" : string.Create(CultureInfo.InvariantCulture, $"-layer{layer}");
            string query = one ? "" : string.Create(CultureInfo.InvariantCulture, $"?layer={layer}");
            string hint = one ? " (add ?layer=L&head=H)" : string.Create(CultureInfo.InvariantCulture, $" (layer {layer}; add &head=H)");
            links.Add(Link(basePath, PictureKind.HeadView, $"Lines from each query token to the key tokens it attends to, one colour per head{hint}.", name, query));
            links.Add(Link(basePath, PictureKind.Heatmap, $"One head's weights: row = attending token, column = attended token; rows sum to 1{hint}.", name, query));
            if (selfAttention)
            {
                links.Add(Link(basePath, PictureKind.Network, $"One head as a directed network built for this input only{hint}.", name, query));
            }
        }

        if (selfAttention)
        {
            links.Add(Link(basePath, PictureKind.Rollout, Heed.Explain.Rollout.Note));
        }

        return links;
    }

    private static PictureLink Link(string basePath, PictureKind kind, string description, string suffix = "", string query = "") =>
        new(Name(kind) + suffix, description, $"{basePath}/{Name(kind)}.svg{query}", $"{basePath}/{Name(kind)}.png{query}");

    private static double[] Flatten(double[][] m) => m.SelectMany(r => r).ToArray();
}

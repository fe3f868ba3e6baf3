using System.Text.Json;
using System.Text.Json.Serialization;

namespace Heed.Server;

/// <summary>The discovery file a running server writes so that the CLI and agents can find it: its URL, token and process id.</summary>
/// <param name="Url">The base URL, e.g. http://127.0.0.1:8471.</param>
/// <param name="Token">The bearer token.</param>
/// <param name="Pid">The server's process id.</param>
/// <param name="Version">The server's version.</param>
/// <param name="Mcp">The MCP endpoint URL.</param>
/// <param name="OpenApi">The OpenAPI document URL.</param>
public sealed record DiscoveryInfo(
    [property: JsonPropertyName("url")] string Url,
    [property: JsonPropertyName("token")] string Token,
    [property: JsonPropertyName("pid")] int Pid,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("mcp")] string Mcp,
    [property: JsonPropertyName("openapi")] string OpenApi)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Writes the file with mode 0600.</summary>
    public void Write(string path) => PrivateFile.WriteAllText(path, JsonSerializer.Serialize(this, Json) + "\n");

    /// <summary>Reads a discovery file; null when it does not exist.</summary>
    /// <exception cref="HeedException">The file is not a discovery file.</exception>
    public static DiscoveryInfo? Read(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<DiscoveryInfo>(File.ReadAllText(path), Json) ?? throw new HeedException($"{path}: empty discovery file");
        }
        catch (JsonException ex)
        {
            throw new HeedException($"{path}: not a Heed discovery file: {ex.Message}");
        }
    }
}

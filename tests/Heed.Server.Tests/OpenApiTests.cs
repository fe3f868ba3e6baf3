using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Heed.Server.Tests;

/// <summary>The OpenAPI document at /openapi/v1.json describes every REST endpoint, its schemas and its error responses.</summary>
public sealed class OpenApiTests
{
    [Fact]
    public async Task The_document_lists_every_mapped_api_path_with_problem_responses()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        JsonNode doc = await h.GetJson("/openapi/v1.json");
        JsonObject paths = doc["paths"]!.AsObject();
        var mapped = h.Server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Select(e => "/" + e.RoutePattern.RawText!.TrimStart('/'))
            .Where(p => p.StartsWith("/api/", StringComparison.Ordinal))
            .Select(p => p.Replace(":int", "", StringComparison.Ordinal).TrimEnd('/'))
            .Distinct()
            .ToArray();
        Assert.True(mapped.Length >= 22, string.Join(", ", mapped));
        foreach (string path in mapped)
        {
            Assert.True(paths.ContainsKey(path), $"{path} is missing from the OpenAPI document");
        }

        foreach ((string path, JsonNode? item) in paths)
        {
            foreach ((string method, JsonNode? operation) in item!.AsObject())
            {
                JsonObject responses = operation!["responses"]!.AsObject();
                Assert.True(responses.ContainsKey("401") && responses.ContainsKey("429"), $"{method} {path} lists no 401/429");
                if (method == "post" && operation["requestBody"] is not null)
                {
                    Assert.True(responses.ContainsKey("400"), $"{method} {path} lists no 400");
                    Assert.Equal("application/problem+json", responses["400"]!["content"]!.AsObject().Single().Key);
                }
            }
        }

        Assert.Contains("bearer", doc["components"]!["securitySchemes"]!.AsObject().Select(p => p.Key));
        Assert.True(doc["components"]!["schemas"]!.AsObject().ContainsKey("AttentionRequest"));
    }

    [Fact]
    public async Task The_root_descriptor_links_everything_and_states_the_limits()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        JsonNode root = await h.GetJson("/api/v1");
        Assert.Equal("/openapi/v1.json", root["links"]!["openapi"]!.GetValue<string>());
        Assert.Equal("/mcp", root["links"]!["mcp"]!.GetValue<string>());
        Assert.Equal("/", root["links"]!["web"]!.GetValue<string>());
        Assert.Equal(16 * 1024 * 1024, root["limits"]!["maxBodyBytes"]!.GetValue<long>());
        JsonNode caps = await h.GetJson("/api/v1/capabilities");
        Assert.Contains("heed-toy", caps["runnableModelFormats"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(33, caps["operations"]!.AsArray().Count);
        Assert.Contains(caps["operations"]!.AsArray(), o => o!["path"]!.GetValue<string>() == "/api/v1/embed" && o["mcpTool"]!.GetValue<string>() == "embed");
        Assert.Contains(caps["operations"]!.AsArray(), o => o!["path"]!.GetValue<string>() == "/api/v1/generate" && o["mcpTool"]!.GetValue<string>() == "generate");
        Assert.Contains("gguf", caps["runnableModelFormats"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(2048, root["limits"]!["maxGenerateTokens"]!.GetValue<int>());
        Assert.Equal(256, root["limits"]!["maxEmbedTexts"]!.GetValue<int>());
        Assert.Equal(8, root["limits"]!["maxTrainings"]!.GetValue<int>());
        Assert.Equal(2000, root["limits"]!["maxTrainingSteps"]!.GetValue<int>());
        Assert.Equal(65536, root["limits"]!["maxTrainingTextBytes"]!.GetValue<int>());
        Assert.Contains(caps["operations"]!.AsArray(), o => o!["path"]!.GetValue<string>() == "/api/v1/trainings" && o["mcpTool"]!.GetValue<string>() == "train");
        Assert.Contains(caps["operations"]!.AsArray(), o => o!["path"]!.GetValue<string>() == "/api/v1/trainings/{id}/resume" && o["mcpTool"]!.GetValue<string>() == "resume_training");
        await ServerHarness.AssertProblem(await h.Client.GetAsync(new Uri("/api/v1/no-such-thing", UriKind.Relative)), 404);
    }
}

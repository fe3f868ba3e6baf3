using System.Text.Json.Nodes;

namespace Heed.Server.Tests;

/// <summary>Models are addressed by id inside the models folder; nothing outside it can be read.</summary>
public sealed class ModelCatalogTests : IAsyncLifetime
{
    private ServerHarness _h = null!;
    private string _root = null!;
    private string _outside = null!;

    public async Task InitializeAsync()
    {
        _root = ServerHarness.NewFolder();
        _outside = ServerHarness.NewFolder();
        File.WriteAllText(Path.Combine(_outside, "secret.heed-toy.json"), ToyModels.TwoLayersTwoHeads);
        File.WriteAllText(Path.Combine(_root, "two.heed-toy.json"), ToyModels.TwoLayersTwoHeads);
        Directory.CreateDirectory(Path.Combine(_root, "tiny"));
        int[] values = [64, 172, 5, 8, 4, 512, 512];
        long floats = new Heed.Models.Llama.LlamaConfig(64, 172, 5, 8, 4, 512, 512, SharedClassifier: true).StoredFloatCount();
        var checkpoint = new byte[28 + (floats * 4)]; // a whole checkpoint of zero weights, without the tokenizer a run needs
        Buffer.BlockCopy(values, 0, checkpoint, 0, 28);
        File.WriteAllBytes(Path.Combine(_root, "tiny", "tiny.bin"), checkpoint);
        File.CreateSymbolicLink(Path.Combine(_root, "linked.heed-toy.json"), Path.Combine(_outside, "secret.heed-toy.json"));
        Directory.CreateSymbolicLink(Path.Combine(_root, "linkdir"), _outside);
        _h = await ServerHarness.StartAsync(o => o with { ModelsDirectory = _root });
    }

    public async Task DisposeAsync()
    {
        await _h.DisposeAsync();
        Directory.Delete(_root, true);
        Directory.Delete(_outside, true);
    }

    [Fact]
    public async Task The_list_has_the_built_in_and_the_folder_entries_but_no_links()
    {
        JsonNode list = await _h.GetJson("/api/v1/models");
        string[] ids = list["models"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()).ToArray();
        Assert.Equal(["seed-cat-sat", "tiny", "two.heed-toy.json"], ids);
        JsonNode tiny = list["models"]!.AsArray().Single(m => m!["id"]!.GetValue<string>() == "tiny")!;
        Assert.Equal("llama2c", tiny["format"]!.GetValue<string>());
        Assert.False(tiny["runnable"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Config_reads_toy_layers_and_the_llama2c_header()
    {
        JsonNode toy = await _h.GetJson("/api/v1/models/two.heed-toy.json/config");
        Assert.Equal(2, toy["numLayers"]!.GetValue<int>());
        Assert.Equal(3, toy["width"]!.GetValue<int>());
        JsonNode tiny = await _h.GetJson("/api/v1/models/tiny/config");
        Assert.Equal("llama", tiny["architecture"]!.GetValue<string>());
        Assert.Equal(8, tiny["numHeads"]!.GetValue<int>());
        Assert.Equal(4, tiny["numKvHeads"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("..", 404, 400)] // the client folds ".." out of the URL, so GET reaches no model route at all
    [InlineData("..%2F..%2Fetc%2Fpasswd", 400, 400)]
    [InlineData("%2Fetc%2Fpasswd", 400, 400)]
    [InlineData(".hidden", 400, 400)]
    [InlineData("linked.heed-toy.json", 400, 400)]
    [InlineData("linkdir", 400, 400)]
    [InlineData("missing.heed-toy.json", 404, 404)]
    public async Task Ids_that_could_leave_the_folder_are_refused(string id, int getStatus, int status)
    {
        await ServerHarness.AssertProblem(await _h.Client.GetAsync(new Uri($"/api/v1/models/{id}/config", UriKind.Relative)), getStatus);
        using var body = new StringContent($"{{\"model\":\"{Uri.UnescapeDataString(id)}\",\"prompt\":\"the cat\"}}", System.Text.Encoding.UTF8, "application/json");
        await ServerHarness.AssertProblem(await _h.Client.PostAsync(new Uri("/api/v1/runs", UriKind.Relative), body), status);
    }

    [Fact]
    public async Task Lookup_can_read_a_models_embedding_table()
    {
        JsonNode r = await _h.PostJson("/api/v1/lookup", new { query = "cat", keys = new[] { "the", "cat" }, values = new[] { 0.0, 1.0 }, model = "two.heed-toy.json" });
        double w = Math.E / (Math.E + 1);
        Assert.Equal(w, r["blended"]!.GetValue<double>(), 12);
        Assert.Equal("model two.heed-toy.json's embeddings", r["vectors"]!.GetValue<string>());
    }
}

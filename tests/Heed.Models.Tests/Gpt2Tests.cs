using Heed.IO;
using Heed.Models.Generation;
using Heed.Models.Gpt2;

namespace Heed.Models.Tests;

/// <summary>GPT-2 from Hugging Face's layout against tests/TestData/gpt2-tiny (made by make_gpt2_tiny.py with NumPy).</summary>
public class Gpt2Tests
{
    private static string Folder => TestPaths.TestData("gpt2-tiny");

    private static int[] Tokens => [.. ((Tensor<long>)Npy.Read(Path.Combine(Folder, "tokens.npy"))).Data.Select(t => (int)t)];

    [Fact]
    public void Logits_match_the_numpy_golden_file()
    {
        Gpt2Model model = Gpt2Model.Load(Folder);
        double[] expected = Npy.Read(Path.Combine(Folder, "expected_logits.npy")).ToDoubleArray();
        Tensor<float> logits = model.Forward(Tokens).Logits;
        Assert.Equal([12, 60], logits.Shape.ToArray());
        double max = 0;
        for (int i = 0; i < expected.Length; i++) max = Math.Max(max, Math.Abs(expected[i] - logits.Data[i]));
        Assert.True(max < 1e-4, $"max |logit − numpy| = {max:E3}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void Decode_with_the_kv_cache_gives_the_logits_of_recomputing_the_whole_prefix(int prefill)
    {
        Gpt2Model model = Gpt2Model.Load(Folder);
        int[] tokens = Tokens;
        Tensor<float> full = model.Forward(tokens).Logits;
        DecoderSession session = model.CreateSession(16);
        double max = Assertions.MaxDiff(session.Forward(tokens.AsSpan(0, prefill)), full.Data.AsSpan((prefill - 1) * 60, 60));
        for (int pos = prefill; pos < tokens.Length; pos++)
        {
            max = Math.Max(max, Assertions.MaxDiff(session.Forward(tokens.AsSpan(pos, 1)), full.Data.AsSpan(pos * 60, 60)));
        }

        Assert.True(max < 1e-5, $"max |decode − full| = {max:E3}");
    }

    [Fact]
    public void Missing_or_misshapen_tensors_are_named()
    {
        Gpt2Config config = Gpt2Config.Load(Path.Combine(Folder, "config.json"));
        var tensors = new Dictionary<string, Tensor>(Safetensors.Read(Path.Combine(Folder, "model.safetensors")));
        tensors.Remove("h.1.mlp.c_fc.bias");
        HeedAssert.Fails(() => Gpt2Model.FromTensors(config, tensors, "m.safetensors"), "m.safetensors", "h.1.mlp.c_fc.bias is missing");
        tensors = new Dictionary<string, Tensor>(Safetensors.Read(Path.Combine(Folder, "model.safetensors")));
        tensors["h.0.attn.c_attn.weight"] = Tensor.Zeros(DType.Float32, [72, 24]); // [out, in]: the wrong way round for Conv1D
        HeedAssert.Fails(() => Gpt2Model.FromTensors(config, tensors), "h.0.attn.c_attn.weight has shape [72, 24]; expected [24, 72]");
    }

    [Theory]
    [InlineData("{\"n_embd\": 24, \"n_head\": 5, \"n_layer\": 2, \"n_positions\": 16, \"vocab_size\": 60}", "n_embd 24 is not a multiple of n_head 5")]
    [InlineData("{\"n_embd\": 24, \"n_head\": 3, \"n_positions\": 16, \"vocab_size\": 60}", "field n_layer is missing")]
    [InlineData("{\"n_embd\": 24, \"n_head\": 3, \"n_layer\": -2, \"n_positions\": 16, \"vocab_size\": 60}", "n_layer is -2")]
    [InlineData("{\"n_embd\": 24, \"n_head\": 3, \"n_layer\": 2, \"n_positions\": 16, \"vocab_size\": 60, \"activation_function\": \"relu\"}", "activation_function \"relu\"")]
    [InlineData("[1, 2]", "not a JSON object")]
    [InlineData("{", "cannot read a GPT-2 config")]
    public void Bad_configs_are_named(string json, string fragment)
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("config.json"), json);
        HeedAssert.Fails(() => Gpt2Config.Load(folder.File("config.json")), fragment);
    }
}

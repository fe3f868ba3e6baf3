using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Heed.Models.Generation;
using Heed.Models.Gpt2;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch.nn.functional;
using TorchTensor = TorchSharp.torch.Tensor;

namespace Heed.Models.TorchTests;

/// <summary>
/// GPT-2 parity: a small randomly initialised GPT-2 is made in libtorch (through TorchSharp), written to
/// model.safetensors + config.json in Hugging Face's layout (Conv1D weights [in, out]), loaded by
/// <see cref="Gpt2Model.Load"/>, and its logits compared with libtorch's forward pass of the same weights.
/// </summary>
public sealed class Gpt2TorchParityTests : IDisposable
{
    private readonly TempFolder _dir = new("heed-torch-");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("gelu_new", true, "", 48, 4, 3, 97, 24, 20, 1)]
    [InlineData("gelu", false, "transformer.", 32, 2, 2, 61, 16, 16, 2)]
    [InlineData("gelu_pytorch_tanh", true, "", 64, 8, 2, 130, 40, 33, 3)]
    public void Logits_match_libtorch_for_the_whole_sequence_and_for_kv_cache_decoding(
        string activation, bool tied, string prefix, int width, int heads, int layers, int vocab, int context, int length, int seed)
    {
        // GPT2LMHeadModel saves "transformer."-prefixed names beside an unprefixed lm_head.weight; GPT2Model saves bare names.
        torch.manual_seed(seed);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        Dictionary<string, TorchTensor> weights = RandomGpt2(width, layers, vocab, context, tied);
        WriteSafetensors(_dir.File("model.safetensors"), weights.ToDictionary(p => p.Key == "lm_head.weight" ? p.Key : prefix + p.Key, p => p.Value));
        File.WriteAllText(_dir.File("config.json"), string.Create(
            CultureInfo.InvariantCulture,
            $$"""{"model_type": "gpt2", "n_embd": {{width}}, "n_head": {{heads}}, "n_layer": {{layers}}, "n_positions": {{context}}, "vocab_size": {{vocab}}, "layer_norm_epsilon": 1e-05, "activation_function": "{{activation}}"}"""));

        long[] ids = [.. torch.randint(vocab, [length], dtype: torch.int64).data<long>()];
        float[] expected = TorchForward(weights, ids, heads, layers, activation).data<float>().ToArray(); // [T, V]

        Gpt2Model model = Gpt2Model.Load(_dir.Path);
        int[] tokens = [.. ids.Select(i => (int)i)];
        float[] whole = model.Forward(tokens).Logits.Data;
        Assert.Equal(expected.Length, whole.Length);
        double batched = MaxDiff(whole, expected);

        // Prefill a third, then one token per step through the KV cache.
        DecoderSession session = model.CreateSession(length);
        int prefill = length / 3;
        double decoded = MaxDiff(session.Forward(tokens.AsSpan(0, prefill)), expected.AsSpan((prefill - 1) * vocab, vocab));
        for (int t = prefill; t < length; t++)
        {
            decoded = Math.Max(decoded, MaxDiff(session.Forward(tokens.AsSpan(t, 1)), expected.AsSpan(t * vocab, vocab)));
        }

        double scale = expected.Max(Math.Abs);
        Assert.True(scale > 0.5, $"the random model's logits are too small to tell anything apart (max |logit| {scale:F3})");
        Assert.True(batched < 1e-4 && decoded < 1e-4, $"max |Heed − libtorch|: batched {batched:E3}, decoded {decoded:E3} (logits up to {scale:F2})");
    }

    // GPT-2's tensors with Hugging Face's names; Conv1D weights are [in, out] as GPT2Model stores them.
    private static Dictionary<string, TorchTensor> RandomGpt2(int width, int layers, int vocab, int context, bool tied)
    {
        TorchTensor Normal(double std, params long[] shape) => torch.randn(shape, dtype: torch.float32) * std;
        TorchTensor Around1(int size) => 1 + Normal(0.1, size);
        var w = new Dictionary<string, TorchTensor>
        {
            ["wte.weight"] = Normal(0.5, vocab, width),
            ["wpe.weight"] = Normal(0.2, context, width),
            ["ln_f.weight"] = Around1(width),
            ["ln_f.bias"] = Normal(0.1, width),
        };
        for (int l = 0; l < layers; l++)
        {
            string h = $"h.{l}.";
            w[h + "ln_1.weight"] = Around1(width);
            w[h + "ln_1.bias"] = Normal(0.1, width);
            w[h + "attn.c_attn.weight"] = Normal(0.3, width, 3 * width);
            w[h + "attn.c_attn.bias"] = Normal(0.1, 3 * width);
            w[h + "attn.c_proj.weight"] = Normal(0.2, width, width);
            w[h + "attn.c_proj.bias"] = Normal(0.1, width);
            w[h + "ln_2.weight"] = Around1(width);
            w[h + "ln_2.bias"] = Normal(0.1, width);
            w[h + "mlp.c_fc.weight"] = Normal(0.2, width, 4 * width);
            w[h + "mlp.c_fc.bias"] = Normal(0.1, 4 * width);
            w[h + "mlp.c_proj.weight"] = Normal(0.1, 4 * width, width);
            w[h + "mlp.c_proj.bias"] = Normal(0.1, width);
        }

        if (!tied)
        {
            w["lm_head.weight"] = Normal(0.5, vocab, width); // nn.Linear: [out, in]
        }

        return w;
    }

    // Hugging Face's GPT2LMHeadModel forward in libtorch: [T] ids → [T, V] logits.
    private static TorchTensor TorchForward(Dictionary<string, TorchTensor> w, long[] ids, int heads, int layers, string activation)
    {
        int length = ids.Length;
        long width = w["wte.weight"].shape[1];
        long headSize = width / heads;
        TorchTensor Conv1D(TorchTensor input, string name) => input.matmul(w[name + ".weight"]) + w[name + ".bias"]; // x·W + b, W [in, out]
        TorchTensor x = w["wte.weight"].index_select(0, torch.tensor(ids)) + w["wpe.weight"][..length];
        for (int l = 0; l < layers; l++)
        {
            string h = $"h.{l}.";
            TorchTensor a = layer_norm(x, [width], w[h + "ln_1.weight"], w[h + "ln_1.bias"], 1e-5);
            TorchTensor qkv = Conv1D(a, h + "attn.c_attn");
            TorchTensor[] parts = qkv.split(width, dim: 1);
            TorchTensor Heads(TorchTensor t) => t.view(length, heads, headSize).transpose(0, 1); // [T, C] → [H, T, D]
            TorchTensor y = scaled_dot_product_attention(Heads(parts[0]), Heads(parts[1]), Heads(parts[2]), null, 0.0, true);
            y = y.transpose(0, 1).reshape(length, width);
            x = x + Conv1D(y, h + "attn.c_proj");

            TorchTensor m = layer_norm(x, [width], w[h + "ln_2.weight"], w[h + "ln_2.bias"], 1e-5);
            TorchTensor fc = Conv1D(m, h + "mlp.c_fc");
            fc = activation == "gelu" ? gelu(fc) : gelu(fc, GELU.Approximate.tanh);
            x = x + Conv1D(fc, h + "mlp.c_proj");
        }

        TorchTensor final = layer_norm(x, [width], w["ln_f.weight"], w["ln_f.bias"], 1e-5);
        TorchTensor head = w.TryGetValue("lm_head.weight", out TorchTensor? lm) ? lm : w["wte.weight"];
        return final.matmul(head.t()).contiguous();
    }

    // The safetensors layout written by hand: u64 header size, JSON header (dtype, shape, data_offsets), raw data.
    private static void WriteSafetensors(string path, Dictionary<string, TorchTensor> tensors)
    {
        var header = new StringBuilder("{");
        var blobs = new List<byte[]>();
        long offset = 0;
        foreach ((string name, TorchTensor tensor) in tensors.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            float[] values = tensor.contiguous().data<float>().ToArray();
            var bytes = new byte[values.Length * sizeof(float)];
            for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
            blobs.Add(bytes);
            string shape = string.Join(", ", tensor.shape);
            header.Append(CultureInfo.InvariantCulture, $"{(header.Length > 1 ? ", " : "")}\"{name}\": {{\"dtype\": \"F32\", \"shape\": [{shape}], \"data_offsets\": [{offset}, {offset + bytes.Length}]}}");
            offset += bytes.Length;
        }

        header.Append('}');
        while ((header.Length + 8) % 8 != 0) header.Append(' ');
        byte[] json = Encoding.UTF8.GetBytes(header.ToString());
        using FileStream file = File.Create(path);
        var size = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(size, (ulong)json.Length);
        file.Write(size);
        file.Write(json);
        foreach (byte[] blob in blobs) file.Write(blob);
    }

    private static double MaxDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(b.Length, a.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - (double)b[i]));
        return max;
    }
}

using Heed.Kernels;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;

namespace Heed.Bench;

/// <summary>One attention implementation prepared on fixed inputs; <see cref="Run"/> computes Y once.</summary>
internal interface IContender : IDisposable
{
    string Name { get; }

    void Run();

    /// <summary>Y as floats in [B, H, T, Dv] order (to check that every contender computes the same thing).</summary>
    float[] Output();
}

/// <summary>The shared inputs: Heed's Q [B, H, T, D], K and V [B, Hkv, S, D|Dv] as float32 arrays.</summary>
internal sealed class BenchInputs
{
    public BenchInputs(AttentionBenchmarkSize size)
    {
        Size = size;
        Inputs = (size with { Causal = false }).CreateInputs();
        Q = ((Tensor<float>)Inputs.Query).Data;
        K = ((Tensor<float>)Inputs.Key).Data;
        V = ((Tensor<float>)Inputs.Value).Data;
    }

    public AttentionBenchmarkSize Size { get; }

    /// <summary>No past cache: a causal mask is aligned top-left (T = S in the prefill benchmarks).</summary>
    public AttentionInputs Inputs { get; }

    public float[] Q { get; }

    public float[] K { get; }

    public float[] V { get; }

    /// <summary>[B, heads, len, size] → [B, len, heads·size].</summary>
    public static float[] ToPacked(float[] data, int batch, int heads, int length, int size)
    {
        var packed = new float[data.Length];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < length; i++)
                {
                    Array.Copy(data, (((b * heads) + h) * length + i) * size, packed, (((b * length) + i) * heads + h) * size, size);
                }
            }
        }

        return packed;
    }
}

internal sealed class HeedContender : IContender
{
    private readonly AttentionInputs _inputs;
    private readonly AttentionOptions _options;
    private readonly AttentionKernel? _kernel;
    private readonly bool _reuseOutput;
    private AttentionResult? _last;

    /// <summary>Heed on <paramref name="threads"/> threads; <paramref name="kernel"/> forces a kernel; with <paramref name="reuseOutput"/> Y goes into one tensor kept across calls (<see cref="AttentionInputs.Destination"/>), as an inference loop would, else into a new one per call.</summary>
    public HeedContender(BenchInputs inputs, int threads, AttentionKernel? kernel = null, bool reuseOutput = false)
    {
        _options = new() { IsCausal = inputs.Size.Causal, MaxThreads = threads, UseReference = kernel == AttentionKernel.Reference };
        _kernel = kernel;
        _reuseOutput = reuseOutput;
        _inputs = inputs.Inputs;
        if (reuseOutput)
        {
            Tensor shape = AttentionKernels.Compute(inputs.Inputs, _options, kernel, null).Output;
            _inputs = inputs.Inputs with { Destination = Tensor.Zeros(shape.DType, shape.Shape) };
        }
    }

    public string Name => _kernel == AttentionKernel.Reference ? "Heed reference" : _reuseOutput ? "Heed, Y reused" : "Heed";

    public void Run() => _last = AttentionKernels.Compute(_inputs, _options, _kernel, null);

    public float[] Output()
    {
        Run();
        return ((Tensor<float>)_last!.Output).Data.ToArray();
    }

    public void Dispose()
    {
    }
}

/// <summary>libtorch's scaled_dot_product_attention through TorchSharp-cpu. GQA: K and V are repeated to H heads before timing.</summary>
internal sealed class TorchContender : IContender
{
    private readonly torch.Tensor _q, _k, _v;
    private readonly bool _causal;

    public TorchContender(BenchInputs inputs, int threads)
    {
        AttentionBenchmarkSize s = inputs.Size;
        torch.set_num_threads(threads);
        _causal = s.Causal;
        _q = torch.tensor(inputs.Q, [s.Batch, s.Heads, s.QueryLength, s.HeadSize]);
        using torch.Tensor k = torch.tensor(inputs.K, [s.Batch, s.KvHeads, s.KvLength, s.HeadSize]);
        using torch.Tensor v = torch.tensor(inputs.V, [s.Batch, s.KvHeads, s.KvLength, s.ValueHeadSize]);
        int group = s.Heads / s.KvHeads;
        _k = group == 1 ? k.clone() : k.repeat_interleave(group, 1).contiguous();
        _v = group == 1 ? v.clone() : v.repeat_interleave(group, 1).contiguous();
    }

    public string Name => "libtorch SDPA";

    public void Run()
    {
        using torch.Tensor y = torch.nn.functional.scaled_dot_product_attention(_q, _k, _v, is_casual: _causal);
    }

    public float[] Output()
    {
        using torch.Tensor y = torch.nn.functional.scaled_dot_product_attention(_q, _k, _v, is_casual: _causal);
        return y.contiguous().data<float>().ToArray();
    }

    public void Dispose()
    {
        _q.Dispose();
        _k.Dispose();
        _v.Dispose();
    }
}

/// <summary>ONNX Runtime on a model the benchmark writes itself: the opset-23 Attention operator or the com.microsoft MultiHeadAttention contrib operator.</summary>
internal sealed class OnnxContender : IContender
{
    private readonly InferenceSession _session;
    private readonly SessionOptions _sessionOptions;
    private readonly RunOptions _runOptions = new();
    private readonly OrtValue[] _inputs;
    private readonly string[] _inputNames, _outputNames;
    private readonly bool _packed;
    private readonly AttentionBenchmarkSize _size;

    public OnnxContender(BenchInputs inputs, int threads, bool multiHead)
    {
        AttentionBenchmarkSize s = _size = inputs.Size;
        _packed = multiHead;
        _sessionOptions = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        _sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "1");
        byte[] model = multiHead
            ? OnnxModels.MultiHeadAttention(s.Batch, s.Heads, s.QueryLength, s.KvLength, s.HeadSize, s.ValueHeadSize, s.Causal)
            : OnnxModels.Attention(s.Batch, s.Heads, s.KvHeads, s.QueryLength, s.KvLength, s.HeadSize, s.ValueHeadSize, s.Causal);
        _session = new InferenceSession(model, _sessionOptions);
        if (multiHead)
        {
            if (s.KvHeads != s.Heads)
            {
                throw new NotSupportedException("MultiHeadAttention takes as many key/value heads as query heads");
            }

            _inputNames = ["query", "key", "value"];
            _outputNames = ["output"];
            _inputs =
            [
                OrtValue.CreateTensorValueFromMemory(BenchInputs.ToPacked(inputs.Q, s.Batch, s.Heads, s.QueryLength, s.HeadSize), [s.Batch, s.QueryLength, s.Heads * s.HeadSize]),
                OrtValue.CreateTensorValueFromMemory(BenchInputs.ToPacked(inputs.K, s.Batch, s.KvHeads, s.KvLength, s.HeadSize), [s.Batch, s.KvLength, s.KvHeads * s.HeadSize]),
                OrtValue.CreateTensorValueFromMemory(BenchInputs.ToPacked(inputs.V, s.Batch, s.KvHeads, s.KvLength, s.ValueHeadSize), [s.Batch, s.KvLength, s.KvHeads * s.ValueHeadSize]),
            ];
        }
        else
        {
            _inputNames = ["Q", "K", "V"];
            _outputNames = ["Y"];
            _inputs =
            [
                OrtValue.CreateTensorValueFromMemory(inputs.Q, [s.Batch, s.Heads, s.QueryLength, s.HeadSize]),
                OrtValue.CreateTensorValueFromMemory(inputs.K, [s.Batch, s.KvHeads, s.KvLength, s.HeadSize]),
                OrtValue.CreateTensorValueFromMemory(inputs.V, [s.Batch, s.KvHeads, s.KvLength, s.ValueHeadSize]),
            ];
        }
    }

    public string Name => _packed ? "ORT MultiHeadAttention" : "ORT Attention-23";

    public void Run()
    {
        using IDisposableReadOnlyCollection<OrtValue> outputs = _session.Run(_runOptions, _inputNames, _inputs, _outputNames);
    }

    public float[] Output()
    {
        using IDisposableReadOnlyCollection<OrtValue> outputs = _session.Run(_runOptions, _inputNames, _inputs, _outputNames);
        float[] y = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        if (!_packed)
        {
            return y;
        }

        // [B, T, H·Dv] → [B, H, T, Dv]
        AttentionBenchmarkSize s = _size;
        var result = new float[y.Length];
        for (int b = 0; b < s.Batch; b++)
        {
            for (int i = 0; i < s.QueryLength; i++)
            {
                for (int h = 0; h < s.Heads; h++)
                {
                    Array.Copy(y, (((b * s.QueryLength) + i) * s.Heads + h) * s.ValueHeadSize, result, (((b * s.Heads) + h) * s.QueryLength + i) * s.ValueHeadSize, s.ValueHeadSize);
                }
            }
        }

        return result;
    }

    public void Dispose()
    {
        foreach (OrtValue value in _inputs) value.Dispose();
        _session.Dispose();
        _sessionOptions.Dispose();
        _runOptions.Dispose();
    }
}

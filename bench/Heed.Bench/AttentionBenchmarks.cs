using BenchmarkDotNet.Attributes;
using Heed.Kernels;

namespace Heed.Bench;

/// <summary>
/// Prefill: B = 1, H = 8, D = 64, T = S, float32, causal and not, on 1 and 2 threads: Heed against libtorch SDPA and ONNX Runtime
/// (Attention-23 and MultiHeadAttention), all on the same inputs and thread count.
/// </summary>
[MemoryDiagnoser]
public class PrefillBenchmarks
{
    private HeedContender _heed = null!;
    private TorchContender _torch = null!;
    private OnnxContender _ortAttention = null!, _ortMultiHead = null!;

    [Params(128, 512, 2048, 4096)]
    public int Length { get; set; }

    [Params(false, true)]
    public bool Causal { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var inputs = new BenchInputs(new AttentionBenchmarkSize(1, 8, 8, Length, Length, 64, 64, Causal, DType.Float32));
        _heed = new HeedContender(inputs, Threads);
        _torch = new TorchContender(inputs, Threads);
        _ortAttention = new OnnxContender(inputs, Threads, multiHead: false);
        _ortMultiHead = new OnnxContender(inputs, Threads, multiHead: true);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _heed.Dispose();
        _torch.Dispose();
        _ortAttention.Dispose();
        _ortMultiHead.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void Heed() => _heed.Run();

    [Benchmark]
    public void LibtorchSdpa() => _torch.Run();

    [Benchmark]
    public void OrtAttention23() => _ortAttention.Run();

    [Benchmark]
    public void OrtMultiHeadAttention() => _ortMultiHead.Run();
}

/// <summary>Decode: T = 1, GQA 8/2 heads, D = 64, S from 4096 to 65536: memory-bound, so compared on bytes of K and V read per second.</summary>
[MemoryDiagnoser]
public class DecodeBenchmarks
{
    private HeedContender _heed = null!;
    private TorchContender _torch = null!;
    private OnnxContender _ortAttention = null!;

    [Params(4096, 16384, 65536)]
    public int KvLength { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var inputs = new BenchInputs(new AttentionBenchmarkSize(1, 8, 2, 1, KvLength, 64, 64, false, DType.Float32));
        _heed = new HeedContender(inputs, Threads);
        _torch = new TorchContender(inputs, Threads);
        _ortAttention = new OnnxContender(inputs, Threads, multiHead: false);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _heed.Dispose();
        _torch.Dispose();
        _ortAttention.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void Heed() => _heed.Run();

    [Benchmark]
    public void LibtorchSdpa() => _torch.Run();

    [Benchmark]
    public void OrtAttention23() => _ortAttention.Run();
}

/// <summary>Heed's kernels against its own float64 reference, at sizes the reference finishes quickly.</summary>
[MemoryDiagnoser]
public class ReferenceBenchmarks
{
    private HeedContender _heed = null!, _reference = null!;

    [Params(128, 512)]
    public int Length { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var inputs = new BenchInputs(new AttentionBenchmarkSize(1, 8, 8, Length, Length, 64, 64, false, DType.Float32));
        _heed = new HeedContender(inputs, 1);
        _reference = new HeedContender(inputs, 1, AttentionKernel.Reference);
    }

    [Benchmark(Baseline = true)]
    public void Heed() => _heed.Run();

    [Benchmark]
    public void Reference() => _reference.Run();
}

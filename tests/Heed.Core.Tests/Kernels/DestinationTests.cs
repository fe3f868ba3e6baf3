using Heed.Kernels;

namespace Heed.Core.Tests.Kernels;

/// <summary>AttentionInputs.Destination: Y written into the caller's tensor, on every kernel, with the same values as a new one.</summary>
public class DestinationTests
{
    public static TheoryData<AttentionKernel> Kernels => [AttentionKernel.Flash, AttentionKernel.Decode, AttentionKernel.Materialized, AttentionKernel.Reference];

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Y_goes_into_the_destination_with_the_values_of_a_new_tensor_and_nothing_stale_survives(AttentionKernel kernel)
    {
        // Decode takes at most 4 query rows; a window and causality close some keys, and nonpad_kv_seqlen 0 closes every row of
        // batch 1 (its Y must come out as zeros).
        var c = kernel == AttentionKernel.Decode
            ? new KernelCase("destination_decode", 2, 8, 2, 1, 300, 16, 24, Causal: true, Left: 100, Nonpad: [300, 0])
            : new KernelCase("destination", 2, 4, 2, 37, 50, 16, 24, Causal: true, Left: 20, Nonpad: [50, 0], QkMode: kernel == AttentionKernel.Materialized ? QkMatmulOutputMode.Probabilities : null);
        AttentionInputs inputs = c.Inputs();
        AttentionResult fresh = AttentionKernels.Compute(inputs, c.Options(), kernel, null);

        // A destination full of NaN: every element must be overwritten (closed rows included).
        var into = (Tensor<float>)Tensor.Zeros(DType.Float32, fresh.Output.Shape);
        Array.Fill(into.Data, float.NaN);
        AttentionResult written = AttentionKernels.Compute(inputs with { Destination = into }, c.Options(), kernel, null);
        Assert.Same(into, written.Output);
        Assert.Equal(((Tensor<float>)fresh.Output).Data, into.Data);

        // Reused for other inputs: the second call's values, nothing left of the first.
        AttentionInputs other = c.Inputs(seed: 9);
        float[] expected = ((Tensor<float>)AttentionKernels.Compute(other, c.Options(), kernel, null).Output).Data;
        AttentionKernels.Compute(other with { Destination = into }, c.Options(), kernel, null);
        Assert.Equal(expected, into.Data);
    }

    [Fact]
    public void A_call_with_a_destination_allocates_no_output()
    {
        // One thread: the whole call runs on this thread, so its allocation counter sees all of it.
        var c = new KernelCase("destination_alloc", 1, 8, 8, 128, 128, 64, 64);
        AttentionInputs inputs = c.Inputs();
        AttentionOptions options = c.Options(threads: 1);
        Tensor y = AttentionKernels.Compute(inputs, options, AttentionKernel.Flash, null).Output; // warms the workspace too
        AttentionInputs into = inputs with { Destination = Tensor.Zeros(DType.Float32, y.Shape) };
        AttentionKernels.Compute(into, options, AttentionKernel.Flash, null);

        long before = GC.GetAllocatedBytesForCurrentThread();
        AttentionKernels.Compute(into, options, AttentionKernel.Flash, null);
        long withDestination = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        AttentionKernels.Compute(inputs, options, AttentionKernel.Flash, null);
        long withNew = GC.GetAllocatedBytesForCurrentThread() - before;

        long output = 8L * 128 * 64 * sizeof(float);
        Assert.True(withDestination < output / 8, $"with a destination a call allocated {withDestination} bytes (Y is {output})");
        Assert.True(withNew >= output, $"without one a call allocated {withNew} bytes, less than Y's {output}");
    }

    [Fact]
    public void The_public_entry_point_fills_a_packed_destination()
    {
        var c = new KernelCase("destination_packed", 1, 4, 4, 9, 9, 8, 8, Packed: true);
        AttentionInputs inputs = c.Inputs();
        Tensor expected = Heed.Attention.Compute(inputs, c.Options()).Output;
        Tensor into = Tensor.Zeros(DType.Float32, expected.Shape);
        Assert.Same(into, Heed.Attention.Compute(inputs with { Destination = into }, c.Options()).Output);
        Assert.Equal(((Tensor<float>)expected).Data, ((Tensor<float>)into).Data);
    }

    [Fact]
    public void A_destination_of_the_wrong_shape_or_type_or_sharing_an_input_is_refused_with_one_line()
    {
        var c = new KernelCase("destination_bad", 1, 2, 2, 5, 7, 8, 8);
        AttentionInputs inputs = c.Inputs();

        var shape = Assert.Throws<HeedException>(() => Heed.Attention.Compute(inputs with { Destination = Tensor.Zeros(DType.Float32, [1, 2, 5, 7]) }, c.Options()));
        Assert.Equal("destination: expected [1, 2, 5, 8] of float32 (Y for these inputs), got [1, 2, 5, 7] of float32", shape.Message);

        var type = Assert.Throws<HeedException>(() => Heed.Attention.Compute(inputs with { Destination = Tensor.Zeros(DType.Float16, [1, 2, 5, 8]) }, c.Options()));
        Assert.Contains("got [1, 2, 5, 8] of float16", type.Message, StringComparison.Ordinal);

        // Q has Y's shape here (D = Dv, T rows): writing Y over Q while reading it would corrupt the call.
        var shared = Assert.Throws<HeedException>(() => Heed.Attention.Compute(inputs with { Destination = inputs.Query }, c.Options()));
        Assert.Equal("destination: shares its storage with Q; Y must be written to a tensor of its own", shared.Message);
        var view = Assert.Throws<HeedException>(() => Heed.Attention.Compute(inputs with { Destination = inputs.Query.Reshape(1, 2, 5, 8) }, c.Options()));
        Assert.Contains("shares its storage with Q", view.Message, StringComparison.Ordinal);
    }
}

using System.Numerics;

namespace Heed.Models.Training;

/// <summary>
/// One learned tensor with its gradient. <see cref="Name"/> is the Hugging Face GPT-2 name (<c>h.0.attn.c_attn.weight</c>);
/// <see cref="Shape"/> is the layout held in memory, [out, in] for matrices; a GPT-2 Conv1D weight is saved transposed, [in, out].
/// </summary>
/// <typeparam name="T">float to train, double to check gradients.</typeparam>
public sealed class Parameter<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a zero parameter of the given shape.</summary>
    public Parameter(string name, int[] shape, bool conv1D, bool decay)
    {
        ArgumentNullException.ThrowIfNull(shape);
        Name = name;
        Shape = shape;
        IsConv1D = conv1D;
        Decay = decay;
        int length = shape.Aggregate(1, (a, b) => a * b);
        Value = new T[length];
        Grad = new T[length];
    }

    /// <summary>The checkpoint name (GPT-2's, without a "transformer." prefix).</summary>
    public string Name { get; }

    /// <summary>The shape in memory: [out, in] for a matrix, [C] for a vector, [V, C] for an embedding.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>Whether the checkpoint stores it as a GPT-2 Conv1D weight, [in, out] (the transpose of <see cref="Shape"/>).</summary>
    public bool IsConv1D { get; }

    /// <summary>Whether AdamW's weight decay applies: matrices and embeddings yes, biases and norm gains no (as nanoGPT).</summary>
    public bool Decay { get; }

    /// <summary>The values, row-major in <see cref="Shape"/>.</summary>
    public T[] Value { get; }

    /// <summary>∂loss/∂value, same layout; the model's backward pass accumulates into it.</summary>
    public T[] Grad { get; }

    /// <summary>The checkpoint's shape: <see cref="Shape"/>, reversed for a Conv1D weight.</summary>
    public int[] FileShape => IsConv1D ? [Shape[1], Shape[0]] : [.. Shape];
}

namespace Heed.Masks;

/// <summary>
/// An attention mask read as an additive bias over [B, H, T, S] with right-aligned broadcasting:
/// boolean true → 0, false → −∞; float values are added as they are. Columns past a short last axis read −∞.
/// </summary>
internal sealed class MaskBias
{
    private readonly double[] _data;
    private readonly bool _isBool;
    private readonly int[] _shape = [1, 1, 1, 1]; // the mask's shape right-aligned to (B, H, T, S')

    /// <summary>Wraps a mask whose shape has already been checked against the target.</summary>
    public MaskBias(Tensor mask)
    {
        for (int i = 0; i < mask.Rank; i++)
        {
            _shape[4 - mask.Rank + i] = mask.Dim(i);
        }

        _data = mask.ToDoubleArray();
        _isBool = mask.DType == DType.Bool;
    }

    /// <summary>The number of columns the mask holds (S' ≤ S).</summary>
    public int Columns => _shape[3];

    /// <summary>The bias at (b, h, i, j).</summary>
    public double At(int b, int h, int i, int j)
    {
        if (j >= _shape[3])
        {
            return double.NegativeInfinity; // a short mask: the missing trailing columns are masked
        }

        int index = ((((Pick(b, 0) * _shape[1]) + Pick(h, 1)) * _shape[2] + Pick(i, 2)) * _shape[3]) + Pick(j, 3);
        double value = _data[index];
        return _isBool ? (value != 0 ? 0 : double.NegativeInfinity) : value;
    }

    private int Pick(int index, int axis) => _shape[axis] == 1 ? 0 : index;
}

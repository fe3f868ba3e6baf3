using Heed.Masks;

namespace Heed;

/// <summary>Which attention weights <see cref="MultiHeadAttention.Forward"/> returns.</summary>
public enum AttentionWeightsMode
{
    /// <summary>No weights (the cheapest).</summary>
    None,

    /// <summary>One [T, S] matrix per head: [B, H, T, S].</summary>
    PerHead,

    /// <summary>The mean over heads: [B, T, S].</summary>
    Averaged,
}

/// <summary>The output of <see cref="MultiHeadAttention.Forward"/>.</summary>
/// <param name="Output">[B, T, Cout] (or [T, Cout] for unbatched input), in the query's element type.</param>
/// <param name="Weights">[B, H, T, S] or [B, T, S] (without B for unbatched input) as float64, when requested.</param>
public sealed record MultiHeadAttentionResult(Tensor Output, Tensor? Weights);

/// <summary>
/// A multi-head attention layer: input projections with optional biases, H heads of scaled dot-product attention,
/// an optional output projection and an optional residual connection.
/// <code>
/// Q = x·W_q + b_q   (B, T, C) · (C, H·D)       → (B, T, H·D)
/// K = m·W_k + b_k   (B, S, Ckv) · (Ckv, Hkv·D) → (B, S, Hkv·D)
/// V = m·W_v + b_v   (B, S, Ckv) · (Ckv, Hkv·Dv) → (B, S, Hkv·Dv)
/// A = attention(Q, K, V) per head               → (B, T, H·Dv)
/// y = A·W_o + b_o (+ x when residual)           → (B, T, Cout)
/// </code>
/// Weights are stored [in, out] and applied as x·W, as in the seed code; PyTorch stores [out, in]
/// (use <see cref="FromPyTorch"/>). Arithmetic is float64 throughout; the output has the query's type.
/// </summary>
public sealed class MultiHeadAttention
{
    private readonly Projection _query;
    private readonly Projection _key;
    private readonly Projection _value;
    private readonly Projection? _output;

    /// <summary>Creates the layer from its weights.</summary>
    /// <param name="queryWeight">W_q [C, H·D].</param>
    /// <param name="keyWeight">W_k [Ckv, Hkv·D].</param>
    /// <param name="valueWeight">W_v [Ckv, Hkv·Dv].</param>
    /// <param name="numHeads">H.</param>
    /// <param name="kvNumHeads">Hkv (grouped-query attention); null = H.</param>
    /// <param name="outputWeight">W_o [H·Dv, Cout]; null = no output projection (Cout = H·Dv).</param>
    /// <param name="queryBias">b_q [H·D] or null.</param>
    /// <param name="keyBias">b_k [Hkv·D] or null.</param>
    /// <param name="valueBias">b_v [Hkv·Dv] or null.</param>
    /// <param name="outputBias">b_o [Cout] or null.</param>
    /// <param name="residual">Adds the query input to the output (needs Cout = C).</param>
    /// <exception cref="HeedException">A weight's shape does not fit the others.</exception>
    public MultiHeadAttention(
        Tensor queryWeight,
        Tensor keyWeight,
        Tensor valueWeight,
        int numHeads,
        int? kvNumHeads = null,
        Tensor? outputWeight = null,
        Tensor? queryBias = null,
        Tensor? keyBias = null,
        Tensor? valueBias = null,
        Tensor? outputBias = null,
        bool residual = false)
    {
        if (numHeads <= 0 || kvNumHeads is <= 0)
        {
            throw new HeedException($"numHeads ({numHeads}) and kvNumHeads ({kvNumHeads}) must be positive");
        }

        NumHeads = numHeads;
        KvNumHeads = kvNumHeads ?? numHeads;
        _query = new Projection("W_q", queryWeight, "b_q", queryBias);
        _key = new Projection("W_k", keyWeight, "b_k", keyBias);
        _value = new Projection("W_v", valueWeight, "b_v", valueBias);
        _output = outputWeight is null ? null : new Projection("W_o", outputWeight, "b_o", outputBias);
        if (outputWeight is null && outputBias is not null)
        {
            throw new HeedException("b_o is given without W_o");
        }

        if (_key.In != _value.In)
        {
            throw new HeedException($"W_k takes {_key.In} inputs but W_v takes {_value.In}: both read the same key/value input");
        }

        HeadSize = Divide("W_q", _query.Out, NumHeads, "numHeads");
        int keyHeadSize = Divide("W_k", _key.Out, KvNumHeads, "kvNumHeads");
        ValueHeadSize = Divide("W_v", _value.Out, KvNumHeads, "kvNumHeads");
        if (keyHeadSize != HeadSize)
        {
            throw new HeedException($"W_k gives head size {keyHeadSize} but W_q gives {HeadSize}: query and key heads must have the same size");
        }

        if (NumHeads % KvNumHeads != 0)
        {
            throw new HeedException($"kvNumHeads {KvNumHeads} does not divide numHeads {NumHeads}: query heads must be a multiple of key/value heads");
        }

        if (_output is not null && _output.In != NumHeads * ValueHeadSize)
        {
            throw new HeedException($"W_o takes {_output.In} inputs; expected H·Dv = {NumHeads}·{ValueHeadSize} = {NumHeads * ValueHeadSize}");
        }

        Residual = residual;
        if (residual && OutputWidth != InputWidth)
        {
            throw new HeedException($"the residual connection adds the {InputWidth}-wide input to a {OutputWidth}-wide output: they must match");
        }
    }

    /// <summary>H, the number of query heads.</summary>
    public int NumHeads { get; }

    /// <summary>Hkv, the number of key/value heads.</summary>
    public int KvNumHeads { get; }

    /// <summary>D, the query/key head size.</summary>
    public int HeadSize { get; }

    /// <summary>Dv, the value head size.</summary>
    public int ValueHeadSize { get; }

    /// <summary>C, the width of the query input.</summary>
    public int InputWidth => _query.In;

    /// <summary>Cout, the width of the output.</summary>
    public int OutputWidth => _output?.Out ?? (NumHeads * ValueHeadSize);

    /// <summary>Whether the input is added to the output.</summary>
    public bool Residual { get; }

    /// <summary>
    /// Builds the layer from PyTorch's <c>nn.MultiheadAttention</c> state: <c>in_proj_weight</c> [3C, C] (rows W_q; W_k; W_v, each [out, in]),
    /// <c>in_proj_bias</c> [3C], <c>out_proj.weight</c> [C, C] and <c>out_proj.bias</c> [C].
    /// </summary>
    public static MultiHeadAttention FromPyTorch(Tensor inProjWeight, Tensor? inProjBias, Tensor outProjWeight, Tensor? outProjBias, int numHeads)
    {
        ArgumentNullException.ThrowIfNull(inProjWeight);
        ArgumentNullException.ThrowIfNull(outProjWeight);
        if (inProjWeight.Rank != 2 || inProjWeight.Dim(0) != 3 * inProjWeight.Dim(1))
        {
            throw new HeedException($"in_proj_weight {inProjWeight.ShapeText} must be [3C, C]");
        }

        int width = inProjWeight.Dim(1);
        double[] w = inProjWeight.ToDoubleArray();
        double[]? b = inProjBias?.ToDoubleArray();
        if (b is not null && b.Length != 3 * width)
        {
            throw new HeedException($"in_proj_bias {inProjBias!.ShapeText} must be [{3 * width}]");
        }

        Tensor Slice(int part) => Transposed(w.AsSpan(part * width * width, width * width), width, width);
        Tensor? Bias(int part) => b is null ? null : Tensor.FromDoubles(DType.Float64, [width], b.AsSpan(part * width, width));
        if (outProjWeight.Rank != 2)
        {
            throw new HeedException($"out_proj.weight {outProjWeight.ShapeText} must be [Cout, C]");
        }

        Tensor wo = Transposed(outProjWeight.ToDoubleArray(), outProjWeight.Dim(0), outProjWeight.Dim(1));
        return new MultiHeadAttention(Slice(0), Slice(1), Slice(2), numHeads, null, wo, Bias(0), Bias(1), Bias(2), outProjBias);
    }

    /// <summary>
    /// Runs the layer. query [B, T, C] (or [T, C]); keyValue [B, S, Ckv] (or [S, Ckv]), null = self-attention on the query.
    /// </summary>
    /// <param name="query">x, [B, T, C] or unbatched [T, C].</param>
    /// <param name="keyValue">The memory the keys and values are projected from; null = <paramref name="query"/>.</param>
    /// <param name="keyPaddingMask">bool [B, S] (or [S]): <b>true = padded</b>, i.e. that key is ignored (PyTorch's polarity for this mask).</param>
    /// <param name="attnMask">bool (<b>true = may attend</b>, Heed's and ONNX's polarity, the opposite of PyTorch's nn.MultiheadAttention) or additive float, broadcastable to [B, H, T, S].</param>
    /// <param name="isCausal">Query i attends keys j ≤ i.</param>
    /// <param name="weights">Which attention weights to return.</param>
    /// <param name="cancellation">Stops the attention call between rows (<see cref="AttentionOptions.Cancellation"/>).</param>
    /// <exception cref="HeedException">An input's shape does not fit the layer.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> fired.</exception>
    public MultiHeadAttentionResult Forward(
        Tensor query,
        Tensor? keyValue = null,
        Tensor? keyPaddingMask = null,
        Tensor? attnMask = null,
        bool isCausal = false,
        AttentionWeightsMode weights = AttentionWeightsMode.None,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        keyValue ??= query;
        bool unbatched = query.Rank == 2;
        if (query.Rank is not (2 or 3) || keyValue.Rank != query.Rank)
        {
            throw new HeedException($"query {query.ShapeText} and key/value input {keyValue.ShapeText} must both be [B, len, C] or both [len, C]");
        }

        int batch = unbatched ? 1 : query.Dim(0);
        int queryLength = query.Dim(-2), kvLength = keyValue.Dim(-2);
        if (!unbatched && keyValue.Dim(0) != batch)
        {
            throw new HeedException($"key/value input {keyValue.ShapeText} has batch {keyValue.Dim(0)}; expected {batch} (the query's)");
        }

        RequireWidth("query", query, _query.In, "W_q");
        RequireWidth("key/value input", keyValue, _key.In, "W_k");

        double[] x = query.ToDoubleArray();
        double[] memory = keyValue.ToDoubleArray();
        double[] q = _query.Apply(x, batch * queryLength);       // (B, T, H·D)
        double[] k = _key.Apply(memory, batch * kvLength);       // (B, S, Hkv·D)
        double[] v = _value.Apply(memory, batch * kvLength);     // (B, S, Hkv·Dv)

        Tensor? mask = CombineMasks(keyPaddingMask, attnMask, batch, queryLength, kvLength, unbatched);
        var inputs = new AttentionInputs(
            Tensor.FromDoubles(DType.Float64, [batch, queryLength, NumHeads * HeadSize], q),
            Tensor.FromDoubles(DType.Float64, [batch, kvLength, KvNumHeads * HeadSize], k),
            Tensor.FromDoubles(DType.Float64, [batch, kvLength, KvNumHeads * ValueHeadSize], v))
        {
            AttnMask = mask,
        };
        var options = new AttentionOptions
        {
            QNumHeads = NumHeads,
            KvNumHeads = KvNumHeads,
            IsCausal = isCausal,
            ComputeQkMatmulOutput = weights != AttentionWeightsMode.None,
            QkMatmulOutputMode = QkMatmulOutputMode.Probabilities,
            Cancellation = cancellation,
        };
        AttentionResult attended = Attention.Compute(inputs, options);
        double[] a = attended.Output.ToDoubleArray();            // (B, T, H·Dv)
        double[] y = _output is null ? a : _output.Apply(a, batch * queryLength); // (B, T, Cout)
        if (Residual)
        {
            for (int n = 0; n < y.Length; n++) y[n] += x[n];
        }

        int[] outShape = unbatched ? [queryLength, OutputWidth] : [batch, queryLength, OutputWidth];
        Tensor output = Tensor.FromDoubles(query.DType, outShape, y);
        return new MultiHeadAttentionResult(output, ShapeWeights(attended.QkMatmulOutput, weights, batch, queryLength, kvLength, unbatched));
    }

    private Tensor? ShapeWeights(Tensor? probabilities, AttentionWeightsMode mode, int batch, int queryLength, int kvLength, bool unbatched)
    {
        if (probabilities is null || mode == AttentionWeightsMode.None)
        {
            return null;
        }

        if (mode == AttentionWeightsMode.PerHead)
        {
            return unbatched ? probabilities.Reshape(NumHeads, queryLength, kvLength) : probabilities;
        }

        double[] p = probabilities.ToDoubleArray(); // (B, H, T, S)
        int plane = queryLength * kvLength;
        var mean = new double[batch * plane];       // (B, T, S)
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < NumHeads; h++)
            {
                for (int n = 0; n < plane; n++)
                {
                    mean[(b * plane) + n] += p[((b * NumHeads) + h) * plane + n] / NumHeads;
                }
            }
        }

        int[] shape = unbatched ? [queryLength, kvLength] : [batch, queryLength, kvLength];
        return Tensor.FromDoubles(DType.Float64, shape, mean);
    }

    private Tensor? CombineMasks(Tensor? keyPadding, Tensor? attnMask, int batch, int queryLength, int kvLength, bool unbatched)
    {
        if (keyPadding is null)
        {
            return attnMask;
        }

        int[] expected = unbatched ? [kvLength] : [batch, kvLength];
        if (keyPadding.DType != DType.Bool || !keyPadding.Shape.SequenceEqual(expected))
        {
            throw new HeedException($"keyPaddingMask is {DTypes.Name(keyPadding.DType)} {keyPadding.ShapeText}; expected bool {Tensor.FormatShape(expected)} (true = padded)");
        }

        // (B, H or 1, T, S) additive: −∞ at padded keys, plus the attention mask broadcast over batch.
        bool[] padded = ((Tensor<bool>)keyPadding).Data;
        int maskHeads = attnMask is { Rank: >= 3 } && attnMask.Dim(-3) != 1 ? NumHeads : 1;
        var combined = new double[batch * maskHeads * queryLength * kvLength];
        MaskBias? user = attnMask is null ? null : new MaskBias(CheckMask(attnMask, [batch, NumHeads, queryLength, kvLength]));
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < maskHeads; h++)
            {
                for (int i = 0; i < queryLength; i++)
                {
                    for (int j = 0; j < kvLength; j++)
                    {
                        double bias = padded[(b * kvLength) + j] ? double.NegativeInfinity : 0;
                        bias += user?.At(b, h, i, j) ?? 0;
                        combined[(((b * maskHeads) + h) * queryLength + i) * kvLength + j] = bias;
                    }
                }
            }
        }

        return Tensor.FromDoubles(DType.Float64, [batch, maskHeads, queryLength, kvLength], combined);
    }

    private static Tensor CheckMask(Tensor mask, int[] target)
    {
        if (mask.Rank is < 1 or > 4)
        {
            throw new HeedException($"attnMask {mask.ShapeText} must have rank 1 to 4, broadcastable to {Tensor.FormatShape(target)}");
        }

        for (int i = 0; i < mask.Rank; i++)
        {
            int size = mask.Dim(i);
            int axis = 4 - mask.Rank + i;
            if (size != target[axis] && (size != 1 || axis == 3))
            {
                string allowed = axis == 3 ? $"{target[axis]} (S)" : $"1 or {target[axis]}";
                throw new HeedException($"attnMask {mask.ShapeText} has {size} on axis {i}; expected {allowed} to broadcast to {Tensor.FormatShape(target)}");
            }
        }

        return mask;
    }

    private static void RequireWidth(string name, Tensor t, int width, string weight)
    {
        if (t.Dim(-1) != width)
        {
            throw new HeedException($"{name} {t.ShapeText} has width {t.Dim(-1)} on its last axis; expected {width} (the rows of {weight})");
        }
    }

    private static int Divide(string name, int width, int heads, string what)
    {
        if (width % heads != 0)
        {
            throw new HeedException($"{name} has {width} output columns, not divisible by {what} {heads}");
        }

        return width / heads;
    }

    private static Tensor Transposed(ReadOnlySpan<double> rowsOutColsIn, int rows, int cols)
    {
        var t = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                t[(c * rows) + r] = rowsOutColsIn[(r * cols) + c];
            }
        }

        return Tensor.FromDoubles(DType.Float64, [cols, rows], t);
    }

    /// <summary>y = x·W + b with W [in, out], in float64.</summary>
    private sealed class Projection
    {
        private readonly double[] _weight;
        private readonly double[]? _bias;

        public Projection(string name, Tensor weight, string biasName, Tensor? bias)
        {
            ArgumentNullException.ThrowIfNull(weight);
            if (weight.Rank != 2 || !DTypes.IsFloatingPoint(weight.DType))
            {
                throw new HeedException($"{name} is {DTypes.Name(weight.DType)} {weight.ShapeText}; expected a 2-D float matrix [in, out]");
            }

            In = weight.Dim(0);
            Out = weight.Dim(1);
            _weight = weight.ToDoubleArray();
            if (bias is not null)
            {
                if (bias.Rank != 1 || bias.Dim(0) != Out)
                {
                    throw new HeedException($"{biasName} {bias.ShapeText} must be [{Out}] (the columns of {name})");
                }

                _bias = bias.ToDoubleArray();
            }
        }

        public int In { get; }

        public int Out { get; }

        public double[] Apply(double[] x, int rows)
        {
            var y = new double[rows * Out];
            for (int r = 0; r < rows; r++)
            {
                for (int o = 0; o < Out; o++)
                {
                    double sum = _bias?[o] ?? 0;
                    for (int i = 0; i < In; i++)
                    {
                        sum += x[(r * In) + i] * _weight[(i * Out) + o];
                    }

                    y[(r * Out) + o] = sum;
                }
            }

            return y;
        }
    }
}

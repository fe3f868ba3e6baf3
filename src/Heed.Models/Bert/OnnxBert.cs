using System.Buffers.Binary;
using Google.Protobuf;
using Onnx;

namespace Heed.Models.Bert;

/// <summary>
/// Reads the weights of a BERT-family encoder from an ONNX export (as PyTorch's exporter writes <c>BertModel</c>), without
/// executing the graph. Embeddings, biases and LayerNorms keep their Hugging Face names as initializers; the dense layers'
/// matrices are unnamed and are found through the graph: each named bias is added (Add) to the output of a MatMul whose other
/// input is the matrix, stored [in, out] (or [out, in] behind a Transpose). The head count is the constant the query
/// projection is reshaped to ([B, T, H, D]), the LayerNorm ε the constant added before its Sqrt (or a LayerNormalization's
/// epsilon), and the activation must be GELU with erf (an Erf node). Sizes come from the tensors' shapes; a config.json beside
/// the file wins over everything recovered.
/// </summary>
/// <remarks>
/// The protobuf is parsed by OnnxSharp's generated ONNX classes over Google.Protobuf; the file is untrusted: sizes are checked
/// against the bytes present and every failure is one line naming the file and what was not found.
/// </remarks>
internal static class OnnxBert
{
    // protobuf messages cannot exceed 2 GiB; larger exports keep their weights as external data, which Heed does not read.
    private const long MaxBytes = int.MaxValue;

    public static BertModel Load(string path, BertConfig? config)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new HeedException($"model {path}: no such file");
        if (info.Length > MaxBytes) throw new HeedException($"{path}: {info.Length} bytes; ONNX files over 2 GiB keep weights as external data, which Heed does not read");
        ModelProto model;
        try
        {
            using FileStream stream = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new HeedException($"{path}: not an ONNX model ({ex.Message.ReplaceLineEndings(" ")})", ex);
        }

        GraphProto graph = model.Graph ?? throw new HeedException($"{path}: the ONNX model has no graph");
        return new Reader(path, graph).Read(config);
    }

    private sealed class Reader
    {
        private readonly string _path;
        private readonly GraphProto _graph;
        private readonly Dictionary<string, TensorProto> _constants = new(StringComparer.Ordinal);
        private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);

        public Reader(string path, GraphProto graph)
        {
            _path = path;
            _graph = graph;
            foreach (TensorProto t in graph.Initializer) _constants[t.Name] = t;
            foreach (NodeProto node in graph.Node)
            {
                foreach (string output in node.Output) _producers[output] = node;
                foreach (string input in node.Input)
                {
                    if (!_consumers.TryGetValue(input, out List<NodeProto>? list)) _consumers[input] = list = [];
                    list.Add(node);
                }

                if (node.OpType == "Constant" && node.Output.Count == 1 && node.Attribute.FirstOrDefault(a => a.Name == "value")?.T is TensorProto value)
                {
                    _constants[node.Output[0]] = value;
                }
            }
        }

        public BertModel Read(BertConfig? config)
        {
            const string Anchor = "embeddings.word_embeddings.weight";
            string prefix = _graph.Initializer.Select(t => t.Name).FirstOrDefault(n => n.EndsWith(Anchor, StringComparison.Ordinal)) is string found
                ? found[..^Anchor.Length]
                : throw Missing($"the initializer {Anchor}");

            // Each weight is converted to float32 only when the model asks for it, and its protobuf bytes are let go as soon as
            // every name that reads it has been served: the file's bytes and the model's floats never live side by side whole
            // (they doubled the peak working set of a load).
            var sources = new Dictionary<string, (TensorProto Proto, bool Transpose)>(StringComparer.Ordinal);
            foreach (TensorProto t in _graph.Initializer)
            {
                if (t.Name.StartsWith(prefix, StringComparison.Ordinal) && (t.Name.StartsWith(prefix + "embeddings.", StringComparison.Ordinal) || t.Name.StartsWith(prefix + "encoder.", StringComparison.Ordinal))
                    && t.DataType is (int)TensorProto.Types.DataType.Float or (int)TensorProto.Types.DataType.Float16)
                {
                    sources[t.Name] = (t, false);
                }
            }

            int layers = 0;
            while (sources.ContainsKey($"{prefix}encoder.layer.{layers}.attention.self.query.bias")) layers++;
            if (layers == 0) throw Missing($"the initializer {prefix}encoder.layer.0.attention.self.query.bias");

            for (int l = 0; l < layers; l++)
            {
                foreach (string dense in BertModel.DenseLayerNames)
                {
                    string name = $"{prefix}encoder.layer.{l}.{dense}";
                    sources[name + ".weight"] = Matrix(name + ".bias");
                }
            }

            if (config is null)
            {
                int Rows(string name) => sources.TryGetValue(prefix + name, out var source) && source.Proto.Dims.Count > 0
                    ? (int)source.Proto.Dims[0]
                    : throw Missing($"the initializer {prefix}{name}");
                if (!_graph.Node.Any(n => n.OpType == "Erf"))
                {
                    throw Missing("an Erf node (Heed runs encoders with GELU as 0.5·x·(1 + erf(x/√2)))");
                }

                int width = Rows("encoder.layer.0.attention.self.query.bias");
                config = new BertConfig(Rows(Anchor), width, layers, Heads(prefix, width), Rows("encoder.layer.0.intermediate.dense.bias"), Rows("embeddings.position_embeddings.weight"))
                {
                    TypeVocabSize = Rows("embeddings.token_type_embeddings.weight"),
                    LayerNormEpsilon = Epsilon(),
                };
            }

            var readers = new Dictionary<TensorProto, int>(ReferenceEqualityComparer.Instance); // protobuf messages hash their bytes
            foreach ((TensorProto proto, _) in sources.Values) readers[proto] = readers.GetValueOrDefault(proto) + 1;
            Tensor Convert((TensorProto Proto, bool Transpose) source)
            {
                Tensor<float> t = Floats(source.Proto);
                if (--readers[source.Proto] == 0)
                {
                    source.Proto.RawData = ByteString.Empty;
                    source.Proto.FloatData.Clear();
                }

                return source.Transpose ? Transpose(t) : t;
            }

            return BertModel.FromTensors(config, new LazyTensors(sources.ToDictionary(p => p.Key, p => (Func<Tensor>)(() => Convert(p.Value)), StringComparer.Ordinal)), _path, denseInOut: true);
        }

        // bias → Add → (MatMul output) → MatMul's constant input [in, out], read as it is, or a Transpose of a constant [out, in],
        // transposed to [in, out] when read.
        private (TensorProto Proto, bool Transpose) Matrix(string bias)
        {
            NodeProto add = Consumers(bias).FirstOrDefault(n => n.OpType == "Add") ?? throw Missing($"an Add node reading {bias}");
            string other = add.Input.FirstOrDefault(i => i != bias) ?? throw Missing($"the second input of the Add reading {bias}");
            if (!_producers.TryGetValue(other, out NodeProto? matmul) || matmul.OpType != "MatMul" || matmul.Input.Count != 2)
            {
                throw Missing($"a MatMul before the Add of {bias}");
            }

            foreach (string input in matmul.Input)
            {
                if (_constants.TryGetValue(input, out TensorProto? w) && w.Dims.Count == 2)
                {
                    return (w, false);
                }

                if (_producers.TryGetValue(input, out NodeProto? transpose) && transpose.OpType == "Transpose" && transpose.Input.Count == 1
                    && _constants.TryGetValue(transpose.Input[0], out TensorProto? wt) && wt.Dims.Count == 2)
                {
                    return (wt, true);
                }
            }

            throw Missing($"a constant 2-D weight on the MatMul before {bias}");
        }

        // The query projection is reshaped to [B, T, H, D]: the shape is a constant, or a Concat of dynamic B, T and constants H, D.
        private int Heads(string prefix, int width)
        {
            string bias = prefix + "encoder.layer.0.attention.self.query.bias";
            NodeProto add = Consumers(bias).First(n => n.OpType == "Add");
            foreach (NodeProto reshape in Consumers(add.Output[0]).Where(n => n.OpType == "Reshape" && n.Input.Count == 2))
            {
                var values = new List<long>();
                if (_constants.TryGetValue(reshape.Input[1], out TensorProto? shape))
                {
                    values.AddRange(Integers(shape));
                }
                else if (_producers.TryGetValue(reshape.Input[1], out NodeProto? concat) && concat.OpType == "Concat")
                {
                    foreach (string part in concat.Input)
                    {
                        values.AddRange(_constants.TryGetValue(part, out TensorProto? c) ? Integers(c) : [-1]);
                    }
                }

                for (int i = 0; i + 1 < values.Count; i++)
                {
                    if (values[i] > 0 && values[i + 1] > 0 && values[i] * values[i + 1] == width) return (int)values[i];
                }
            }

            throw Missing($"a Reshape of the query projection into heads (H·D = {width}) after {bias}");
        }

        private float Epsilon()
        {
            foreach (NodeProto node in _graph.Node)
            {
                if (node.OpType == "LayerNormalization" && node.Attribute.FirstOrDefault(a => a.Name == "epsilon") is AttributeProto e) return e.F;
                if (node.OpType == "Sqrt" && node.Input.Count == 1 && _producers.TryGetValue(node.Input[0], out NodeProto? add) && add.OpType == "Add")
                {
                    foreach (string input in add.Input)
                    {
                        if (_constants.TryGetValue(input, out TensorProto? c) && c.DataType == (int)TensorProto.Types.DataType.Float && Floats(c) is { Length: 1 } eps)
                        {
                            return eps.Data[0];
                        }
                    }
                }
            }

            throw Missing("a LayerNorm's ε (an Add of a constant before a Sqrt, or LayerNormalization)");
        }

        private List<NodeProto> Consumers(string name) => _consumers.TryGetValue(name, out List<NodeProto>? list) ? list : [];

        private HeedException Missing(string what) => new($"{_path}: not a BERT-family export Heed can read: no {what}");

        private int[] Shape(TensorProto t)
        {
            if (t.DataLocation == TensorProto.Types.DataLocation.External)
            {
                throw new HeedException($"{_path}: tensor {t.Name} is stored as external data, which Heed does not read");
            }

            long count = 1;
            foreach (long d in t.Dims)
            {
                count *= d;
                if (d < 0 || count > Array.MaxLength) throw new HeedException($"{_path}: tensor {t.Name} has dims [{string.Join(", ", t.Dims)}]: negative or too large");
            }

            return [.. t.Dims.Select(d => (int)d)];
        }

        private Tensor<float> Floats(TensorProto t)
        {
            int[] shape = Shape(t);
            int count = Tensor.CheckedLength(shape);
            var data = new float[count];
            bool half = t.DataType == (int)TensorProto.Types.DataType.Float16;
            if (t.DataType != (int)TensorProto.Types.DataType.Float && !half)
            {
                throw new HeedException($"{_path}: tensor {t.Name} has ONNX data type {t.DataType}; expected float32 (1) or float16 (10)");
            }

            int size = half ? 2 : 4;
            if (t.RawData.Length > 0)
            {
                ReadOnlySpan<byte> raw = t.RawData.Span;
                if (raw.Length != (long)count * size)
                {
                    throw new HeedException($"{_path}: tensor {t.Name} holds {raw.Length} bytes; its shape {Tensor.FormatShape(shape)} needs {(long)count * size}");
                }

                for (int i = 0; i < count; i++)
                {
                    data[i] = half ? (float)BinaryPrimitives.ReadHalfLittleEndian(raw[(2 * i)..]) : BinaryPrimitives.ReadSingleLittleEndian(raw[(4 * i)..]);
                }
            }
            else if (!half && t.FloatData.Count == count)
            {
                t.FloatData.CopyTo(data, 0);
            }
            else
            {
                throw new HeedException($"{_path}: tensor {t.Name} holds no data for its shape {Tensor.FormatShape(shape)}");
            }

            return new Tensor<float>(shape, data);
        }

        private long[] Integers(TensorProto t)
        {
            int count = Tensor.CheckedLength(Shape(t));
            if (count > 16) return [];
            if (t.DataType == (int)TensorProto.Types.DataType.Int64)
            {
                if (t.RawData.Length == count * 8)
                {
                    return [.. Enumerable.Range(0, count).Select(i => BinaryPrimitives.ReadInt64LittleEndian(t.RawData.Span[(8 * i)..]))];
                }

                return t.Int64Data.Count == count ? [.. t.Int64Data] : [];
            }

            return [];
        }

        private static Tensor<float> Transpose(Tensor<float> m)
        {
            int rows = m.Dim(0), columns = m.Dim(1);
            var t = new float[m.Length];
            for (int r = 0; r < rows; r++)
            {
                for (int c = 0; c < columns; c++) t[(c * rows) + r] = m.Data[(r * columns) + c];
            }

            return new Tensor<float>([columns, rows], t);
        }
    }

    /// <summary>Tensors made when looked up (each lookup makes a new one; nothing is cached).</summary>
    private sealed class LazyTensors(Dictionary<string, Func<Tensor>> sources) : IReadOnlyDictionary<string, Tensor>
    {
        public IEnumerable<string> Keys => sources.Keys;

        public IEnumerable<Tensor> Values => sources.Values.Select(make => make());

        public int Count => sources.Count;

        public Tensor this[string key] => sources[key]();

        public bool ContainsKey(string key) => sources.ContainsKey(key);

        public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out Tensor value)
        {
            value = sources.TryGetValue(key, out Func<Tensor>? make) ? make() : null;
            return value is not null;
        }

        public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator() => sources.Select(p => new KeyValuePair<string, Tensor>(p.Key, p.Value())).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}

using System.Text;

namespace Heed.Bench;

/// <summary>
/// Writes the two ONNX models the benchmark runs in ONNX Runtime, encoding the protobuf by hand (no onnx package needed):
/// the standard <c>Attention</c> operator (opset 23) on 4-D inputs, and the <c>com.microsoft</c> <c>MultiHeadAttention</c>
/// contrib operator on 3-D [B, len, heads·size] inputs. Field numbers are those of onnx.proto.
/// </summary>
internal static class OnnxModels
{
    private const int FloatType = 1; // TensorProto.FLOAT

    /// <summary>Y = Attention(Q [B, H, T, D], K [B, Hkv, S, D], V [B, Hkv, S, Dv]) with is_causal.</summary>
    public static byte[] Attention(int batch, int heads, int kvHeads, int queryLength, int kvLength, int headSize, int valueHeadSize, bool causal)
    {
        byte[] node = Node("Attention", "", ["Q", "K", "V"], ["Y"], [IntAttribute("is_causal", causal ? 1 : 0)]);
        byte[] graph = Graph(
            node,
            [Value("Q", batch, heads, queryLength, headSize), Value("K", batch, kvHeads, kvLength, headSize), Value("V", batch, kvHeads, kvLength, valueHeadSize)],
            [Value("Y", batch, heads, queryLength, valueHeadSize)]);
        return Model(graph, ("", 23));
    }

    /// <summary>Y = MultiHeadAttention(query [B, T, H·D], key [B, S, H·D], value [B, S, H·Dv]) with num_heads and, when causal, unidirectional.</summary>
    public static byte[] MultiHeadAttention(int batch, int heads, int queryLength, int kvLength, int headSize, int valueHeadSize, bool causal)
    {
        var attributes = new List<byte[]> { IntAttribute("num_heads", heads) };
        if (causal)
        {
            attributes.Add(IntAttribute("unidirectional", 1));
        }

        byte[] node = Node("MultiHeadAttention", "com.microsoft", ["query", "key", "value"], ["output"], attributes);
        byte[] graph = Graph(
            node,
            [Value("query", batch, queryLength, heads * headSize), Value("key", batch, kvLength, heads * headSize), Value("value", batch, kvLength, heads * valueHeadSize)],
            [Value("output", batch, queryLength, heads * valueHeadSize)]);
        return Model(graph, ("", 23), ("com.microsoft", 1));
    }

    private static byte[] Model(byte[] graph, params (string Domain, int Version)[] opsets)
    {
        var model = new Message();
        model.Int(1, 10);                       // ir_version
        model.Text(2, "heed-bench");            // producer_name
        foreach ((string domain, int version) in opsets)
        {
            var opset = new Message();
            opset.Text(1, domain);
            opset.Int(2, version);
            model.Bytes(8, opset.ToArray());    // opset_import
        }

        model.Bytes(7, graph);                  // graph
        return model.ToArray();
    }

    private static byte[] Graph(byte[] node, byte[][] inputs, byte[][] outputs)
    {
        var graph = new Message();
        graph.Bytes(1, node);                   // node
        graph.Text(2, "attention");             // name
        foreach (byte[] input in inputs) graph.Bytes(11, input);
        foreach (byte[] output in outputs) graph.Bytes(12, output);
        return graph.ToArray();
    }

    private static byte[] Node(string opType, string domain, string[] inputs, string[] outputs, IEnumerable<byte[]> attributes)
    {
        var node = new Message();
        foreach (string input in inputs) node.Text(1, input);
        foreach (string output in outputs) node.Text(2, output);
        node.Text(3, opType.ToLowerInvariant());
        node.Text(4, opType);
        foreach (byte[] attribute in attributes) node.Bytes(5, attribute);
        if (domain.Length > 0) node.Text(7, domain);
        return node.ToArray();
    }

    private static byte[] IntAttribute(string name, long value)
    {
        var attribute = new Message();
        attribute.Text(1, name);
        attribute.Int(3, value);                // i
        attribute.Int(20, 2);                   // type = INT
        return attribute.ToArray();
    }

    private static byte[] Value(string name, params int[] shape)
    {
        var dims = new Message();
        foreach (int size in shape)
        {
            var dim = new Message();
            dim.Int(1, size);                   // dim_value
            dims.Bytes(1, dim.ToArray());
        }

        var tensor = new Message();
        tensor.Int(1, FloatType);               // elem_type
        tensor.Bytes(2, dims.ToArray());        // shape
        var type = new Message();
        type.Bytes(1, tensor.ToArray());        // tensor_type
        var value = new Message();
        value.Text(1, name);
        value.Bytes(2, type.ToArray());
        return value.ToArray();
    }

    /// <summary>The protobuf wire format: varints (type 0) and length-delimited fields (type 2).</summary>
    private sealed class Message
    {
        private readonly MemoryStream _stream = new();

        public void Int(int field, long value)
        {
            Varint(((ulong)field << 3) | 0);
            Varint((ulong)value);
        }

        public void Text(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public void Bytes(int field, byte[] value)
        {
            Varint(((ulong)field << 3) | 2);
            Varint((ulong)value.Length);
            _stream.Write(value);
        }

        public byte[] ToArray() => _stream.ToArray();

        private void Varint(ulong value)
        {
            while (value >= 0x80)
            {
                _stream.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }

            _stream.WriteByte((byte)value);
        }
    }
}

using Google.Protobuf;
using global::Onnx;
using DataType = global::Onnx.TensorProto.Types.DataType;

namespace GenRec.Training.Onnx;

/// <summary>
/// A small builder of ONNX graphs from C#: named inputs, outputs and initializers, and one method per operator the
/// exporters use. Intermediate values get unique names; every operator is from the default domain at one opset.
/// </summary>
internal class OnnxGraphBuilder
{
    /// <summary>The opset every graph is written at (LayerNormalization needs 17).</summary>
    public const int Opset = 17;

    private readonly GraphProto _graph;
    private readonly Dictionary<string, string> _scalars = [];
    private int _next;

    public OnnxGraphBuilder(string name) => _graph = new GraphProto { Name = name };

    public string Input(string name, DataType type, params object[] dims)
    {
        _graph.Input.Add(ValueInfo(name, type, dims));
        return name;
    }

    public void Output(string value, string name, DataType type, params object[] dims)
    {
        if (value != name)
        {
            Node("Identity", [value], [name]);
        }

        _graph.Output.Add(ValueInfo(name, type, dims));
    }

    public string Weights(string name, float[] data, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)DataType.Float };
        tensor.Dims.AddRange(dims);
        var bytes = new byte[data.Length * sizeof(float)];
        Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length);
        tensor.RawData = ByteString.CopyFrom(bytes);
        _graph.Initializer.Add(tensor);
        return name;
    }

    public string Longs(long[] values, params long[] dims)
    {
        var name = $"const_{_next++}";
        var tensor = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
        tensor.Dims.AddRange(dims);
        tensor.Int64Data.AddRange(values);
        _graph.Initializer.Add(tensor);
        return name;
    }

    public string Long(long value)
    {
        var key = $"l{value}";
        if (!_scalars.TryGetValue(key, out var name))
        {
            name = Longs([value]);
            _scalars[key] = name;
        }

        return name;
    }

    public string LongVector(params long[] values) => Longs(values, values.Length);

    public string Float(float value)
    {
        var key = $"f{value:R}";
        if (!_scalars.TryGetValue(key, out var name))
        {
            name = $"const_{_next++}";
            var tensor = new TensorProto { Name = name, DataType = (int)DataType.Float };
            tensor.FloatData.Add(value);
            _graph.Initializer.Add(tensor);
            _scalars[key] = name;
        }

        return name;
    }

    public string Op(string op, params string[] inputs) => Node(op, inputs, [Fresh(op)])[0];

    public string OpWith(string op, string[] inputs, params AttributeProto[] attributes) => Node(op, inputs, [Fresh(op)], attributes)[0];

    public string[] OpMany(string op, string[] inputs, int outputs, params AttributeProto[] attributes) =>
        Node(op, inputs, Enumerable.Range(0, outputs).Select(_ => Fresh(op)).ToArray(), attributes);

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto FloatAttribute(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    // Operators the exporters use.
    public string Add(string a, string b) => Op("Add", a, b);

    public string Sub(string a, string b) => Op("Sub", a, b);

    public string Mul(string a, string b) => Op("Mul", a, b);

    public string MatMul(string a, string b) => Op("MatMul", a, b);

    public string Gather(string data, string indices, int axis = 0) => OpWith("Gather", [data, indices], Int("axis", axis));

    public string Reshape(string x, string shape) => Op("Reshape", x, shape);

    public string Transpose(string x, params long[] perm) => OpWith("Transpose", [x], Ints("perm", perm));

    public string Unsqueeze(string x, params long[] axes) => Op("Unsqueeze", x, LongVector(axes));

    public string Concat(int axis, params string[] xs) => OpWith("Concat", xs, Int("axis", axis));

    public string Softmax(string x) => OpWith("Softmax", [x], Int("axis", -1));

    public string Shape(string x) => Op("Shape", x);

    /// <summary>Dimension <paramref name="axis"/> of <paramref name="x"/> as a 1-element int64 vector.</summary>
    public string Dim(string x, long axis) => OpWith("Shape", [x], Int("start", axis), Int("end", axis + 1));

    public string Scalar(string vector1) => Op("Squeeze", vector1, LongVector(0));

    public string Where(string condition, string whenTrue, string whenFalse) => Op("Where", condition, whenTrue, whenFalse);

    public ModelProto Build(string producer)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = producer, ProducerVersion = typeof(OnnxGraphBuilder).Assembly.GetName().Version?.ToString() ?? "0", Graph = _graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model;
    }

    private string Fresh(string op) => $"{op.ToLowerInvariant()}_{_next++}";

    private string[] Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = $"{op}_{_next++}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return outputs;
    }

    private static ValueInfoProto ValueInfo(string name, DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d switch
            {
                string p => new TensorShapeProto.Types.Dimension { DimParam = p },
                int v => new TensorShapeProto.Types.Dimension { DimValue = v },
                long v => new TensorShapeProto.Types.Dimension { DimValue = v },
                _ => throw new ArgumentException($"Dimension {d} must be a name or a size."),
            });
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }
}

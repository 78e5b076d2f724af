using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace GenRec.Cli.Tests;

/// <summary>The FLOP count read from ONNX Runtime's profile of what it ran (the check on bench serve's derived count).</summary>
public sealed class ProfiledFlopsTests
{
    [Fact]
    public void Every_matrix_product_is_counted_from_its_executed_shapes_batched_or_transposed()
    {
        using var folder = GenRec.TestSupport.TestData.TempFolder();
        using var options = new SessionOptions { EnableProfiling = true, ProfileOutputPathPrefix = folder.File("products"), GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(ThreeProducts(), options);
        using var a = OrtValue.CreateTensorValueFromMemory(new float[3 * 4], [3, 4]);
        using var batched = OrtValue.CreateTensorValueFromMemory(new float[2 * 3 * 4], [2, 3, 4]);
        using var transposed = OrtValue.CreateTensorValueFromMemory(new float[4 * 3], [4, 3]);
        using var run = new RunOptions();
        using (session.Run(run, ["a", "batched", "transposed"], [a, batched, transposed], ["plain", "batch", "gemm"]))
        {
        }

        var (flops, products) = ProfiledFlops.Count(session.EndProfiling());

        // [3,4]·[4,5]: 2·3·4·5 = 120; [2,3,4]·[4,5]: 240; Gemm of Aᵀ [4,3]ᵀ·[4,5]: 120.
        Assert.Equal(3, products);
        Assert.Equal(480, flops);
    }

    [Fact]
    public void A_file_that_is_not_a_profile_is_refused()
    {
        using var folder = GenRec.TestSupport.TestData.TempFolder();
        File.WriteAllText(folder.File("x.json"), "{\"traceEvents\": 1}");
        Assert.Throws<InvalidDataException>(() => ProfiledFlops.Count(folder.File("x.json")));
    }

    private static byte[] ThreeProducts()
    {
        var graph = new GraphProto { Name = "products" };
        var b = new TensorProto { Name = "b", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(new byte[4 * 5 * sizeof(float)]) };
        b.Dims.Add(4);
        b.Dims.Add(5);
        graph.Initializer.Add(b);
        graph.Node.Add(Node("MatMul", "m1", ["a", "b"], "plain"));
        graph.Node.Add(Node("MatMul", "m2", ["batched", "b"], "batch"));
        var gemm = Node("Gemm", "g", ["transposed", "b"], "gemm");
        gemm.Attribute.Add(new AttributeProto { Name = "transA", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        graph.Node.Add(gemm);
        graph.Input.Add(Value("a", 3, 4));
        graph.Input.Add(Value("batched", 2, 3, 4));
        graph.Input.Add(Value("transposed", 4, 3));
        graph.Output.Add(Value("plain", 3, 5));
        graph.Output.Add(Value("batch", 2, 3, 5));
        graph.Output.Add(Value("gemm", 3, 5));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model.ToByteArray();
    }

    private static NodeProto Node(string op, string name, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.Add(inputs);
        node.Output.Add(output);
        return node;
    }

    private static ValueInfoProto Value(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } } };
    }
}

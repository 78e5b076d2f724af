using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training.Tests;

public sealed class TorchOpsTests
{
    // What TorchOps changes is only the lifetime of the scalars libtorch reads; the race it removes is too rare to
    // reproduce here (8,000 additions on 4 threads beside a collecting thread did not fail with `+` either). So each helper
    // is compared, bit for bit and type for type, with the TorchSharp form it replaces (banned elsewhere, the reference here).
#pragma warning disable RS0030
    public static TheoryData<string> Operations => new(
        "plus tensor", "plus int", "plus double", "minus", "subtracted from", "times int", "times float", "over int", "over double",
        "filled where", "clamped", "not equal", "greater", "range", "range from", "full");

    [Theory]
    [MemberData(nameof(Operations))]
    public void Each_helper_computes_what_the_torchsharp_form_it_replaces_computes(string operation)
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.randn([64, 32], generator: new torch.Generator(3));
        var b = torch.randn([1, 32], generator: new torch.Generator(4));
        var ints = torch.randint(-5, 40, [64, 32], generator: new torch.Generator(5));
        var mask = a.gt(0.5);
        var (ours, theirs) = operation switch
        {
            "plus tensor" => (a.Plus(b).Plus(a), a + b + a),
            "plus int" => (ints.Plus(1), ints + 1),
            "plus double" => (a.Plus(0.25), a + 0.25),
            "minus" => (a.Minus(0.5f), a - 0.5f),
            "subtracted from" => (a.SubtractedFrom(1), 1 - a),
            "times int" => (ints.Times(3), ints * 3),
            "times float" => (a.Times(0.01f), a * 0.01f),
            "over int" => (ints.Over(7), ints / 7),
            "over double" => (a.Over(0.07), a / 0.07),
            "filled where" => (a.FilledWhere(mask, double.NegativeInfinity), a.masked_fill(mask, float.NegativeInfinity)),
            "clamped" => (ints.Clamped(0, 31), ints.clamp(0, 31)),
            "not equal" => (ints.NotEqual(0), ints.ne(0)),
            "greater" => (a.Greater(0), a.gt(0)),
            "range" => (TorchOps.Range(17L), torch.arange(17L)),
            "range from" => (TorchOps.Range(5, 17), torch.arange(5L, 17L)),
            "full" => (TorchOps.Full(3, 4, 2), torch.full(3, 4, 2, dtype: ScalarType.Int64)),
            _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, null),
        };

        Assert.Equal(theirs.dtype, ours.dtype);
        Assert.Equal(theirs.shape, ours.shape);
        Assert.Equal(theirs.to_type(ScalarType.Float64).data<double>().ToArray(), ours.to_type(ScalarType.Float64).data<double>().ToArray());
    }
#pragma warning restore RS0030
}

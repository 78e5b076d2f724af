using TorchSharp;

namespace GenRec.Training.Tests;

public sealed class TorchOpsTests
{
    [Fact]
    public void Plus_is_torchsharps_addition_bit_for_bit_broadcast_included()
    {
        // What Plus changes is only the lifetime of the scalar libtorch reads (see TorchOps); the race it removes is too
        // rare to reproduce here (8,000 additions on 4 threads beside a collecting thread did not fail with `+` either).
        using var a = torch.randn([64, 32], generator: new torch.Generator(3));
        using var b = torch.randn([1, 32], generator: new torch.Generator(4));
        using var ours = a.Plus(b).Plus(a);
        using var theirs = a + b + a;
        Assert.Equal(theirs.data<float>().ToArray(), ours.data<float>().ToArray());
    }
}

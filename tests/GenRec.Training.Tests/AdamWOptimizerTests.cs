using TorchSharp;
using TorchSharp.Modules;

namespace GenRec.Training.Tests;

/// <summary>
/// The trainers' optimizer: the same numbers as TorchSharp's own AdamW and Adam (so no trained model or figure moved when the
/// trainers switched to it), and no failure when garbage collections run while it steps.
/// </summary>
public sealed class AdamWOptimizerTests
{
    private static Parameter[] Parameters(long seed)
    {
        var generator = new torch.Generator((ulong)seed);
        return
        [
            new Parameter(torch.randn([64, 16], generator: generator)),
            new Parameter(torch.randn([16], generator: generator)),
            new Parameter(torch.randn([8, 4], generator: generator)),
        ];
    }

    // A loss that leaves the last parameter without a gradient, as a frozen or unused weight would be, and reaches the
    // second only from the sixth step on (each parameter counts its own steps, as in TorchSharp and PyTorch).
    private static void Backward(Parameter[] parameters, int step)
    {
        using var scope = torch.NewDisposeScope();
        using var two = 2.ToScalar();
        var x = torch.linspace(-1, 1, 64 * 16).view(64, 16).Times(step + 1);
        var loss = (step < 5 ? (parameters[0] * x).sum(1) : (parameters[0] * x).sum(1).Plus(parameters[1].sum())).pow(two).mean();
        loss.backward();
    }

    private static float[][] Values(Parameter[] parameters) => parameters.Select(p => p.data<float>().ToArray()).ToArray();

    // Runs both optimizers side by side over the same losses; a schedule (when given) sets both learning rates before each step.
    private static void Train(AdamWOptimizer optimizer, Parameter[] ours, torch.optim.Optimizer reference, Parameter[] theirs, Func<int, double>? schedule)
    {
        for (var step = 0; step < 25; step++)
        {
            if (schedule is not null)
            {
                optimizer.LearningRate = schedule(step);
                foreach (var group in reference.ParamGroups)
                {
                    group.LearningRate = schedule(step);
                }
            }

            optimizer.ZeroGrad();
            reference.zero_grad();
            Backward(ours, step);
            Backward(theirs, step);
            optimizer.Step();
            reference.step();
        }
    }

    [Theory]
    [InlineData(0.01)]
    [InlineData(0.0)]
    public void Every_step_equals_torchsharps_AdamW_bit_for_bit(double weightDecay)
    {
        var ours = Parameters(7);
        var theirs = Parameters(7);
        using var optimizer = new AdamWOptimizer(ours, 3e-3, weightDecay);
        using var reference = torch.optim.AdamW(theirs, lr: 3e-3, weight_decay: weightDecay);

        Train(optimizer, ours, reference, theirs, step => 3e-3 * (step + 1) / 25);

        Assert.Equal(Values(theirs), Values(ours));
        Assert.NotEqual(Values(Parameters(7))[0], Values(ours)[0]);
        Assert.Equal(Values(Parameters(7))[2], Values(ours)[2]);
    }

    [Fact]
    public void Without_weight_decay_every_step_equals_torchsharps_Adam_bit_for_bit()
    {
        var ours = Parameters(11);
        var theirs = Parameters(11);
        using var optimizer = new AdamWOptimizer(ours, 1e-2);
        using var reference = torch.optim.Adam(theirs, lr: 1e-2);

        Train(optimizer, ours, reference, theirs, schedule: null);

        Assert.Equal(Values(theirs), Values(ours));
    }

    [Fact]
    public async Task Steps_hold_while_garbage_collections_run_on_another_thread()
    {
        var parameters = new[] { new Parameter(torch.randn([512, 256])), new Parameter(torch.randn([256])) };
        using var optimizer = new AdamWOptimizer(parameters, 1e-3, 0.01);
        using var stop = new CancellationTokenSource();
        var collector = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested && Environment.GetEnvironmentVariable("NOGC") is null)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        try
        {
            for (var step = 0; step < 3000; step++)
            {
                Console.Error.WriteLine($"step {step}");
                optimizer.ZeroGrad();
                using (var scope = torch.NewDisposeScope())
                {
                    // No implicit scalar here (TorchSharp's `+` and `square` make one of their own): the test is about the optimizer's.
                    torch.stack([parameters[0].mul(parameters[0]).sum(), parameters[1].mul(parameters[1]).sum()]).sum().backward();
                }

                optimizer.Step();
            }
        }
        finally
        {
            stop.Cancel();
        }

        await collector;
        Assert.All(parameters, p => Assert.True(p.isfinite().all().item<bool>()));
    }
}

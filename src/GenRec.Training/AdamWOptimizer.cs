using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>
/// Adam with decoupled weight decay (Loshchilov and Hutter; plain Adam when the decay is 0), the update every trainer here uses.
/// </summary>
/// <remarks>
/// The arithmetic is TorchSharp's <c>torch.optim.AdamW</c> step, operation for operation (a test holds the two equal bit for bit).
/// It exists because TorchSharp 0.107's managed optimizers hand libtorch temporary <see cref="Scalar"/>s made by implicit
/// conversion and keep no reference to them during the native call: a garbage collection on another thread can finalize such a
/// scalar while libtorch reads it, and the step fails with "Expected false to be true … toFloat" (it did once in CI, in a test
/// process training several models at once) or reads a wrong value. Here every scalar is created explicitly, including the
/// <c>alpha</c> that TorchSharp's shorter overloads add on their own, and disposed only after the call that reads it has returned.
/// </remarks>
internal sealed class AdamWOptimizer : IDisposable
{
    private readonly List<(Parameter Parameter, Tensor Average, Tensor SquareAverage, long[] Steps)> _state = [];
    private readonly double _beta1;
    private readonly double _beta2;
    private readonly double _epsilon;
    private readonly double _weightDecay;

    /// <summary>Creates the optimizer over <paramref name="parameters"/> with zero moments.</summary>
    public AdamWOptimizer(IEnumerable<Parameter> parameters, double learningRate, double weightDecay = 0, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentOutOfRangeException.ThrowIfNegative(learningRate);
        ArgumentOutOfRangeException.ThrowIfNegative(weightDecay);
        ArgumentOutOfRangeException.ThrowIfNegative(epsilon);
        if (beta1 is < 0 or >= 1 || beta2 is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(beta1), $"Adam's betas must lie in [0, 1); got {beta1} and {beta2}.");
        }

        LearningRate = learningRate;
        _weightDecay = weightDecay;
        _beta1 = beta1;
        _beta2 = beta2;
        _epsilon = epsilon;
        using var noGrad = torch.no_grad();
        foreach (var parameter in parameters)
        {
            _state.Add((parameter, torch.zeros_like(parameter).DetachFromDisposeScope(), torch.zeros_like(parameter).DetachFromDisposeScope(), [0]));
        }
    }

    /// <summary>The learning rate of the next <see cref="Step"/> (a schedule sets it before each step).</summary>
    public double LearningRate { get; set; }

    /// <summary>Sets every parameter's gradient to zero.</summary>
    public void ZeroGrad()
    {
        foreach (var (parameter, _, _, _) in _state)
        {
            using var grad = parameter.grad;
            grad?.zero_();
        }
    }

    /// <summary>
    /// Updates every parameter that has a gradient from it and the moments. As in TorchSharp (and PyTorch), each parameter
    /// counts its own steps for the bias corrections: one that first gets a gradient later starts its count then.
    /// </summary>
    public void Step()
    {
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        using var decay = (1 - (LearningRate * _weightDecay)).ToScalar();
        using var beta1 = _beta1.ToScalar();
        using var oneMinusBeta1 = (1 - _beta1).ToScalar();
        using var beta2 = _beta2.ToScalar();
        using var oneMinusBeta2 = (1 - _beta2).ToScalar();
        using var epsilon = _epsilon.ToScalar();
        using var one = 1.0.ToScalar();
        foreach (var (parameter, average, squareAverage, steps) in _state)
        {
            var grad = parameter.grad;
            if (grad is null)
            {
                continue;
            }

            var step = ++steps[0];
            using var correction2 = Math.Sqrt(1 - Math.Pow(_beta2, step)).ToScalar();
            using var stepSize = (-(LearningRate / (1 - Math.Pow(_beta1, step)))).ToScalar();
            parameter.mul_(decay);
            average.mul_(beta1).add_(grad, alpha: oneMinusBeta1);
            squareAverage.mul_(beta2).addcmul_(grad, grad, value: oneMinusBeta2);
            var denominator = squareAverage.sqrt().div_(correction2).add_(epsilon, one);
            parameter.addcdiv_(average, denominator, value: stepSize);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (_, average, squareAverage, _) in _state)
        {
            average.Dispose();
            squareAverage.Dispose();
        }

        _state.Clear();
    }
}

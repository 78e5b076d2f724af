using TorchSharp;

namespace GenRec.Training;

/// <summary>Where training runs.</summary>
public enum ComputeDevice
{
    /// <summary>CUDA when TorchSharp finds a GPU and a CUDA libtorch, the CPU otherwise.</summary>
    Auto = 0,

    /// <summary>The CPU.</summary>
    Cpu = 1,

    /// <summary>The first CUDA GPU; fails when there is none.</summary>
    Cuda = 2,
}

/// <summary>Resolves a <see cref="ComputeDevice"/> to a TorchSharp device.</summary>
internal static class TorchDevices
{
    public static torch.Device Resolve(ComputeDevice device) => device switch
    {
        ComputeDevice.Cpu => torch.CPU,
        ComputeDevice.Cuda => torch.cuda.is_available()
            ? torch.CUDA
            : throw new InvalidOperationException("ComputeDevice.Cuda was asked for, but TorchSharp finds no CUDA device (is a CUDA libtorch package referenced and a GPU present?)."),
        _ => torch.cuda.is_available() ? torch.CUDA : torch.CPU,
    };
}

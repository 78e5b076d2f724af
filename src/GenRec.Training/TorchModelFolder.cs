using System.Text.Json;
using TorchSharp;

namespace GenRec.Training;

/// <summary>
/// A TorchSharp model folder: <c>manifest.json</c> (format, version, shape) beside <c>model.weights</c>. Written and
/// read the same way for every model the SDK trains (TIGER, HSTU), with the same errors.
/// </summary>
internal static class TorchModelFolder
{
    public const string ManifestFile = "manifest.json";
    public const string WeightsFile = "model.weights";
    // Reports may hold NaN (a figure not measured): written and read as "NaN" rather than refused.
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Writes the weights and the manifest; the folder is created if missing.</summary>
    public static void Save<T>(string directory, torch.nn.Module module, T manifest)
    {
        Directory.CreateDirectory(directory);
        module.save(Path.Combine(directory, WeightsFile));
        File.WriteAllText(Path.Combine(directory, ManifestFile), JsonSerializer.Serialize(manifest, Json));
    }

    /// <summary>Reads the manifest of a folder that must hold both files, and checks its format and version.</summary>
    /// <returns>The manifest and the paths of both files.</returns>
    public static (T Manifest, string ManifestPath, string WeightsPath) Read<T>(string directory, string kind, Func<T, (string Format, int Version)> format, string expectedFormat, int expectedVersion)
        where T : class => Read(directory, kind, format, expectedFormat, expectedVersion, expectedVersion);

    /// <summary>Reads the manifest of a folder that must hold both files, and checks its format and that its version is one this reader understands.</summary>
    /// <returns>The manifest and the paths of both files.</returns>
    public static (T Manifest, string ManifestPath, string WeightsPath) Read<T>(string directory, string kind, Func<T, (string Format, int Version)> format, string expectedFormat, int oldestVersion, int newestVersion)
        where T : class
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"The model folder '{directory}' does not exist.");
        }

        var manifestPath = Path.Combine(directory, ManifestFile);
        var weightsPath = Path.Combine(directory, WeightsFile);
        if (!File.Exists(manifestPath) || !File.Exists(weightsPath))
        {
            throw new InvalidDataException($"'{directory}' is not {kind} folder: it needs {ManifestFile} and {WeightsFile}.");
        }

        T m;
        try
        {
            m = JsonSerializer.Deserialize<T>(File.ReadAllText(manifestPath), Json) ?? throw new InvalidDataException("empty manifest");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{manifestPath}' is not a valid manifest: {e.Message}", e);
        }

        var (f, v) = format(m);
        if (f != expectedFormat || v < oldestVersion || v > newestVersion)
        {
            var versions = oldestVersion == newestVersion ? $"version {newestVersion}" : $"versions {oldestVersion} to {newestVersion}";
            throw new InvalidDataException($"'{manifestPath}' describes format '{f}' version {v}; this reader understands '{expectedFormat}' {versions}.");
        }

        return (m, manifestPath, weightsPath);
    }

    /// <summary>Loads the weights into a module built from the manifest's shape; disposes it and says so when they do not fit.</summary>
    public static void LoadWeights(torch.nn.Module module, string weightsPath)
    {
        try
        {
            module.load(weightsPath);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or EndOfStreamException)
        {
            module.Dispose();
            throw new InvalidDataException($"'{weightsPath}' does not hold weights of the shape its manifest describes: {e.Message}", e);
        }
    }
}

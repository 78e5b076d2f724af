using System.Text.Json;

namespace GenRec.Models;

/// <summary>Reads and checks the JSON manifest of a served model folder (generative or HSTU): the same errors for both.</summary>
internal static class ModelManifests
{
    /// <summary>The folder and its manifest must exist and parse; a folder of the TorchSharp kind is named with the command that serves it.</summary>
    /// <returns>The manifest and its path.</returns>
    public static (T Manifest, string Path) Read<T>(string directory, string fileName, JsonSerializerOptions json, string notAFolder, string trainedMarker, string trainedHint)
        where T : class
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"The model folder '{directory}' does not exist.");
        }

        var path = Path.Combine(directory, fileName);
        if (!File.Exists(path))
        {
            throw new InvalidDataException(notAFolder);
        }

        var text = File.ReadAllText(path);
        try
        {
            return (JsonSerializer.Deserialize<T>(text, json) ?? throw new InvalidDataException($"'{path}' is empty."), path);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException(text.Contains(trainedMarker, StringComparison.Ordinal) ? trainedHint : $"'{path}' is not a valid manifest: {e.Message}", e);
        }
    }

    /// <summary>The manifest's format and version must be the ones this runtime reads.</summary>
    public static void CheckFormat(string path, string format, int version, string expectedFormat, int expectedVersion) =>
        CheckFormat(path, format, version, expectedFormat, expectedVersion, expectedVersion);

    /// <summary>The manifest must name the expected format, in a version from <paramref name="oldestVersion"/> to <paramref name="newestVersion"/>.</summary>
    public static void CheckFormat(string path, string format, int version, string expectedFormat, int oldestVersion, int newestVersion)
    {
        if (format != expectedFormat || version < oldestVersion || version > newestVersion)
        {
            var versions = oldestVersion == newestVersion ? $"version {newestVersion}" : $"versions {oldestVersion} to {newestVersion}";
            throw new InvalidDataException($"'{path}' describes format '{format}' version {version}; this runtime reads '{expectedFormat}' {versions}.");
        }
    }

    /// <summary>Every graph the manifest names must exist and have the hash it states (an empty hash is not checked unless <paramref name="hashRequired"/>).</summary>
    public static void CheckGraphs(string directory, bool hashRequired, params OnnxGraphFile[] graphs)
    {
        foreach (var graph in graphs)
        {
            var file = Path.Combine(directory, graph.File);
            if (!File.Exists(file))
            {
                throw new InvalidDataException($"The model folder '{directory}' lacks the graph '{graph.File}' its manifest names.");
            }

            if ((hashRequired || !string.IsNullOrEmpty(graph.Sha256)) && !string.Equals(OnnxModelManifest.Hash(file), graph.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidDataException($"'{file}' is not the file the manifest names (SHA-256 differs): truncated, damaged or replaced. Export the model again.");
            }
        }
    }
}

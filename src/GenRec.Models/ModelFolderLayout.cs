namespace GenRec.Models;

/// <summary>
/// Where the parts of a served model folder lie: the graphs and their manifest (named by each manifest type), and the
/// semantic-ID index the generative graphs decode over, beside them.
/// </summary>
public static class ModelFolderLayout
{
    /// <summary>The file name of the semantic-ID index in a model folder (<c>index.sid</c>).</summary>
    public const string IndexFileName = "index.sid";

    /// <summary>The path of the semantic-ID index in <paramref name="modelFolder"/>.</summary>
    public static string IndexPath(string modelFolder)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelFolder);
        return Path.Combine(modelFolder, IndexFileName);
    }
}

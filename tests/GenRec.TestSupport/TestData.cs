using GenRec.Data;

namespace GenRec.TestSupport;

/// <summary>The bundled MovieLens data and the shared evaluation folder, loaded once per test run.</summary>
public static class TestData
{
    private static readonly Lazy<InteractionDataset> LazyDataset = new(() => MovieLensReader.Read(MovieLensPath));
    private static readonly Lazy<DataSplit> LazySplit = new(() => LeaveOneOutSplit.Create(Dataset));

    /// <summary>The bundled ratings file, copied next to the test assembly.</summary>
    public static string MovieLensPath => Path.Combine(AppContext.BaseDirectory, "data", "movielens-small", "ratings.csv.gz");

    /// <summary>The bundled MovieLens dataset.</summary>
    public static InteractionDataset Dataset => LazyDataset.Value;

    /// <summary>The canonical leave-one-out split of <see cref="Dataset"/>.</summary>
    public static DataSplit Split => LazySplit.Value;

    /// <summary>The repository root (the folder holding GenRec.Sdk.sln).</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>
    /// The shared evaluation folder (<c>../shared/eval</c> beside the checkout) with the independent scorer, or
    /// <see langword="null"/> when this checkout has none beside it.
    /// </summary>
    public static string? SharedEval =>
        Path.Combine(RepositoryRoot, "..", "shared", "eval") is var p && File.Exists(Path.Combine(p, "score.py")) ? Path.GetFullPath(p) : null;

    /// <summary>A fresh temporary folder, deleted when disposed.</summary>
    public static TempFolder TempFolder() => new();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "GenRec.Sdk.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No GenRec.Sdk.sln above {AppContext.BaseDirectory}.");
    }
}

/// <summary>A temporary folder removed on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    /// <summary>Creates the folder.</summary>
    public TempFolder()
    {
        Path = Directory.CreateTempSubdirectory("genrec-test-").FullName;
    }

    /// <summary>The folder's path.</summary>
    public string Path { get; }

    /// <summary>A path inside the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <inheritdoc />
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

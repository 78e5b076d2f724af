using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using GenRec.Cascade;
using GenRec.Data;
using Microsoft.ML;

namespace GenRec.Baselines;

/// <summary>
/// The saved form of a <see cref="DlrmCascadeModel"/>: one zip file with <c>cascade.json</c> (format, version, the trainer's
/// settings, the grid and the setting kept, the ranker's feature names, and a fingerprint of the train part it was fitted
/// on) and <c>ranker.zip</c> (the LambdaRank model as ML.NET saves it).
/// </summary>
internal static class DlrmCascadeFile
{
    public const string Format = "genrec-dlrm-cascade";
    public const int Version = 1;
    private const string ManifestEntry = "cascade.json";
    private const string RankerEntry = "ranker.zip";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    internal sealed record Manifest(
        string Format,
        int Version,
        string TrainFingerprint,
        int TrainInteractions,
        ClassicRecallOptions Recall,
        int PopularityQuota,
        int RecentPopularityQuota,
        int ItemCfQuota,
        int GenreQuota,
        int RankingDepth,
        int QueriesPerUser,
        int Seed,
        string[] FeatureNames,
        string[] ExtraChannels,
        int[] ExtraChannelQuotas,
        DlrmGridResult[] Grid,
        DlrmGridResult Chosen,
        QuerySummary TrainingQueries,
        QuerySummary ValidationQueries);

    /// <summary>SHA-256 over the train part's (user, item, time, rating) in order: what the recall channels are counted from.</summary>
    public static string Fingerprint(IReadOnlyList<Interaction> train)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> row = stackalloc byte[28];
        foreach (var i in train)
        {
            BitConverter.TryWriteBytes(row[..8], i.User.Value);
            BitConverter.TryWriteBytes(row[8..16], i.Item.Value);
            BitConverter.TryWriteBytes(row[16..24], i.Timestamp);
            BitConverter.TryWriteBytes(row[24..28], i.Rating);
            hash.AppendData(row);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public static void Save(string path, Manifest manifest, MLContext ml, ITransformer ranker, int featureCount)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);

        // Written beside the target and moved over it, so a crash never leaves a half-written cascade under its name.
        var partial = path + ".partial";
        using (var file = File.Create(partial))
        using (var zip = new ZipArchive(file, ZipArchiveMode.Create))
        {
            using (var entry = zip.CreateEntry(ManifestEntry).Open())
            {
                JsonSerializer.Serialize(entry, manifest, Json);
            }

            using (var entry = zip.CreateEntry(RankerEntry).Open())
            {
                ml.Model.Save(ranker, ml.Data.LoadFromEnumerable(Array.Empty<FeatureRow>(), RankerSchemas.For<FeatureRow>(featureCount)).Schema, entry);
            }
        }

        File.Move(partial, path, overwrite: true);
    }

    public static (Manifest Manifest, MLContext Ml, ITransformer Ranker) Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"There is no saved DLRM cascade at '{path}'.", path);
        }

        try
        {
            using var zip = ZipFile.OpenRead(path);
            var manifestEntry = zip.GetEntry(ManifestEntry) ?? throw new InvalidDataException($"'{path}' is not a saved DLRM cascade: it has no {ManifestEntry}.");
            Manifest manifest;
            using (var stream = manifestEntry.Open())
            {
                manifest = JsonSerializer.Deserialize<Manifest>(stream, Json) ?? throw new InvalidDataException($"'{path}': {ManifestEntry} is empty.");
            }

            if (manifest.Format != Format)
            {
                throw new InvalidDataException($"'{path}' is a '{manifest.Format}' file, not a saved DLRM cascade ('{Format}').");
            }

            if (manifest.Version != Version)
            {
                throw new InvalidDataException($"'{path}' is a saved DLRM cascade of format version {manifest.Version}; this version of GenRec.Baselines reads version {Version}. Train and save it again.");
            }

            var rankerEntry = zip.GetEntry(RankerEntry) ?? throw new InvalidDataException($"'{path}' has no {RankerEntry}: the file is damaged.");
            var ml = new MLContext(manifest.Seed);
            using var copy = new MemoryStream();
            using (var stream = rankerEntry.Open())
            {
                stream.CopyTo(copy);
            }

            copy.Position = 0;
            var ranker = ml.Model.Load(copy, out _);
            return (manifest, ml, ranker);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"'{path}' is not a readable saved DLRM cascade: {e.Message}", e);
        }
        catch (InvalidDataException e) when (!e.Message.Contains(path, StringComparison.Ordinal))
        {
            // ZipArchive's own "End of Central Directory record could not be found" and the like: say which file.
            throw new InvalidDataException($"'{path}' is damaged or truncated: {e.Message}", e);
        }
    }
}

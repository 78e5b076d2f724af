namespace GenRec.Data;

/// <summary>
/// Reads MovieLens rating logs: <see cref="EventLogReader"/> with the <see cref="EventLogSchema.MovieLens"/> mapping. A
/// CSV file, plain or gzip-compressed, with a header naming at least <c>userId</c>, <c>movieId</c> and <c>timestamp</c>,
/// and optionally <c>rating</c>, <c>title</c>, <c>year</c> and <c>genres</c> (pipe-separated). The bundled file
/// (<c>movieId,title,year,genres,userId,rating,timestamp</c>) carries all of them; the GroupLens <c>ratings.csv</c>
/// (<c>userId,movieId,rating,timestamp</c>) reads too, with empty item metadata.
/// </summary>
public static class MovieLensReader
{
    /// <summary>Reads a rating log.</summary>
    /// <param name="path">The CSV or CSV.GZ file.</param>
    /// <returns>The interactions in file order and the items they name.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The header lacks a required column, or a row is malformed; the message names the line and the column.</exception>
    public static InteractionDataset Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The ratings file '{path}' does not exist.", path);
        }

        return EventLogReader.Read(path, EventLogSchema.MovieLens).Dataset;
    }

    /// <summary>Reads a rating log from an uncompressed CSV stream.</summary>
    /// <param name="csv">The CSV text.</param>
    /// <param name="sourceName">A name for the source, used in error messages.</param>
    /// <returns>The interactions in file order and the items they name.</returns>
    /// <exception cref="InvalidDataException">The header lacks a required column, or a row is malformed.</exception>
    public static InteractionDataset Read(Stream csv, string sourceName = "ratings.csv")
    {
        ArgumentNullException.ThrowIfNull(csv);
        return EventLogReader.ReadStream(csv, sourceName, EventLogSchema.MovieLens).Dataset;
    }
}

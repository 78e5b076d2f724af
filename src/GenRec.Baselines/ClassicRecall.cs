using GenRec.Data;

namespace GenRec.Baselines;

/// <summary>
/// The recall channels of a classical cascade, fitted on training interactions: global popularity, recent
/// popularity, item-to-item co-occurrence and genre affinity. Each is an <see cref="IRecallStage"/>, so any of
/// them can be replaced or joined by a generative channel. Thread-safe once fitted.
/// </summary>
public sealed class ClassicRecall
{
    private ClassicRecall(InteractionStatistics stats)
    {
        Profiles = new UserProfile.Cache(stats);
        Popularity = new PopularityRecall(Profiles);
        RecentPopularity = new RecentPopularityRecall(Profiles);
        ItemCf = new ItemCfRecall(Profiles);
        GenreAffinity = new GenreAffinityRecall(Profiles);
    }

    /// <summary>Fits the channels.</summary>
    /// <param name="train">The training interactions.</param>
    /// <param name="dataset">The dataset whose catalogue and item metadata the channels use.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <returns>The fitted channels.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it.</exception>
    public static ClassicRecall Fit(IReadOnlyList<Interaction> train, InteractionDataset dataset, ClassicRecallOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(dataset);
        options ??= new ClassicRecallOptions();
        options.Validate();
        return new ClassicRecall(new InteractionStatistics(train, dataset.Catalogue, dataset.Items, options));
    }

    /// <summary>Global popularity: training counts, ties by ascending item id.</summary>
    public IRecallStage Popularity { get; }

    /// <summary>Popularity over the last <see cref="ClassicRecallOptions.RecentWindowEvents"/> interactions before the request time.</summary>
    public IRecallStage RecentPopularity { get; }

    /// <summary>Item-to-item co-occurrence over the user's recent items, filled with popular items when short.</summary>
    public IRecallStage ItemCf { get; }

    /// <summary>Items in the genres of the user's recent history, weighted by popularity.</summary>
    public IRecallStage GenreAffinity { get; }

    /// <summary>All four channels, in the order above.</summary>
    public IReadOnlyList<IRecallStage> All => [Popularity, RecentPopularity, ItemCf, GenreAffinity];

    internal UserProfile.Cache Profiles { get; }
}

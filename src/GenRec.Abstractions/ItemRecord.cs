namespace GenRec;

/// <summary>
/// What the SDK knows about an item: the text a content embedder reads, its categories, when it was
/// published, and an optional dense vector the team already has.
/// </summary>
/// <param name="Id">The item's id.</param>
/// <param name="Text">A human-readable text (title, name). Never <see langword="null"/>; may be empty.</param>
/// <param name="Categories">Categories or genres, in the order the source gave them.</param>
public sealed record ItemRecord(ItemId Id, string Text, IReadOnlyList<string> Categories)
{
    /// <summary>When the item was published or released, if known. Default: <see langword="null"/>.</summary>
    public DateTimeOffset? PublishedAt { get; init; }

    /// <summary>A dense vector for the item supplied by the team, if any. Default: empty.</summary>
    public ReadOnlyMemory<float> Vector { get; init; }
}

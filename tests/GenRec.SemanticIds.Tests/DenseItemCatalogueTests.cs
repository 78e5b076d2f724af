namespace GenRec.SemanticIds.Tests;

/// <summary>The dense catalogue's fresh-items index: the items a model has no collaborative vector for, searched apart.</summary>
public sealed class DenseItemCatalogueTests
{
    private static ItemEmbeddings Unit(params (long Item, float X, float Y)[] rows) =>
        ItemEmbeddings.FromRows(rows.Select(r =>
        {
            var n = MathF.Sqrt((r.X * r.X) + (r.Y * r.Y));
            return (new ItemId(r.Item), (ReadOnlyMemory<float>)new[] { r.X / n, r.Y / n });
        }));

    private static RecommendationRequest Request(params long[] history) =>
        new(new UserId(1), [.. history.Select((h, i) => new UserEvent(new UserId(1), new ItemId(h), ActionType.Click, DateTimeOffset.UnixEpoch.AddDays(i)))], 10, DateTimeOffset.UnixEpoch.AddDays(30));

    [Fact]
    public void Fresh_recall_returns_only_untrained_items_best_first_and_grows_with_added_items()
    {
        var vectors = Unit((1, 1, 0), (2, 0.9f, 0.1f), (3, 0.8f, 0.2f), (4, 0, 1));
        var catalogue = DenseItemCatalogue.Create(vectors, vectors, new HashSet<ItemId> { new(1), new(2) });
        float[] query = [1, 0];

        Assert.Equal([1L, 2, 3, 4], catalogue.Recall(Request(), query, 4, "dense").Select(c => c.Item.Value));
        Assert.Equal([3L, 4], catalogue.RecallFresh(Request(), query, 4, "dense-new").Select(c => c.Item.Value));
        Assert.Equal([4L], catalogue.RecallFresh(Request(3), query, 4, "dense-new").Select(c => c.Item.Value)); // never the history
        Assert.All(catalogue.RecallFresh(Request(), query, 4, "dense-new"), c => Assert.Equal("dense-new", c.Source));

        // An item added later has no collaborative vector: it joins the fresh index; a trained item re-added does not.
        var added = Unit((5, 0.95f, 0.05f), (1, 1, 0.01f));
        var grown = catalogue.WithItems(added, added);

        Assert.Equal([5L, 3, 4], grown.RecallFresh(Request(), query, 4, "dense-new").Select(c => c.Item.Value));
        Assert.Equal([3L, 4], catalogue.RecallFresh(Request(), query, 4, "dense-new").Select(c => c.Item.Value)); // the old version is unchanged
    }

    [Fact]
    public void A_catalogue_made_without_its_trained_items_has_no_fresh_index()
    {
        var vectors = Unit((1, 1, 0), (2, 0, 1));
        var catalogue = DenseItemCatalogue.Create(vectors, vectors);

        Assert.Null(catalogue.Fresh);
        Assert.Contains("trained", Assert.Throws<InvalidOperationException>(() => catalogue.RecallFresh(Request(), [1f, 0f], 2, "dense-new")).Message, StringComparison.Ordinal);
        var allTrained = DenseItemCatalogue.Create(vectors, vectors, new HashSet<ItemId> { new(1), new(2) });
        Assert.Empty(allTrained.RecallFresh(Request(), [1f, 0f], 2, "dense-new"));
    }
}

namespace GenRec.Data.Tests;

public sealed class InteractionStoreTests
{
    [Fact]
    public void Rows_read_back_as_written_across_blocks_with_their_index_as_row()
    {
        var store = new InteractionStore();
        const int n = (1 << 20) + 1_000; // into a second block
        for (var i = 0; i < n; i++)
        {
            store.Add(user: 1_000_000_000_000L + (i / 7), item: i % 977, value: i % 3 == 0 ? float.NaN : i * 0.5f, timestamp: 1_700_000_000L + i, action: i % 5 == 0 ? null : (ActionType)(i % 8));
        }

        store.Trim();

        Assert.Equal(n, store.Count);
        foreach (var i in new[] { 0, 1, 6, 7, (1 << 20) - 1, 1 << 20, n - 1 })
        {
            var row = store[i];
            Assert.Equal(new UserId(1_000_000_000_000L + (i / 7)), row.User);
            Assert.Equal(new ItemId(i % 977), row.Item);
            Assert.Equal(i % 3 == 0 ? float.NaN : i * 0.5f, row.Rating);
            Assert.Equal(1_700_000_000L + i, row.Timestamp);
            Assert.Equal(i, row.Row);
            Assert.Equal(i % 5 == 0 ? null : (ActionType)(i % 8), row.Action);
        }

        Assert.Equal(n, store.AsEnumerable().Select((_, i) => i).Last() + 1); // the enumerator walks every row
        Assert.Throws<ArgumentOutOfRangeException>(() => store[n]);
    }

    [Fact]
    public void Times_far_apart_in_one_block_are_kept_whole()
    {
        var store = new InteractionStore();
        long[] times = [1_700_000_000, -5_000_000_000, 1_700_000_001, long.MaxValue / 2, 0];
        foreach (var t in times)
        {
            store.Add(1, 2, float.NaN, t, null);
        }

        store.Trim();

        Assert.Equal(times, store.Select(i => i.Timestamp));
    }

    [Fact]
    public void A_dataset_over_a_store_is_the_dataset_over_the_same_list()
    {
        var store = new InteractionStore();
        var list = new List<Interaction>();
        var random = new Random(5);
        for (var i = 0; i < 5_000; i++)
        {
            long user = random.Next(300), item = random.Next(1, 400);
            store.Add(user, item, random.Next(10) / 2f, random.Next(1_000_000), ActionType.Click);
            list.Add(store[i]);
        }

        var items = list.Select(i => i.Item).Distinct().Append(new ItemId(10_000)).Select(i => new ItemRecord(i, string.Empty, [])).ToArray();
        var fromStore = new InteractionDataset(store, items);
        var fromList = new InteractionDataset(list, items);

        Assert.Equal(fromList.Interactions, fromStore.Interactions);
        Assert.Equal(fromList.Users, fromStore.Users);
        Assert.Equal(fromList.Catalogue, fromStore.Catalogue);
        Assert.Equal(fromList.UserSequences().SelectMany(s => s.Interactions), fromStore.UserSequences().SelectMany(s => s.Interactions));
        Assert.Throws<ArgumentException>(() => new InteractionDataset(store, items[1..]));
    }
}

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
    public void Runs_added_as_columns_are_the_rows_added_one_by_one_across_blocks()
    {
        // The Parquet reader appends a row group at a time; a run that crosses a block must split as single rows would.
        var (one, runs) = (new InteractionStore(), new InteractionStore());
        const int n = (1 << 20) + 3_000;
        long[] users = [.. Enumerable.Range(0, n).Select(i => 5_000_000_000L + ((i / 11) % 4_001))];
        long[] items = [.. Enumerable.Range(0, n).Select(i => (long)((i * 31) % 1_009))];
        float[] values = [.. Enumerable.Range(0, n).Select(i => i % 4 == 0 ? float.NaN : i * 0.25f)];
        long[] times = [.. Enumerable.Range(0, n).Select(i => i == 700_000 ? -4_000_000_000L : 1_700_000_000L + i)];
        byte[] actions = [.. Enumerable.Range(0, n).Select(i => i % 6 == 0 ? InteractionStore.NoAction : (byte)(i % 8))];
        for (var i = 0; i < n; i++)
        {
            one.Add(users[i], items[i], values[i], times[i], actions[i] == InteractionStore.NoAction ? null : (ActionType)actions[i]);
        }

        foreach (var (start, length) in new[] { (0, 1), (1, 1_000_000), (1_000_001, 50_000), (1_050_001, n - 1_050_001) })
        {
            runs.AddRange(users.AsSpan(start, length), items.AsSpan(start, length), values.AsSpan(start, length), times.AsSpan(start, length), actions.AsSpan(start, length));
        }

        one.Trim();
        runs.Trim();

        Assert.Equal(one.Count, runs.Count);
        Assert.Equal(one.UserIds, runs.UserIds);
        Assert.Equal(one.ItemIds, runs.ItemIds);
        Assert.True(one.SequenceEqual(runs)); // every row: ids, value (NaN too), time (a block with a time far apart), action
        Assert.Throws<ArgumentException>(() => runs.AddRange(users.AsSpan(0, 2), items.AsSpan(0, 1), values.AsSpan(0, 2), times.AsSpan(0, 2), actions.AsSpan(0, 2)));
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

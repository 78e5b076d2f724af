using System.Text;
using GenRec.Data;
using GenRec.TestSupport;

namespace GenRec.Baselines.Tests;

public sealed class ClassicRecallTests
{
    private static readonly Lazy<ClassicRecall> Fitted = new(() => ClassicRecall.Fit(TestData.Split.TrainInteractions, TestData.Dataset));

    private static RecommendationRequest TestRequest(UserId user, int count)
    {
        var c = TestData.Split.Case(user, SplitTarget.Test);
        return new RecommendationRequest(user, c.HistoryEvents(), count, c.Target.Time);
    }

    [Fact]
    public async Task Popularity_ranks_by_training_count_with_ties_by_ascending_id()
    {
        var expected = TestData.Split.TrainInteractions
            .GroupBy(i => i.Item)
            .Select(g => (Item: g.Key, Count: g.Count()))
            .OrderByDescending(g => g.Count).ThenBy(g => g.Item.Value)
            .Select(g => g.Item)
            .Take(50);
        var request = new RecommendationRequest(new UserId(999_999), [], 50, DateTimeOffset.UnixEpoch);

        var got = await Fitted.Value.Popularity.RecallAsync(request, 50);

        Assert.Equal(expected, got.Select(c => c.Item));
    }

    [Fact]
    public async Task Every_channel_excludes_the_history_and_never_repeats_an_item()
    {
        var request = TestRequest(new UserId(15), 200); // a heavy user: 1,700 history items
        foreach (var channel in Fitted.Value.All)
        {
            var got = await channel.RecallAsync(request, 200);

            Assert.NotEmpty(got);
            Assert.DoesNotContain(got, c => request.HistoryItems.Contains(c.Item));
            Assert.Equal(got.Count, got.Select(c => c.Item).Distinct().Count());
            Assert.All(got, c => Assert.Equal(channel.Name, c.Source));
        }
    }

    [Fact]
    public async Task Genre_recall_orders_by_score_then_popularity_past_the_first_selection()
    {
        // The channel selects its best thousand or so first and sorts the rest only when a request reaches past them:
        // a heavy user (1,700 history items excluded) asking for 3,000 must get the same order as for everything.
        var request = TestRequest(new UserId(15), 3_000);
        var channel = Fitted.Value.GenreAffinity;
        var counts = TestData.Split.TrainInteractions.GroupBy(i => i.Item).ToDictionary(g => g.Key, g => g.Count());

        var all = await channel.RecallAsync(request, TestData.Dataset.Catalogue.Count);
        var some = await channel.RecallAsync(request, 3_000);

        Assert.Equal(TestData.Dataset.Catalogue.Count - request.HistoryItems.Count, all.Count);
        Assert.Equal(all.Take(3_000), some);
        for (var i = 1; i < all.Count; i++)
        {
            var (before, after) = (all[i - 1], all[i]);
            Assert.True(before.Score >= after.Score, $"{i}: score {before.Score} before {after.Score}");
            if (before.Score == after.Score)
            {
                var (b, a) = (counts.GetValueOrDefault(before.Item), counts.GetValueOrDefault(after.Item));
                Assert.True(b > a || (b == a && before.Item.Value < after.Item.Value), $"{i}: a tie is broken by popularity");
            }
        }
    }

    [Fact]
    public async Task Item_cf_fills_with_popular_items_for_an_empty_history()
    {
        var request = new RecommendationRequest(new UserId(999_999), [], 100, DateTimeOffset.UtcNow);

        var itemCf = await Fitted.Value.ItemCf.RecallAsync(request, 100);
        var popularity = await Fitted.Value.Popularity.RecallAsync(request, 100);

        Assert.Equal(popularity.Select(c => c.Item), itemCf.Select(c => c.Item));
    }

    [Fact]
    public async Task Item_cf_follows_the_last_item_watched()
    {
        // Star Wars (260) is most often followed by its sequels in MovieLens.
        var request = new RecommendationRequest(
            new UserId(999_999),
            [new UserEvent(new UserId(999_999), new ItemId(260), ActionType.Rate, DateTimeOffset.UnixEpoch, 5)],
            10,
            DateTimeOffset.UtcNow);

        var got = (await Fitted.Value.ItemCf.RecallAsync(request, 10)).Select(c => c.Item.Value).ToArray();

        Assert.Contains(1196L, got); // The Empire Strikes Back
        Assert.Contains(1210L, got); // Return of the Jedi
    }

    [Fact]
    public async Task Unknown_history_items_are_excluded_but_do_not_break_recall()
    {
        var user = new UserId(1);
        var request = new RecommendationRequest(
            user,
            [new UserEvent(user, new ItemId(-42), ActionType.View, DateTimeOffset.UnixEpoch), new UserEvent(user, new ItemId(260), ActionType.View, DateTimeOffset.UnixEpoch)],
            20,
            DateTimeOffset.UtcNow);

        foreach (var channel in Fitted.Value.All)
        {
            var got = await channel.RecallAsync(request, 20);
            Assert.Equal(20, got.Count);
            Assert.DoesNotContain(got, c => c.Item.Value is -42 or 260);
        }
    }

    [Fact]
    public async Task Recent_popularity_sees_only_interactions_before_the_request_time()
    {
        // Item 1 is watched by everyone early, item 2 by everyone late.
        var csv = new StringBuilder("userId,movieId,timestamp\n");
        for (var u = 1; u <= 20; u++)
        {
            csv.Append($"{u},1,{100 + u}\n{u},2,{1000 + u}\n");
        }

        var data = MovieLensReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(csv.ToString())), "time.csv");
        var recall = ClassicRecall.Fit(data.Interactions, data);
        RecommendationRequest At(long t) => new(new UserId(99), [], 2, DateTimeOffset.FromUnixTimeSeconds(t));

        var early = await recall.RecentPopularity.RecallAsync(At(500), 2);
        var late = await recall.RecentPopularity.RecallAsync(At(5000), 2);

        Assert.Equal(new long[] { 1 }, early.Select(c => c.Item.Value)); // item 2 does not exist yet at t=500
        Assert.Equal(2, late.Count);
        Assert.Equal(20, early[0].Score);
    }

    [Fact]
    public void Options_out_of_range_are_refused_by_name()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            ClassicRecall.Fit(TestData.Split.TrainInteractions, TestData.Dataset, new ClassicRecallOptions { RecencyDecay = 0 }));
        Assert.Contains("RecencyDecay", e.Message, StringComparison.Ordinal);
    }
}

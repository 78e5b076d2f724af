using GenRec.TestSupport;

namespace GenRec.Data.Tests;

public sealed class ActionSplitTests
{
    [Fact]
    public void Targets_are_the_last_two_events_of_the_target_actions_and_every_earlier_event_is_context()
    {
        // User 1: impression, click, impression, purchase, impression, click, purchase, impression.
        ActionType[] kinds = [ActionType.Impression, ActionType.Click, ActionType.Impression, ActionType.Purchase, ActionType.Impression, ActionType.Click, ActionType.Purchase, ActionType.Impression];
        var events = kinds.Select((a, i) => new Interaction(new UserId(1), new ItemId(10 + i), float.NaN, 100 + i, i) { Action = a }).ToList();
        // User 2: one purchase only; user 3: two purchases with nothing before the first.
        events.Add(new Interaction(new UserId(2), new ItemId(10), float.NaN, 100, events.Count) { Action = ActionType.Purchase });
        events.Add(new Interaction(new UserId(2), new ItemId(11), float.NaN, 101, events.Count) { Action = ActionType.Click });
        events.Add(new Interaction(new UserId(3), new ItemId(12), float.NaN, 100, events.Count) { Action = ActionType.Purchase });
        events.Add(new Interaction(new UserId(3), new ItemId(13), float.NaN, 101, events.Count) { Action = ActionType.Purchase });
        var dataset = new InteractionDataset(events, events.Select(e => e.Item).Distinct().Select(i => new ItemRecord(i, string.Empty, [])));

        var split = LeaveOneOutSplit.Create(dataset, new HashSet<ActionType> { ActionType.Purchase });

        var test = Assert.Single(split.Cases(SplitTarget.Test));
        Assert.Equal(new ItemId(16), test.Target.Item);
        Assert.Equal(6, test.History.Count); // every action before the target is context
        var valid = Assert.Single(split.Cases(SplitTarget.Valid));
        Assert.Equal(new ItemId(13), valid.Target.Item);
        Assert.Equal(3, valid.History.Count);
        Assert.Equal(3, split.Train.Single(s => s.User == new UserId(1)).Interactions.Count);
        Assert.Equal(2, split.Train.Single(s => s.User == new UserId(2)).Interactions.Count); // too few purchases: all train
        Assert.Equal(2, split.Train.Single(s => s.User == new UserId(3)).Interactions.Count); // nothing before the first
        Assert.Equal("leave-one-out on Purchase", split.Name);
    }

    [Fact]
    public void With_every_action_as_a_target_it_is_the_canonical_split()
    {
        var dataset = TestData.Dataset;
        var canonical = LeaveOneOutSplit.Create(dataset);
        var all = LeaveOneOutSplit.Create(dataset, Enum.GetValues<ActionType>().ToHashSet());

        Assert.Equal(canonical.TrainInteractions, all.TrainInteractions);
        foreach (var target in new[] { SplitTarget.Valid, SplitTarget.Test })
        {
            Assert.Equal(canonical.Cases(target).Select(c => (c.User, c.Target, c.History.Count)), all.Cases(target).Select(c => (c.User, c.Target, c.History.Count)));
        }

        Assert.Throws<ArgumentException>(() => LeaveOneOutSplit.Create(dataset, new HashSet<ActionType>()));
    }

    [Fact]
    public void A_request_can_leave_out_only_the_items_of_some_actions()
    {
        UserEvent Event(long item, ActionType action) => new(new UserId(1), new ItemId(item), action, DateTimeOffset.UnixEpoch);
        var history = new[] { Event(1, ActionType.Impression), Event(2, ActionType.Purchase), Event(3, ActionType.Click) };

        var all = new RecommendationRequest(new UserId(1), history, 10, DateTimeOffset.UnixEpoch);
        var clicks = all with { ExcludeHistoryActions = new HashSet<ActionType> { ActionType.Click } };
        Assert.Equal([new ItemId(3)], clicks.ExcludedHistoryItems);
        var purchases = clicks with { ExcludeHistoryActions = new HashSet<ActionType> { ActionType.Purchase } }; // not the copied cache

        Assert.True(all.IsExcluded(new ItemId(1)) && all.IsExcluded(new ItemId(2)) && all.IsExcluded(new ItemId(3)));
        Assert.Equal([new ItemId(2)], purchases.ExcludedHistoryItems);
        Assert.False(purchases.IsExcluded(new ItemId(1)));
        Assert.True(purchases.IsExcluded(new ItemId(2)));
        Assert.Equal(3, purchases.HistoryItems.Count); // the history itself is unchanged
    }
}

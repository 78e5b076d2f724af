using GenRec.TestSupport;

namespace GenRec.Data.Tests;

public sealed class ActionSplitTests
{
    private static readonly HashSet<ActionType> Purchases = [ActionType.Purchase];

    /// <summary>
    /// User 1: impression, click, impression, purchase, impression, click, purchase, impression (items 10–17); user 2:
    /// one purchase then a click; user 3: two purchases with nothing before the first.
    /// </summary>
    private static InteractionDataset SmallLog()
    {
        ActionType[] kinds = [ActionType.Impression, ActionType.Click, ActionType.Impression, ActionType.Purchase, ActionType.Impression, ActionType.Click, ActionType.Purchase, ActionType.Impression];
        var events = kinds.Select((a, i) => new Interaction(new UserId(1), new ItemId(10 + i), float.NaN, 100 + i, i) { Action = a }).ToList();
        events.Add(new Interaction(new UserId(2), new ItemId(10), float.NaN, 100, events.Count) { Action = ActionType.Purchase });
        events.Add(new Interaction(new UserId(2), new ItemId(11), float.NaN, 101, events.Count) { Action = ActionType.Click });
        events.Add(new Interaction(new UserId(3), new ItemId(12), float.NaN, 100, events.Count) { Action = ActionType.Purchase });
        events.Add(new Interaction(new UserId(3), new ItemId(13), float.NaN, 101, events.Count) { Action = ActionType.Purchase });
        return new InteractionDataset(events, events.Select(e => e.Item).Distinct().Select(i => new ItemRecord(i, string.Empty, [])));
    }

    [Fact]
    public void Targets_are_the_last_two_events_of_the_target_actions_and_every_earlier_event_is_context()
    {
        var split = LeaveOneOutSplit.Create(SmallLog(), Purchases);

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
        Assert.Equal(Purchases, split.TargetActions);
        Assert.Null(split.ContextActions);
    }

    [Fact]
    public void A_context_split_keeps_only_those_actions_in_train_and_histories_and_the_same_targets()
    {
        var split = LeaveOneOutSplit.Create(SmallLog(), Purchases);
        var context = split.WithContext(new HashSet<ActionType> { ActionType.Click, ActionType.Purchase });

        // User 1 reads click 11, purchase 13 (validation target), click 15 before the test target 16; no impression.
        var test = Assert.Single(context.Cases(SplitTarget.Test));
        Assert.Equal(split.Cases(SplitTarget.Test)[0].Target, test.Target);
        Assert.Equal([11, 13, 15], test.History.Select(e => (int)e.Item.Value));
        var valid = Assert.Single(context.Cases(SplitTarget.Valid));
        Assert.Equal(split.Cases(SplitTarget.Valid)[0].Target, valid.Target);
        Assert.Equal([11], context.Train.Single(s => s.User == new UserId(1)).Interactions.Select(e => (int)e.Item.Value));
        Assert.Equal(2, context.Train.Single(s => s.User == new UserId(2)).Interactions.Count);
        Assert.DoesNotContain(context.TrainInteractions, e => e.EffectiveAction == ActionType.Impression);
        Assert.Equal(Purchases, context.TargetActions);
        Assert.Equal("leave-one-out on Purchase, context Click, Purchase", context.Name);

        // A validation target keeps its place in the test history whatever its action (here: clicks only as context).
        var clicksOnly = split.WithContext(new HashSet<ActionType> { ActionType.Click });
        Assert.Equal([11, 13, 15], clicksOnly.Cases(SplitTarget.Test)[0].History.Select(e => (int)e.Item.Value));
        Assert.Throws<ArgumentException>(() => split.WithContext(new HashSet<ActionType>()));
    }

    [Fact]
    public void Every_action_as_context_changes_nothing()
    {
        var canonical = LeaveOneOutSplit.Create(TestData.Dataset);
        var context = canonical.WithContext(Enum.GetValues<ActionType>().ToHashSet());

        Assert.Equal(canonical.TrainInteractions, context.TrainInteractions);
        foreach (var target in new[] { SplitTarget.Valid, SplitTarget.Test })
        {
            Assert.Equal(canonical.Cases(target).Select(c => (c.User, c.Target, c.History.Count)), context.Cases(target).Select(c => (c.User, c.Target, c.History.Count)));
        }
    }

    [Fact]
    public void Pseudo_targets_of_the_train_part_are_its_last_events_of_the_target_actions()
    {
        // User 1's train part: impression 10, click 11, impression 12 (before the validation purchase 13).
        var log = SmallLog();
        var onPurchases = LeaveOneOutSplit.Create(log, Purchases);
        var train = onPurchases.Train.Single(s => s.User == new UserId(1)).Interactions;
        Assert.Empty(onPurchases.LastTrainTargets(train, 1)); // no purchase in the train part

        var canonical = LeaveOneOutSplit.Create(log);
        var sequence = canonical.Train.Single(s => s.User == new UserId(1)).Interactions;
        Assert.Equal([sequence.Count - 2, sequence.Count - 1], canonical.LastTrainTargets(sequence, 2));
        Assert.Empty(canonical.LastTrainTargets(sequence.Take(2).ToArray(), 2)); // a target needs an earlier event

        // On impressions (targets 17 and 14), user 1's train part 10–13 has its last impression at 12.
        var onImpressions = LeaveOneOutSplit.Create(log, new HashSet<ActionType> { ActionType.Impression });
        var impressionTrain = onImpressions.Train.Single(s => s.User == new UserId(1)).Interactions;
        var targets = onImpressions.LastTrainTargets(impressionTrain, 1);
        Assert.Equal(new ItemId(12), impressionTrain[Assert.Single(targets)].Item);

        // Holding out the pseudo-targets cuts each user's train part where the first of them starts.
        var heldOut = onImpressions.HoldOutLastTrain(1);
        Assert.Equal(2, heldOut.Train.Single(s => s.User == new UserId(1)).Interactions.Count);
        Assert.Equal(onImpressions.Cases(SplitTarget.Test).Select(c => c.History.Count), heldOut.Cases(SplitTarget.Test).Select(c => c.History.Count));
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

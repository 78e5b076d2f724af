using GenRec.Data.Synthetic;
using GenRec.TestSupport;

namespace GenRec.Data.Tests;

public sealed class ColdStartSplitTests
{
    private static readonly Lazy<ColdStartSplit> Cold = new(() => ColdStartSplit.Create(TestData.Dataset, 0.2, seed: 42));

    [Fact]
    public void No_cold_item_is_learned_from_or_validated_on_and_every_test_target_is_the_canonical_one()
    {
        var cold = Cold.Value;
        var split = cold.Split;

        Assert.DoesNotContain(split.TrainInteractions, i => cold.ColdItems.Contains(i.Item));
        Assert.DoesNotContain(split.Cases(SplitTarget.Valid), c => cold.ColdItems.Contains(c.Target.Item));
        Assert.DoesNotContain(split.Cases(SplitTarget.Test), c => c.History.Any(h => cold.ColdItems.Contains(h.Item)));
        var canonical = TestData.Split.Cases(SplitTarget.Test).ToDictionary(c => c.User, c => c.Target);
        var cases = split.Cases(SplitTarget.Test);
        Assert.Equal(canonical.Count, cases.Count);
        Assert.All(cases, c => Assert.Equal(canonical[c.User], c.Target));
    }

    [Fact]
    public void The_cold_share_of_the_catalogue_is_chosen_by_the_seed_and_the_catalogue_keeps_every_item()
    {
        var cold = Cold.Value;
        var catalogue = TestData.Dataset.Catalogue;

        Assert.Equal(catalogue, cold.Split.Dataset.Catalogue);
        Assert.Equal((int)Math.Round(0.2 * catalogue.Count), cold.ColdItems.Count);
        Assert.Equal(cold.ColdItems.Order(), ColdStartSplit.Create(TestData.Dataset, 0.2, seed: 42).ColdItems.Order());
        Assert.NotEqual(cold.ColdItems.Order(), ColdStartSplit.Create(TestData.Dataset, 0.2, seed: 7).ColdItems.Order());
    }

    [Fact]
    public void Cold_target_users_are_exactly_those_whose_test_item_is_cold()
    {
        var cold = Cold.Value;
        var expected = cold.Split.Cases(SplitTarget.Test).Where(c => cold.ColdItems.Contains(c.Target.Item)).Select(c => c.User).Order();

        Assert.Equal(expected, cold.ColdTargetUsers.Order());
        Assert.InRange(cold.ColdTargetUsers.Count, 50, 400); // a fifth of the catalogue holds a share of the test targets
    }

    [Fact]
    public void The_tuning_split_holds_out_the_validation_targets_and_never_reads_a_test_target()
    {
        var tuning = ColdStartSplit.CreateForTuning(TestData.Dataset, 0.2, seed: 42);
        var canonicalTest = TestData.Split.Cases(SplitTarget.Test).Select(c => c.Target).ToHashSet();
        var canonicalValid = TestData.Split.Cases(SplitTarget.Valid).ToDictionary(c => c.User, c => c.Target);

        Assert.Equal(43, tuning.Seed);
        Assert.DoesNotContain(tuning.Split.Dataset.Interactions, canonicalTest.Contains);
        var cases = tuning.Split.Cases(SplitTarget.Test);
        Assert.Equal(canonicalValid.Count, cases.Count);
        Assert.All(cases, c => Assert.Equal(canonicalValid[c.User], c.Target));
        Assert.DoesNotContain(tuning.Split.TrainInteractions, i => tuning.ColdItems.Contains(i.Item));
        Assert.InRange(tuning.ColdTargetUsers.Count, 50, 400);
    }

    [Fact]
    public void On_purchases_the_test_targets_are_the_target_action_splits_and_no_cold_item_is_learned_from()
    {
        // A multi-behaviour log evaluated on purchases: the cold split holds out what LeaveOneOutSplit does on purchases.
        var dataset = EventLogSimulator.Generate(new SimulatorOptions { Events = 40_000, Seed = 7 });
        HashSet<ActionType> purchases = [ActionType.Purchase];
        var cold = ColdStartSplit.Create(dataset, 0.2, seed: 42, purchases);
        var split = cold.Split;
        var canonical = LeaveOneOutSplit.Create(dataset, purchases).Cases(SplitTarget.Test).ToDictionary(c => c.User, c => c.Target);

        Assert.Same(purchases, split.TargetActions);
        var cases = split.Cases(SplitTarget.Test);
        Assert.Equal(canonical.Count, cases.Count);
        Assert.All(cases, c => Assert.Equal(canonical[c.User], c.Target));
        Assert.DoesNotContain(split.TrainInteractions, i => cold.ColdItems.Contains(i.Item));
        Assert.DoesNotContain(cases, c => c.History.Any(h => cold.ColdItems.Contains(h.Item)));
        var valid = split.Cases(SplitTarget.Valid);
        Assert.NotEmpty(valid);
        Assert.All(valid, c => Assert.True(c.Target.EffectiveAction == ActionType.Purchase && !cold.ColdItems.Contains(c.Target.Item) && c.History.Count > 0));
        Assert.NotEmpty(cold.ColdTargetUsers);
        Assert.Equal(cases.Where(c => cold.ColdItems.Contains(c.Target.Item)).Select(c => c.User).Order(), cold.ColdTargetUsers.Order());

        // Tuning: the held-out targets are canonical validation targets (purchases), and no test target is read.
        var tuning = ColdStartSplit.CreateForTuning(dataset, 0.2, seed: 42, purchases);
        var canonicalValid = LeaveOneOutSplit.Create(dataset, purchases).Cases(SplitTarget.Valid).ToDictionary(c => c.User, c => c.Target);
        Assert.DoesNotContain(tuning.Split.Dataset.Interactions, canonical.Values.Contains);
        Assert.NotEmpty(tuning.Split.Cases(SplitTarget.Test));
        Assert.All(tuning.Split.Cases(SplitTarget.Test), c => Assert.Equal(canonicalValid[c.User], c.Target));
        Assert.Throws<ArgumentException>(() => ColdStartSplit.Create(dataset, 0.2, 42, new HashSet<ActionType>()));
    }

    [Fact]
    public void Every_action_as_a_target_is_the_cold_start_split_as_before()
    {
        var every = ColdStartSplit.Create(TestData.Dataset, 0.2, 42, Enum.GetValues<ActionType>().ToHashSet());
        var cold = Cold.Value;

        Assert.Equal(cold.Split.Cases(SplitTarget.Test).Select(c => (c.User, c.Target, c.History.Count)), every.Split.Cases(SplitTarget.Test).Select(c => (c.User, c.Target, c.History.Count)));
        Assert.Equal(cold.Split.Cases(SplitTarget.Valid).Select(c => (c.User, c.Target)), every.Split.Cases(SplitTarget.Valid).Select(c => (c.User, c.Target)));
        Assert.Equal(cold.Split.TrainInteractions.Count, every.Split.TrainInteractions.Count);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void A_share_outside_zero_to_one_is_refused(double fraction) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ColdStartSplit.Create(TestData.Dataset, fraction));
}

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

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void A_share_outside_zero_to_one_is_refused(double fraction) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ColdStartSplit.Create(TestData.Dataset, fraction));
}

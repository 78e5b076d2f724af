using System.Security.Cryptography;
using System.Text;
using GenRec.TestSupport;

namespace GenRec.Data.Tests;

public sealed class SplitTests
{
    /// <summary>
    /// The md5 sums that <c>shared/eval/split/README.md</c> states for the canonical split: byte-for-byte equality
    /// proves the same protocol (order, tie-breaking, catalogue).
    /// </summary>
    [Theory]
    [InlineData("items.tsv", "c79f48f6155e8c165e96ea9fdd885293")]
    [InlineData("train.tsv", "d72009ae9f88b2c01e1386c2a1ea13df")]
    [InlineData("valid.tsv", "c0263c98957ce3e1903fa234a6b51286")]
    [InlineData("test.tsv", "19a6b995cc386cd0f1e945a95d7028e6")]
    public void Leave_one_out_split_is_byte_identical_to_the_canonical_split(string file, string md5)
    {
        using var folder = TestData.TempFolder();
        TestData.Split.WriteTsv(folder.Path);

#pragma warning disable CA5351 // md5 is what the split README publishes; no security involved
        var actual = Convert.ToHexStringLower(MD5.HashData(File.ReadAllBytes(folder.File(file))));
#pragma warning restore CA5351

        Assert.Equal(md5, actual);
    }

    [Fact]
    public void Test_history_is_train_plus_validation_and_valid_history_is_train()
    {
        var split = TestData.Split;
        var user = new UserId(1);
        var train = split.Train.Single(s => s.User == user).Interactions;
        var valid = split.Case(user, SplitTarget.Valid);
        var test = split.Case(user, SplitTarget.Test);

        Assert.Equal(train, valid.History);
        Assert.Equal(train.Append(valid.Target), test.History);
        Assert.Equal(98_662, split.TrainInteractions.Count);
        Assert.Equal(671, split.Cases(SplitTarget.Test).Count);
    }

    [Fact]
    public void Holding_out_the_last_train_interactions_shortens_train_only()
    {
        var split = TestData.Split;

        var heldOut = split.HoldOutLastTrain(3);

        Assert.Equal(split.Train.Count, heldOut.Train.Count);
        foreach (var (full, shorter) in split.Train.Zip(heldOut.Train))
        {
            Assert.Equal(full.User, shorter.User);
            Assert.Equal(full.Interactions.Take(full.Interactions.Count - 3), shorter.Interactions);
        }

        // The targets, and the histories their cases show, do not change.
        foreach (var target in new[] { SplitTarget.Valid, SplitTarget.Test })
        {
            Assert.Equal(
                split.Cases(target).Select(c => (c.Target, c.History.Count)),
                heldOut.Cases(target).Select(c => (c.Target, c.History.Count)));
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => split.HoldOutLastTrain(0));
    }

    [Fact]
    public void Users_with_no_more_train_interactions_than_held_out_keep_theirs()
    {
        var data = MovieLensReader.Read(new MemoryStream(Encoding.UTF8.GetBytes("userId,movieId,timestamp\n1,1,1\n1,2,2\n1,3,3\n1,4,4\n2,1,1\n2,2,2\n2,3,3\n2,4,4\n2,5,5\n2,6,6\n")), "small.csv");

        var heldOut = LeaveOneOutSplit.Create(data).HoldOutLastTrain(3);

        // User 1 has 2 train interactions (kept), user 2 has 4 (one left).
        Assert.Equal([2, 1], heldOut.Train.Select(s => s.Interactions.Count));
    }

    [Fact]
    public void Timestamp_ties_are_broken_by_file_order()
    {
        var data = MovieLensReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(
            "userId,movieId,timestamp\n1,30,5\n1,10,5\n1,20,1\n1,40,9\n")), "ties.csv");
        var split = LeaveOneOutSplit.Create(data);

        var test = split.Case(new UserId(1), SplitTarget.Test);
        Assert.Equal(new long[] { 20, 30, 10 }, test.History.Select(h => h.Item.Value));
        Assert.Equal(40, test.Target.Item.Value);
    }

    [Fact]
    public void Users_with_fewer_than_three_interactions_stay_in_train()
    {
        var data = MovieLensReader.Read(new MemoryStream(Encoding.UTF8.GetBytes("userId,movieId,timestamp\n1,1,1\n1,2,2\n2,1,1\n2,2,2\n2,3,3\n")), "short.csv");
        var split = LeaveOneOutSplit.Create(data);

        Assert.Equal(new[] { new UserId(2) }, split.UsersWithTarget(SplitTarget.Test));
        Assert.Equal(3, split.TrainInteractions.Count);
        Assert.Throws<KeyNotFoundException>(() => split.Case(new UserId(1), SplitTarget.Test));
    }

    [Fact]
    public void Temporal_split_trains_on_the_past_and_targets_the_first_event_of_each_window()
    {
        var split = TemporalSplit.Create(TestData.Dataset, trainFraction: 0.8, validFraction: 0.1);
        var lastTrain = split.TrainInteractions.Max(i => i.Timestamp);
        var valid = split.Cases(SplitTarget.Valid);
        var test = split.Cases(SplitTarget.Test);

        Assert.InRange(split.TrainInteractions.Count / 100_004.0, 0.79, 0.81);
        Assert.NotEmpty(valid);
        Assert.NotEmpty(test);
        Assert.All(valid, c => Assert.True(c.Target.Timestamp > lastTrain || c.History.Count == 0 || c.Target.Timestamp >= c.History[^1].Timestamp));
        var validCut = valid.Min(c => c.Target.Timestamp);
        var testCut = test.Min(c => c.Target.Timestamp);
        Assert.True(lastTrain < validCut, "no train interaction may be at or after the validation cut-off");
        Assert.True(validCut <= testCut);
        Assert.All(test, c => Assert.All(c.History, h => Assert.True(h.Timestamp <= c.Target.Timestamp)));
        Assert.All(test, c => Assert.DoesNotContain(c.Target, c.History));
    }

    [Fact]
    public void Temporal_split_refuses_fractions_out_of_range()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => TemporalSplit.Create(TestData.Dataset, 0.95, 0.1));
        Assert.Contains("validFraction", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Splits_are_deterministic()
    {
        using var a = TestData.TempFolder();
        using var b = TestData.TempFolder();
        LeaveOneOutSplit.Create(TestData.Dataset).WriteTsv(a.Path);
        LeaveOneOutSplit.Create(MovieLensReader.Read(TestData.MovieLensPath)).WriteTsv(b.Path);

        Assert.Equal(File.ReadAllText(a.File("train.tsv"), Encoding.UTF8), File.ReadAllText(b.File("train.tsv"), Encoding.UTF8));
    }
}

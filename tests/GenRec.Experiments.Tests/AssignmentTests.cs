namespace GenRec.Experiments.Tests;

public sealed class AssignmentTests
{
    private static ExperimentDefinition Experiment(string name = "gen-recall", double share = 1.0) =>
        new(name, [new("dlrm", 1), new("blend", 1), new("replace", 2)], "dlrm", share);

    private static readonly UserId[] Users = Enumerable.Range(1, 100_000).Select(i => new UserId(i)).ToArray();

    [Fact]
    public void The_same_user_always_lands_in_the_same_arm()
    {
        var a = new ExperimentLayer("ranking", [Experiment()]);
        var b = new ExperimentLayer("ranking", [Experiment()]);

        Assert.All(Users.Take(2000), u => Assert.Equal(a.Assign(u), b.Assign(u)));
        Assert.Equal(a.Assign(new UserId(42)), a.Assign(new UserId(42)));
    }

    [Fact]
    public void Arms_get_their_weights_and_the_holdout_its_share()
    {
        var layer = new ExperimentLayer("ranking", [Experiment(share: 0.9)], holdout: 0.1);

        var counts = Users.Select(layer.Assign).GroupBy(a => a.InHoldout ? "holdout" : a.Arm ?? "none").ToDictionary(g => g.Key, g => g.Count() / (double)Users.Length);

        Assert.Equal(0.10, counts["holdout"], 0.01);
        Assert.Equal(0.9 * 0.25, counts["dlrm"], 0.01);
        Assert.Equal(0.9 * 0.25, counts["blend"], 0.01);
        Assert.Equal(0.9 * 0.50, counts["replace"], 0.01);
    }

    [Fact]
    public void Experiments_in_a_layer_are_exclusive_and_a_change_to_one_moves_no_one_in_the_other()
    {
        var before = new ExperimentLayer("recall", [Experiment("one", 0.5), new ExperimentDefinition("two", [new("a", 1), new("b", 1)], "a", 0.5)]);
        var after = new ExperimentLayer("recall", [Experiment("one", 0.5), new ExperimentDefinition("two", [new("a", 1), new("b", 3), new("c", 1)], "a", 0.5)]);

        var assignments = Users.Take(20_000).Select(u => (Before: before.Assign(u), After: after.Assign(u))).ToArray();

        Assert.Equal(0.5, assignments.Count(x => x.Before.Experiment == "one") / 20_000.0, 0.02);
        Assert.All(assignments.Where(x => x.Before.Experiment == "one"), x => Assert.Equal(x.Before, x.After));
    }

    [Fact]
    public void Layers_are_independent_of_each_other()
    {
        var recall = new ExperimentLayer("recall", [new ExperimentDefinition("r", [new("a", 1), new("b", 1)], "a")]);
        var ranking = new ExperimentLayer("ranking", [new ExperimentDefinition("k", [new("x", 1), new("y", 1)], "x")]);

        var cells = Users.GroupBy(u => (recall.Assign(u).Arm, ranking.Assign(u).Arm)).ToDictionary(g => g.Key, g => g.Count() / (double)Users.Length);

        Assert.Equal(4, cells.Count);
        Assert.All(cells.Values, share => Assert.Equal(0.25, share, 0.01));
    }

    [Theory]
    [InlineData("control")]
    [InlineData("shares")]
    [InlineData("duplicate")]
    [InlineData("weight")]
    public void Invalid_experiments_are_refused(string what)
    {
        Assert.ThrowsAny<ArgumentException>(() => what switch
        {
            "control" => new ExperimentLayer("l", [new ExperimentDefinition("e", [new("a", 1)], "nope")]),
            "shares" => new ExperimentLayer("l", [Experiment("e1", 0.7), Experiment("e2", 0.7)]),
            "duplicate" => new ExperimentLayer("l", [Experiment("e", 0.3), Experiment("e", 0.3)]),
            _ => new ExperimentLayer("l", [new ExperimentDefinition("e", [new("a", 0)], "a")]),
        });
    }
}

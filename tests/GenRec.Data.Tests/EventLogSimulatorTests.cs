using GenRec.Data.Synthetic;

namespace GenRec.Data.Tests;

public sealed class EventLogSimulatorTests : IDisposable
{
    private static readonly SimulatorOptions Small = new() { Events = 30_000, Seed = 7 };
    private readonly string _folder = Directory.CreateTempSubdirectory("genrec-synth-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData(EventLogFormat.Csv)]
    [InlineData(EventLogFormat.Parquet)]
    public void Written_logs_read_back_through_their_schema_as_the_simulated_dataset(EventLogFormat format)
    {
        var expected = EventLogSimulator.Generate(Small);
        var written = EventLogSimulator.Write(Small, Path.Combine(_folder, format.ToString()), format);

        var read = EventLogReader.Read(written.Events, EventLogSchema.Load(written.Schema), written.Items);

        Assert.Equal(30_000, written.EventCount);
        Assert.Equal(expected.Interactions, read.Dataset.Interactions);
        Assert.Equal(expected.Catalogue, read.Dataset.Catalogue);
        Assert.Equal(expected.Users.Count, written.UserCount);
        foreach (var id in expected.Catalogue.Take(50))
        {
            var (a, b) = (expected.Items[id], read.Dataset.Items[id]);
            Assert.Equal(a.Text, b.Text);
            Assert.Equal(a.Categories, b.Categories);
            Assert.Equal(a.PublishedAt, b.PublishedAt);
        }
    }

    [Fact]
    public void The_log_is_deterministic_for_a_seed_and_has_the_planted_funnel()
    {
        var a = EventLogSimulator.Generate(Small);
        var b = EventLogSimulator.Generate(Small);
        var other = EventLogSimulator.Generate(Small with { Seed = 8 });

        Assert.Equal(a.Interactions, b.Interactions);
        Assert.NotEqual(a.Interactions.Take(100), other.Interactions.Take(100));

        var profile = DatasetProfile.Of(a);
        long impressions = profile.Actions[ActionType.Impression], clicks = profile.Actions[ActionType.Click], purchases = profile.Actions[ActionType.Purchase];
        Assert.True(impressions > clicks && clicks > purchases && purchases > 0, $"{impressions} → {clicks} → {purchases}");
        Assert.Equal(profile.Actions[ActionType.Purchase], profile.EventsWithValue); // purchases carry the price

        // Users click what matches their interests: most of a user's clicks share a category with another of their clicks.
        var categoryOf = a.Items.ToDictionary(p => p.Key, p => p.Value.Categories[0]);
        var clicksByUser = a.Interactions.Where(i => i.Action == ActionType.Click).GroupBy(i => i.User).Where(g => g.Count() >= 4).ToArray();
        var topShare = clicksByUser.Average(g => g.GroupBy(i => categoryOf[i.Item]).Max(c => c.Count()) / (double)g.Count());
        Assert.True(topShare > 0.35, $"a user's most clicked category holds {topShare:P0} of their clicks (24 categories)");
    }

    [Fact]
    public void Settings_out_of_range_are_refused_by_name()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => EventLogSimulator.Generate(Small with { Drift = 1.5 }));
        Assert.Contains("Drift is 1.5", e.Message, StringComparison.Ordinal);
    }
}

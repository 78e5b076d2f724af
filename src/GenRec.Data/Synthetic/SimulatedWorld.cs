using GenRec.Data.Tables;

namespace GenRec.Data.Synthetic;

/// <summary>One simulated event.</summary>
internal readonly record struct SimulatedEvent(long User, long Item, ActionType Action, long Milliseconds, float Price);

/// <summary>One simulated item: its interest (topic), words, category, listing time, price and appeal.</summary>
internal sealed record SimulatedItem(long Id, int Topic, string Title, string Category, long Listed, float Price, double Appeal)
{
    public ItemRecord ToRecord() => new(new ItemId(Id), Title, Category.Split('/')) { PublishedAt = DateTimeOffset.FromUnixTimeSeconds(Listed) };
}

/// <summary>The simulation: items and their popularity, then users one after another, each a run of sessions.</summary>
internal sealed class SimulatedWorld
{
    public static readonly (string Name, ColumnKind Kind)[] EventColumns =
        [("user_id", ColumnKind.Int64), ("item_id", ColumnKind.Int64), ("event", ColumnKind.Text), ("ts_ms", ColumnKind.Int64), ("price", ColumnKind.NullableFloat)];

    public static readonly (string Name, ColumnKind Kind)[] ItemColumns =
        [("item_id", ColumnKind.Int64), ("title", ColumnKind.Text), ("category", ColumnKind.Text), ("listed", ColumnKind.Int64)];

    public static readonly string[] ActionNames = ActionNamesByValue();

    private static readonly string[] Categories =
        ["Kitchen", "Garden", "Books", "Music", "Outdoor", "Toys", "Beauty", "Tools", "Games", "Office", "Pets", "Sports",
         "Fashion", "Travel", "Baby", "Crafts", "Audio", "Cameras", "Cycling", "Fitness", "Grocery", "Lighting", "Camping", "Art"];

    private static readonly string[] Syllables = ["ka", "lo", "mi", "ren", "tor", "vi", "sa", "nu", "bel", "dra", "fen", "gus", "ho", "ix", "jo", "ku", "lym", "mor", "nex", "pa", "qui", "ros", "sel", "tu"];

    private static readonly string[] Adjectives = ["classic", "compact", "deluxe", "everyday", "light", "pro", "smart", "soft", "sturdy", "vintage", "wide", "mini"];

    private readonly SimulatorOptions _options;
    private readonly Random _random;
    private readonly Sampler _topics;
    private readonly Sampler _global;
    private readonly Sampler[] _byTopic;
    private readonly int[][] _topicItems;

    public SimulatedWorld(SimulatorOptions options)
    {
        _options = options;
        _random = new Random(options.Seed);
        var k = options.Interests;
        _topics = new Sampler(Enumerable.Range(0, k).Select(t => 1.0 / Math.Pow(t + 1, 0.7)).ToArray());
        var words = Enumerable.Range(0, k).Select(_ => Enumerable.Range(0, 10).Select(_ => Word()).ToArray()).ToArray();
        var start = options.Start.ToUnixTimeSeconds();
        var span = options.Days * 86_400L;
        var items = new List<SimulatedItem>(options.ItemCount);
        for (var i = 0; i < options.ItemCount; i++)
        {
            var topic = _topics.Sample(_random);
            var w = words[topic];
            var title = $"{Adjectives[_random.Next(Adjectives.Length)]} {w[_random.Next(w.Length)]} {w[_random.Next(w.Length)]} {Word()}";
            var category = $"{CategoryName(topic)}/{CategoryName(topic)} {1 + _random.Next(3)}";
            var listed = _random.NextDouble() < 0.8 ? start - (long)(_random.NextDouble() * 365 * 86_400) : start + (long)(_random.NextDouble() * 0.8 * span);
            var price = (float)Math.Round(Math.Exp(2.5 + (0.8 * Gaussian())), 2);
            items.Add(new SimulatedItem(i + 1, topic, title, category, listed, price, 0.5 + (0.5 * _random.NextDouble())));
        }

        Items = items;
        var popularity = new double[items.Count];
        var ranks = Enumerable.Range(0, items.Count).OrderBy(_ => _random.Next()).ToArray();
        for (var i = 0; i < items.Count; i++)
        {
            popularity[i] = 1.0 / Math.Pow(ranks[i] + 1, 0.9);
        }

        _global = new Sampler(popularity);
        _topicItems = Enumerable.Range(0, k).Select(t => Enumerable.Range(0, items.Count).Where(i => items[i].Topic == t).ToArray()).ToArray();
        _byTopic = _topicItems.Select(members => new Sampler(members.Length == 0 ? [1.0] : members.Select(i => popularity[i]).ToArray())).ToArray();
    }

    public IReadOnlyList<SimulatedItem> Items { get; }

    public int UserCount { get; private set; }

    /// <summary>Simulates users until the event budget is spent, handing each event to <paramref name="emit"/> (per user, in time order).</summary>
    public void Run(Action<SimulatedEvent> emit)
    {
        var o = _options;
        var remaining = o.Events;
        var start = o.Start.ToUnixTimeMilliseconds();
        var span = o.Days * 86_400_000L;
        var mu = Math.Log(o.MeanEventsPerUser) - 0.5;
        long user = 0;
        while (remaining > 0)
        {
            user++;
            var length = (long)Math.Min(remaining, Math.Clamp(Math.Round(Math.Exp(mu + Gaussian())), 2, 50 * o.MeanEventsPerUser));
            var first = _topics.Sample(_random);
            var second = (first + 1 + _random.Next(o.Interests - 1)) % o.Interests;
            var interests = new[] { first, second };
            var t = start + (long)(_random.NextDouble() * 0.7 * span);
            var sessions = Math.Max(1.0, length / (o.ImpressionsPerSession * 1.2));
            var meanGap = 0.3 * span / sessions;
            long emitted = 0;
            while (emitted < length)
            {
                var topic = interests[_random.NextDouble() < 0.7 ? 0 : 1];
                for (var k = 0; k < o.ImpressionsPerSession && emitted < length; k++)
                {
                    var item = Pick(topic, t / 1000);
                    emit(new SimulatedEvent(user, item.Id, ActionType.Impression, t, float.NaN));
                    emitted++;
                    t += 1_000 + _random.Next(4_000);
                    var match = item.Topic == interests[0] || item.Topic == interests[1];
                    if (emitted < length && _random.NextDouble() < (match ? o.ClickOnInterest : o.ClickOffInterest) * item.Appeal)
                    {
                        t += 2_000 + _random.Next(28_000);
                        emit(new SimulatedEvent(user, item.Id, ActionType.Click, t, float.NaN));
                        emitted++;
                        if (emitted < length && _random.NextDouble() < o.PurchaseAfterClick)
                        {
                            t += 10_000 + _random.Next(120_000);
                            emit(new SimulatedEvent(user, item.Id, ActionType.Purchase, t, item.Price));
                            emitted++;
                        }
                    }
                }

                t += (long)(-meanGap * Math.Log(1 - _random.NextDouble()));
                if (_random.NextDouble() < o.Drift)
                {
                    var which = _random.Next(2);
                    var moved = (interests[which] + 1) % o.Interests;
                    interests[which] = moved == interests[1 - which] ? (moved + 1) % o.Interests : moved;
                }
            }

            remaining -= emitted;
        }

        UserCount = (int)user;
    }

    // An item listed by then: from the session's interest, or (exploration) from the whole catalogue by popularity.
    private SimulatedItem Pick(int topic, long seconds)
    {
        SimulatedItem item = Items[0];
        for (var attempt = 0; attempt < 8; attempt++)
        {
            var members = _topicItems[topic];
            item = members.Length == 0 || _random.NextDouble() < _options.Exploration
                ? Items[_global.Sample(_random)]
                : Items[members[_byTopic[topic].Sample(_random)]];
            if (item.Listed <= seconds)
            {
                return item;
            }
        }

        return item;
    }

    private static string CategoryName(int topic) => topic < Categories.Length ? Categories[topic] : $"{Categories[topic % Categories.Length]} {(topic / Categories.Length) + 1}";

    private string Word() => string.Concat(Enumerable.Range(0, 2 + _random.Next(2)).Select(_ => Syllables[_random.Next(Syllables.Length)]));

    private double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - _random.NextDouble())) * Math.Cos(2 * Math.PI * _random.NextDouble());

    private static string[] ActionNamesByValue()
    {
        var names = new string[Enum.GetValues<ActionType>().Max(a => (int)a) + 1];
        foreach (var (text, action) in EventLogSimulator.Schema.Events.ActionValues!)
        {
            names[(int)action] = text;
        }

        return names;
    }

    /// <summary>Draws an index with probability proportional to its weight (inverse CDF, binary search).</summary>
    private sealed class Sampler
    {
        private readonly double[] _cumulative;

        public Sampler(double[] weights)
        {
            _cumulative = new double[weights.Length];
            double sum = 0;
            for (var i = 0; i < weights.Length; i++)
            {
                sum += weights[i];
                _cumulative[i] = sum;
            }
        }

        public int Sample(Random random)
        {
            var u = random.NextDouble() * _cumulative[^1];
            var index = Array.BinarySearch(_cumulative, u);
            return Math.Min(index < 0 ? ~index : index + 1, _cumulative.Length - 1);
        }
    }
}

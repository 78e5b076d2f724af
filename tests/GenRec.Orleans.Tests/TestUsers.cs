using GenRec.Data;
using GenRec.TestSupport;

namespace GenRec.Orleans.Tests;

/// <summary>Real MovieLens users as event streams for the grains.</summary>
public static class TestUsers
{
    /// <summary>The train histories of test users with at least <paramref name="minEvents"/> events, as events (real items, real times).</summary>
    public static IReadOnlyList<(long User, BehaviourEvent[] Events)> Users(int count, int minEvents = 80) =>
        TestData.Split.Cases(SplitTarget.Test).Where(c => c.History.Count >= minEvents).Take(count)
            .Select(c => (c.User.Value, c.History.Select(i => new BehaviourEvent(i.Item.Value, ActionType.Rate, i.Time, i.Rating)).ToArray()))
            .ToArray();
}

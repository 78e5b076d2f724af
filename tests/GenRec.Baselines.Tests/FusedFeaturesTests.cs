using GenRec.Cascade;
using GenRec.Data;
using GenRec.Evaluation;
using GenRec.TestSupport;

namespace GenRec.Baselines.Tests;

/// <summary>
/// The cascade's ranker reads extra feature sources and is trained with extra recall channels, through the same code
/// at training and at serving. Shown with an oracle that knows what each user does at the request's time: a ranker
/// that reads it, with a channel that proposes it, must put the taken item first almost always.
/// </summary>
public sealed class FusedFeaturesTests
{
    [Fact]
    public async Task An_extra_feature_and_channel_are_learned_from_and_served()
    {
        var split = TestData.Split;
        var oracle = new Oracle(split.Dataset);
        var trainer = new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options
        {
            Grid = [new DlrmRankerSettings(Leaves: 15, Iterations: 30, LearningRate: 0.1, MinExamplesPerLeaf: 20)],
            Features = [oracle],
            ExtraChannels = [new RecallChannel(oracle, 5)],
            KeepRankingQueries = true,
        });

        var model = trainer.Fit(split);

        Assert.Equal(17, model.CandidateFeatures.Names.Count); // 16 hand-made, then the extra source's
        Assert.Equal("oracle_took_it", model.CandidateFeatures.Names[^1]);
        Assert.Equal(405, model.RankingDepth);
        Assert.Equal(5, model.Channels.Count);
        Assert.True(model.ValidationQueries.RecallRate > 0.95, $"the oracle channel proposes every target: recall {model.ValidationQueries.RecallRate:P1}");

        // The kept queries carry the oracle's value as their last feature, computed as serving computes it.
        var width = model.CandidateFeatures.Names.Count;
        var query = model.RankingQueries.First(q => q.Target >= 0);
        var served = new float[query.Candidates.Count];
        oracle.Compute(query.Request, query.Candidates, served);
        Assert.Equal(served, Enumerable.Range(0, query.Candidates.Count).Select(i => query.Features[(i * width) + width - 1]));
        Assert.Equal(1f, query.Features[(query.Target * width) + width - 1]);

        var result = await OfflineEvaluator.EvaluateAsync(model.CreatePipeline(), split, SplitTarget.Valid, new EvaluationOptions { TopK = 10 });
        Assert.True(result.Report["HR@10"] > 0.9, $"HR@10 {result.Report["HR@10"]:0.000}: the served ranker does not read the feature it learned from");
        Assert.Equal(model.Chosen.ValidationNdcg10, result.Report["NDCG@10"], 6);
    }

    [Fact]
    public void Models_behind_features_fit_on_a_split_without_any_training_query_target()
    {
        var split = TestData.Split;
        var options = new DlrmCascadeTrainer.Options
        {
            Grid = [new DlrmRankerSettings(Leaves: 7, Iterations: 5, LearningRate: 0.1, MinExamplesPerLeaf: 20)],
            KeepRankingQueries = true,
        };
        var model = new DlrmCascadeTrainer(options).Fit(split);
        var heldOut = split.HoldOutLastTrain(options.QueriesPerUser);
        var seen = heldOut.TrainInteractions.Select(i => (i.User, i.Item, i.Timestamp)).ToHashSet();

        var targets = model.RankingQueries.Where(q => q.Target >= 0).Select(q => (q.Request.User, q.Candidates[q.Target].Item, q.Request.RequestTime.ToUnixTimeSeconds())).ToArray();

        Assert.Equal(model.TrainingQueries.TargetRecalled, targets.Length);
        Assert.True(targets.Length > 500);
        Assert.DoesNotContain(targets, seen.Contains);
        Assert.Equal(split.TrainInteractions.Count - model.TrainingQueries.Queries, heldOut.TrainInteractions.Count); // one held out per query
    }

    [Fact]
    public void Feature_sources_whose_names_repeat_are_refused_with_the_names()
    {
        var oracle = new Oracle(TestData.Dataset);
        var trainer = new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options { Features = [oracle, oracle] });

        var e = Assert.Throws<ArgumentException>(() => trainer.Fit(TestData.Split));

        Assert.Contains("oracle_took_it", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options { ExtraChannels = [new RecallChannel(oracle)] }));
    }

    [Fact]
    public void Extra_feature_sources_run_on_the_callers_thread_one_query_at_a_time()
    {
        // A TorchSharp model behind a source must not run while other threads allocate (a collection they start can
        // finalise a temporary scalar libtorch still reads), so the trainer calls sources after the parallel part.
        var probe = new ConcurrencyProbe(TestData.Dataset);
        var trainer = new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options
        {
            Grid = [new DlrmRankerSettings(Leaves: 7, Iterations: 5, LearningRate: 0.1, MinExamplesPerLeaf: 20)],
            Features = [probe],
            Threads = 4,
        });

        trainer.Fit(TestData.Split);

        Assert.True(probe.Calls > 100, $"{probe.Calls} calls");
        Assert.Equal(1, probe.MostAtOnce);
        Assert.Equal([Environment.CurrentManagedThreadId], probe.Threads);
    }

    [Fact]
    public void With_an_extra_channel_no_two_generative_calls_overlap()
    {
        var probe = new ConcurrencyProbe(TestData.Dataset);
        var trainer = new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options
        {
            Grid = [new DlrmRankerSettings(Leaves: 7, Iterations: 5, LearningRate: 0.1, MinExamplesPerLeaf: 20)],
            Features = [probe],
            ExtraChannels = [new RecallChannel(probe, 3)],
            Threads = 4,
        });

        trainer.Fit(TestData.Split);

        Assert.True(probe.Calls > 200, $"{probe.Calls} calls");
        Assert.Equal(1, probe.MostAtOnce);
    }

    /// <summary>A feature source and channel that records how many of its calls were in flight at once, and on which threads.</summary>
    private sealed class ConcurrencyProbe(InteractionDataset dataset) : ICandidateFeatures, IRecallStage
    {
        private readonly ItemId[] _items = [.. dataset.Catalogue.Take(3)];
        private readonly System.Collections.Concurrent.ConcurrentDictionary<int, bool> _threads = new();
        private int _active;
        private int _most;
        private int _calls;

        public IReadOnlyList<string> Names => ["probe"];

        public string Name => "probe";

        public int Calls => _calls;

        public int MostAtOnce => _most;

        public int[] Threads => [.. _threads.Keys.Order()];

        public void Compute(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination)
        {
            Enter();
            destination[..candidates.Count].Fill(0.5f);
            Exit();
        }

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
        {
            Enter();
            IReadOnlyList<Candidate> items = [.. _items.Where(i => !request.IsExcluded(i)).Take(count).Select(i => new Candidate(i, 1, Name))];
            Exit();
            return ValueTask.FromResult(items);
        }

        private void Enter()
        {
            Interlocked.Increment(ref _calls);
            _threads[Environment.CurrentManagedThreadId] = true;
            var now = Interlocked.Increment(ref _active);
            int most;
            while (now > (most = Volatile.Read(ref _most)) && Interlocked.CompareExchange(ref _most, now, most) != most)
            {
            }

            Thread.SpinWait(20_000); // long enough that calls made in parallel would overlap
        }

        private void Exit() => Interlocked.Decrement(ref _active);
    }

    /// <summary>Knows which items each user took at each moment: a feature (1 or 0) and a one-item channel.</summary>
    private sealed class Oracle(InteractionDataset dataset) : ICandidateFeatures, IRecallStage
    {
        private readonly Dictionary<(UserId, long), ItemId[]> _taken = dataset.Interactions
            .GroupBy(i => (i.User, i.Timestamp))
            .ToDictionary(g => g.Key, g => g.Select(i => i.Item).ToArray());

        public IReadOnlyList<string> Names => ["oracle_took_it"];

        public string Name => "oracle";

        public void Compute(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination)
        {
            var taken = Taken(request);
            for (var i = 0; i < candidates.Count; i++)
            {
                destination[i] = taken.Contains(candidates[i].Item) ? 1 : 0;
            }
        }

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<IReadOnlyList<Candidate>>([.. Taken(request).Where(i => !request.IsExcluded(i)).Take(count).Select(i => new Candidate(i, 1, Name))]);

        private ItemId[] Taken(RecommendationRequest request) => _taken.GetValueOrDefault((request.User, request.RequestTime.ToUnixTimeSeconds()), []);
    }
}

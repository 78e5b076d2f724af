using System.Collections.Concurrent;
using System.Globalization;
using GenRec.Adapters;
using GenRec.Baselines;
using GenRec.Cascade;
using GenRec.Data;
using GenRec.Evaluation;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary>
/// LambdaRank and HSTU blended by the SDK's <see cref="RankingAdapter"/> (score-normalised blend), as a team would
/// put a generative ranker beside its own: HSTU's weight is chosen on the validation target by
/// <see cref="ValidationSearch"/>; the cascade's recall is unchanged.
/// </summary>
internal static class RankerBlend
{
    /// <summary>HSTU weights tried (0: LambdaRank alone).</summary>
    public static readonly double[] Weights = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];

    /// <summary>Budget of the HSTU side: the harness's guardrail is 100 ms per request.</summary>
    public static readonly TimeSpan Budget = TimeSpan.FromMilliseconds(100);

    public static CascadePipeline Build(string name, DataSplit split, DlrmCascadeModel dlrm, HstuModel hstu, CancellationToken cancellationToken = default)
    {
        var hstuRanker = hstu.AsRanker(dlrm.CandidateFeatures);

        // While weights are tried, each ranker scores each validation request once (the candidates never change).
        var (lambdaRank, generative) = (new Memo(dlrm.Ranker), new Memo(hstuRanker));
        var search = ValidationSearch.ChooseAsync(
            split,
            Weights,
            w => dlrm.CreatePipeline(name, ranker: Adapter(name, lambdaRank, generative, w)),
            new SyncProgress<EvaluationProgress>(p => ConsoleProgress.Status($"{name}: weight {p.Done}/{p.Total} tried on validation ({p.Elapsed.TotalSeconds:0} s)")),
            cancellationToken).GetAwaiter().GetResult();
        foreach (var t in search.Trials)
        {
            ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"{name}: hstu weight {t.Setting}: validation NDCG@10 {t.Ndcg10:0.0000}"));
        }

        var weight = search.Best.Setting;
        ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"{name}: chosen hstu weight {weight} (validation NDCG@10 {search.Best.Ndcg10:0.0000})"));
        return dlrm.CreatePipeline(name, ranker: Adapter(name, dlrm.Ranker, hstuRanker, weight));
    }

    private static RankingAdapter Adapter(string name, IRankingStage baseline, IRankingStage hstu, double weight) =>
        new($"{name}-ranker", baseline, hstu, new AdapterOptions { Mode = StageMode.Blend, Blend = BlendMethod.ScoreNormalized, GenerativeWeight = weight, Budget = Budget });

    /// <summary>A ranker whose answers are kept per request (user, time, candidates), for a search that asks again.</summary>
    private sealed class Memo(IRankingStage inner) : IRankingStage
    {
        private readonly ConcurrentDictionary<(UserId, DateTimeOffset, int), IReadOnlyList<Candidate>> _answers = new();

        public string Name => inner.Name;

        public async ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
        {
            var key = (request.User, request.RequestTime, candidates.Count);
            if (_answers.TryGetValue(key, out var known))
            {
                return known;
            }

            var ranked = await inner.RankAsync(request, candidates, cancellationToken).ConfigureAwait(false);
            _answers[key] = ranked;
            return ranked;
        }
    }
}

namespace GenRec.Evaluation.Tests;

public sealed class MetricsTests
{
    [Theory]
    [InlineData(1, 10, 1.0, 1.0, 1.0)]
    [InlineData(3, 10, 1.0, 0.5, 1.0 / 3)] // 1 / log2(4) = 0.5
    [InlineData(7, 10, 1.0, 0.3333333333, 1.0 / 7)] // 1 / log2(8)
    [InlineData(10, 10, 1.0, 0.2890648263, 0.1)] // 1 / log2(11)
    [InlineData(11, 10, 0.0, 0.0, 1.0 / 11)]
    [InlineData(0, 10, 0.0, 0.0, 0.0)]
    public void Single_target_metrics_match_hand_computed_values(int rank, int k, double hr, double ndcg, double rr)
    {
        Assert.Equal(hr, RankingMetrics.HitRate(rank, k));
        Assert.Equal(ndcg, RankingMetrics.Ndcg(rank, k), 9);
        Assert.Equal(rr, RankingMetrics.ReciprocalRank(rank), 12);
    }

    [Fact]
    public void Rank_is_one_based_and_zero_when_absent()
    {
        ItemId[] list = [new(5), new(7), new(9)];
        Assert.Equal(2, RankingMetrics.RankOf(list, new ItemId(7)));
        Assert.Equal(0, RankingMetrics.RankOf(list, new ItemId(8)));
    }

    [Fact]
    public void A_cut_off_of_zero_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RankingMetrics.HitRate(1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => RankingMetrics.Ndcg(1, 0));
    }

    [Fact]
    public void Report_averages_over_every_user_and_counts_coverage_over_the_catalogue()
    {
        // Four users: target at rank 1, at rank 3, at rank 20, and absent.
        UserOutcome[] outcomes =
        [
            new(new UserId(1), new ItemId(1), 1),
            new(new UserId(2), new ItemId(1), 3),
            new(new UserId(3), new ItemId(1), 20),
            new(new UserId(4), new ItemId(1), 0),
        ];
        ItemId[] top = [new(1), new(2), new(2), new(3)];

        var report = MetricsReport.Compute(outcomes, top, catalogueSize: 30);

        Assert.Equal(0.5, report["HR@10"], 12); // 2 of 4
        Assert.Equal((1 + 0.5) / 4, report["NDCG@10"], 12);
        Assert.Equal(0.75, report["HR@50"], 12);
        Assert.Equal((1 + 0.5 + (1 / Math.Log2(21))) / 4, report["NDCG@50"], 12);
        Assert.Equal((1 + (1.0 / 3) + (1.0 / 20)) / 4, report["MRR"], 12);
        Assert.Equal(3 / 30.0, report["coverage@10"], 12);
        Assert.Equal(new[] { "HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10" }, report.Values.Select(v => v.Key));
        Assert.Throws<KeyNotFoundException>(() => report["HR@5"]);
    }

    [Fact]
    public void Json_has_the_scorer_keys_rounded_to_six_decimals()
    {
        var report = MetricsReport.Compute([new(new UserId(1), new ItemId(1), 3)], [new ItemId(1)], 3);

        Assert.Equal(
            "{\"HR@10\": 1, \"NDCG@10\": 0.5, \"HR@50\": 1, \"NDCG@50\": 0.5, \"MRR\": 0.333333, \"coverage@10\": 0.333333, \"users\": 1}",
            report.ToJson());
    }

    [Fact]
    public void Recommendation_file_round_trips_and_refuses_malformed_lines()
    {
        var path = Path.GetTempFileName();
        try
        {
            var lists = new Dictionary<UserId, IReadOnlyList<ItemId>>
            {
                [new UserId(2)] = [new ItemId(5), new ItemId(3)],
                [new UserId(1)] = [new ItemId(9)],
            };
            RecommendationFile.Write(path, lists);

            Assert.Equal("1\t9\n2\t5,3\n", File.ReadAllText(path));
            var read = RecommendationFile.Read(path);
            Assert.Equal(lists[new UserId(2)], read[new UserId(2)]);

            File.WriteAllText(path, "1\t9\n1 5,3\n");
            var e = Assert.Throws<InvalidDataException>(() => RecommendationFile.Read(path));
            Assert.Contains("line 2", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

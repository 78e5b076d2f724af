using GenRec.Generative;

namespace GenRec.Inference.Tests;

public sealed class MicroBatcherTests(OnnxFixture fixture) : IClassFixture<OnnxFixture>
{
    private BeamSearchState Search(int width = 10) => new(fixture.Index.Trie, fixture.Index.Length, width);

    [Fact]
    public async Task Concurrent_requests_are_merged_and_each_gets_its_own_answer()
    {
        var histories = fixture.Histories(40).ToArray();
        var alone = histories.Select(h => fixture.Onnx.Decode([new GenerativeDecodeRequest(h, Search())])[0]).ToArray();
        await using var batcher = new GenerativeMicroBatcher(fixture.Onnx, new MicroBatcherOptions { MaxBatchSize = 16, MaxWait = TimeSpan.FromMilliseconds(50) });

        var results = await Task.WhenAll(histories.Select(h => batcher.SearchAsync(h, Search(), TestContext.Current.CancellationToken).AsTask()));

        for (var u = 0; u < histories.Length; u++)
        {
            Assert.Equal(alone[u].Select(d => d.Id), results[u].Select(d => d.Id));
        }

        Assert.Equal(40, batcher.Requests);
        Assert.InRange(batcher.Batches, 3, 39);
    }

    [Fact]
    public async Task A_small_queue_pushes_back_but_loses_nothing_and_batches_stay_within_their_size()
    {
        var histories = fixture.Histories(25).ToArray();
        await using var batcher = new GenerativeMicroBatcher(fixture.Onnx, new MicroBatcherOptions { MaxBatchSize = 4, QueueCapacity = 2, MaxWait = TimeSpan.Zero });

        var results = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => batcher.SearchAsync(histories[i % histories.Length], Search(4), TestContext.Current.CancellationToken).AsTask()));

        Assert.All(results, r => Assert.Equal(4, r.Count));
        Assert.Equal(100, batcher.Requests);
        Assert.True(batcher.Batches >= 25, $"{batcher.Batches} batches for 100 requests of at most 4");
    }

    [Fact]
    public async Task Token_and_beam_budgets_make_smaller_batches()
    {
        var histories = fixture.Histories(24).ToArray();
        var longest = fixture.Manifest.HistoryTokens;
        Assert.All(histories, h => Assert.Equal(SemanticIdVocabulary.Bos, h[0])); // every test user fills the window
        await using (var byTokens = new GenerativeMicroBatcher(fixture.Onnx, new MicroBatcherOptions { MaxBatchSize = 64, MaxBatchTokens = 2 * longest, MaxWait = TimeSpan.FromMilliseconds(50) }))
        {
            await Task.WhenAll(histories.Select(h => byTokens.SearchAsync(h, Search(4), TestContext.Current.CancellationToken).AsTask()));
            Assert.True(byTokens.Batches >= 12, $"{byTokens.Batches} batches of at most two full histories for 24 requests");
        }

        await using var byBeams = new GenerativeMicroBatcher(fixture.Onnx, new MicroBatcherOptions { MaxBatchSize = 64, MaxBatchBeams = 30, MaxWait = TimeSpan.FromMilliseconds(50) });
        var results = await Task.WhenAll(histories.Select(h => byBeams.SearchAsync(h, Search(10), TestContext.Current.CancellationToken).AsTask()));
        Assert.True(byBeams.Batches >= 8, $"{byBeams.Batches} batches of at most three 10-beam requests for 24 requests");
        Assert.All(results, r => Assert.Equal(10, r.Count));
    }

    [Fact]
    public async Task A_cancelled_request_is_dropped_and_a_bad_one_fails_alone()
    {
        var history = fixture.Histories(1).Single();
        await using var batcher = new GenerativeMicroBatcher(fixture.Onnx, new MicroBatcherOptions { MaxWait = TimeSpan.FromMilliseconds(20) });
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        var good = batcher.SearchAsync(history, Search(), TestContext.Current.CancellationToken).AsTask();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => batcher.SearchAsync(history, Search(), cancelled.Token).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => batcher.SearchAsync([SemanticIdVocabulary.Bos, fixture.Onnx.Vocabulary.Size + 5], Search(), TestContext.Current.CancellationToken).AsTask());

        Assert.Equal(10, (await good).Count);
    }

    [Fact]
    public async Task A_disposed_batcher_refuses_new_requests_after_finishing_the_queued_ones()
    {
        var history = fixture.Histories(1).Single();
        var batcher = new GenerativeMicroBatcher(fixture.Onnx, new MicroBatcherOptions { MaxWait = TimeSpan.FromMilliseconds(20) });
        var queued = batcher.SearchAsync(history, Search(), TestContext.Current.CancellationToken).AsTask();
        await batcher.DisposeAsync();

        Assert.Equal(10, (await queued).Count);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => batcher.SearchAsync(history, Search(), TestContext.Current.CancellationToken).AsTask());
    }

    [Fact]
    public async Task Generative_recall_through_the_batcher_recommends_what_it_does_directly()
    {
        await using var batcher = new GenerativeMicroBatcher(fixture.Onnx);
        var direct = new GenerativeRecall(fixture.Onnx, fixture.Index, new GenerativeRecallOptions { BeamWidth = 16 });
        var batched = new GenerativeRecall(fixture.Onnx, fixture.Index, new GenerativeRecallOptions { BeamWidth = 16 }, batcher);
        var requests = GenRec.TestSupport.TestData.Split.Cases(GenRec.Data.SplitTarget.Test).Take(16)
            .Select(c => new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time)).ToArray();

        var expected = await Task.WhenAll(requests.Select(r => direct.RecallAsync(r, 10, TestContext.Current.CancellationToken).AsTask()));
        var actual = await Task.WhenAll(requests.Select(r => batched.RecallAsync(r, 10, TestContext.Current.CancellationToken).AsTask()));

        for (var i = 0; i < requests.Length; i++)
        {
            Assert.Equal(expected[i].Select(c => c.Item), actual[i].Select(c => c.Item));
            Assert.DoesNotContain(actual[i], c => requests[i].HistoryItems.Contains(c.Item));
        }
    }
}

using GenRec.SemanticIds;
using GenRec.TestSupport;

namespace GenRec.Generative.Tests;

public sealed class BeamSearchTests
{
    private static Lazy<SemanticIdIndex> Index => ScriptedDecoder.Index;

    private static ScriptedDecoder Decoder() => ScriptedDecoder.Create();

    [Fact]
    public void Constrained_search_returns_only_real_items_most_probable_first()
    {
        var index = Index.Value;
        using var session = Decoder().Start([]);

        var decoded = ConstrainedBeamSearch.Search(session, index.Trie, index.Length, beamWidth: 50);

        Assert.Equal(50, decoded.Count);
        Assert.All(decoded, d => Assert.True(index.TryGetItem(d.Id, out _), $"{d.Id} is no item"));
        Assert.Equal(50, decoded.Select(d => d.Id).Distinct().Count());
        Assert.Equal(decoded.OrderByDescending(d => d.LogProbability).Select(d => d.LogProbability), decoded.Select(d => d.LogProbability));
    }

    [Fact]
    public void Unconstrained_search_invents_ids_that_no_item_has()
    {
        var index = Index.Value;
        using var session = Decoder().Start([]);

        var decoded = ConstrainedBeamSearch.Search(session, index.Trie, index.Length, beamWidth: 50, constrained: false);

        Assert.Equal(50, decoded.Count);
        Assert.Contains(decoded, d => !index.TryGetItem(d.Id, out _));
    }

    [Fact]
    public void An_item_added_after_training_with_a_code_beyond_the_models_is_generated_as_an_average_sibling()
    {
        // The prefix with the most items: a new item that quantizes to it gets the next disambiguation code, one the
        // model (whose vocabulary was fixed when it was trained on the first index) has never seen.
        var index = Index.Value;
        var vocabulary = SemanticIdVocabulary.For(index);
        var crowded = index.Items.GroupBy(i => string.Join(",", index[i].ToArray()[..^1])).MaxBy(g => g.Count())!;
        var like = crowded.First();
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        var row = Array.IndexOf(items, like);
        var grown = index.AddItems(new ItemEmbeddings([new ItemId(90_000_001)], values.AsSpan(row * d, d), d));
        var added = grown[new ItemId(90_000_001)];
        Assert.False(vocabulary.Writes(added));
        Assert.Equal(vocabulary.Sizes[^1], added[^1]);

        using var session = Decoder().Start([]);
        var decoded = ConstrainedBeamSearch.Search(session, grown.Trie, grown.Length, beamWidth: grown.Count);

        Assert.Equal(grown.Count, decoded.Count); // every item of the grown index, the new one included
        using var probe = Decoder().Start([]);
        var prefix = added.ToArray()[..^1];
        var expected = Enumerable.Range(0, prefix.Length).Sum(p => (double)probe.NextLogProbabilities([prefix[..p]])[prefix[p]]);
        var last = probe.NextLogProbabilities([prefix]);
        var siblings = crowded.Select(i => index[i][^1]).ToArray();
        expected += Math.Log(siblings.Average(c => Math.Exp(last[c])));
        var found = Assert.Single(decoded, x => x.Id == added);
        Assert.Equal(expected, found.LogProbability, 1e-4);
        Assert.InRange(decoded.ToList().IndexOf(found), 1, decoded.Count - 2); // neither first nor last: among its siblings
    }

    [Fact]
    public void Drafts_finish_a_search_with_every_reachable_item_scored_as_stepping_scores_it()
    {
        // The grown index holds an item whose last code the model never saw: drafts score it as an average sibling too.
        var index = Index.Value;
        var like = index.Items.GroupBy(i => string.Join(",", index[i].ToArray()[..^1])).MaxBy(g => g.Count())!.First();
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        var row = Array.IndexOf(items, like);
        var grown = index.AddItems(new ItemEmbeddings([new ItemId(90_000_001)], values.AsSpan(row * d, d), d));
        var sizes = SemanticIdVocabulary.For(index).Sizes;
        var stride = sizes.Max();
        var excluded = grown.Items.Take(25).Select(i => grown[i]).ToArray();

        IReadOnlyList<DecodedId> Drafted(int width, int steps)
        {
            using var session = Decoder().Start([]);
            var state = new BeamSearchState(grown.Trie, grown.Length, width, excluded);
            for (var s = 0; s < steps; s++)
            {
                state.Advance(session.NextLogProbabilities(state.Beams));
            }

            Assert.False(state.TryDraft(0, out var none));
            Assert.Empty(none);
            Assert.True(state.TryDraft(int.MaxValue, out var drafts));
            var length = grown.Length - steps;
            Assert.All(drafts, x => Assert.Equal(length, x.Codes.Length));
            var scores = new float[drafts.Count * length * stride];
            for (var x = 0; x < drafts.Count; x++)
            {
                for (var t = 0; t < length; t++)
                {
                    var prefix = new int[steps + t]; // the scripted model scores a position alike after any prefix
                    session.NextLogProbabilities([prefix]).CopyTo(scores.AsSpan(((x * length) + t) * stride));
                }
            }

            state.Complete(drafts, scores, stride, sizes);
            Assert.True(state.IsFinished);
            Assert.False(state.TryDraft(int.MaxValue, out _));
            return state.Results;
        }

        // From the start, drafts are the whole catalogue less the excluded items: exactly what an exhaustive beam finds.
        using (var session = Decoder().Start([]))
        {
            var exhaustive = ConstrainedBeamSearch.Search(session, grown.Trie, grown.Length, grown.Count, excluded);
            var all = Drafted(grown.Count, steps: 0);
            Assert.Equal(grown.Count - excluded.Length, all.Count);
            Assert.Equal(exhaustive.OrderBy(x => x.Id.ToString()).Select(x => x.Id), all.OrderBy(x => x.Id.ToString()).Select(x => x.Id));
            var byId = exhaustive.ToDictionary(x => x.Id, x => x.LogProbability);
            Assert.All(all, x => Assert.Equal(byId[x.Id], x.LogProbability, 1e-6));
            Assert.Contains(all, x => x.Id == grown[new ItemId(90_000_001)]);
        }

        // After a step, rank by rank at least what stepping on finds, never an excluded item.
        foreach (var width in new[] { 3, 12 })
        {
            using var session = Decoder().Start([]);
            var stepped = ConstrainedBeamSearch.Search(session, grown.Trie, grown.Length, width, excluded);
            var drafted = Drafted(width, steps: 1);
            Assert.Equal(width, drafted.Count);
            Assert.DoesNotContain(drafted, x => excluded.Contains(x.Id));
            Assert.All(stepped.Zip(drafted), p => Assert.True(p.Second.LogProbability >= p.First.LogProbability - 1e-9));
        }
    }

    [Fact]
    public void Excluded_items_are_never_returned_and_the_list_stays_full()
    {
        var index = Index.Value;
        using var first = Decoder().Start([]);
        var unfiltered = ConstrainedBeamSearch.Search(first, index.Trie, index.Length, beamWidth: 40);
        var excluded = unfiltered.Take(30).Select(d => d.Id).ToArray();
        using var second = Decoder().Start([]);

        var filtered = ConstrainedBeamSearch.Search(second, index.Trie, index.Length, beamWidth: 40, excluded: excluded);

        Assert.Equal(40, filtered.Count);
        Assert.DoesNotContain(filtered, d => excluded.Contains(d.Id));
    }

    [Fact]
    public async Task The_recall_stage_widens_the_beam_to_the_count_and_excludes_the_history()
    {
        var index = Index.Value;
        var recall = new GenerativeRecall(Decoder(), index, new GenerativeRecallOptions { BeamWidth = 10, Name = "gen" });
        var c = TestData.Split.Case(new UserId(15), Data.SplitTarget.Test); // 1,700 history items
        var request = new RecommendationRequest(c.User, c.HistoryEvents(), 100, c.Target.Time);

        var got = await recall.RecallAsync(request, 100);

        Assert.Equal(100, got.Count);
        Assert.DoesNotContain(got, g => request.HistoryItems.Contains(g.Item));
        Assert.All(got, g => Assert.Equal("gen", g.Source));
    }

    [Fact]
    public async Task An_empty_history_and_unknown_items_still_give_a_full_list()
    {
        var recall = new GenerativeRecall(Decoder(), Index.Value);
        var user = new UserId(1);
        var unknown = new UserEvent(user, new ItemId(-99), ActionType.View, DateTimeOffset.UnixEpoch);

        var empty = await recall.RecallAsync(new RecommendationRequest(user, [], 20, DateTimeOffset.UnixEpoch), 20);
        var strange = await recall.RecallAsync(new RecommendationRequest(user, [unknown], 20, DateTimeOffset.UnixEpoch), 20);

        Assert.Equal(20, empty.Count);
        Assert.Equal(empty.Select(e => e.Item), strange.Select(s => s.Item));
    }

    [Fact]
    public void A_model_trained_on_another_index_is_refused()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new GenerativeRecall(new ScriptedDecoder(SemanticIdVocabulary.For(Index.Value), "0123456789abcdef"), Index.Value));
        Assert.Contains("0123456789abcdef", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void History_tokens_are_left_padded_recent_first_kept_and_unknowns_counted()
    {
        var index = Index.Value;
        var vocabulary = SemanticIdVocabulary.For(index);
        ItemId[] history = [new(1), new(-5), new(2), new(3)];

        var tokens = vocabulary.EncodeHistory(history, index, maxItems: 2, out var unknown);

        Assert.Equal(1, unknown);
        Assert.Equal(1 + (2 * vocabulary.Positions), tokens.Length);
        Assert.Equal(SemanticIdVocabulary.Bos, tokens[0]);
        Assert.Equal(vocabulary.Offset(0) + index[new ItemId(2)][0], tokens[1]); // items 2 and 3, the most recent
        Assert.Equal(vocabulary.Offset(vocabulary.Positions - 1) + index[new ItemId(3)][vocabulary.Positions - 1], tokens[^1]);

        var padded = vocabulary.EncodeHistory([new ItemId(1)], index, maxItems: 3, out _);
        Assert.Equal(SemanticIdVocabulary.Pad, padded[0]);
        Assert.Equal(SemanticIdVocabulary.Bos, padded[^(1 + vocabulary.Positions)]);
    }

    [Fact]
    public void Token_histories_with_actions_put_each_events_action_token_after_its_codes()
    {
        var index = Index.Value;
        var vocabulary = SemanticIdVocabulary.For(index);
        var user = new UserId(1);
        var t0 = DateTimeOffset.FromUnixTimeSeconds(1_000_000);
        UserEvent[] history =
        [
            new(user, new ItemId(1), ActionType.Impression, t0),
            new(user, new ItemId(-5), ActionType.Purchase, t0), // unknown to the index: skipped with its action
            new(user, new ItemId(2), ActionType.Rate, t0, 4.5f),
            new(user, new ItemId(3), ActionType.Purchase, t0, 12.5f),
        ];

        var tokens = vocabulary.EncodeHistory(history, index, maxItems: 2, actions: true, out var unknown);

        Assert.Equal(1, unknown);
        Assert.Equal(vocabulary.HistoryTokens(2, actions: true), tokens.Length);
        Assert.Equal(1 + (2 * (vocabulary.Positions + 1)), tokens.Length);
        Assert.Equal(SemanticIdVocabulary.Bos, tokens[0]);
        Assert.Equal(vocabulary.Offset(0) + index[new ItemId(2)][0], tokens[1]); // items 2 and 3, the most recent
        Assert.Equal(vocabulary.ActionToken(ActionType.Rate, 4.5f), tokens[1 + vocabulary.Positions]);
        Assert.Equal(vocabulary.ActionToken(ActionType.Purchase, null), tokens[^1]); // a purchase's price is not a rating
        Assert.Equal(vocabulary.Size - 1 + EventHistoryLayout.ActionToken(ActionType.Purchase, null), tokens[^1]);

        // Action tokens lie past the codes, so they never collide with a semantic-ID token; distinct actions and ratings differ.
        var all = Enum.GetValues<ActionType>().SelectMany(a => new[] { vocabulary.ActionToken(a, null), vocabulary.ActionToken(a, 1), vocabulary.ActionToken(a, 5) }).ToArray();
        Assert.All(all, t => Assert.InRange(t, vocabulary.Size, vocabulary.SizeWithActions - 1));
        Assert.NotEqual(vocabulary.ActionToken(ActionType.Rate, 1), vocabulary.ActionToken(ActionType.Rate, 5));
        Assert.NotEqual(vocabulary.ActionToken(ActionType.Click, null), vocabulary.ActionToken(ActionType.Purchase, null));
        Assert.Equal(vocabulary.ActionToken(ActionType.Rate, null), vocabulary.ActionToken(ActionType.Rate, float.NaN));

        // Without actions, the event overload writes what the item overload writes.
        Assert.Equal(vocabulary.EncodeHistory(history.Select(e => e.Item), index, 2, out _), vocabulary.EncodeHistory(history, index, 2, actions: false, out _));
        var padded = vocabulary.EncodeHistory(history[..1], index, maxItems: 3, actions: true, out _);
        Assert.Equal(SemanticIdVocabulary.Pad, padded[0]);
        Assert.Equal(SemanticIdVocabulary.Bos, padded[^(2 + vocabulary.Positions)]);
    }

    [Fact]
    public void Event_histories_keep_the_last_events_right_aligned_with_their_rows_actions_and_ages()
    {
        var index = Index.Value;
        var layout = new EventHistoryLayout(SemanticIdVocabulary.For(index), maxItems: 2);
        var user = new UserId(1);
        var t0 = DateTimeOffset.FromUnixTimeSeconds(1_000_000);
        UserEvent[] history =
        [
            new(user, new ItemId(1), ActionType.Rate, t0, 5),
            new(user, new ItemId(-5), ActionType.Rate, t0, 5), // unknown to the index: skipped
            new(user, new ItemId(2), ActionType.Rate, t0.AddSeconds(100), 4.5f),
            new(user, new ItemId(3), ActionType.Click, t0.AddSeconds(1000)),
        ];

        var encoded = layout.Encode(history, index, item => item.Value == 3 ? 7 : 0, out var unknown);

        Assert.Equal(1, unknown);
        Assert.Equal(2 * layout.Fields, encoded.Length);
        var (older, last) = (encoded[..layout.Fields], encoded[layout.Fields..]); // items 2 and 3, the most recent
        Assert.Equal([0, 7], new[] { older[EventHistoryLayout.RowField], last[EventHistoryLayout.RowField] });
        Assert.Equal(layout.Vocabulary.Offset(0) + index[new ItemId(2)][0], older[EventHistoryLayout.CodeField]);
        Assert.Equal(EventHistoryLayout.ActionToken(ActionType.Rate, 4.5f), older[layout.ActionField]);
        Assert.NotEqual(EventHistoryLayout.ActionToken(ActionType.Rate, 4.5f), EventHistoryLayout.ActionToken(ActionType.Rate, 1f));
        Assert.Equal(EventHistoryLayout.ActionToken(ActionType.Click, null), last[layout.ActionField]);
        Assert.Equal(EventHistoryLayout.AgeToken(900), older[layout.AgeField]);
        Assert.Equal(1, last[layout.AgeField]); // the last event itself
        Assert.Equal(1, EventHistoryLayout.AgeToken(-50)); // an out-of-order event counts as age 0

        var padded = layout.Encode(history[..1], index, _ => 0, out _);
        Assert.All(padded[..layout.Fields], v => Assert.Equal(0, v));
        layout.Check(padded, rows: 1);
        layout.Check(padded.AsSpan(layout.Fields), rows: 1); // left padding trimmed by a whole event
    }

    [Fact]
    public void Malformed_event_histories_name_the_event_and_what_is_wrong()
    {
        var index = Index.Value;
        var layout = new EventHistoryLayout(SemanticIdVocabulary.For(index), maxItems: 2);
        var good = layout.Encode([new UserEvent(new UserId(1), new ItemId(1), ActionType.View, DateTimeOffset.UnixEpoch)], index, _ => 1, out _);
        int[] With(int field, int value)
        {
            var copy = (int[])good.Clone();
            copy[layout.Fields + field] = value;
            return copy;
        }

        Assert.Contains("whole events", Assert.Throws<ArgumentException>(() => layout.Check(good.AsSpan(1), rows: 2)).Message);
        Assert.Contains("whole events", Assert.Throws<ArgumentException>(() => layout.Check([.. good, .. good], rows: 2)).Message);
        Assert.Contains("Event 1", Assert.Throws<ArgumentException>(() => layout.Check(With(EventHistoryLayout.RowField, 2), rows: 2)).Message);
        Assert.Contains("semantic-ID token", Assert.Throws<ArgumentException>(() => layout.Check(With(EventHistoryLayout.CodeField, 0), rows: 2)).Message);
        Assert.Contains("action token", Assert.Throws<ArgumentException>(() => layout.Check(With(layout.ActionField, EventHistoryLayout.ActionTokens), rows: 2)).Message);
        Assert.Contains("age token", Assert.Throws<ArgumentException>(() => layout.Check(With(layout.AgeField, 0), rows: 2)).Message);
    }

    [Fact]
    public void The_trie_counts_leaves_and_excluded_paths()
    {
        var index = Index.Value;
        var trie = index.Trie;
        Assert.Equal(index.Count, trie.LeafCount(PrefixTrie.Root));

        // An ID excluded twice (an item the user met twice) is counted once: its siblings stay reachable.
        var id = index[new ItemId(1)];
        var counts = trie.CountPaths([id, id with { }]);
        Assert.Equal(1, counts[PrefixTrie.Root]);
        Assert.Equal(1, counts[trie.Find(id.ToArray())]);

        var pair = index.Items.Select(i => index[i]).GroupBy(x => string.Join(",", x.ToArray()[..^1])).First(g => g.Count() == 2).ToArray();
        using var session = Decoder().Start([]);
        var decoded = ConstrainedBeamSearch.Search(session, trie, index.Length, index.Count, [pair[0], pair[0]]);
        Assert.Contains(decoded, d => d.Id == pair[1]);
        Assert.DoesNotContain(decoded, d => d.Id == pair[0]);
    }
}

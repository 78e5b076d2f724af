using GenRec.SemanticIds;
using GenRec.TestSupport;

namespace GenRec.Generative.Tests;

/// <summary>
/// A scripted model: prefers high codes, and puts most mass on the last code of each position, which is often a
/// prefix no item has — so an unconstrained search invents IDs.
/// </summary>
internal sealed class ScriptedDecoder(SemanticIdVocabulary vocabulary, string fingerprint) : IGenerativeDecoder
{
    /// <summary>A small index of the catalogue's movie features (2 levels × 32 codes), made once.</summary>
    public static readonly Lazy<SemanticIdIndex> Index = new(() =>
    {
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        return new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 2, CodebookSize = 32, MaxIterations = 5 }).Fit(new ItemEmbeddings(items, values, d));
    });

    public string IndexFingerprint => fingerprint;

    public SemanticIdVocabulary Vocabulary => vocabulary;

    public int MaxHistoryItems => 5;

    /// <summary>The scripted model of <see cref="Index"/>.</summary>
    public static ScriptedDecoder Create() => new(SemanticIdVocabulary.For(Index.Value), Index.Value.Fingerprint);

    public IDecodingSession Start(ReadOnlySpan<int> historyTokens) => new Session(vocabulary);

    private sealed class Session(SemanticIdVocabulary vocabulary) : IDecodingSession
    {
        public float[] NextLogProbabilities(IReadOnlyList<int[]> beams)
        {
            var size = vocabulary.Sizes[beams[0].Length];
            var row = new float[size];
            var sum = 0.0;
            for (var c = 0; c < size; c++)
            {
                sum += c == size - 1 ? 50 : c + 1;
            }

            for (var c = 0; c < size; c++)
            {
                row[c] = (float)Math.Log((c == size - 1 ? 50 : c + 1) / sum);
            }

            return beams.SelectMany(_ => row).ToArray();
        }

        public void Dispose()
        {
        }
    }
}

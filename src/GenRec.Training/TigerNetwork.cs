using GenRec.Generative;
using GenRec.SemanticIds;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>
/// What the trainer and the model artifact need from a generative retrieval network, whatever its architecture:
/// its training examples, its loss, and a decoding session over a history.
/// </summary>
internal abstract class TigerNetwork : nn.Module<Tensor, Tensor>
{
    protected TigerNetwork(string name, TigerConfig config)
        : base(name)
    {
        Config = config;
        Vocabulary = new SemanticIdVocabulary(config.VocabularySizes);
    }

    public TigerConfig Config { get; }

    public SemanticIdVocabulary Vocabulary { get; }

    /// <summary>Tokens of a history as the network reads it: BOS and up to MaxHistoryItems items, left-padded.</summary>
    public int HistoryTokens => 1 + (Config.MaxHistoryItems * Vocabulary.Positions);

    public static TigerNetwork Create(TigerConfig config) => config.Architecture switch
    {
        TigerArchitecture.DecoderOnly => new TigerModel(config),
        TigerArchitecture.EncoderDecoder => new TigerEncoderDecoderModel(config),
        _ => throw new ArgumentOutOfRangeException(nameof(config), config.Architecture, "Unknown architecture."),
    };

    /// <summary>One epoch's training examples of a sequence: runs of up to MaxHistoryItems + 1 items.</summary>
    /// <param name="sequence">A user's items as semantic IDs, oldest first (at least two).</param>
    /// <param name="random">The trainer's seeded random source.</param>
    /// <param name="targetsPerSequence">For architectures that learn one target per example: how many to sample.</param>
    public abstract IEnumerable<ArraySegment<SemanticId>> Examples(SemanticId[] sequence, Random random, int targetsPerSequence);

    /// <summary>The summed cross-entropy of the codes a batch teaches, and how many codes that is.</summary>
    public abstract (Tensor Sum, long Count) Loss(IReadOnlyList<ArraySegment<SemanticId>> batch, Device device);

    /// <summary>
    /// The log-probability of each example's last item given the items before it (the sum over its semantic ID's codes,
    /// teacher forced, no trie mask): what <see cref="TeacherForcing.LogProbabilities"/> computes through a decoding
    /// session, but batched and differentiable, for objectives over whole items (preference alignment).
    /// </summary>
    /// <param name="batch">Examples of at least two items: the history, then the target.</param>
    /// <param name="device">Where to compute.</param>
    /// <returns>One log-probability per example, in nats (B).</returns>
    public abstract Tensor TargetLogProbabilities(IReadOnlyList<ArraySegment<SemanticId>> batch, Device device);

    /// <summary>A decoding session over a history (as <see cref="SemanticIdVocabulary.EncodeHistory"/> writes it).</summary>
    public abstract IDecodingSession Start(int[] history, Device device);

    /// <summary>Left-pads the tokens of <paramref name="items"/> after a BOS into <paramref name="row"/>.</summary>
    protected void WriteHistory(ArraySegment<SemanticId> items, Span<long> row)
    {
        var at = row.Length - (items.Count * Vocabulary.Positions) - 1;
        row[at++] = SemanticIdVocabulary.Bos;
        foreach (var id in items)
        {
            for (var p = 0; p < Vocabulary.Positions; p++)
            {
                row[at++] = Vocabulary.Offset(p) + id[p];
            }
        }
    }

    /// <summary>Runs of up to <paramref name="size"/> items ending at <paramref name="end"/>.</summary>
    protected static ArraySegment<SemanticId> Window(SemanticId[] s, int end, int size)
    {
        var start = Math.Max(0, end - size);
        return new ArraySegment<SemanticId>(s, start, end - start);
    }

    /// <summary>Sum over positions of log-softmax(<paramref name="logits"/>[p]) at <paramref name="codes"/>[p]: B log-probabilities.</summary>
    protected static Tensor SumLogProbabilities(IReadOnlyList<Tensor> logits, long[][] codes, Device device)
    {
        Tensor? sum = null;
        for (var p = 0; p < logits.Count; p++)
        {
            var picked = nn.functional.log_softmax(logits[p], -1).gather(1, torch.tensor(codes[p], device: device).unsqueeze(1)).squeeze(1);
            sum = sum is null ? picked : sum + picked;
        }

        return sum!;
    }

    /// <summary>Log-softmax of <paramref name="logits"/> (rows) copied to the host.</summary>
    protected static float[] LogSoftmax(Tensor logits) => nn.functional.log_softmax(logits, -1).cpu().data<float>().ToArray();
}

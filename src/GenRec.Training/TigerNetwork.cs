using GenRec.Data;
using GenRec.Generative;
using GenRec.SemanticIds;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>One event of a training sequence as a generative network reads it.</summary>
/// <param name="Id">The item's semantic ID.</param>
/// <param name="Row">The item's row in the network's item-ID table (0: none, or the architecture has no table).</param>
/// <param name="Action">The event's action token (<see cref="EventHistoryLayout.ActionToken"/>).</param>
/// <param name="Time">When it happened, in seconds.</param>
internal readonly record struct SequenceItem(SemanticId Id, int Row, int Action, long Time);

/// <summary>
/// What the trainer and the model artifact need from a generative retrieval network, whatever its architecture:
/// its training examples, its loss, and a decoding session over a history.
/// </summary>
internal abstract class TigerNetwork : nn.Module<Tensor, Tensor>
{
    private readonly Dictionary<ItemId, int> _rows = [];

    protected TigerNetwork(string name, TigerConfig config, IReadOnlyList<ItemId>? items)
        : base(name)
    {
        Config = config;
        Vocabulary = new SemanticIdVocabulary(config.VocabularySizes);
        Items = items ?? [];
        if (Items.Count != Math.Max(0, config.Items - 1))
        {
            throw new ArgumentException($"The shape has {config.Items} item rows (row 0 included); {Items.Count} items were given.", nameof(items));
        }

        for (var i = 0; i < Items.Count; i++)
        {
            _rows[Items[i]] = i + 1;
        }
    }

    public TigerConfig Config { get; }

    public SemanticIdVocabulary Vocabulary { get; }

    /// <summary>The items of the item-ID table, by row − 1 (row 0 is "no row"); empty for architectures without one.</summary>
    public IReadOnlyList<ItemId> Items { get; }

    /// <summary>Integers of a history as the network reads it: BOS and up to MaxHistoryItems items' tokens, left-padded.</summary>
    public virtual int HistoryTokens => Vocabulary.HistoryTokens(Config.MaxHistoryItems, Config.Actions);

    /// <summary>Rows of the token embedding: the semantic-ID vocabulary, and the action tokens when the history carries them.</summary>
    protected int TokenCount => Config.Actions ? Vocabulary.SizeWithActions : Vocabulary.Size;

    /// <summary>Tokens of one history item: its codes, and its action token when the history carries them.</summary>
    protected int ItemTokens => Vocabulary.Positions + (Config.Actions ? 1 : 0);

    public static TigerNetwork Create(TigerConfig config, IReadOnlyList<ItemId>? items = null) => config.Architecture switch
    {
        TigerArchitecture.DecoderOnly => new TigerModel(config),
        TigerArchitecture.EncoderDecoder or TigerArchitecture.EndToEnd => new TigerEncoderDecoderModel(config, items),
        _ => throw new ArgumentOutOfRangeException(nameof(config), config.Architecture, "Unknown architecture."),
    };

    /// <summary>The item's row in the item-ID table; 0 when it has none.</summary>
    public int Row(ItemId item) => _rows.GetValueOrDefault(item);

    /// <summary>
    /// A user's events the index knows (and the vocabulary writes), oldest first, as the network reads them: each with
    /// its own action (<see cref="Interaction.EffectiveAction"/>), tokenised as <see cref="EventHistoryLayout"/> does
    /// for a served history, so a model trains on the actions it is later asked with.
    /// </summary>
    public SequenceItem[] Sequence(IEnumerable<Interaction> interactions, SemanticIdIndex index) =>
        [.. interactions
            .Where(i => index.TryGetSemanticId(i.Item, out var id) && Vocabulary.Writes(id))
            .Select(i => new SequenceItem(index[i.Item], Row(i.Item), EventHistoryLayout.ActionToken(i.EffectiveAction, float.IsNaN(i.Rating) ? null : i.Rating), i.Timestamp))];

    /// <summary>A history as <see cref="Start"/> reads it (by default the items' semantic-ID tokens, each item's followed by its action token when the model reads actions).</summary>
    public virtual int[] EncodeHistory(IReadOnlyList<UserEvent> history, SemanticIdIndex index) =>
        Vocabulary.EncodeHistory(history, index, Config.MaxHistoryItems, Config.Actions, out _);

    /// <summary>One epoch's training examples of a sequence: runs of up to MaxHistoryItems + 1 items.</summary>
    /// <param name="sequence">A user's items as semantic IDs, oldest first (at least two).</param>
    /// <param name="random">The trainer's seeded random source.</param>
    /// <param name="targetsPerSequence">For architectures that learn one target per example: how many to sample.</param>
    public abstract IEnumerable<ArraySegment<SequenceItem>> Examples(SequenceItem[] sequence, Random random, int targetsPerSequence);

    /// <summary>The summed cross-entropy of the codes a batch teaches, and how many codes that is.</summary>
    public abstract (Tensor Sum, long Count) Loss(IReadOnlyList<ArraySegment<SequenceItem>> batch, Device device);

    /// <summary>
    /// The log-probability of each example's last item given the items before it (the sum over its semantic ID's codes,
    /// teacher forced, no trie mask): what <see cref="TeacherForcing.LogProbabilities"/> computes through a decoding
    /// session, but batched and differentiable, for objectives over whole items (preference alignment).
    /// </summary>
    /// <param name="batch">Examples of at least two items: the history, then the target.</param>
    /// <param name="device">Where to compute.</param>
    /// <returns>One log-probability per example, in nats (B).</returns>
    public abstract Tensor TargetLogProbabilities(IReadOnlyList<ArraySegment<SequenceItem>> batch, Device device);

    /// <summary>A decoding session over a history (as <see cref="SemanticIdVocabulary.EncodeHistory(IReadOnlyList{UserEvent}, SemanticIdIndex, int, bool, out int)"/> writes it).</summary>
    public abstract IDecodingSession Start(int[] history, Device device);

    /// <summary>
    /// Left-pads the tokens of <paramref name="items"/> after a BOS into <paramref name="row"/>, as
    /// <see cref="EncodeHistory"/> writes a served history (each item's action token after its codes when the model
    /// reads actions).
    /// </summary>
    protected virtual void WriteHistory(ArraySegment<SequenceItem> items, Span<long> row) => WriteTokens(items, row, lastAction: true);

    /// <summary>
    /// Left-pads a training window (a history and its target, whose action is not known when it is generated) into
    /// <paramref name="row"/>: the history as <see cref="WriteHistory"/> writes it, then the target's codes.
    /// </summary>
    protected void WriteWindow(ArraySegment<SequenceItem> items, Span<long> row) => WriteTokens(items, row, lastAction: false);

    private void WriteTokens(ArraySegment<SequenceItem> items, Span<long> row, bool lastAction)
    {
        var actions = Config.Actions;
        var at = row.Length - (items.Count * ItemTokens) - 1 + (actions && !lastAction && items.Count > 0 ? 1 : 0);
        row[at++] = SemanticIdVocabulary.Bos;
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            for (var p = 0; p < Vocabulary.Positions; p++)
            {
                row[at++] = Vocabulary.Offset(p) + item.Id[p];
            }

            if (actions && (lastAction || i < items.Count - 1))
            {
                row[at++] = Vocabulary.ActionOffset + item.Action;
            }
        }
    }

    /// <summary>Runs of up to <paramref name="size"/> items ending at <paramref name="end"/>.</summary>
    protected static ArraySegment<SequenceItem> Window(SequenceItem[] s, int end, int size)
    {
        var start = Math.Max(0, end - size);
        return new ArraySegment<SequenceItem>(s, start, end - start);
    }

    /// <summary>Sum over positions of log-softmax(<paramref name="logits"/>[p]) at <paramref name="codes"/>[p]: B log-probabilities.</summary>
    protected static Tensor SumLogProbabilities(IReadOnlyList<Tensor> logits, long[][] codes, Device device)
    {
        Tensor? sum = null;
        for (var p = 0; p < logits.Count; p++)
        {
            var picked = nn.functional.log_softmax(logits[p], -1).gather(1, torch.tensor(codes[p], device: device).unsqueeze(1)).squeeze(1);
            sum = sum is null ? picked : sum.Plus(picked);
        }

        return sum!;
    }

    /// <summary>Log-softmax of <paramref name="logits"/> (rows) copied to the host.</summary>
    protected static float[] LogSoftmax(Tensor logits) => nn.functional.log_softmax(logits, -1).cpu().data<float>().ToArray();
}

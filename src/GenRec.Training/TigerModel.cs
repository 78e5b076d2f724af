using GenRec.Generative;
using GenRec.SemanticIds;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>The architecture of a generative retrieval model.</summary>
public enum TigerArchitecture
{
    /// <summary>
    /// One causal transformer over history and target tokens (GRID, OneRec-V2); one pass learns every next-token
    /// position of a window, the cheapest to train.
    /// </summary>
    DecoderOnly = 0,

    /// <summary>
    /// TIGER's shape: a bidirectional encoder reads the history, a decoder with cross-attention writes the next
    /// item's codes; trained on sampled (history, next item) targets.
    /// </summary>
    EncoderDecoder = 1,

    /// <summary>
    /// End-to-end generation (OneRec V2, MTGR): the encoder-decoder, with an encoder that reads one slot per event
    /// (the item's own ID embedding, its semantic-ID tokens, its genres and release year, the action and the event's
    /// age) instead of the semantic-ID tokens alone (<see cref="EventHistoryLayout"/>); trained on sampled targets.
    /// </summary>
    EndToEnd = 2,
}

/// <summary>The shape of a generative retrieval model.</summary>
/// <param name="Dimension">Model width.</param>
/// <param name="Layers">Transformer blocks (each of the encoder and the decoder, for an encoder-decoder).</param>
/// <param name="Heads">Attention heads; divides <paramref name="Dimension"/>.</param>
/// <param name="MlpDimension">Hidden width of each block's MLP.</param>
/// <param name="Dropout">Dropout rate in training.</param>
/// <param name="MaxHistoryItems">History items the model reads; windows in training hold one more (the target).</param>
/// <param name="VocabularySizes">Codes at each semantic-ID position.</param>
/// <param name="Architecture">Decoder-only, encoder-decoder or end-to-end.</param>
/// <param name="Items">End-to-end only: rows of the item-ID table, row 0 ("no row": an item unseen in training) included; 0 for the other architectures.</param>
/// <param name="Genres">End-to-end only: the genre vocabulary of the item side features (0: none).</param>
/// <param name="Actions">
/// Decoder-only and encoder-decoder: whether the history carries each event's action token after the item's codes
/// (<see cref="SemanticIdVocabulary.EncodeHistory(IReadOnlyList{UserEvent}, SemanticIdIndex, int, bool, out int)"/>).
/// An end-to-end model always reads actions, in its own slot.
/// </param>
public sealed record TigerConfig(int Dimension, int Layers, int Heads, int MlpDimension, double Dropout, int MaxHistoryItems, IReadOnlyList<int> VocabularySizes, TigerArchitecture Architecture = TigerArchitecture.DecoderOnly, int Items = 0, int Genres = 0, bool Actions = false)
{
    /// <summary>Tokens in a training window: BOS, the history's items (each with its action token when <see cref="Actions"/>), then the target's codes.</summary>
    public int WindowTokens => 1 + ((MaxHistoryItems + 1) * VocabularySizes.Count) + (Actions ? MaxHistoryItems : 0);

    internal void Validate()
    {
        if (Dimension < 1 || Layers < 1 || Heads < 1 || Dimension % Heads != 0 || MlpDimension < 1 || MaxHistoryItems < 1 || Dropout is < 0 or >= 1
            || Items < 0 || Genres < 0 || ((Items > 0 || Genres > 0) && Architecture != TigerArchitecture.EndToEnd) || (Architecture == TigerArchitecture.EndToEnd && (Items < 1 || Actions)))
        {
            throw new ArgumentOutOfRangeException(nameof(TigerConfig), $"Invalid model shape {this}: positive sizes, Heads dividing Dimension, Dropout in [0, 1); item rows and genres only end to end, Actions only for the token-history architectures.");
        }
    }
}

/// <summary>A pre-norm transformer block with causal self-attention that can also run against cached keys/values.</summary>
internal sealed class DecoderBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm ln1;
    private readonly LayerNorm ln2;
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly Dropout dropout;
    private readonly int _heads;
    private readonly double _p;

    public DecoderBlock(int dimension, int heads, int mlp, double dropoutRate)
        : base(nameof(DecoderBlock))
    {
        ln1 = nn.LayerNorm(dimension);
        ln2 = nn.LayerNorm(dimension);
        qkv = nn.Linear(dimension, 3 * dimension);
        proj = nn.Linear(dimension, dimension);
        fc1 = nn.Linear(dimension, mlp);
        fc2 = nn.Linear(mlp, dimension);
        dropout = nn.Dropout(dropoutRate);
        _heads = heads;
        _p = dropoutRate;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => throw new NotSupportedException("Use Forward with a mask.");

    /// <summary>Full pass over x (B×T×d) with a boolean mask (True = may attend); also returns this block's keys and values.</summary>
    public Tensor Forward(Tensor x, Tensor mask, out Tensor keys, out Tensor values)
    {
        var (q, k, v) = Project(ln1.forward(x));
        keys = k;
        values = v;
        return Finish(x, q, k, v, mask);
    }

    /// <summary>Pass over new tokens x (B×s×d) attending to cached prefix keys/values (1×H×Tp×dh) and to themselves.</summary>
    public Tensor ForwardCached(Tensor x, Tensor prefixKeys, Tensor prefixValues, Tensor mask)
    {
        var (q, k, v) = Project(ln1.forward(x));
        var b = x.shape[0];
        var keys = torch.cat([prefixKeys.expand(b, -1, -1, -1), k], 2);
        var values = torch.cat([prefixValues.expand(b, -1, -1, -1), v], 2);
        return Finish(x, q, keys, values, mask);
    }

    private (Tensor Q, Tensor K, Tensor V) Project(Tensor h)
    {
        long b = h.shape[0], t = h.shape[1], d = h.shape[2];
        var parts = qkv.forward(h).view(b, t, 3, _heads, d / _heads).permute(2, 0, 3, 1, 4);
        return (parts[0], parts[1], parts[2]);
    }

    private Tensor Finish(Tensor x, Tensor q, Tensor k, Tensor v, Tensor mask)
    {
        long b = x.shape[0], t = x.shape[1], d = x.shape[2];
        var attended = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask, p: training ? _p : 0);
        x = x.Plus(dropout.forward(proj.forward(attended.transpose(1, 2).reshape(b, t, d))));
        return x.Plus(dropout.forward(fc2.forward(nn.functional.gelu(fc1.forward(ln2.forward(x))))));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            ln1.Dispose();
            ln2.Dispose();
            qkv.Dispose();
            proj.Dispose();
            fc1.Dispose();
            fc2.Dispose();
            dropout.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>
/// The generative retrieval network, decoder-only (GRID, OneRec-V2): token and learned position embeddings, causal
/// pre-norm blocks, and one output head per semantic-ID position. One pass learns every next-token position of a
/// window, which is what makes training affordable on a CPU.
/// </summary>
internal sealed class TigerModel : TigerNetwork
{
    private readonly Embedding tokens;
    private readonly Embedding positions;
    private readonly ModuleList<DecoderBlock> blocks;
    private readonly LayerNorm norm;
    private readonly ModuleList<Linear> heads;
    private readonly Dropout dropout;

    public TigerModel(TigerConfig config)
        : base(nameof(TigerModel), config, null)
    {
        tokens = nn.Embedding(TokenCount, config.Dimension, padding_idx: 0);
        positions = nn.Embedding(config.WindowTokens, config.Dimension);
        blocks = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new DecoderBlock(config.Dimension, config.Heads, config.MlpDimension, config.Dropout)).ToArray());
        norm = nn.LayerNorm(config.Dimension);
        heads = nn.ModuleList(config.VocabularySizes.Select(v => nn.Linear(config.Dimension, v)).ToArray());
        dropout = nn.Dropout(config.Dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => Hidden(input);

    /// <summary>Each sequence's most recent window, then older windows back in strides of the window, with a random phase.</summary>
    public override IEnumerable<ArraySegment<SequenceItem>> Examples(SequenceItem[] sequence, Random random, int targetsPerSequence)
    {
        var size = Config.MaxHistoryItems + 1;
        yield return Window(sequence, sequence.Length, size);
        for (var end = sequence.Length - random.Next(1, size) - size + 1; end >= 2; end -= size)
        {
            yield return Window(sequence, end, size);
        }
    }

    /// <summary>Every next code of every window: the token before each code (a code, an action token or BOS) predicts it.</summary>
    public override (Tensor Sum, long Count) Loss(IReadOnlyList<ArraySegment<SequenceItem>> batch, Device device)
    {
        var length = Config.WindowTokens;
        var input = new long[batch.Count * length];
        var rows = Enumerable.Range(0, Vocabulary.Positions).Select(_ => new List<long>()).ToArray();
        var codes = Enumerable.Range(0, Vocabulary.Positions).Select(_ => new List<long>()).ToArray();
        for (var b = 0; b < batch.Count; b++)
        {
            WriteWindow(batch[b], input.AsSpan(b * length, length));
            var items = batch[b].Count;
            for (var i = 0; i < items; i++)
            {
                // Item i's codes: the last item's end the window; each earlier item's are followed by its action token, if any.
                var first = (b * length) + length - Vocabulary.Positions - ((items - 1 - i) * ItemTokens);
                for (var p = 0; p < Vocabulary.Positions; p++)
                {
                    rows[p].Add(first + p - 1);
                    codes[p].Add(batch[b][i].Id[p]);
                }
            }
        }

        var hidden = Hidden(torch.tensor(input, [batch.Count, length], device: device)).view(-1, Config.Dimension);
        Tensor? sum = null;
        long count = 0;
        for (var p = 0; p < Vocabulary.Positions; p++)
        {
            var term = nn.functional.cross_entropy(
                Head(p, hidden.index_select(0, torch.tensor(rows[p].ToArray(), device: device))),
                torch.tensor(codes[p].ToArray(), device: device),
                reduction: nn.Reduction.Sum);
            sum = sum is null ? term : sum.Plus(term);
            count += rows[p].Count;
        }

        return (sum!, count);
    }

    /// <summary>The window's last item is the target: the hidden state before each of its codes predicts it.</summary>
    public override Tensor TargetLogProbabilities(IReadOnlyList<ArraySegment<SequenceItem>> batch, Device device)
    {
        var length = Config.WindowTokens;
        var positions = Vocabulary.Positions;
        var input = new long[batch.Count * length];
        var codes = new long[positions][];
        for (var p = 0; p < positions; p++)
        {
            codes[p] = new long[batch.Count];
        }

        for (var b = 0; b < batch.Count; b++)
        {
            if (batch[b].Count < 2 || batch[b].Count > Config.MaxHistoryItems + 1)
            {
                throw new ArgumentException($"Example {b} holds {batch[b].Count} items; a history of 1 to {Config.MaxHistoryItems} items and a target are needed.", nameof(batch));
            }

            WriteWindow(batch[b], input.AsSpan(b * length, length));
            for (var p = 0; p < positions; p++)
            {
                codes[p][b] = batch[b][^1].Id[p];
            }
        }

        var hidden = Hidden(torch.tensor(input, [batch.Count, length], device: device));
        var logits = Enumerable.Range(0, positions).Select(p => Head(p, hidden[.., length - positions - 1 + p])).ToArray();
        return SumLogProbabilities(logits, codes, device);
    }

    public override IDecodingSession Start(int[] history, Device device) => new Session(this, history, device);

    /// <summary>Hidden states (B×T×d) of left-padded token windows (B×T), causal, padding never attended to.</summary>
    public Tensor Hidden(Tensor input) => Hidden(input, out _, out _);

    public Tensor Hidden(Tensor input, out Tensor[] keys, out Tensor[] values)
    {
        var t = input.shape[1];
        var x = dropout.forward(tokens.forward(input).Plus(positions.forward(TorchOps.Range(t, input.device)).unsqueeze(0)));
        var mask = AttentionMask(input);
        keys = new Tensor[blocks.Count];
        values = new Tensor[blocks.Count];
        for (var i = 0; i < blocks.Count; i++)
        {
            x = blocks[i].Forward(x, mask, out keys[i], out values[i]);
        }

        return norm.forward(x);
    }

    /// <summary>Hidden states of generated tokens (B×s) placed after a cached prefix of <paramref name="prefixLength"/> tokens.</summary>
    public Tensor HiddenCached(Tensor generated, long prefixLength, Tensor[] keys, Tensor[] values, Tensor prefixKeep)
    {
        var s = generated.shape[1];
        var x = tokens.forward(generated).Plus(positions.forward(TorchOps.Range(prefixLength, prefixLength + s, generated.device)).unsqueeze(0));
        var causal = torch.ones(s, s, dtype: ScalarType.Bool, device: generated.device).tril();
        var mask = torch.cat([prefixKeep.view(1, -1).expand(s, -1), causal], 1).view(1, 1, s, prefixLength + s);
        for (var i = 0; i < blocks.Count; i++)
        {
            x = blocks[i].ForwardCached(x, keys[i], values[i], mask);
        }

        return norm.forward(x);
    }

    /// <summary>Logits of the codes at semantic-ID position <paramref name="position"/>.</summary>
    public Tensor Head(int position, Tensor hidden) => heads[position].forward(hidden);

    /// <summary>Causal, and padding keys masked except for a token's own position (so a padding row is never empty).</summary>
    private static Tensor AttentionMask(Tensor input)
    {
        var t = input.shape[1];
        var causal = torch.ones(t, t, dtype: ScalarType.Bool, device: input.device).tril();
        var keyKeep = input.NotEqual(0).unsqueeze(1); // B×1×T
        var diagonal = torch.eye(t, dtype: ScalarType.Bool, device: input.device).unsqueeze(0);
        return (causal.unsqueeze(0) & (keyKeep | diagonal)).unsqueeze(1); // B×1×T×T
    }

    /// <summary>One history: its keys/values are computed once; beams re-run only their generated tokens.</summary>
    private sealed class Session : IDecodingSession
    {
        private readonly TigerModel _model;
        private readonly Device _device;
        private readonly Tensor[] _keys;
        private readonly Tensor[] _values;
        private readonly Tensor _keep;
        private readonly float[] _first;
        private readonly long _prefixLength;

        public Session(TigerModel model, int[] history, Device device)
        {
            _model = model;
            _device = device;
            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            var input = torch.tensor(history.Select(t => (long)t).ToArray(), [1, history.Length], device: device);
            var hidden = model.Hidden(input, out var keys, out var values);
            _first = LogSoftmax(model.Head(0, hidden[0, -1]));
            _keys = keys.Select(k => k.DetachFromDisposeScope()).ToArray();
            _values = values.Select(v => v.DetachFromDisposeScope()).ToArray();
            _keep = input.NotEqual(0).view(-1).DetachFromDisposeScope();
            _prefixLength = history.Length;
        }

        public float[] NextLogProbabilities(IReadOnlyList<int[]> beams)
        {
            var s = beams[0].Length;
            if (s == 0)
            {
                return _first;
            }

            var flat = new long[beams.Count * s];
            for (var b = 0; b < beams.Count; b++)
            {
                for (var p = 0; p < s; p++)
                {
                    flat[(b * s) + p] = _model.Vocabulary.Offset(p) + beams[b][p];
                }
            }

            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            var generated = torch.tensor(flat, [beams.Count, s], device: _device);
            var hidden = _model.HiddenCached(generated, _prefixLength, _keys, _values, _keep);
            return LogSoftmax(_model.Head(s, hidden[.., -1]));
        }

        public void Dispose()
        {
            foreach (var t in _keys.Concat(_values))
            {
                t.Dispose();
            }

            _keep.Dispose();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            tokens.Dispose();
            positions.Dispose();
            blocks.Dispose();
            norm.Dispose();
            heads.Dispose();
            dropout.Dispose();
        }

        base.Dispose(disposing);
    }
}

using GenRec.Generative;
using GenRec.SemanticIds;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>A pre-norm decoder block: causal self-attention, cross-attention to the encoder's memory, MLP.</summary>
internal sealed class CrossDecoderBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm ln1;
    private readonly LayerNorm ln2;
    private readonly LayerNorm ln3;
    private readonly Linear selfQkv;
    private readonly Linear selfProj;
    private readonly Linear crossQ;
    private readonly Linear crossKv;
    private readonly Linear crossProj;
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly Dropout dropout;
    private readonly int _heads;
    private readonly double _p;

    public CrossDecoderBlock(int dimension, int heads, int mlp, double dropoutRate)
        : base(nameof(CrossDecoderBlock))
    {
        ln1 = nn.LayerNorm(dimension);
        ln2 = nn.LayerNorm(dimension);
        ln3 = nn.LayerNorm(dimension);
        selfQkv = nn.Linear(dimension, 3 * dimension);
        selfProj = nn.Linear(dimension, dimension);
        crossQ = nn.Linear(dimension, dimension);
        crossKv = nn.Linear(dimension, 2 * dimension);
        crossProj = nn.Linear(dimension, dimension);
        fc1 = nn.Linear(dimension, mlp);
        fc2 = nn.Linear(mlp, dimension);
        dropout = nn.Dropout(dropoutRate);
        _heads = heads;
        _p = dropoutRate;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => throw new NotSupportedException("Use Forward with the encoder's memory.");

    /// <summary>The cross-attention keys and values of a memory (B×T×d → B×H×T×dh each), computed once per history.</summary>
    public (Tensor Keys, Tensor Values) Memory(Tensor memory)
    {
        long b = memory.shape[0], t = memory.shape[1], d = memory.shape[2];
        var kv = crossKv.forward(memory).view(b, t, 2, _heads, d / _heads).permute(2, 0, 3, 1, 4);
        return (kv[0], kv[1]);
    }

    /// <summary>Decoder tokens x (B×s×d) against memory keys/values (B or 1 × H×T×dh) with a memory mask (B or 1 × 1×1×T).</summary>
    public Tensor Forward(Tensor x, Tensor memoryKeys, Tensor memoryValues, Tensor memoryMask)
    {
        long b = x.shape[0], s = x.shape[1], d = x.shape[2];
        var qkv = selfQkv.forward(ln1.forward(x)).view(b, s, 3, _heads, d / _heads).permute(2, 0, 3, 1, 4);
        var causal = torch.ones(s, s, dtype: ScalarType.Bool, device: x.device).tril();
        var attended = nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask: causal, p: training ? _p : 0);
        x = x.Plus(dropout.forward(selfProj.forward(attended.transpose(1, 2).reshape(b, s, d))));

        var q = crossQ.forward(ln2.forward(x)).view(b, s, _heads, d / _heads).transpose(1, 2);
        var keys = memoryKeys.shape[0] == b ? memoryKeys : memoryKeys.expand(b, -1, -1, -1);
        var values = memoryValues.shape[0] == b ? memoryValues : memoryValues.expand(b, -1, -1, -1);
        var crossed = nn.functional.scaled_dot_product_attention(q, keys, values, attn_mask: memoryMask, p: training ? _p : 0);
        x = x.Plus(dropout.forward(crossProj.forward(crossed.transpose(1, 2).reshape(b, s, d))));
        return x.Plus(dropout.forward(fc2.forward(nn.functional.gelu(fc1.forward(ln3.forward(x))))));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var m in new nn.Module[] { ln1, ln2, ln3, selfQkv, selfProj, crossQ, crossKv, crossProj, fc1, fc2, dropout })
            {
                m.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}

/// <summary>
/// TIGER's encoder-decoder: a bidirectional encoder over the history and a decoder that writes the next item's codes
/// with causal self-attention and cross-attention to the encoder. It learns one target per example, so training
/// samples several (history, next item) targets per user and epoch. The encoder reads the history's semantic-ID
/// tokens (<see cref="TigerArchitecture.EncoderDecoder"/>) or, end to end (<see cref="TigerArchitecture.EndToEnd"/>),
/// one slot per event (<see cref="EventHistoryLayout"/>) after a learned start slot: the sum of the item's ID
/// embedding, its semantic-ID token embeddings (shared with the decoder), its genres and release year, the action
/// and the event's age.
/// </summary>
internal sealed class TigerEncoderDecoderModel : TigerNetwork
{
    private readonly Embedding tokens;
    private readonly Embedding encoderPositions;
    private readonly Embedding decoderPositions;
    private readonly ModuleList<DecoderBlock> encoder;
    private readonly ModuleList<CrossDecoderBlock> decoder;
    private readonly LayerNorm encoderNorm;
    private readonly LayerNorm decoderNorm;
    private readonly ModuleList<Linear> heads;
    private readonly Dropout dropout;

    // End to end only (null otherwise, so an encoder-decoder's weights keep their names and count).
    private readonly Embedding? rows;
    private readonly Embedding? actions;
    private readonly Embedding? ages;
    private readonly Embedding? years;
    private readonly Linear? genres;
    private readonly Parameter? start;
    private readonly Tensor? item_genres;
    private readonly Tensor? item_years;
    private readonly EventHistoryLayout? _layout;

    public TigerEncoderDecoderModel(TigerConfig config, IReadOnlyList<ItemId>? items = null)
        : base(nameof(TigerEncoderDecoderModel), config, items)
    {
        var d = config.Dimension;
        if (config.Architecture == TigerArchitecture.EndToEnd)
        {
            _layout = new EventHistoryLayout(Vocabulary, config.MaxHistoryItems);
            rows = nn.Embedding(config.Items, d, padding_idx: 0);
            actions = nn.Embedding(EventHistoryLayout.ActionTokens, d, padding_idx: 0);
            ages = nn.Embedding(EventHistoryLayout.AgeTokens, d, padding_idx: 0);
            years = nn.Embedding(HstuModel.YearBuckets, d, padding_idx: 0);
            start = nn.Parameter(torch.randn(1, 1, d));
            item_years = torch.zeros(config.Items, dtype: ScalarType.Int64);
            if (config.Genres > 0)
            {
                genres = nn.Linear(config.Genres, d, hasBias: false);
                item_genres = torch.zeros(config.Items, config.Genres);
            }
        }

        tokens = nn.Embedding(TokenCount, d, padding_idx: 0);
        encoderPositions = nn.Embedding(_layout is null ? HistoryTokens : config.MaxHistoryItems + 1, d);
        decoderPositions = nn.Embedding(Vocabulary.Positions, d);
        encoder = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new DecoderBlock(d, config.Heads, config.MlpDimension, config.Dropout)).ToArray());
        decoder = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new CrossDecoderBlock(d, config.Heads, config.MlpDimension, config.Dropout)).ToArray());
        encoderNorm = nn.LayerNorm(d);
        decoderNorm = nn.LayerNorm(d);
        heads = nn.ModuleList(config.VocabularySizes.Select(v => nn.Linear(d, v)).ToArray());
        dropout = nn.Dropout(config.Dropout);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override int HistoryTokens => _layout?.Length ?? base.HistoryTokens;

    public override Tensor forward(Tensor input) => Encode(input);

    /// <summary>End to end: sets the item side features of every row (rows × genres multi-hot, release-year bucket).</summary>
    public void SetItemFeatures(float[] genreHot, long[] yearBucket)
    {
        if (_layout is null)
        {
            throw new InvalidOperationException("Only the end-to-end architecture reads item side features.");
        }

        using var noGrad = torch.no_grad();
        item_years!.copy_(torch.tensor(yearBucket));
        item_genres?.copy_(torch.tensor(genreHot, [Config.Items, Config.Genres]));
    }

    /// <summary>Which encoder positions hold something (B×T): non-padding tokens, or the start slot and the events.</summary>
    public Tensor MemoryKeep(Tensor history)
    {
        if (_layout is null)
        {
            return history.NotEqual(0);
        }

        var b = history.shape[0];
        var present = history.view(b, Config.MaxHistoryItems, _layout.Fields).select(2, EventHistoryLayout.CodeField).NotEqual(0);
        return torch.cat([torch.ones(b, 1, dtype: ScalarType.Bool, device: history.device), present], 1);
    }

    /// <summary>Encoder memory (B×T×d) of left-padded histories: bidirectional, padding never attended to.</summary>
    public Tensor Encode(Tensor history)
    {
        var x = _layout is null ? tokens.forward(history) : EmbedEvents(history);
        var t = x.shape[1];
        x = dropout.forward(x.Plus(encoderPositions.forward(TorchOps.Range(t, history.device)).unsqueeze(0)));
        var keep = MemoryKeep(history).unsqueeze(1); // B×1×T
        var diagonal = torch.eye(t, dtype: ScalarType.Bool, device: history.device).unsqueeze(0);
        var mask = (keep | diagonal).unsqueeze(1); // B×1×T×T
        foreach (var block in encoder)
        {
            x = block.Forward(x, mask, out _, out _);
        }

        return encoderNorm.forward(x);
    }

    /// <summary>End to end: every row's item vector, its ID embedding plus its side features ([Items, d]; row 0 is "no row": zero ID embedding, no side features).</summary>
    public Tensor RowTable()
    {
        if (_layout is null)
        {
            throw new InvalidOperationException("Only the end-to-end architecture has an item-ID table.");
        }

        var table = rows!.weight!.Plus(years!.forward(item_years!));
        return genres is null ? table : table.Plus(genres.forward(item_genres!));
    }

    /// <summary>End to end: the start slot, then each event's summed embeddings (B×(1 + MaxHistoryItems)×d).</summary>
    private Tensor EmbedEvents(Tensor history)
    {
        var layout = _layout!;
        long b = history.shape[0], m = Config.MaxHistoryItems;
        var slots = history.view(b, m, layout.Fields);
        var row = slots.select(2, EventHistoryLayout.RowField);
        var x = rows!.forward(row).Plus(actions!.forward(slots.select(2, layout.ActionField))).Plus(ages!.forward(slots.select(2, layout.AgeField)));
        for (var p = 0; p < Vocabulary.Positions; p++)
        {
            x = x.Plus(tokens.forward(slots.select(2, EventHistoryLayout.CodeField + p)));
        }

        var flat = row.flatten();
        x = x.Plus(years!.forward(item_years!.index_select(0, flat).view(b, m)));
        if (genres is not null)
        {
            x = x.Plus(genres.forward(item_genres!.index_select(0, flat).view(b, m, Config.Genres)));
        }

        return torch.cat([start!.expand(b, 1, Config.Dimension), x], 1);
    }

    /// <inheritdoc />
    public override int[] EncodeHistory(IReadOnlyList<UserEvent> history, SemanticIdIndex index) =>
        _layout is null ? base.EncodeHistory(history, index) : _layout.Encode(history, index, Row, out _);

    /// <inheritdoc />
    protected override void WriteHistory(ArraySegment<SequenceItem> items, Span<long> row)
    {
        if (_layout is null)
        {
            base.WriteHistory(items, row);
            return;
        }

        var n = items.Count;
        var ids = new SemanticId[n];
        var itemRows = new int[n];
        var itemActions = new int[n];
        var times = new long[n];
        for (var i = 0; i < n; i++)
        {
            (ids[i], itemRows[i], itemActions[i], times[i]) = items[i];
        }

        _layout.Write(ids, itemRows, itemActions, times, row);
    }

    /// <summary>Decoder hidden states (B×s×d) of decoder tokens [BOS, c0, …] against precomputed memory keys/values.</summary>
    public Tensor Decode(Tensor decoderTokens, Tensor[] memoryKeys, Tensor[] memoryValues, Tensor memoryMask)
    {
        var s = decoderTokens.shape[1];
        var x = dropout.forward(tokens.forward(decoderTokens).Plus(decoderPositions.forward(TorchOps.Range(s, decoderTokens.device)).unsqueeze(0)));
        for (var i = 0; i < decoder.Count; i++)
        {
            x = decoder[i].Forward(x, memoryKeys[i], memoryValues[i], memoryMask);
        }

        return decoderNorm.forward(x);
    }

    public (Tensor[] Keys, Tensor[] Values) Memory(Tensor memory)
    {
        var keys = new Tensor[decoder.Count];
        var values = new Tensor[decoder.Count];
        for (var i = 0; i < decoder.Count; i++)
        {
            (keys[i], values[i]) = decoder[i].Memory(memory);
        }

        return (keys, values);
    }

    public Tensor Head(int position, Tensor hidden) => heads[position].forward(hidden);

    /// <summary>The last item as target (always), plus sampled earlier targets, each with the items before it.</summary>
    public override IEnumerable<ArraySegment<SequenceItem>> Examples(SequenceItem[] sequence, Random random, int targetsPerSequence)
    {
        var size = Config.MaxHistoryItems + 1;
        yield return Window(sequence, sequence.Length, size);
        for (var i = 1; i < targetsPerSequence && sequence.Length > 2; i++)
        {
            yield return Window(sequence, random.Next(2, sequence.Length), size);
        }
    }

    /// <summary>Each example's last item is the target, the items before it the history.</summary>
    public override (Tensor Sum, long Count) Loss(IReadOnlyList<ArraySegment<SequenceItem>> batch, Device device)
    {
        var positions = Vocabulary.Positions;
        var (hidden, targets) = DecodeTargets(batch, device);
        Tensor? sum = null;
        for (var p = 0; p < positions; p++)
        {
            var term = nn.functional.cross_entropy(Head(p, hidden[.., p]), torch.tensor(targets[p], device: device), reduction: nn.Reduction.Sum);
            sum = sum is null ? term : sum.Plus(term);
        }

        return (sum!, (long)batch.Count * positions);
    }

    /// <summary>Each example's last item is the target: the decoder's states over [BOS, c0, …] predict its codes.</summary>
    public override Tensor TargetLogProbabilities(IReadOnlyList<ArraySegment<SequenceItem>> batch, Device device)
    {
        foreach (var example in batch)
        {
            if (example.Count < 2 || example.Count > Config.MaxHistoryItems + 1)
            {
                throw new ArgumentException($"An example holds {example.Count} items; a history of 1 to {Config.MaxHistoryItems} items and a target are needed.", nameof(batch));
            }
        }

        var (hidden, targets) = DecodeTargets(batch, device);
        return SumLogProbabilities(Enumerable.Range(0, Vocabulary.Positions).Select(p => Head(p, hidden[.., p])).ToArray(), targets, device);
    }

    /// <summary>Decoder states (B×positions×d) of each example's target, teacher forced after its history, and the target codes by position.</summary>
    private (Tensor Hidden, long[][] Targets) DecodeTargets(IReadOnlyList<ArraySegment<SequenceItem>> batch, Device device)
    {
        var positions = Vocabulary.Positions;
        var history = new long[batch.Count * HistoryTokens];
        var input = new long[batch.Count * positions];
        var targets = new long[positions][];
        for (var p = 0; p < positions; p++)
        {
            targets[p] = new long[batch.Count];
        }

        for (var b = 0; b < batch.Count; b++)
        {
            var example = batch[b];
            WriteHistory(example[..^1], history.AsSpan(b * HistoryTokens, HistoryTokens));
            var target = example[^1].Id;
            input[b * positions] = SemanticIdVocabulary.Bos;
            for (var p = 0; p < positions; p++)
            {
                targets[p][b] = target[p];
                if (p + 1 < positions)
                {
                    input[(b * positions) + p + 1] = Vocabulary.Offset(p) + target[p];
                }
            }
        }

        var historyTensor = torch.tensor(history, [batch.Count, HistoryTokens], device: device);
        var (keys, values) = Memory(Encode(historyTensor));
        var mask = MemoryKeep(historyTensor).view(batch.Count, 1, 1, -1);
        return (Decode(torch.tensor(input, [batch.Count, positions], device: device), keys, values, mask), targets);
    }

    public override IDecodingSession Start(int[] history, Device device)
    {
        if (_layout is not null)
        {
            if (history.Length != _layout.Length)
            {
                throw new ArgumentException($"An end-to-end history holds {_layout.Length} integers ({_layout.MaxItems} events × {_layout.Fields} fields, EventHistoryLayout); {history.Length} were given.", nameof(history));
            }

            _layout.Check(history, Config.Items);
        }

        return new Session(this, history, device);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var m in new nn.Module?[] { tokens, encoderPositions, decoderPositions, encoder, decoder, encoderNorm, decoderNorm, heads, dropout, rows, actions, ages, years, genres })
            {
                m?.Dispose();
            }

            foreach (var t in new Tensor?[] { start, item_genres, item_years })
            {
                t?.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    /// <summary>One history: encoded once, its cross-attention keys/values cached; beams re-run their ≤ L decoder tokens.</summary>
    private sealed class Session : IDecodingSession
    {
        private readonly TigerEncoderDecoderModel _model;
        private readonly Device _device;
        private readonly Tensor[] _keys;
        private readonly Tensor[] _values;
        private readonly Tensor _mask;

        public Session(TigerEncoderDecoderModel model, int[] history, Device device)
        {
            _model = model;
            _device = device;
            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            var input = torch.tensor(history.Select(t => (long)t).ToArray(), [1, history.Length], device: device);
            var (keys, values) = model.Memory(model.Encode(input));
            _keys = keys.Select(k => k.DetachFromDisposeScope()).ToArray();
            _values = values.Select(v => v.DetachFromDisposeScope()).ToArray();
            _mask = model.MemoryKeep(input).view(1, 1, 1, -1).DetachFromDisposeScope();
        }

        public float[] NextLogProbabilities(IReadOnlyList<int[]> beams)
        {
            var s = beams[0].Length;
            var flat = new long[beams.Count * (s + 1)];
            for (var b = 0; b < beams.Count; b++)
            {
                flat[b * (s + 1)] = SemanticIdVocabulary.Bos;
                for (var p = 0; p < s; p++)
                {
                    flat[(b * (s + 1)) + p + 1] = _model.Vocabulary.Offset(p) + beams[b][p];
                }
            }

            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            var hidden = _model.Decode(torch.tensor(flat, [beams.Count, s + 1], device: _device), _keys, _values, _mask);
            return LogSoftmax(_model.Head(s, hidden[.., -1]));
        }

        public void Dispose()
        {
            foreach (var t in _keys.Concat(_values))
            {
                t.Dispose();
            }

            _mask.Dispose();
        }
    }
}

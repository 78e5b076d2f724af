using GenRec.Models;
using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>The shape of an HSTU network.</summary>
/// <param name="Items">Item rows (row 0 is padding).</param>
/// <param name="Dimension">Model width.</param>
/// <param name="Layers">HSTU layers.</param>
/// <param name="Heads">Attention heads; divides <paramref name="Dimension"/>.</param>
/// <param name="MaxHistory">History events read; the interleaved sequence holds twice as many tokens.</param>
/// <param name="TimeBuckets">Buckets of log-scaled time gaps for the time-interval bias.</param>
/// <param name="Dropout">Dropout rate in training.</param>
/// <param name="Genres">Genre vocabulary of the item side features; 0 = no item side features.</param>
/// <param name="YearBuckets">Release-year buckets (row 0 = unknown); 0 when <paramref name="Genres"/> is 0.</param>
/// <param name="PopularityBuckets">Popularity buckets (row 0 = never seen); 0 when <paramref name="Genres"/> is 0.</param>
/// <param name="CrossFeatures">Cross features per candidate (MTGR); 0 = none.</param>
internal sealed record HstuConfig(
    int Items,
    int Dimension = 64,
    int Layers = 2,
    int Heads = 2,
    int MaxHistory = 50,
    int TimeBuckets = 32,
    double Dropout = 0.1,
    int Genres = 0,
    int YearBuckets = 0,
    int PopularityBuckets = 0,
    int CrossFeatures = 0)
{
    /// <summary>Tokens of the interleaved history: (item, action) per event.</summary>
    public int Tokens => 2 * MaxHistory;

    /// <summary>Whether items carry side features (genres, release year, popularity).</summary>
    public bool SideFeatures => Genres > 0;

    public void Validate()
    {
        if (Items < 2 || Dimension < 1 || Layers < 1 || Heads < 1 || Dimension % Heads != 0 || MaxHistory < 1 || TimeBuckets < 1 || Dropout is < 0 or >= 1 || CrossFeatures < 0
            || (Genres > 0 && (YearBuckets < 2 || PopularityBuckets < 2)))
        {
            throw new ArgumentOutOfRangeException(nameof(HstuConfig), $"Invalid HSTU shape {this}.");
        }
    }
}

/// <summary>
/// The keys and values every layer computed for a history, with what candidates need to attend to it: the
/// history is encoded once per request and any number of candidate micro-batches reuse it (M-FALCON).
/// </summary>
internal sealed class HstuHistory(Tensor output, Tensor[] keys, Tensor[] values, Tensor valid, Tensor times)
{
    /// <summary>The normalised output of every history token: [B, L, d].</summary>
    public Tensor Output { get; } = output;

    /// <summary>Per layer: keys [B, H, L, dh].</summary>
    public Tensor[] Keys { get; } = keys;

    /// <summary>Per layer: values [B, H, L, dh].</summary>
    public Tensor[] Values { get; } = values;

    /// <summary>Real (not padding) tokens: [B, L] booleans.</summary>
    public Tensor Valid { get; } = valid;

    /// <summary>Token times, seconds: [B, L].</summary>
    public Tensor Times { get; } = times;

    /// <summary>The last token's output (an action token: it predicts the next item): [B, d].</summary>
    public Tensor Last => Output[.., -1];
}

/// <summary>
/// One HSTU layer ("Actions Speak Louder than Words", Zhai et al. 2024): from the normalised input, one projection
/// gives U, V, Q, K through SiLU; attention is pointwise — SiLU(QKᵀ + relative position bias + time-interval bias),
/// no softmax, divided by the number of keys attended — the attended values are normalised, gated by U, projected,
/// and added back.
/// </summary>
internal sealed class HstuLayer : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm inputNorm;
    private readonly LayerNorm attentionNorm;
    private readonly Linear uvqk;
    private readonly Linear output;
    private readonly Embedding positionBias;
    private readonly Embedding timeBias;
    private readonly Dropout dropout;
    private readonly int _heads;
    private readonly int _maxRelative;
    private readonly int _timeBuckets;

    public HstuLayer(HstuConfig config)
        : base(nameof(HstuLayer))
    {
        inputNorm = nn.LayerNorm(config.Dimension);
        attentionNorm = nn.LayerNorm(config.Dimension);
        uvqk = nn.Linear(config.Dimension, 4 * config.Dimension);
        output = nn.Linear(config.Dimension, config.Dimension);
        positionBias = nn.Embedding(config.Tokens + 2, config.Heads);
        timeBias = nn.Embedding(config.TimeBuckets, config.Heads);
        dropout = nn.Dropout(config.Dropout);
        _heads = config.Heads;
        _maxRelative = config.Tokens + 1;
        _timeBuckets = config.TimeBuckets;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => throw new NotSupportedException("Use History or Candidates.");

    /// <summary>floor(ln(1 + |gap seconds|)), clamped to the buckets.</summary>
    public static Tensor TimeBucket(Tensor gapSeconds, int buckets) =>
        torch.log1p(gapSeconds.abs().to_type(ScalarType.Float32)).floor().to_type(ScalarType.Int64).Clamped(0, buckets - 1);

    /// <summary>
    /// The history pass, causal over real tokens. x: [B, L, d]; times: [B, L] seconds; valid: [B, L].
    /// Returns the new residual stream and this layer's keys and values [B, H, L, dh].
    /// </summary>
    public (Tensor X, Tensor Keys, Tensor Values) History(Tensor x, Tensor times, Tensor valid)
    {
        long b = x.shape[0], l = x.shape[1];
        var (u, q, k, v) = Project(x);
        var index = TorchOps.Range(l, x.device);
        var relative = (index.unsqueeze(1) - index.unsqueeze(0)).Clamped(0, _maxRelative); // query − key
        var bias = positionBias.forward(relative).permute(2, 0, 1).unsqueeze(0) // [1, H, L, L]
            .Plus(timeBias.forward(TimeBucket(times.unsqueeze(2) - times.unsqueeze(1), _timeBuckets)).permute(0, 3, 1, 2)); // [B, H, L, L]
        var causal = index.unsqueeze(0).le(index.unsqueeze(1)); // key ≤ query
        var diagonal = torch.eye(l, dtype: ScalarType.Bool, device: x.device);
        var allowed = ((causal.unsqueeze(0) & valid.unsqueeze(1)) | diagonal.unsqueeze(0)).unsqueeze(1); // [B, 1, L, L]
        var weights = nn.functional.silu(torch.matmul(q, k.transpose(-2, -1)).Plus(bias)).FilledWhere(allowed.logical_not(), 0)
            / allowed.sum(-1, keepdim: true).to_type(ScalarType.Float32);
        var attended = torch.matmul(weights, v).transpose(1, 2).reshape(b, l, -1);
        return (Finish(x, attended, u), k, v);
    }

    /// <summary>
    /// Candidates after a history (M-FALCON): each attends to the real history tokens and to itself, never to another
    /// candidate. x: [B, M, d]; keys/values: this layer's history [B, H, L, dh]; times/valid: the history's [B, L];
    /// requestTimes: [B] seconds.
    /// </summary>
    public Tensor Candidates(Tensor x, Tensor keys, Tensor values, Tensor times, Tensor valid, Tensor requestTimes)
    {
        long b = x.shape[0], m = x.shape[1], l = keys.shape[2];
        var (u, q, k, v) = Project(x);
        var relative = TorchOps.Range(l, x.device).SubtractedFrom(l).Clamped(0, _maxRelative); // candidates sit at position L
        var bias = positionBias.forward(relative).transpose(0, 1).unsqueeze(0).unsqueeze(2) // [1, H, 1, L]
            .Plus(timeBias.forward(TimeBucket(requestTimes.unsqueeze(1) - times, _timeBuckets)).permute(0, 2, 1).unsqueeze(2)); // [B, H, 1, L]
        var self = positionBias.forward(torch.zeros(1, dtype: ScalarType.Int64, device: x.device)).Plus(timeBias.forward(torch.zeros(1, dtype: ScalarType.Int64, device: x.device)))
            .view(1, _heads, 1, 1);
        var mask = valid.unsqueeze(1).unsqueeze(1); // [B, 1, 1, L]
        var history = nn.functional.silu(torch.matmul(q, keys.transpose(-2, -1)).Plus(bias)).FilledWhere(mask.logical_not(), 0); // [B, H, M, L]
        var own = nn.functional.silu((q * k).sum(-1, keepdim: true).Plus(self)); // [B, H, M, 1]
        var count = valid.sum(-1).to_type(ScalarType.Float32).Plus(1).view(b, 1, 1, 1);
        var attended = (torch.matmul(history, values).Plus(own * v) / count).transpose(1, 2).reshape(b, m, -1);
        return Finish(x, attended, u);
    }

    private (Tensor U, Tensor Q, Tensor K, Tensor V) Project(Tensor x)
    {
        long b = x.shape[0], l = x.shape[1], d = x.shape[2];
        var parts = nn.functional.silu(uvqk.forward(inputNorm.forward(x))).split(d, -1);
        Tensor Heads(Tensor t) => t.view(b, l, _heads, d / _heads).transpose(1, 2); // [B, H, L, dh]
        return (parts[0], Heads(parts[2]), Heads(parts[3]), Heads(parts[1]));
    }

    private Tensor Finish(Tensor x, Tensor attended, Tensor u) => x.Plus(dropout.forward(output.forward(attentionNorm.forward(attended) * u)));

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var m in new nn.Module[] { inputNorm, attentionNorm, uvqk, output, positionBias, timeBias, dropout })
            {
                m.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}

/// <summary>
/// HSTU over a user's interleaved (item, action) tokens. Item tokens carry the item's id embedding plus its side
/// features (genres, release year, popularity); action tokens say what the user did (rating or event type). The
/// output at an action token predicts the next item (retrieval, over the whole catalogue); the output at an item
/// token predicts the action (ranking). Candidates are item tokens appended after the history with the action
/// "candidate", each seeing the history and itself only (M-FALCON), plus the cascade's cross features (MTGR); their
/// heads give "interacts" (plus the retrieval score of the item) and "rates ≥ 4".
/// </summary>
internal sealed class HstuNetwork : nn.Module<Tensor, Tensor>
{
    private readonly Embedding items;
    private readonly Embedding actions;
    private readonly Linear? genres;
    private readonly Embedding? years;
    private readonly Embedding? popularity;
    private readonly Linear? cross;
    private readonly ModuleList<HstuLayer> layers;
    private readonly LayerNorm norm;
    private readonly Linear heads;
    private readonly Dropout dropout;

    // Side features and cross-feature standardisation: buffers, saved with the weights.
    private readonly Tensor item_genres;
    private readonly Tensor item_years;
    private readonly Tensor item_popularity;
    private readonly Tensor cross_mean;
    private readonly Tensor cross_scale;

    public HstuNetwork(HstuConfig config)
        : base(nameof(HstuNetwork))
    {
        config.Validate();
        Config = config;
        var d = config.Dimension;
        items = nn.Embedding(config.Items, d, padding_idx: 0);
        actions = nn.Embedding(HstuGraphContract.Actions, d, padding_idx: 0);
        if (config.SideFeatures)
        {
            genres = nn.Linear(config.Genres, d, hasBias: false);
            years = nn.Embedding(config.YearBuckets, d, padding_idx: 0);
            popularity = nn.Embedding(config.PopularityBuckets, d, padding_idx: 0);
        }

        if (config.CrossFeatures > 0)
        {
            cross = nn.Linear(config.CrossFeatures, d);
        }

        layers = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new HstuLayer(config)).ToArray());
        norm = nn.LayerNorm(d);
        heads = nn.Linear(d, 2);
        dropout = nn.Dropout(config.Dropout);
        item_genres = torch.zeros(config.Items, Math.Max(1, config.Genres));
        item_years = torch.zeros(config.Items, dtype: ScalarType.Int64);
        item_popularity = torch.zeros(config.Items, dtype: ScalarType.Int64);
        cross_mean = torch.zeros(Math.Max(1, config.CrossFeatures));
        cross_scale = torch.ones(Math.Max(1, config.CrossFeatures));
        RegisterComponents();

        // Small embeddings (σ = 0.02, as in HSTU's reference code): the next-item logits are dot products with the
        // item table, and unit-variance rows would start them saturated (a loss far above ln |items|).
        using var noGrad = torch.no_grad();
        foreach (var e in new[] { items, actions, years, popularity })
        {
            if (e is not null)
            {
                nn.init.normal_(e.weight!, 0, 0.02);
                e.weight![0].zero_();
            }
        }
    }

    public HstuConfig Config { get; }

    /// <summary>Sets the item side features (rows × genres multi-hot, year bucket, popularity bucket).</summary>
    public void SetItemFeatures(float[] genreHot, long[] yearBucket, long[] popularityBucket)
    {
        using var noGrad = torch.no_grad();
        item_genres.copy_(torch.tensor(genreHot, [Config.Items, Config.Genres]));
        item_years.copy_(torch.tensor(yearBucket));
        item_popularity.copy_(torch.tensor(popularityBucket));
    }

    /// <summary>Sets the standardisation of the cross features: (x − mean) · scale.</summary>
    public void SetCrossStandardisation(float[] mean, float[] scale)
    {
        using var noGrad = torch.no_grad();
        cross_mean.copy_(torch.tensor(mean));
        cross_scale.copy_(torch.tensor(scale));
    }

    public override Tensor forward(Tensor x) => throw new NotSupportedException("Use Encode and ScoreCandidates.");

    /// <summary>Every item row's representation (id embedding + side features): [Items, d]; row 0 is zero.</summary>
    public Tensor ItemTable()
    {
        Tensor table = items.weight!;
        if (genres is not null)
        {
            table = table.Plus(genres.forward(item_genres)).Plus(years!.forward(item_years)).Plus(popularity!.forward(item_popularity));
        }

        return table;
    }

    /// <summary>
    /// Encodes left-padded interleaved histories. tokenItems: [B, L] item rows at item tokens, 0 elsewhere;
    /// tokenActions: [B, L] action tokens at action tokens, 0 elsewhere; times: [B, L] seconds.
    /// </summary>
    public HstuHistory Encode(Tensor tokenItems, Tensor tokenActions, Tensor times, Tensor? table = null)
    {
        table ??= ItemTable();
        var valid = tokenItems.NotEqual(0).logical_or(tokenActions.NotEqual(0));
        var x = dropout.forward(table.index_select(0, tokenItems.flatten()).view(tokenItems.shape[0], tokenItems.shape[1], -1).Plus(actions.forward(tokenActions)));
        var keys = new Tensor[layers.Count];
        var values = new Tensor[layers.Count];
        for (var i = 0; i < layers.Count; i++)
        {
            (x, keys[i], values[i]) = layers[i].History(x, times, valid);
        }

        return new HstuHistory(norm.forward(x), keys, values, valid, times);
    }

    /// <summary>
    /// Logits [B, M, 2] — "interacts" (target-aware head plus the item's retrieval score) and "rates ≥ 4" — of M
    /// candidates per row after an encoded history. candidates: [B, M] item rows; crossFeatures: [B, M, F] raw values (NaN = missing)
    /// or <see langword="null"/> when the network has none; requestTimes: [B] seconds.
    /// </summary>
    public Tensor ScoreCandidates(HstuHistory history, Tensor candidates, Tensor? crossFeatures, Tensor requestTimes, Tensor? table = null)
    {
        table ??= ItemTable();
        long b = candidates.shape[0], m = candidates.shape[1];
        var embedded = table.index_select(0, candidates.flatten()).view(b, m, -1);
        var x = embedded.Plus(actions.forward(TorchOps.Full(b, m, HstuGraphContract.CandidateAction, candidates.device)));
        if (cross is not null)
        {
            ArgumentNullException.ThrowIfNull(crossFeatures);
            // Standardised; a missing (NaN or infinite) value reads as the training mean.
            var standardised = torch.where(crossFeatures.isfinite(), (crossFeatures - cross_mean) * cross_scale, torch.zeros(1, device: crossFeatures.device));
            x = x.Plus(cross.forward(standardised));
        }

        x = dropout.forward(x);
        for (var i = 0; i < layers.Count; i++)
        {
            x = layers[i].Candidates(x, history.Keys[i], history.Values[i], history.Times, history.Valid, requestTimes);
        }

        var logits = heads.forward(norm.forward(x)); // [B, M, 2]
        var retrieval = torch.matmul(embedded, history.Last.unsqueeze(2)); // [B, M, 1]
        return torch.cat([logits[.., .., ..1].Plus(retrieval), logits[.., .., 1..]], -1);
    }

    /// <summary>Next-item logits over every item row: [B, Items] (row 0, padding, at −∞).</summary>
    public Tensor Retrieve(HstuHistory history, Tensor? table = null)
    {
        table ??= ItemTable();
        var logits = torch.matmul(history.Last, table.t());
        logits[.., 0] = float.NegativeInfinity;
        return logits;
    }

    /// <summary>The "rates ≥ 4" logits at every token of an encoded history: [B, L] (meaningful at item tokens).</summary>
    public Tensor RatingLogits(HstuHistory history) => heads.forward(history.Output)[.., .., 1];

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var mod in new nn.Module?[] { items, actions, genres, years, popularity, cross, layers, norm, heads, dropout })
            {
                mod?.Dispose();
            }

            foreach (var t in new[] { item_genres, item_years, item_popularity, cross_mean, cross_scale })
            {
                t.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>The shape of an HSTU network.</summary>
/// <param name="Items">Item vocabulary size (row 0 is padding).</param>
/// <param name="Actions">Action vocabulary size (row 0 is padding; the last row marks a candidate, whose action is unknown).</param>
/// <param name="Dimension">Model width.</param>
/// <param name="Layers">HSTU layers.</param>
/// <param name="Heads">Attention heads; divides <paramref name="Dimension"/>.</param>
/// <param name="MaxHistory">History tokens the network reads; relative positions are clamped to it.</param>
/// <param name="TimeBuckets">Buckets of log-scaled time gaps for the time-interval bias.</param>
/// <param name="Dropout">Dropout rate in training.</param>
internal sealed record HstuConfig(int Items, int Actions, int Dimension = 64, int Layers = 2, int Heads = 2, int MaxHistory = 50, int TimeBuckets = 32, double Dropout = 0.1)
{
    public int CandidateAction => Actions - 1;
}

/// <summary>
/// One HSTU layer ("Actions Speak Louder than Words", Zhai et al. 2024): from the normalised input, one projection
/// gives U, V, Q, K through SiLU; attention is pointwise — SiLU(QKᵀ + relative position bias + time-interval bias),
/// no softmax, scaled by 1/n — masked by <c>allowed</c>; the attended values are normalised, gated by U, projected,
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
    private readonly int _maxHistory;

    public HstuLayer(HstuConfig config)
        : base(nameof(HstuLayer))
    {
        inputNorm = nn.LayerNorm(config.Dimension);
        attentionNorm = nn.LayerNorm(config.Dimension);
        uvqk = nn.Linear(config.Dimension, 4 * config.Dimension);
        output = nn.Linear(config.Dimension, config.Dimension);
        positionBias = nn.Embedding(config.MaxHistory + 2, config.Heads);
        timeBias = nn.Embedding(config.TimeBuckets, config.Heads);
        dropout = nn.Dropout(config.Dropout);
        _heads = config.Heads;
        _maxHistory = config.MaxHistory;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => throw new NotSupportedException("Use Forward with the attention structure.");

    /// <summary>
    /// x: [B, L, d]. relative: [L, L] relative positions (query − key, clamped ≥ 0). timeGap: [B, L, L] time buckets.
    /// allowed: [B, 1, L, L] booleans. Returns the new residual stream.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor relative, Tensor timeGap, Tensor allowed)
    {
        long b = x.shape[0], l = x.shape[1], d = x.shape[2], dh = d / _heads;
        var projected = nn.functional.silu(uvqk.forward(inputNorm.forward(x)));
        var parts = projected.split(d, -1);
        var (u, v, q, k) = (parts[0], parts[1], parts[2], parts[3]);
        Tensor Heads(Tensor t) => t.view(b, l, _heads, dh).transpose(1, 2); // [B, H, L, dh]
        var scores = torch.matmul(Heads(q), Heads(k).transpose(-2, -1)); // [B, H, L, L]
        var bias = positionBias.forward(relative.clamp_max(_maxHistory + 1)).permute(2, 0, 1).unsqueeze(0) // [1, H, L, L]
            + timeBias.forward(timeGap).permute(0, 3, 1, 2); // [B, H, L, L]
        var weights = nn.functional.silu(scores + bias).masked_fill(allowed.logical_not(), 0) / allowed.sum(-1, keepdim: true).clamp_min(1);
        var attended = torch.matmul(weights, Heads(v)).transpose(1, 2).reshape(b, l, d);
        return x + dropout.forward(output.forward(attentionNorm.forward(attended) * u));
    }

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
/// An HSTU network that scores candidates target-aware in one pass (M-FALCON): the user's history tokens (item +
/// action embedding) are causal among themselves; candidate tokens (item + a "candidate" action) come after them and
/// each attends to the history and to itself only, so any number of candidates cost one pass and score exactly as if
/// each had its own. Two heads per candidate: "interacts" and "rates ≥ 4".
/// </summary>
internal sealed class HstuNetwork : nn.Module<Tensor, Tensor>
{
    private readonly Embedding items;
    private readonly Embedding actions;
    private readonly ModuleList<HstuLayer> layers;
    private readonly LayerNorm norm;
    private readonly Linear heads;
    private readonly Dropout dropout;

    public HstuNetwork(HstuConfig config)
        : base(nameof(HstuNetwork))
    {
        if (config.Dimension % config.Heads != 0 || config.Items < 2 || config.Actions < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(config), $"Invalid HSTU shape {config}.");
        }

        Config = config;
        items = nn.Embedding(config.Items, config.Dimension, padding_idx: 0);
        actions = nn.Embedding(config.Actions, config.Dimension, padding_idx: 0);
        layers = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new HstuLayer(config)).ToArray());
        norm = nn.LayerNorm(config.Dimension);
        heads = nn.Linear(config.Dimension, 2);
        dropout = nn.Dropout(config.Dropout);
        RegisterComponents();
    }

    public HstuConfig Config { get; }

    public override Tensor forward(Tensor x) => throw new NotSupportedException("Use Score.");

    /// <summary>
    /// Logits [B, M, 2] ("interacts", "rates ≥ 4") of M candidates per row after a left-padded history.
    /// historyItems/historyActions: [B, T] (0 = padding); historyTimes: [B, T] seconds; candidates: [B, M];
    /// requestTimes: [B] seconds (the candidates' time).
    /// </summary>
    public Tensor Score(Tensor historyItems, Tensor historyActions, Tensor historyTimes, Tensor candidates, Tensor requestTimes)
    {
        long b = historyItems.shape[0], t = historyItems.shape[1], m = candidates.shape[1], l = t + m;
        var device = historyItems.device;
        var tokens = torch.cat([historyItems, candidates], 1);
        var acts = torch.cat([historyActions, torch.full(b, m, Config.CandidateAction, dtype: ScalarType.Int64, device: device)], 1);
        var x = dropout.forward(items.forward(tokens) + actions.forward(acts));

        // Positions: history tokens at 0..T−1, every candidate at T (the next position).
        var position = torch.cat([torch.arange(t, device: device), torch.full(m, t, dtype: ScalarType.Int64, device: device)]);
        var relative = (position.unsqueeze(1) - position.unsqueeze(0)).clamp_min(0);
        var times = torch.cat([historyTimes, requestTimes.unsqueeze(1).expand(b, m)], 1).to_type(ScalarType.Float32);
        var gap = (times.unsqueeze(2) - times.unsqueeze(1)).abs();
        var timeGap = torch.log1p(gap).floor().to_type(ScalarType.Int64).clamp(0, Config.TimeBuckets - 1);

        // History: causal among real tokens; candidates: the real history and themselves.
        var keyIsReal = torch.cat([historyItems.ne(0), torch.zeros(b, m, dtype: ScalarType.Bool, device: device)], 1); // [B, L]
        var index = torch.arange(l, device: device);
        var causal = index.unsqueeze(0).le(index.unsqueeze(1)); // [L, L] key ≤ query
        var diagonal = torch.eye(l, dtype: ScalarType.Bool, device: device);
        var allowed = ((causal.unsqueeze(0) & keyIsReal.unsqueeze(1)) | diagonal.unsqueeze(0)).unsqueeze(1); // [B, 1, L, L]
        foreach (var layer in layers)
        {
            x = layer.Forward(x, relative, timeGap, allowed);
        }

        return heads.forward(norm.forward(x[.., (int)t..]));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var mod in new nn.Module[] { items, actions, layers, norm, heads, dropout })
            {
                mod.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}

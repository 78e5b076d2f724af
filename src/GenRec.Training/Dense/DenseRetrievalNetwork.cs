using GenRec.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>The shape of a dense (two-tower) retrieval model.</summary>
/// <param name="Items">Rows of the collaborative ID table, row 0 ("no row": an item with no train interaction) included.</param>
/// <param name="ContentDimension">Width of the content vectors the item tower reads (384 for all-MiniLM-L6-v2).</param>
/// <param name="Dimension">Width of item and user vectors.</param>
/// <param name="Layers">Causal transformer blocks of the user tower.</param>
/// <param name="Heads">Attention heads; divides <paramref name="Dimension"/>.</param>
/// <param name="MlpDimension">Hidden width of each block's MLP.</param>
/// <param name="MaxHistory">History items the user tower reads.</param>
/// <param name="Dropout">Dropout rate in training.</param>
/// <param name="Temperature">The softmax temperature of the cosine scores in training.</param>
/// <param name="Actions">Whether the user tower reads each history event's action (an embedding added to its item's).</param>
internal sealed record DenseRetrievalConfig(int Items, int ContentDimension, int Dimension, int Layers, int Heads, int MlpDimension, int MaxHistory, double Dropout, double Temperature, bool Actions = false)
{
    public void Validate()
    {
        if (Items < 1 || ContentDimension < 1 || Dimension < 1 || Layers < 1 || Heads < 1 || Dimension % Heads != 0 || MlpDimension < 1 || MaxHistory < 1
            || Dropout is < 0 or >= 1 || !(Temperature > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(DenseRetrievalConfig), $"Invalid dense model shape {this}: positive sizes, Heads dividing Dimension, Dropout in [0, 1), a positive temperature.");
        }
    }
}

/// <summary>
/// The two towers. Item tower: a linear projection of the item's content vector plus its collaborative ID embedding
/// (zero for an item without train interactions, so a new item's vector comes from its content alone), unit length.
/// User tower: the history's item vectors (scaled by √d) plus learned positions (and, when the model reads actions, an
/// embedding of each event's action: a purchase and an impression of one item are different evidence), through causal
/// pre-norm transformer blocks, then a layer norm, unit length: one user state per position, the last one is the query.
/// </summary>
internal sealed class DenseRetrievalNetwork : nn.Module<Tensor, Tensor>
{
    private readonly Linear content;
    private readonly Embedding ids;
    private readonly Embedding positions;
    private readonly ModuleList<DecoderBlock> blocks;
    private readonly LayerNorm norm;
    private readonly Dropout dropout;
    private readonly Embedding? actions;
    private readonly double _scale;

    public DenseRetrievalNetwork(DenseRetrievalConfig config)
        : base(nameof(DenseRetrievalNetwork))
    {
        config.Validate();
        Config = config;
        content = nn.Linear(config.ContentDimension, config.Dimension);
        ids = nn.Embedding(config.Items, config.Dimension, padding_idx: 0);
        positions = nn.Embedding(config.MaxHistory, config.Dimension);
        blocks = nn.ModuleList([.. Enumerable.Range(0, config.Layers).Select(_ => new DecoderBlock(config.Dimension, config.Heads, config.MlpDimension, config.Dropout))]);
        norm = nn.LayerNorm(config.Dimension);
        dropout = nn.Dropout(config.Dropout);
        _scale = Math.Sqrt(config.Dimension);
        RegisterComponents();
        using (torch.no_grad())
        {
            // Small ID embeddings: the content projection speaks first, the IDs learn what content does not say.
            nn.init.normal_(ids.weight!, 0, 0.02);
            ids.weight![0].zero_();
        }

        // Made last, so a model that reads actions starts from the same weights as one that does not, but for them; and
        // small, as the ID embeddings: the items speak first, the actions learn what the items do not say.
        if (config.Actions)
        {
            actions = nn.Embedding(DenseGraphContract.ActionTokens, config.Dimension, padding_idx: 0);
            register_module(nameof(actions), actions);
            using (torch.no_grad())
            {
                nn.init.normal_(actions.weight!, 0, 0.02);
                actions.weight![0].zero_();
            }
        }
    }

    public DenseRetrievalConfig Config { get; }

    public override Tensor forward(Tensor x) => throw new NotSupportedException("Use ItemVectors and Users.");

    /// <summary>Unit item vectors [N, d] from content vectors [N, C] and ID rows [N]; <paramref name="keepIds"/> [N] (1 or 0) drops ID embeddings in training.</summary>
    public Tensor ItemVectors(Tensor contentVectors, Tensor rows, Tensor? keepIds = null)
    {
        var idPart = ids.forward(rows);
        if (keepIds is not null)
        {
            idPart = idPart * keepIds.unsqueeze(1);
        }

        return nn.functional.normalize(content.forward(contentVectors).Plus(idPart), p: 2, dim: -1);
    }

    /// <summary>
    /// Unit user states [B, T, d] of right-aligned histories [B, T, d] of unit item vectors, <paramref name="valid"/>
    /// [B, T] marking real items, and, for a model that reads actions, <paramref name="eventActions"/> [B, T] (the events'
    /// <see cref="DenseGraphContract.ActionToken"/>, 0 on padding).
    /// </summary>
    public Tensor Users(Tensor history, Tensor valid, Tensor? eventActions = null)
    {
        var t = history.shape[1];
        if (t > Config.MaxHistory)
        {
            throw new ArgumentException($"The user tower reads at most {Config.MaxHistory} items; got {t}.", nameof(history));
        }

        if ((actions is null) != (eventActions is null))
        {
            throw new ArgumentException(actions is null ? "This model does not read actions." : "This model reads each event's action; none were given.", nameof(eventActions));
        }

        var device = history.device;
        var x = history.Times(_scale).Plus(positions.forward(TorchOps.Range(Config.MaxHistory - t, Config.MaxHistory, device)));
        if (actions is not null)
        {
            x = x.Plus(actions.forward(eventActions!));
        }

        x = dropout.forward(x * valid.unsqueeze(-1).to_type(x.dtype));

        // Causal; padding keys are masked except a position's own (so a padding query still attends to something).
        var range = TorchOps.Range(t, device);
        var causal = range.unsqueeze(0) <= range.unsqueeze(1);
        var diagonal = range.unsqueeze(0) == range.unsqueeze(1);
        var mask = causal.unsqueeze(0).logical_and(valid.unsqueeze(1).logical_or(diagonal.unsqueeze(0))).unsqueeze(1);
        foreach (var block in blocks)
        {
            x = block.Forward(x, mask, out _, out _);
        }

        return nn.functional.normalize(norm.forward(x), p: 2, dim: -1);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            content.Dispose();
            ids.Dispose();
            positions.Dispose();
            blocks.Dispose();
            norm.Dispose();
            dropout.Dispose();
            actions?.Dispose();
        }

        base.Dispose(disposing);
    }
}

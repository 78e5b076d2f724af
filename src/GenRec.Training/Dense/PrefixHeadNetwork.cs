using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>The shape of a dense model's prefix head.</summary>
/// <param name="Dimension">Width of the user and item vectors (the dense model's).</param>
/// <param name="Vocabulary">Codes per level of the prefix it reads (one entry per level).</param>
/// <param name="Hidden">Hidden width of its MLP.</param>
internal sealed record PrefixHeadConfig(int Dimension, int[] Vocabulary, int Hidden)
{
    public int Levels => Vocabulary.Length;

    public void Validate()
    {
        if (Dimension < 1 || Vocabulary.Length < 1 || Vocabulary.Any(v => v < 1) || Hidden < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(PrefixHeadConfig), $"Invalid prefix head shape (dimension {Dimension}, vocabulary [{string.Join(", ", Vocabulary)}], hidden {Hidden}): every size positive, one level or more.");
        }
    }
}

/// <summary>
/// COBRA's dense head on a two-tower model: the query for the items under a semantic-ID prefix is
/// <c>normalize(u + W₂ GELU(W₁ [u ; Σₗ Eₗ[cₗ]] + b₁) + b₂)</c>, with u the user tower's unit state and cₗ the prefix's
/// codes. W₂ and b₂ start at zero, so an untrained head returns the user's own vector (plain beam fusion).
/// </summary>
internal sealed class PrefixHeadNetwork : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly ModuleList<Embedding> codes;
    private readonly Linear hidden;
    private readonly Linear output;

    public PrefixHeadNetwork(PrefixHeadConfig config)
        : base(nameof(PrefixHeadNetwork))
    {
        config.Validate();
        Config = config;
        codes = nn.ModuleList([.. config.Vocabulary.Select(v => nn.Embedding(v, config.Dimension))]);
        hidden = nn.Linear(2 * config.Dimension, config.Hidden);
        output = nn.Linear(config.Hidden, config.Dimension);
        RegisterComponents();
        using (torch.no_grad())
        {
            foreach (var table in codes)
            {
                nn.init.normal_(table.weight!, 0, 0.1);
            }

            output.weight!.zero_();
            output.bias!.zero_();
        }
    }

    public PrefixHeadConfig Config { get; }

    /// <summary>Unit queries [B, P, d] from unit user states [B, d] and prefixes [B, P, L] (codes per level).</summary>
    public override Tensor forward(Tensor users, Tensor prefixes)
    {
        var e = codes[0].forward(prefixes.select(-1, 0));
        for (var l = 1; l < Config.Levels; l++)
        {
            e = e.Plus(codes[l].forward(prefixes.select(-1, l)));
        }

        var u = users.unsqueeze(1).expand_as(e);
        var shift = output.forward(nn.functional.gelu(hidden.forward(torch.cat([u, e], -1))));
        return nn.functional.normalize(u.Plus(shift), p: 2, dim: -1);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            codes.Dispose();
            hidden.Dispose();
            output.Dispose();
        }

        base.Dispose(disposing);
    }
}

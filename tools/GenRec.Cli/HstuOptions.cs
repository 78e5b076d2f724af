using System.CommandLine;

namespace GenRec.Cli;

/// <summary>The HSTU options shared by <c>genrec eval</c> and <c>genrec train hstu</c>.</summary>
internal sealed class HstuOptions
{
    public Option<int> Epochs { get; } = new("--hstu-epochs") { Description = "hstu*: training epochs (the default was the best on validation).", DefaultValueFactory = _ => HstuArguments.Defaults.Epochs };

    public Option<double> RatingWeight { get; } = new("--hstu-rating-weight") { Description = "hstu*: weight of the \"rates >= 4\" head in the loss and the ranking score.", DefaultValueFactory = _ => HstuArguments.Defaults.RatingWeight };

    public Option<bool> NoSide { get; } = new("--hstu-no-side") { Description = "hstu*: items without side features (genres, year, popularity): ids only." };

    public Option<bool> NoCross { get; } = new("--hstu-no-cross") { Description = "hstu*: do not read the DLRM cascade's cross features." };

    public Option<int> Dimension { get; } = new("--hstu-dim") { Description = "hstu*, dlrm-fused*: model width of every HSTU the command trains (a multiple of 2, the heads).", DefaultValueFactory = _ => HstuArguments.Defaults.Dimension };

    public Option<int> MaxHistory { get; } = new("--hstu-max-history") { Description = "hstu*, dlrm-fused*: history events every HSTU the command trains reads.", DefaultValueFactory = _ => HstuArguments.Defaults.MaxHistory };

    public Option<int> BatchSize { get; } = new("--hstu-batch") { Description = "hstu*: windows or queries per training step; lower it for long windows (memory grows with batch × (2 × max history)²).", DefaultValueFactory = _ => HstuArguments.Defaults.BatchSize };

    public Option<int> Negatives { get; } = new("--hstu-negatives") { Description = "hstu*: sampled softmax for the next-item loss: score each step's next items against this many uniform draws instead of the whole catalogue (0: the full softmax).", DefaultValueFactory = _ => HstuArguments.Defaults.SampledNegatives };

    public static HstuOptions Create() => new();

    public HstuArguments Read(ParseResult parse)
    {
        CommonOptions.RequirePositive(parse.GetValue(Epochs), "--hstu-epochs");
        var weight = parse.GetValue(RatingWeight);
        if (!(weight >= 0))
        {
            throw new UsageException($"--hstu-rating-weight is {weight}; it must be 0 or more.");
        }

        var dimension = parse.GetValue(Dimension);
        if (dimension < 2 || dimension % 2 != 0)
        {
            throw new UsageException($"--hstu-dim is {dimension}; it must be a positive multiple of 2 (the heads).");
        }

        if (parse.GetValue(MaxHistory) < 2)
        {
            throw new UsageException($"--hstu-max-history is {parse.GetValue(MaxHistory)}; it must be 2 or more.");
        }

        CommonOptions.RequirePositive(parse.GetValue(BatchSize), "--hstu-batch");
        if (parse.GetValue(Negatives) < 0)
        {
            throw new UsageException($"--hstu-negatives is {parse.GetValue(Negatives)}; it must be 0 (the full softmax) or more.");
        }

        return new HstuArguments { Epochs = parse.GetValue(Epochs), RatingWeight = weight, SideFeatures = !parse.GetValue(NoSide), Dimension = dimension, MaxHistory = parse.GetValue(MaxHistory), BatchSize = parse.GetValue(BatchSize), SampledNegatives = parse.GetValue(Negatives) };
    }
}

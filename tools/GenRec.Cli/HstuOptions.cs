using System.CommandLine;

namespace GenRec.Cli;

/// <summary>The HSTU options shared by <c>genrec eval</c> and <c>genrec train hstu</c>.</summary>
internal sealed class HstuOptions
{
    public Option<int> Epochs { get; } = new("--hstu-epochs") { Description = "hstu*: training epochs (5: the best on validation).", DefaultValueFactory = _ => 5 };

    public Option<double> RatingWeight { get; } = new("--hstu-rating-weight") { Description = "hstu*: weight of the \"rates >= 4\" head in the loss and the ranking score.", DefaultValueFactory = _ => 0.25 };

    public Option<bool> NoSide { get; } = new("--hstu-no-side") { Description = "hstu*: items without side features (genres, year, popularity): ids only." };

    public Option<bool> NoCross { get; } = new("--hstu-no-cross") { Description = "hstu*: do not read the DLRM cascade's cross features." };

    public Option<int> Dimension { get; } = new("--hstu-dim") { Description = "hstu*, dlrm-fused*: model width of every HSTU the command trains (a multiple of 2, the heads).", DefaultValueFactory = _ => 64 };

    public Option<int> MaxHistory { get; } = new("--hstu-max-history") { Description = "hstu*, dlrm-fused*: history events every HSTU the command trains reads.", DefaultValueFactory = _ => 50 };

    public Option<int> BatchSize { get; } = new("--hstu-batch") { Description = "hstu*: windows or queries per training step; lower it for long windows (memory grows with batch × (2 × max history)²).", DefaultValueFactory = _ => 64 };

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
        return new HstuArguments(parse.GetValue(Epochs), weight, !parse.GetValue(NoSide), dimension, parse.GetValue(MaxHistory), BatchSize: parse.GetValue(BatchSize));
    }
}

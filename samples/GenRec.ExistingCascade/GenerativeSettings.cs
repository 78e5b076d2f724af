using GenRec.Adapters;
using Microsoft.Extensions.Options;

namespace GenRec.ExistingCascade;

/// <summary>Whether a generative stage is on, and if so in which adapter mode.</summary>
public enum StageSwitch
{
    /// <summary>The cascade's own stage only.</summary>
    Off = 0,

    /// <summary><see cref="StageMode.Replace"/>.</summary>
    Replace = 1,

    /// <summary><see cref="StageMode.Blend"/>.</summary>
    Blend = 2,

    /// <summary><see cref="StageMode.Shadow"/>.</summary>
    Shadow = 3,
}

/// <summary>
/// The service's switches for the generative stages, bound from the configuration section <c>GenRec</c>
/// (appsettings.json, environment, command line: <c>--GenRec:Mode blend</c>). The adapters' own options (budget, blend)
/// are the SDK's, bound from <c>GenRec:Adapters:Recall</c>, <c>:Ranking</c> and <c>:Recommender</c>; their mode is the switch.
/// </summary>
public sealed class GenerativeSettings
{
    /// <summary>Generative recall beside the cascade's recall channels. Default: off.</summary>
    public StageSwitch Mode { get; set; }

    /// <summary>The semantic-ID index file (generative recall, end-to-end).</summary>
    public string? Index { get; set; }

    /// <summary>The generative recall model folder (<c>genrec export</c>).</summary>
    public string? Model { get; set; }

    /// <summary>An HSTU ranker beside LambdaRank. Default: off.</summary>
    public StageSwitch RankerMode { get; set; }

    /// <summary>The HSTU model folder (<c>genrec export --kind hstu</c>).</summary>
    public string? HstuModel { get; set; }

    /// <summary>An end-to-end generative model beside the whole cascade. Default: off.</summary>
    public StageSwitch EndToEndMode { get; set; }

    /// <summary>The end-to-end model folder (<c>genrec train tiger --arch end-to-end</c>, then <c>genrec export</c>).</summary>
    public string? EndToEndModel { get; set; }

    /// <summary>Benchmark only: a generative recall that never answers, to measure the fallback path.</summary>
    public bool Hang { get; set; }

    /// <summary>Whether any generative stage is on.</summary>
    public bool AnyOn => Mode != StageSwitch.Off || RankerMode != StageSwitch.Off || EndToEndMode != StageSwitch.Off;

    /// <summary>Binds the section and checks it, naming every key that is missing or wrong.</summary>
    /// <param name="configuration">The application's configuration.</param>
    /// <returns>The settings.</returns>
    /// <exception cref="OptionsValidationException">A stage is on without the files it needs, or a switch is unknown.</exception>
    public static GenerativeSettings Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var settings = configuration.GetSection("GenRec").Get<GenerativeSettings>() ?? new GenerativeSettings();
        var problems = new List<string>();
        void Need(StageSwitch on, string onKey, string? value, string key, string what)
        {
            if (!Enum.IsDefined(on))
            {
                problems.Add($"GenRec:{onKey} ({(int)on}) must be one of {string.Join(", ", Enum.GetNames<StageSwitch>())}.");
            }
            else if (on != StageSwitch.Off && string.IsNullOrWhiteSpace(value))
            {
                problems.Add($"GenRec:{onKey} {on} needs GenRec:{key} ({what}).");
            }
        }

        Need(settings.Mode, nameof(Mode), settings.Index, nameof(Index), "a semantic-ID index file");
        Need(settings.Mode, nameof(Mode), settings.Model, nameof(Model), "a folder from `genrec export`");
        Need(settings.RankerMode, nameof(RankerMode), settings.HstuModel, nameof(HstuModel), "a folder from `genrec export --kind hstu`");
        Need(settings.EndToEndMode, nameof(EndToEndMode), settings.Index, nameof(Index), "a semantic-ID index file");
        Need(settings.EndToEndMode, nameof(EndToEndMode), settings.EndToEndModel, nameof(EndToEndModel), "a folder from `genrec train tiger --arch end-to-end` then `genrec export`");
        if (problems.Count > 0)
        {
            throw new OptionsValidationException("GenRec", typeof(GenerativeSettings), problems);
        }

        return settings;
    }

    /// <summary>The adapter mode of a switch that is on.</summary>
    /// <param name="on">The switch.</param>
    /// <returns>The mode.</returns>
    public static StageMode ModeOf(StageSwitch on) => on switch
    {
        StageSwitch.Replace => StageMode.Replace,
        StageSwitch.Blend => StageMode.Blend,
        StageSwitch.Shadow => StageMode.Shadow,
        _ => throw new ArgumentOutOfRangeException(nameof(on), on, "The stage is off."),
    };
}

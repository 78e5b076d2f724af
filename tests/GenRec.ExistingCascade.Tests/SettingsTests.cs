using GenRec.Adapters;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace GenRec.ExistingCascade.Tests;

/// <summary>The service's configuration is bound, typed and checked: its switches, and the SDK's adapter options from the same file.</summary>
public sealed class SettingsTests
{
    private static IConfiguration Config(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build();

    [Fact]
    public void The_switches_are_bound_and_a_stage_without_its_files_is_refused_naming_the_keys()
    {
        var on = GenerativeSettings.Read(Config(("GenRec:Mode", "blend"), ("GenRec:Index", "ids.sid"), ("GenRec:Model", "model")));
        Assert.Equal((StageSwitch.Blend, StageSwitch.Off, StageSwitch.Off), (on.Mode, on.RankerMode, on.EndToEndMode));

        var missing = Assert.Throws<OptionsValidationException>(() => GenerativeSettings.Read(Config(("GenRec:RankerMode", "shadow"), ("GenRec:EndToEndMode", "Replace"))));
        Assert.Contains("GenRec:RankerMode Shadow needs GenRec:HstuModel", missing.Message, StringComparison.Ordinal);
        Assert.Contains("GenRec:EndToEndMode Replace needs GenRec:Index", missing.Message, StringComparison.Ordinal);
        Assert.Contains("GenRec:EndToEndMode Replace needs GenRec:EndToEndModel", missing.Message, StringComparison.Ordinal);

        var unknown = Assert.Throws<InvalidOperationException>(() => GenerativeSettings.Read(Config(("GenRec:Mode", "blnd"))));
        Assert.Contains("GenRec:Mode", unknown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_shipped_appsettings_bind_every_stage_off_and_the_adapters_budgets()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        var configuration = new ConfigurationBuilder().AddJsonFile(file).Build();
        Assert.False(GenerativeSettings.Read(configuration).AnyOn);

        var services = new ServiceCollection().AddSingleton(configuration);
        services.AddGenRec();
        await using var provider = services.BuildServiceProvider();
        var adapters = provider.GetRequiredService<IOptionsMonitor<AdapterOptions>>();
        Assert.Equal(TimeSpan.FromMilliseconds(50), adapters.Get(GenRecAdapterNames.Recall).Budget);
        Assert.Equal((BlendMethod.Quota, 0.3), (adapters.Get(GenRecAdapterNames.Recommender).Blend, adapters.Get(GenRecAdapterNames.Recommender).GenerativeShare));
    }
}

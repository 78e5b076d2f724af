using GenRec;
using GenRec.Orleans;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>GenRec served by an Orleans cluster: the client side of <c>AddGenRec</c>.</summary>
public static class GenRecOrleansClientBuilderExtensions
{
    /// <summary>
    /// Adds an Orleans client (configure its clustering in <paramref name="configureClient"/>) and generative recall
    /// and ranking served by the cluster's user session grains (<see cref="UserSessionRecall"/>,
    /// <see cref="UserSessionRanking"/>).
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configureClient">Configures the client, e.g. <c>c => c.UseLocalhostClustering()</c>.</param>
    /// <returns>The builder.</returns>
    public static IGenRecBuilder AddOrleansClient(this IGenRecBuilder builder, Action<Orleans.Hosting.IClientBuilder> configureClient)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configureClient);
        if (!builder.Services.Any(d => d.ServiceType == typeof(Orleans.IClusterClient)))
        {
            Microsoft.Extensions.Hosting.OrleansClientGenericHostExtensions.AddOrleansClient(builder.Services, configureClient);
        }

        builder.Services.TryAddSingleton(sp => new UserSessionRecall(sp.GetRequiredService<Orleans.IClusterClient>(), sp.GetRequiredService<IOptions<GenRecOptions>>().Value.Recall.Name, sp.GetRequiredService<IOptions<GenRecOptions>>().Value.Recall.BeamWidth));
        builder.Services.TryAddSingleton(sp => new UserSessionRanking(sp.GetRequiredService<Orleans.IClusterClient>()));
        builder.Services.TryAddKeyedSingleton<IRecallStage>(GenRecStages.Generative, (sp, _) => sp.GetRequiredService<UserSessionRecall>());
        builder.Services.TryAddKeyedSingleton<IRecallStage>(GenRecStages.RemoteGenerative, (sp, _) => sp.GetRequiredService<UserSessionRecall>());
        builder.Services.TryAddKeyedSingleton<IRankingStage>(GenRecStages.Generative, (sp, _) => sp.GetRequiredService<UserSessionRanking>());
        return builder;
    }
}

namespace GenRec.Experiments.Tests;

public sealed class ArmCatalogTests
{
    [Fact]
    public void Every_arm_has_one_name_and_a_description_and_an_unknown_name_is_refused_with_the_known_ones()
    {
        Assert.Equal(ArmCatalog.All.Count, ArmCatalog.All.Select(a => a.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.All(ArmCatalog.All, a => Assert.False(string.IsNullOrWhiteSpace(a.Description), a.Name));
        Assert.Equal(ArmNeeds.None, ArmCatalog.Get(ArmCatalog.Dlrm).Needs);
        Assert.True(ArmCatalog.Get(ArmCatalog.GenerativeBlendOrleans).Needs.HasFlag(ArmNeeds.OrleansCluster));

        var unknown = Assert.Throws<ArgumentException>(() => ArmCatalog.Get("dlrm2"));
        Assert.Contains("dlrm2", unknown.Message, StringComparison.Ordinal);
        Assert.Contains(ArmCatalog.HstuRank, unknown.Message, StringComparison.Ordinal);
    }
}

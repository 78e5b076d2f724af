using System.IO.Compression;
using System.Text.Json.Nodes;
using GenRec.Data;
using GenRec.TestSupport;

namespace GenRec.Baselines.Tests;

/// <summary>A service loads the cascade it trained once instead of training it at every start: same answers, clear errors.</summary>
public sealed class DlrmCascadeFileTests(DlrmFixture fixture) : IClassFixture<DlrmFixture>
{
    [Fact]
    public async Task A_saved_and_loaded_cascade_recommends_exactly_what_the_trained_one_did()
    {
        using var folder = TestData.TempFolder();
        var path = Path.Combine(folder.Path, "dlrm.cascade");
        fixture.Model.Save(path);

        var loaded = DlrmCascadeModel.Load(path, TestData.Split);

        Assert.Equal(fixture.Model.Chosen, loaded.Chosen);
        Assert.Equal(fixture.Model.Grid, loaded.Grid);
        Assert.Equal(fixture.Model.RankingDepth, loaded.RankingDepth);
        var (trained, again) = (fixture.Model.CreatePipeline(), loaded.CreatePipeline());
        foreach (var c in TestData.Split.Cases(SplitTarget.Valid).Take(40))
        {
            var request = new RecommendationRequest(c.User, c.History.Select(h => h.ToEvent()).ToArray(), 20, c.Target.Time);
            var expected = (await trained.RecommendAsync(request, TestContext.Current.CancellationToken)).Items;
            var actual = (await again.RecommendAsync(request, TestContext.Current.CancellationToken)).Items;
            Assert.Equal(expected.Select(i => (i.Item, i.Score)), actual.Select(i => (i.Item, i.Score)));
        }
    }

    [Fact]
    public void A_damaged_foreign_or_newer_file_is_refused_with_its_name()
    {
        using var folder = TestData.TempFolder();
        var path = Path.Combine(folder.Path, "dlrm.cascade");
        fixture.Model.Save(path);
        var bytes = File.ReadAllBytes(path);

        var truncated = Path.Combine(folder.Path, "truncated.cascade");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => DlrmCascadeModel.Load(truncated, TestData.Split));
        Assert.Contains(truncated, e.Message, StringComparison.Ordinal);

        var newer = Path.Combine(folder.Path, "newer.cascade");
        File.WriteAllBytes(newer, bytes);
        using (var zip = ZipFile.Open(newer, ZipArchiveMode.Update))
        {
            var entry = zip.GetEntry("cascade.json")!;
            JsonNode manifest;
            using (var read = entry.Open())
            {
                manifest = JsonNode.Parse(read)!;
            }

            manifest["Version"] = 2;
            entry.Delete();
            using var write = new StreamWriter(zip.CreateEntry("cascade.json").Open());
            write.Write(manifest.ToJsonString());
        }

        Assert.Contains("format version 2", Assert.Throws<InvalidDataException>(() => DlrmCascadeModel.Load(newer, TestData.Split)).Message, StringComparison.Ordinal);
        Assert.Throws<FileNotFoundException>(() => DlrmCascadeModel.Load(Path.Combine(folder.Path, "missing.cascade"), TestData.Split));
        Assert.True(File.Exists(path) && !File.Exists(path + ".partial"));
    }

    [Fact]
    public void A_cascade_is_refused_with_another_train_part_or_other_feature_sources()
    {
        using var folder = TestData.TempFolder();
        var path = Path.Combine(folder.Path, "dlrm.cascade");
        fixture.Model.Save(path);

        var other = TemporalSplit.Create(TestData.Dataset);
        Assert.Contains("another train part", Assert.Throws<InvalidDataException>(() => DlrmCascadeModel.Load(path, other)).Message, StringComparison.Ordinal);

        var e = Assert.Throws<ArgumentException>(() => DlrmCascadeModel.Load(path, TestData.Split, features: [new Constant()]));
        Assert.Equal("features", e.ParamName);
        Assert.Contains("constant", e.Message, StringComparison.Ordinal);
    }

    private sealed class Constant : ICandidateFeatures
    {
        public IReadOnlyList<string> Names { get; } = ["constant"];

        public void Compute(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination) => destination[..candidates.Count].Fill(1);
    }
}

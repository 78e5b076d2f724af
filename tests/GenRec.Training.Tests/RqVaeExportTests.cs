using GenRec.SemanticIds;
using GenRec.TestSupport;
using TorchSharp;

namespace GenRec.Training.Tests;

public sealed class RqVaeExportTests
{
    [Fact]
    public void The_exported_managed_encoder_matches_torch_to_1e_5()
    {
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        var embeddings = new ItemEmbeddings(items, values, d);
        torch.random.manual_seed(1);
        using var model = new RqVaeModule(d, [32, 16], 8, levels: 2, codes: 16);
        var trainer = new RqVaeTrainer(new RqVaeTrainer.Options { Levels = 2, CodebookSize = 16, HiddenDimensions = [32, 16], LatentDimension = 8, Epochs = 1 });
        var quantizer = (ResidualQuantizer)typeof(RqVaeTrainer)
            .GetMethod("Export", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!
            .Invoke(trainer, [model])!;

        using var x = torch.tensor(values, [items.Length, d]);
        var expected = model.Encode(x).detach().data<float>().ToArray();
        for (var i = 0; i < items.Length; i += 97)
        {
            var managed = quantizer.Encode(embeddings.Row(i));
            for (var j = 0; j < managed.Length; j++)
            {
                Assert.Equal(expected[(i * 8) + j], managed[j], 1e-5f);
            }
        }
    }
}

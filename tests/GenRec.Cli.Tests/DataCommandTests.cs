using System.Globalization;
using System.Text;
using GenRec.Data;
using GenRec.TestSupport;
using Parquet;
using Parquet.Schema;

namespace GenRec.Cli.Tests;

public sealed class DataCommandTests
{
    private const string ShopSchema = """
        { "version": 1,
          "events": { "user": "visitor", "item": "sku", "time": "ts_ms", "timeUnit": "Milliseconds",
                      "action": "event", "actionValues": { "view": "Impression", "click": "Click", "buy": "Purchase" }, "value": "price" },
          "items": { "id": "sku", "text": [ "name" ], "categories": "path", "categorySeparator": "/" } }
        """;

    /// <summary>
    /// A team's own log in another layout (Parquet, milliseconds, an action column, other column names, the catalogue in
    /// its own file) holding the bundled MovieLens data must give the very figures <c>--data</c> gives: the split, the
    /// model and the metrics do not depend on where the events came from.
    /// </summary>
    [Fact]
    public async Task A_team_log_in_parquet_with_a_schema_evaluates_exactly_as_the_same_data_through_data()
    {
        using var folder = TestData.TempFolder();
        var movieLens = MovieLensReader.Read(TestData.MovieLensPath);
        var events = folder.File("events.parquet");
        await WriteParquetAsync(events, movieLens.Interactions);
        var items = folder.File("items.csv");
        var catalogue = new StringBuilder("item_id,title,genres\n");
        foreach (var record in movieLens.Items.Values)
        {
            catalogue.Append(CultureInfo.InvariantCulture, $"{record.Id.Value},\"{record.Text.Replace("\"", "\"\"", StringComparison.Ordinal)}\",{string.Join('|', record.Categories)}\n");
        }

        await File.WriteAllTextAsync(items, catalogue.ToString());
        var schema = folder.File("schema.json");
        await File.WriteAllTextAsync(schema, """
            { "version": 1,
              "events": { "user": "user_id", "item": "item_id", "time": "ts_ms", "timeUnit": "Milliseconds", "action": "event", "actionValues": { "rated": "Rate" }, "value": "stars" },
              "items": { "id": "item_id", "text": [ "title" ], "categories": "genres" } }
            """);

        var theirs = await CliRunner.RunAsync("eval", "--events", events, "--items", items, "--schema", schema, "--model", "popularity");
        var ours = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "popularity");

        Assert.True(theirs.ExitCode == 0, theirs.Stderr);
        Assert.True(ours.ExitCode == 0, ours.Stderr);
        foreach (var key in new[] { "HR@10", "NDCG@10", "HR@50", "MRR", "coverage@10", "users" })
        {
            Assert.Equal(ours.LastJson().GetProperty(key).GetRawText(), theirs.LastJson().GetProperty(key).GetRawText());
        }

        Assert.Contains("read 100,004 events of 100,004 rows", theirs.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_prints_what_a_log_and_catalogue_hold_as_a_table_or_json()
    {
        using var folder = TestData.TempFolder();
        var (events, items, schema) = await WriteShopAsync(folder);

        var table = await CliRunner.RunAsync("data", "inspect", "--events", events, "--items", items, "--schema", schema);
        var json = await CliRunner.RunAsync("data", "inspect", "--events", events, "--items", items, "--schema", schema, "--json");

        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Matches(@"\| events\s+\|\s+5 \|", table.Stdout);
        Assert.Matches(@"\| users\s+\|\s+2 \|", table.Stdout);
        Assert.Matches(@"\| catalogue items\s+\|\s+3 \| 2 with events, 1 without \(cold\)", table.Stdout);
        Assert.Matches(@"\|   action Impression\s+\|\s+3 \| 60\.0%", table.Stdout);
        Assert.Contains("1 items of the log not in items.csv", table.Stdout, StringComparison.Ordinal);

        Assert.True(json.ExitCode == 0, json.Stderr);
        var profile = json.LastJson().GetProperty("profile");
        Assert.Equal(5, profile.GetProperty("events").GetInt64());
        Assert.Equal(1, profile.GetProperty("actions").GetProperty("Purchase").GetInt64());
        Assert.Equal(3, profile.GetProperty("sequence_lengths").GetProperty("max").GetInt32());
    }

    [Fact]
    public async Task Text_ids_are_numbered_and_the_numbering_is_written_to_map_recommendations_back()
    {
        using var folder = TestData.TempFolder();
        var events = folder.File("events.csv");
        await File.WriteAllTextAsync(events, "visitor,sku,event,ts_ms,price\nu-7,K-100,view,1700000000500,\nu-7,K-100,click,1700000001000,\nu-8,K-200,view,1700000003000,\nu-8,K-100,buy,1700000004000,5\n", TestContext.Current.CancellationToken);
        var schema = folder.File("schema.json");
        await File.WriteAllTextAsync(schema, ShopSchema.Replace("{ \"version\": 1,", "{ \"version\": 1, \"ids\": \"Text\",", StringComparison.Ordinal), TestContext.Current.CancellationToken);
        var ids = folder.File("ids");

        var run = await CliRunner.RunAsync("data", "inspect", "--events", events, "--schema", schema, "--ids-out", ids);

        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("text ids numbered in the order they first appear: 2 users, 2 items", run.Stderr, StringComparison.Ordinal);
        var items = IdNumbering.Load(Path.Combine(ids, "items.json"));
        var users = IdNumbering.Load(Path.Combine(ids, "users.json"));
        Assert.Equal(["K-100", "K-200"], [items[1], items[2]]);
        Assert.Equal(["u-7", "u-8"], [users[1], users[2]]);

        // Without "ids": "Text" there is nothing to write, and the message says why.
        var plain = folder.File("plain.json");
        await File.WriteAllTextAsync(plain, ShopSchema, TestContext.Current.CancellationToken);
        var shop = await WriteShopAsync(folder);
        var refused = await CliRunner.RunAsync("data", "inspect", "--events", shop.Events, "--schema", plain, "--ids-out", ids);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--ids-out: the ids are integers", refused.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--events {events}", "--events needs --schema")]
    [InlineData("--data {events} --events {events} --schema {schema}", "give --data or --events, not both")]
    [InlineData("--schema {schema}", "--items and --schema go with --events")]
    [InlineData("", "give the data: --data FILE")]
    [InlineData("--events {events} --schema {events}", "events.csv: not a valid schema file")]
    public async Task Data_options_that_do_not_fit_together_are_one_clear_error(string options, string expected)
    {
        using var folder = TestData.TempFolder();
        var (events, _, schema) = await WriteShopAsync(folder);
        string[] args = ["data", "inspect", .. options.Replace("{events}", events, StringComparison.Ordinal).Replace("{schema}", schema, StringComparison.Ordinal).Split(' ', StringSplitOptions.RemoveEmptyEntries)];

        var run = await CliRunner.RunAsync(args);

        Assert.True(run.ExitCode == 2, $"exit {run.ExitCode}: {run.Stderr}");
        Assert.Contains(expected, run.Stderr, StringComparison.Ordinal);
    }

    private static async Task<(string Events, string Items, string Schema)> WriteShopAsync(TempFolder folder)
    {
        var events = folder.File("events.csv");
        await File.WriteAllTextAsync(events, "visitor,sku,event,ts_ms,price\n7,100,view,1700000000500,\n7,100,click,1700000001000,\n7,100,buy,1700000002999,19.5\n8,200,view,1700000003000,\n8,100,view,1700000004000,\n");
        var items = folder.File("items.csv");
        await File.WriteAllTextAsync(items, "sku,name,path\n100,Kettle,home/kitchen\n300,Mug,home/kitchen\n");
        var schema = folder.File("schema.json");
        await File.WriteAllTextAsync(schema, ShopSchema);
        return (events, items, schema);
    }

    private static async Task WriteParquetAsync(string path, IReadOnlyList<Interaction> interactions)
    {
        var fields = new DataField[] { new DataField<long>("user_id"), new DataField<int>("item_id"), new DataField<string>("event"), new DataField<long>("ts_ms"), new DataField<float>("stars") };
        await using var file = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), file);
        // Two row groups, so a read crosses from one to the next.
        foreach (var chunk in interactions.Chunk(60_000))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<long>(fields[0], chunk.Select(i => i.User.Value).ToArray().AsMemory());
            await group.WriteAsync<int>(fields[1], chunk.Select(i => (int)i.Item.Value).ToArray().AsMemory());
            await group.WriteAsync(fields[2], chunk.Select(_ => "rated").ToArray());
            await group.WriteAsync<long>(fields[3], chunk.Select(i => (i.Timestamp * 1000) + 999).ToArray().AsMemory());
            await group.WriteAsync<float>(fields[4], chunk.Select(i => i.Rating).ToArray().AsMemory());
        }
    }
}

using System.Text;
using Parquet;
using Parquet.Schema;

namespace GenRec.Data.Tests;

public sealed class EventLogReaderTests : IDisposable
{
    private const string ShopSchema = """
        {
          "version": 1,
          // a shop's log: milliseconds, three kinds of event, a price
          "events": {
            "user": "visitor", "item": "sku", "time": "ts_ms", "timeUnit": "Milliseconds",
            "action": "event", "actionValues": { "view": "Impression", "click": "Click", "buy": "Purchase" },
            "value": "price"
          },
          "items": { "id": "sku", "text": [ "name", "blurb" ], "categories": "path", "categorySeparator": "/",
                     "published": "listed", "publishedUnit": "Iso8601" }
        }
        """;

    private const string ShopEvents = """
        visitor,sku,event,ts_ms,price
        7,100,view,1700000000500,
        7,100,click,1700000001000,
        7,100,buy,1700000002999,19.5
        8,200,view,1700000003000,NA
        """;

    private const string ShopItems = """
        sku,name,blurb,path,listed
        100,"Kettle, steel","Boils ""fast""
        and quietly",home/kitchen,2023-05-01T00:00:00Z
        300,Mug,,home/kitchen,
        """;

    private readonly string _folder = Directory.CreateTempSubdirectory("genrec-eventlog-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void A_schema_file_maps_a_multi_action_log_and_its_catalogue()
    {
        var schema = EventLogSchema.Parse(ShopSchema);
        var read = EventLogReader.Read(Write("events.csv", ShopEvents), schema, Write("items.csv", ShopItems));
        var events = read.Dataset.Interactions;

        Assert.Equal([ActionType.Impression, ActionType.Click, ActionType.Purchase, ActionType.Impression], events.Select(e => e.EffectiveAction));
        Assert.Equal([1_700_000_000L, 1_700_000_001, 1_700_000_002, 1_700_000_003], events.Select(e => e.Timestamp));
        Assert.Equal(19.5f, events[2].Rating);
        Assert.True(float.IsNaN(events[3].Rating)); // NA is missing
        Assert.Equal(ActionType.Purchase, events[2].ToEvent().Action);

        var kettle = read.Dataset.Items[new ItemId(100)];
        Assert.Equal("Kettle, steel. Boils \"fast\"\nand quietly", kettle.Text); // quoted delimiter, "" and a line break
        Assert.Equal(["home", "kitchen"], kettle.Categories);
        Assert.Equal(new DateTimeOffset(2023, 5, 1, 0, 0, 0, TimeSpan.Zero), kettle.PublishedAt);

        // Item 300 is in the catalogue only (rankable, cold); item 200 has events but no catalogue row.
        Assert.Equal([new ItemId(100), new ItemId(200), new ItemId(300)], read.Dataset.Catalogue);
        Assert.Equal(string.Empty, read.Dataset.Items[new ItemId(200)].Text);
        Assert.Equal(2, read.Report.CatalogueItems);
        Assert.Equal(1, read.Report.EventItemsWithoutCatalogueEntry);
        Assert.Equal(4, read.Report.Events);
    }

    [Fact]
    public void Parquet_reads_to_the_same_dataset_as_csv()
    {
        var schema = EventLogSchema.Parse(ShopSchema) with { Items = null };
        var csv = EventLogReader.Read(Write("events.csv", ShopEvents), schema).Dataset;
        var parquet = WriteParquet("events.parquet", [7, 7, 7, 8], [100, 100, 100, 200], ["view", "click", "buy", "view"], [1700000000500, 1700000001000, 1700000002999, 1700000003000], [null, null, 19.5, null]);

        var read = EventLogReader.Read(parquet, schema).Dataset;

        Assert.Equal(csv.Interactions, read.Interactions);
        Assert.Equal(csv.Catalogue, read.Catalogue);
    }

    [Fact]
    public void A_parquet_log_and_catalogue_of_many_row_groups_with_missing_text_read_as_their_csv_does()
    {
        // From the second row group on the reader decodes the mapped columns side by side and the next group while this
        // one is read (two sets of buffers alternating): every group must come out as the CSV's rows, nulls included.
        const int rows = 3_000;
        long[] users = [.. Enumerable.Range(0, rows).Select(i => 1L + (i % 37))];
        long[] items = [.. Enumerable.Range(0, rows).Select(i => 100L + ((i * 7) % 50))];
        string[] events = [.. Enumerable.Range(0, rows).Select(i => (i % 3) switch { 0 => "view", 1 => "click", _ => "buy" })];
        long[] times = [.. Enumerable.Range(0, rows).Select(i => 1_700_000_000_000L + (i * 1_000L))];
        double?[] prices = [.. Enumerable.Range(0, rows).Select(i => i % 3 == 2 ? i * 0.5 : (double?)null)];
        var csvEvents = new StringBuilder("visitor,sku,event,ts_ms,price\n");
        for (var i = 0; i < rows; i++)
        {
            csvEvents.Append(FormattableString.Invariant($"{users[i]},{items[i]},{events[i]},{times[i]},{prices[i]}\n"));
        }

        long[] skus = [.. Enumerable.Range(100, 50).Select(i => (long)i)];
        string?[] names = [.. skus.Select(k => k % 4 == 0 ? null : $"item {k}")];
        string?[] blurbs = [.. skus.Select(k => k % 3 == 0 ? null : $"about {k}")];
        string?[] paths = [.. skus.Select(k => k % 5 == 0 ? null : k % 2 == 0 ? "home/kitchen" : "garden")];
        string?[] listed = [.. skus.Select(k => k % 6 == 0 ? null : $"2023-05-{1 + (k % 28):00}T00:00:00Z")];
        var csvItems = new StringBuilder("sku,name,blurb,path,listed\n");
        for (var i = 0; i < skus.Length; i++)
        {
            csvItems.Append(FormattableString.Invariant($"{skus[i]},{names[i]},{blurbs[i]},{paths[i]},{listed[i]}\n"));
        }

        var eventsPath = Path.Combine(_folder, "many.parquet");
        var itemsPath = Path.Combine(_folder, "many-items.parquet");
        WriteParquetColumns(eventsPath, [new DataField<long>("visitor"), new DataField<long>("sku"), new DataField<string>("event"), new DataField<long>("ts_ms"), new DataField<double?>("price")], [users, items, events, times, prices], groupRows: 500);
        WriteParquetColumns(itemsPath, [new DataField<long>("sku"), new DataField<string>("name"), new DataField<string>("blurb"), new DataField<string>("path"), new DataField<string>("listed")], [skus, names, blurbs, paths, listed], groupRows: 16);
        var schema = EventLogSchema.Parse(ShopSchema);

        var csv = EventLogReader.Read(Write("many.csv", csvEvents.ToString()), schema, Write("many-items.csv", csvItems.ToString())).Dataset;
        var parquet = EventLogReader.Read(eventsPath, schema, itemsPath).Dataset;

        Assert.Equal(rows, parquet.Interactions.Count);
        Assert.Equal(csv.Interactions, parquet.Interactions);
        Assert.Equal(csv.Catalogue, parquet.Catalogue);
        foreach (var sku in csv.Catalogue)
        {
            var (fromCsv, fromParquet) = (csv.Items[sku], parquet.Items[sku]);
            Assert.Equal(fromCsv.Text, fromParquet.Text);
            Assert.Equal(fromCsv.Categories, fromParquet.Categories);
            Assert.Equal(fromCsv.PublishedAt, fromParquet.PublishedAt);
        }

        Assert.Equal("item 101. about 101", parquet.Items[new ItemId(101)].Text);
        Assert.Equal("about 100", parquet.Items[new ItemId(100)].Text); // a null name is left out, not written as text
        Assert.Equal([ActionType.Impression, ActionType.Click, ActionType.Purchase], parquet.Interactions.Take(3).Select(e => e.EffectiveAction));
    }

    [Fact]
    public void Parquet_timestamp_columns_are_read_as_times_whatever_the_unit_says()
    {
        var schema = new EventLogSchema { Events = new EventColumns { User = "u", Item = "i", Time = "t", DefaultAction = ActionType.Click } };
        var path = Path.Combine(_folder, "times.parquet");
        var fields = new DataField[] { new DataField<long>("u"), new DataField<long>("i"), new DataField<DateTime>("t") };
        WriteParquetColumns(path, fields, [new long[] { 1 }, new long[] { 2 }, new[] { new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc) }]);

        var only = EventLogReader.Read(path, schema).Dataset.Interactions.Single();

        Assert.Equal(new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero), only.Time);
        Assert.Equal(ActionType.Click, only.EffectiveAction);
    }

    [Fact]
    public void Unmapped_actions_are_an_error_naming_the_row_or_skipped_and_counted_when_the_schema_says_so()
    {
        var schema = EventLogSchema.Parse(ShopSchema) with { Items = null };
        var log = Write("events.csv", ShopEvents + "\n9,100,wishlist,1700000004000,\n");

        var e = Assert.Throws<InvalidDataException>(() => EventLogReader.Read(log, schema));
        Assert.Contains("events.csv line 6, column 'event': 'wishlist' is not an action the schema maps", e.Message, StringComparison.Ordinal);

        var skipping = schema with { Events = schema.Events with { UnmappedActions = UnmappedActionHandling.Skip } };
        var read = EventLogReader.Read(log, skipping);
        Assert.Equal(1, read.Report.SkippedUnmappedActions);
        Assert.Equal(5, read.Report.Rows);
        Assert.Equal(4, read.Dataset.Interactions.Count);
    }

    [Fact]
    public void Without_a_value_table_actions_are_read_by_name_or_number()
    {
        var schema = new EventLogSchema { Events = new EventColumns { User = "u", Item = "i", Time = "t", Action = "a" } };
        var read = EventLogReader.Read(Write("e.csv", "u,i,t,a\n1,2,3,purchase\n1,2,4,1\n1,2,5,AddToCart\n"), schema).Dataset;

        Assert.Equal([ActionType.Purchase, ActionType.Click, ActionType.AddToCart], read.Interactions.Select(i => i.EffectiveAction));
    }

    [Theory]
    [InlineData("visitor,sku,event,ts,price\n1,2,view,3,\n", "events.csv: the header has no 'ts_ms' column (the schema's events.time; found: visitor, sku, event, ts, price)")]
    [InlineData("visitor,sku,event,ts_ms,price\n1,2,view,yesterday,\n", "events.csv line 2, column 'ts_ms': 'yesterday' is not an integer time in milliseconds since 1970")]
    [InlineData("visitor,sku,event,ts_ms,price\n1,2,view,,\n", "events.csv line 2, column 'ts_ms': the time is missing")]
    [InlineData("visitor,sku,event,ts_ms,price\n1,,view,5,\n", "events.csv line 2, column 'sku': the id is missing")]
    [InlineData("visitor,sku,event,ts_ms,price\nanna,2,view,5,\n", "events.csv line 2, column 'visitor': 'anna' is not an integer id")]
    [InlineData("visitor,sku,event,ts_ms,price\n1,2,view,5,NaN\n", "events.csv line 2, column 'price': 'NaN' is not a finite number")]
    [InlineData("visitor,sku,event,ts_ms,price\n1,2,,5,\n", "events.csv line 2, column 'event': the action is missing")]
    [InlineData("visitor,sku,event,ts_ms,price\n1,2,view,5\n", "events.csv line 2: expected 5 fields (the header's), found 4")]
    public void Bad_rows_are_refused_naming_the_file_the_row_and_the_column(string csv, string expected)
    {
        var schema = EventLogSchema.Parse(ShopSchema) with { Items = null };
        var e = Assert.Throws<InvalidDataException>(() => EventLogReader.Read(Write("events.csv", csv), schema));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_catalogue_that_lists_an_item_twice_is_refused()
    {
        var e = Assert.Throws<InvalidDataException>(() => EventLogReader.Read(Write("events.csv", ShopEvents), EventLogSchema.Parse(ShopSchema), Write("items.csv", ShopItems + "\n100,Again,,,\n")));
        Assert.Contains("items.csv line 5, column 'sku': item 100 is listed twice", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("time", "many.parquet row 1203, column 'ts_ms': the time is missing")]
    [InlineData("id", "many.parquet row 1203, column 'sku': the id is missing")]
    [InlineData("price", "many.parquet row 1203, column 'price': 'NaN' is not a finite number")]
    [InlineData("action", "many.parquet row 1203, column 'event': the action is missing")]
    [InlineData("unmapped", "many.parquet row 1203, column 'event': 'wishlist' is not an action the schema maps")]
    public void Bad_parquet_rows_are_refused_naming_the_row_across_row_groups(string bad, string expected)
    {
        // Parquet is converted a row group's column at a time: the row named must still be the file's row (1-based), in
        // the third group of 500 here, and the problem the same as a row-by-row read would find.
        const int rows = 1_500, at = 1_202;
        long?[] users = [.. Enumerable.Range(0, rows).Select(i => (long?)(1 + (i / 10)))];
        long?[] items = [.. Enumerable.Range(0, rows).Select(i => bad == "id" && i == at ? null : (long?)(100 + (i % 13)))];
        string?[] events = [.. Enumerable.Range(0, rows).Select(i => i == at && bad == "action" ? null : i == at && bad == "unmapped" ? "wishlist" : "view")];
        long?[] times = [.. Enumerable.Range(0, rows).Select(i => bad == "time" && i == at ? null : (long?)(1_700_000_000_000L + i))];
        double?[] prices = [.. Enumerable.Range(0, rows).Select(i => bad == "price" && i == at ? double.NaN : (double?)null)];
        var path = Path.Combine(_folder, "many.parquet");
        WriteParquetColumns(path, [new DataField<long?>("visitor"), new DataField<long?>("sku"), new DataField<string>("event"), new DataField<long?>("ts_ms"), new DataField<double?>("price")], [users, items, events, times, prices], groupRows: 500);

        var e = Assert.Throws<InvalidDataException>(() => EventLogReader.Read(path, EventLogSchema.Parse(ShopSchema) with { Items = null }));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parquet_rows_with_unmapped_actions_are_skipped_as_in_csv_even_when_their_other_fields_are_bad()
    {
        // A skipped row is not read further (its missing id is no error), and the rows kept around it keep their order
        // and values, in every row group.
        const int rows = 1_200;
        long[] users = [.. Enumerable.Range(0, rows).Select(i => 1L + (i / 9))];
        long?[] items = [.. Enumerable.Range(0, rows).Select(i => i % 7 == 3 ? null : (long?)(100 + (i % 11)))];
        string[] events = [.. Enumerable.Range(0, rows).Select(i => i % 7 == 3 ? "wishlist" : i % 2 == 0 ? "view" : "buy")];
        long[] times = [.. Enumerable.Range(0, rows).Select(i => 1_700_000_000_000L + (i * 1_000L))];
        double?[] prices = [.. Enumerable.Range(0, rows).Select(i => i % 2 == 1 ? i * 0.25 : (double?)null)];
        var csv = new StringBuilder("visitor,sku,event,ts_ms,price\n");
        for (var i = 0; i < rows; i++)
        {
            csv.Append(FormattableString.Invariant($"{users[i]},{items[i]},{events[i]},{times[i]},{prices[i]}\n"));
        }

        var path = Path.Combine(_folder, "skips.parquet");
        WriteParquetColumns(path, [new DataField<long>("visitor"), new DataField<long?>("sku"), new DataField<string>("event"), new DataField<long>("ts_ms"), new DataField<double?>("price")], [users, items, events, times, prices], groupRows: 400);
        var schema = EventLogSchema.Parse(ShopSchema) with { Items = null };
        schema = schema with { Events = schema.Events with { UnmappedActions = UnmappedActionHandling.Skip } };

        var fromCsv = EventLogReader.Read(Write("skips.csv", csv.ToString()), schema);
        var fromParquet = EventLogReader.Read(path, schema);

        var skipped = Enumerable.Range(0, rows).Count(i => i % 7 == 3);
        Assert.Equal(skipped, fromParquet.Report.SkippedUnmappedActions);
        Assert.Equal(rows, fromParquet.Report.Rows);
        Assert.Equal(rows - skipped, fromParquet.Dataset.Interactions.Count);
        Assert.Equal(fromCsv.Dataset.Interactions, fromParquet.Dataset.Interactions);
    }

    [Fact]
    public void Parquet_action_columns_map_each_value_whether_dictionary_encoded_plain_or_integer_codes()
    {
        // Twelve distinct action texts (more than the converter remembers at once), dictionary-encoded as Arrow and Spark
        // write them and plain as Parquet.Net does by default; and the same actions as integer codes.
        string[] names = [.. Enumerable.Range(0, 12).Select(k => $"action-{k:00}")];
        ActionType[] mapsTo = [ActionType.Impression, ActionType.Click, ActionType.View, ActionType.Rate, ActionType.Like, ActionType.AddToCart, ActionType.Purchase, ActionType.Skip, ActionType.Click, ActionType.Purchase, ActionType.View, ActionType.Like];
        const int rows = 2_000;
        var random = new Random(11);
        int[] codes = [.. Enumerable.Range(0, rows).Select(_ => random.Next(names.Length))];
        long[] users = [.. Enumerable.Range(0, rows).Select(i => 1L + (i / 20))];
        long[] items = [.. Enumerable.Range(0, rows).Select(i => 50L + (i % 17))];
        long[] times = [.. Enumerable.Range(0, rows).Select(i => 1_700_000_000L + i)];
        var table = names.Select((n, k) => $"\"{n}\": \"{mapsTo[k]}\"");
        var schema = EventLogSchema.Parse($$"""{ "version": 1, "events": { "user": "u", "item": "i", "time": "t", "action": "a", "actionValues": { {{string.Join(", ", table)}} } } }""");
        var codeSchema = schema with { Events = schema.Events with { ActionValues = Enumerable.Range(0, names.Length).ToDictionary(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture), k => mapsTo[k]) } };
        DataField[] fields = [new DataField<long>("u"), new DataField<long>("i"), new DataField<long>("t"), new DataField<string>("a")];
        var expected = codes.Select(c => mapsTo[c]).ToArray();

        foreach (var dictionary in new[] { true, false })
        {
            var path = Path.Combine(_folder, $"actions-{dictionary}.parquet");
            WriteParquetColumns(path, fields, [users, items, times, codes.Select(c => names[c]).ToArray()], groupRows: 700, dictionaryText: dictionary);
            Assert.Equal(dictionary, ActionEncodings(path).Any(e => e is Parquet.Meta.Encoding.PLAIN_DICTIONARY or Parquet.Meta.Encoding.RLE_DICTIONARY));
            Assert.Equal(expected, EventLogReader.Read(path, schema).Dataset.Interactions.Select(e => e.EffectiveAction));
        }

        var coded = Path.Combine(_folder, "actions-codes.parquet");
        WriteParquetColumns(coded, [.. fields[..3], new DataField<long>("a")], [users, items, times, codes.Select(c => (long)c).ToArray()], groupRows: 700);
        Assert.Equal(expected, EventLogReader.Read(coded, codeSchema).Dataset.Interactions.Select(e => e.EffectiveAction));
    }

    [Fact]
    public void A_truncated_parquet_file_is_refused_with_its_name_and_nothing_is_half_read()
    {
        var schema = EventLogSchema.Parse(ShopSchema) with { Items = null };
        var whole = WriteParquet("events.parquet", [7, 8], [100, 200], ["view", "buy"], [1, 2], [null, 3.5]);
        var bytes = File.ReadAllBytes(whole);
        var cut = Path.Combine(_folder, "cut.parquet");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);

        var e = Assert.Throws<InvalidDataException>(() => EventLogReader.Read(cut, schema));
        Assert.Contains("cut.parquet is not a complete Parquet file", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "events": { "user": "u", "item": "i", "time": "t" } }""", "starts with \"version\": 1")]
    [InlineData("""{ "version": 2, "events": { "user": "u", "item": "i", "time": "t" } }""", "schema version 2 is not one this build reads")]
    [InlineData("""{ "version": 1, "events": { "user": "u", "item": "i", "tme": "t" } }""", "tme")]
    [InlineData("""{ "version": 1, "events": { "user": "u", "item": "i", "time": "t", "timeUnit": "Fortnights" } }""", "timeUnit")]
    [InlineData("""{ "version": 1, "events": { "user": "u", "item": "i", "time": "t", "actionValues": { "x": "Click" } } }""", "'events.actionValues' is given but 'events.action'")]
    [InlineData("""{ "version": 1, "events": { "user": "u", "item": "i", "time": "t", "action": "a", "actionValues": { "x": "Teleport" } } }""", "$.events.actionValues.x")]
    public void Bad_schema_files_are_refused_naming_what_is_wrong(string json, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => EventLogSchema.Parse(json, "shop.json"));
        Assert.StartsWith("shop.json: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_schema_round_trips_through_its_file_format()
    {
        var schema = EventLogSchema.Parse(ShopSchema);
        var again = EventLogSchema.Parse(schema.ToJson());

        Assert.Equal(schema.ToJson(), again.ToJson());
        Assert.Equal(ActionType.Purchase, again.Events.ActionValues!["buy"]);
        Assert.Equal(EventLogSchema.MovieLens.ToJson(), EventLogSchema.Parse(EventLogSchema.MovieLens.ToJson()).ToJson());
    }

    [Fact]
    public void Optional_columns_the_file_lacks_are_reported_not_invented()
    {
        var schema = EventLogSchema.Parse(ShopSchema) with { Items = null };
        var read = EventLogReader.Read(Write("events.csv", "visitor,sku,event,ts_ms\n1,2,view,5\n"), schema);

        Assert.Equal(["events.csv: price"], read.Report.MissingOptionalColumns);
        Assert.True(float.IsNaN(read.Dataset.Interactions[0].Rating));
    }

    [Fact]
    public void Text_ids_are_numbered_in_the_order_they_appear_the_catalogue_first_in_CSV_and_Parquet_alike()
    {
        var schema = EventLogSchema.Parse(ShopSchema) with { Ids = IdKind.Text };
        const string events = """
            visitor,sku,event,ts_ms,price
            9f1c-anna,SKU-B,view,1700000000500,
            9f1c-anna,SKU-A,click,1700000001000,
            2bd0-ben,SKU-B,buy,1700000002999,19.5
            9f1c-anna,SKU-C,view,1700000003000,
            """;
        const string items = """
            sku,name,blurb,path,listed
            SKU-A,Kettle,,home/kitchen,
            SKU-Z,Mug,,home/kitchen,
            """;
        var read = EventLogReader.Read(Write("text.csv", events), schema, Write("text-items.csv", items));

        // Items: the catalogue's A (1) and Z (2), then the log's B (3) and C (4); users: anna (1), ben (2).
        var itemIds = read.ItemIds!;
        var userIds = read.UserIds!;
        Assert.Equal(["SKU-A", "SKU-Z", "SKU-B", "SKU-C"], Enumerable.Range(1, itemIds.Count).Select(n => itemIds[n]));
        Assert.Equal(["9f1c-anna", "2bd0-ben"], Enumerable.Range(1, userIds.Count).Select(n => userIds[n]));
        Assert.Equal([3L, 1, 3, 4], read.Dataset.Interactions.Select(e => e.Item.Value));
        Assert.Equal([1L, 1, 2, 1], read.Dataset.Interactions.Select(e => e.User.Value));
        Assert.Equal("Kettle", read.Dataset.Items[new ItemId(1)].Text);
        Assert.True(itemIds.TryGetNumber("SKU-C", out var c) && c == 4);
        Assert.False(itemIds.TryGetNumber("SKU-Q", out _));
        Assert.Throws<KeyNotFoundException>(() => itemIds[5]);

        // The same log as Parquet (text columns) numbers the same way.
        var parquetPath = Path.Combine(_folder, "text.parquet");
        var fields = new DataField[] { new DataField<string>("visitor"), new DataField<string>("sku"), new DataField<string>("event"), new DataField<long>("ts_ms"), new DataField<double?>("price") };
        WriteParquetColumns(parquetPath, fields, [new[] { "9f1c-anna", "9f1c-anna", "2bd0-ben", "9f1c-anna" }, new[] { "SKU-B", "SKU-A", "SKU-B", "SKU-C" }, new[] { "view", "click", "buy", "view" }, new long[] { 1700000000500, 1700000001000, 1700000002999, 1700000003000 }, new double?[] { null, null, 19.5, null }]);
        var parquet = EventLogReader.Read(parquetPath, schema, Write("text-items2.csv", items));
        Assert.Equal(read.Dataset.Interactions.Select(e => (e.User, e.Item, e.Timestamp)), parquet.Dataset.Interactions.Select(e => (e.User, e.Item, e.Timestamp)));

        // Integer ids stay the default: text there is an error that says how to number it; no numbering comes back.
        var integer = Assert.Throws<InvalidDataException>(() => EventLogReader.Read(Write("text2.csv", events), schema with { Ids = IdKind.Number }));
        Assert.Contains("column 'sku': 'SKU-B' is not an integer id (set \"ids\": \"Text\"", integer.Message, StringComparison.Ordinal);
        Assert.Null(EventLogReader.Read(Write("events.csv", ShopEvents), EventLogSchema.Parse(ShopSchema)).ItemIds);

        // A missing text id is refused with its row; a catalogue listing one twice names it.
        var missing = Assert.Throws<InvalidDataException>(() => EventLogReader.Read(Write("text3.csv", "visitor,sku,event,ts_ms,price\nanna,,view,5,\n"), schema with { Items = null }));
        Assert.Contains("text3.csv line 2, column 'sku': the id is missing", missing.Message, StringComparison.Ordinal);
        var twice = Assert.Throws<InvalidDataException>(() => EventLogReader.Read(Write("text4.csv", events), schema, Write("text-items3.csv", items + "\nSKU-A,Again,,,\n")));
        Assert.Contains("item 'SKU-A' is listed twice", twice.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_numbering_round_trips_through_its_file_and_bad_files_are_refused()
    {
        var schema = EventLogSchema.Parse(ShopSchema) with { Ids = IdKind.Text, Items = null };
        var read = EventLogReader.Read(Write("events.csv", ShopEvents), schema);
        var path = Path.Combine(_folder, "ids", "items.json");
        read.ItemIds!.Save(path);

        var loaded = IdNumbering.Load(path);
        Assert.Equal("items", loaded.Kind);
        Assert.Equal(["100", "200"], Enumerable.Range(1, loaded.Count).Select(n => loaded[n]));

        string Refusal(string json) => Assert.Throws<InvalidDataException>(() => IdNumbering.Load(Write("bad.json", json))).Message;
        Assert.Contains("not a GenRec id numbering", Refusal("""{"format": "other", "formatVersion": 1, "kind": "items", "ids": []}"""), StringComparison.Ordinal);
        Assert.Contains("version 2", Refusal("""{"format": "genrec-id-numbering", "formatVersion": 2, "kind": "items", "ids": []}"""), StringComparison.Ordinal);
        Assert.Contains("'a' is listed twice", Refusal("""{"format": "genrec-id-numbering", "formatVersion": 1, "kind": "items", "ids": ["a", "b", "a"]}"""), StringComparison.Ordinal);
        Assert.Contains("not JSON", Refusal("""{"format": "genrec-id-numbering", "ids": ["""), StringComparison.Ordinal);
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, text.ReplaceLineEndings("\n"), Encoding.UTF8);
        return path;
    }

    private string WriteParquet(string name, long[] users, long[] items, string[] events, long[] times, double?[] prices)
    {
        var path = Path.Combine(_folder, name);
        var fields = new DataField[] { new DataField<long>("visitor"), new DataField<long>("sku"), new DataField<string>("event"), new DataField<long>("ts_ms"), new DataField<double?>("price") };
        WriteParquetColumns(path, fields, [users, items, events, times, prices]);
        return path;
    }

    // The encodings of the last column's chunks, as the file's footer lists them.
    private static Parquet.Meta.Encoding[] ActionEncodings(string path) => Task.Run(async () =>
    {
        await using var reader = await ParquetReader.CreateAsync(path);
        return reader.Metadata!.RowGroups.SelectMany(g => g.Columns[^1].MetaData!.Encodings).Distinct().ToArray();
    }).GetAwaiter().GetResult();

    private static void WriteParquetColumns(string path, DataField[] fields, Array[] columns, int groupRows = int.MaxValue, bool dictionaryText = false)
    {
        var options = new ParquetOptions();
        foreach (var field in fields.Where(f => dictionaryText && (f.ClrType == typeof(string) || f.ClrType == typeof(ReadOnlyMemory<char>))))
        {
            options.ColumnEncodingHints[field.Path.ToString()] = EncodingHint.Dictionary;
        }

        Task.Run(async () =>
        {
            await using var file = File.Create(path);
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), file, options);
            var rows = columns[0].Length;
            for (var start = 0; start < rows; start += groupRows)
            {
                var length = Math.Min(groupRows, rows - start);
                using var group = writer.CreateRowGroup();
                for (var c = 0; c < fields.Length; c++)
                {
                    var write = columns[c] switch
                    {
                        long[] v => group.WriteAsync<long>(fields[c], v.AsMemory(start, length)),
                        long?[] v => group.WriteAsync<long>(fields[c], v.AsMemory(start, length)),
                        double?[] v => group.WriteAsync<double>(fields[c], v.AsMemory(start, length)),
                        DateTime[] v => group.WriteAsync<DateTime>(fields[c], v.AsMemory(start, length)),
                        string[] v => group.WriteAsync(fields[c], v[start..(start + length)]),
                        var other => throw new ArgumentException(other.GetType().Name),
                    };
                    await write;
                }
            }
        }).GetAwaiter().GetResult();
    }
}

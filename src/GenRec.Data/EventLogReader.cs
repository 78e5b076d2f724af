using System.Diagnostics;
using System.Globalization;
using GenRec.Data.Tables;

namespace GenRec.Data;

/// <summary>
/// Reads a team's event log and item catalogue (CSV, plain or gzip, or Parquet; told apart by their first bytes) through
/// an <see cref="EventLogSchema"/>. CSV is read a row at a time, Parquet a row group of the mapped columns at a time
/// (converted column by column), so memory grows with the events kept, not with the file. Every error names the file,
/// the row and the column.
/// </summary>
public static class EventLogReader
{
    private const int ProgressEvery = 1 << 20;

    /// <summary>Reads an event log and, optionally, a catalogue.</summary>
    /// <param name="events">The event log file.</param>
    /// <param name="schema">The column mapping.</param>
    /// <param name="items">The catalogue file, or <see langword="null"/> (item metadata from the event log's own columns, if the schema maps any).</param>
    /// <param name="progress">Receives the rows read so far, about every million rows and at the end of each file.</param>
    /// <param name="cancellationToken">Stops the read.</param>
    /// <returns>The dataset and what the read found.</returns>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="InvalidDataException">A required column is missing, or a row cannot be read; the message names the file, the row and the column.</exception>
    public static EventLog Read(string events, EventLogSchema schema, string? items = null, IProgress<EventLogProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(events);
        ArgumentNullException.ThrowIfNull(schema);
        schema.Validate();
        using var eventTable = TableReader.Open(events, schema);
        using var itemTable = items is null ? null : TableReader.Open(items, schema);
        return Read(eventTable, itemTable, schema, progress, cancellationToken);
    }

    /// <summary>Reads an event log and, optionally, a catalogue from streams (seekable ones for Parquet); the streams are disposed.</summary>
    /// <param name="events">The event log.</param>
    /// <param name="eventsName">A name for the event log, used in messages.</param>
    /// <param name="schema">The column mapping.</param>
    /// <param name="items">The catalogue, or <see langword="null"/>.</param>
    /// <param name="itemsName">A name for the catalogue, used in messages.</param>
    /// <param name="progress">Receives the rows read so far.</param>
    /// <param name="cancellationToken">Stops the read.</param>
    /// <returns>The dataset and what the read found.</returns>
    /// <exception cref="InvalidDataException">A required column is missing, or a row cannot be read.</exception>
    public static EventLog ReadStream(Stream events, string eventsName, EventLogSchema schema, Stream? items = null, string itemsName = "items", IProgress<EventLogProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(schema);
        schema.Validate();
        using var eventTable = TableReader.Open(events, eventsName, schema);
        using var itemTable = items is null ? null : TableReader.Open(items, itemsName, schema);
        return Read(eventTable, itemTable, schema, progress, cancellationToken);
    }

    private static EventLog Read(TableReader events, TableReader? itemsTable, EventLogSchema schema, IProgress<EventLogProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var missing = new List<string>();
        var items = new Dictionary<ItemId, ItemRecord>();
        var (userIds, itemIds) = schema.Ids == IdKind.Text ? (new IdNumbering("users"), new IdNumbering("items")) : (null, null);
        var itemsFromCatalogue = 0;
        if (itemsTable is not null && schema.Items is null)
        {
            throw new InvalidDataException($"{itemsTable.Source}: a catalogue file is given but the schema has no 'items' mapping.");
        }

        if (itemsTable is not null)
        {
            itemsFromCatalogue = ReadCatalogue(itemsTable, schema, items, itemIds, missing, progress, cancellationToken);
        }

        var e = schema.Events;
        int user = Required(events, e.User, "events.user"), item = Required(events, e.Item, "events.item"), time = Required(events, e.Time, "events.time");
        var action = e.Action is null ? -1 : Required(events, e.Action, "events.action");
        var value = Optional(events, e.Value, missing);
        var inline = itemsTable is null && schema.Items is { } c ? InlineCatalogue.Open(events, c, missing) : null;
        var actions = new ActionMap(e);

        var interactions = new InteractionStore();
        var (rows, skipped) = events.ReadsBatches && inline is null
            ? ReadBatches(events, e, [user, item, time, action, value], actions, userIds, itemIds, interactions, progress, cancellationToken)
            : ReadRows(events, e, [user, item, time, action, value], actions, userIds, itemIds, interactions, inline, items, progress, cancellationToken);

        if (interactions.Count == 0)
        {
            throw new InvalidDataException(rows == 0
                ? $"{events.Source} has a header but no event rows."
                : $"{events.Source}: all {rows} rows were skipped (unmapped actions); no events left.");
        }

        progress?.Report(new EventLogProgress(events.Source, rows, events.BytesRead, events.Length));
        interactions.Trim();
        var withoutRecord = 0;
        foreach (var id in interactions.ItemIds)
        {
            if (!items.ContainsKey(new ItemId(id)))
            {
                items[new ItemId(id)] = new ItemRecord(new ItemId(id), string.Empty, []);
                withoutRecord++;
            }
        }

        var dataset = new InteractionDataset(interactions, items.Values);
        var report = new EventLogReport
        {
            EventsSource = events.Source,
            ItemsSource = itemsTable?.Source,
            Rows = rows,
            Events = interactions.Count,
            SkippedUnmappedActions = skipped,
            CatalogueItems = itemsFromCatalogue,
            EventItemsWithoutCatalogueEntry = itemsTable is null ? 0 : withoutRecord,
            MissingOptionalColumns = missing,
            Elapsed = clock.Elapsed,
        };
        return new EventLog(dataset, report) { UserIds = userIds, ItemIds = itemIds };
    }

    // Row by row (CSV, and any table whose rows also describe items): every field through the conversions below.
    private static (long Rows, long Skipped) ReadRows(TableReader events, EventColumns e, int[] columns, ActionMap actions, IdNumbering? userIds, IdNumbering? itemIds, InteractionStore interactions, InlineCatalogue? inline, Dictionary<ItemId, ItemRecord> items, IProgress<EventLogProgress>? progress, CancellationToken cancellationToken)
    {
        var (user, item, time, action, value) = (columns[0], columns[1], columns[2], columns[3], columns[4]);
        long rows = 0, skipped = 0;
        while (events.MoveNext())
        {
            rows++;
            if ((rows & (ProgressEvery - 1)) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report(new EventLogProgress(events.Source, rows, events.BytesRead, events.Length));
            }

            ActionType? kind = e.DefaultAction;
            if (action >= 0)
            {
                if (!TryAction(events, action, actions, e, out var mapped))
                {
                    skipped++;
                    continue;
                }

                kind = mapped;
            }

            var itemId = Id(events, item, itemIds);
            interactions.Add(Id(events, user, userIds), itemId, value >= 0 ? Value(events, value) : float.NaN, Time(events, time, e.TimeUnit), kind);
            if (inline is not null && !items.ContainsKey(new ItemId(itemId)))
            {
                items[new ItemId(itemId)] = inline.Read(events, new ItemId(itemId));
            }
        }

        return (rows, skipped);
    }

    // The current row's action: false when it maps to nothing and the schema skips such rows; an error otherwise.
    private static bool TryAction(TableReader events, int action, ActionMap actions, EventColumns e, out ActionType mapped)
    {
        if (events.IsMissing(action))
        {
            throw events.Error(action, "the action is missing.");
        }

        if ((events.TryGetInt64(action, out var code) && actions.TryMap(code, out mapped)) || actions.TryMap(events.GetSpan(action), out mapped))
        {
            return true;
        }

        return e.UnmappedActions == UnmappedActionHandling.Skip
            ? false
            : throw events.Error(action, $"'{events.GetText(action)}' is not an action the schema maps ({actions.Describe()}); map it in 'events.actionValues' or set 'events.unmappedActions' to Skip.");
    }

    // A reader that decodes whole columns (Parquet row groups) is converted a column at a time: typed columns in bulk
    // (integer ids and times, numbers, a dictionary-encoded action column mapped once per distinct value), anything else
    // row by row through the same conversions as a row reader, so the values kept and the errors are the same.
    private static (long Rows, long Skipped) ReadBatches(TableReader events, EventColumns e, int[] columns, ActionMap actions, IdNumbering? userIds, IdNumbering? itemIds, InteractionStore interactions, IProgress<EventLogProgress>? progress, CancellationToken cancellationToken)
    {
        var (user, item, time, action, value) = (columns[0], columns[1], columns[2], columns[3], columns[4]);
        var decoded = columns.Where(c => c >= 0).ToArray();
        var batch = new EventBatch();
        long rows = 0, skipped = 0, reported = 0;
        int count;
        while ((count = events.NextBatch(decoded)) > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            batch.Resize(count);
            var kept = action >= 0 ? batch.MapActions(events, action, actions, e) : batch.SetActions(e.DefaultAction);
            var selection = kept == count ? null : batch.Kept;
            ConvertIds(events, user, userIds, selection, kept, batch.Users);
            ConvertIds(events, item, itemIds, selection, kept, batch.Items);
            batch.ConvertTimes(events, time, e.TimeUnit, selection, kept);
            batch.ConvertValues(events, value, selection, kept);
            interactions.AddRange(batch.Users.AsSpan(0, kept), batch.Items.AsSpan(0, kept), batch.Values.AsSpan(0, kept), batch.Times.AsSpan(0, kept), batch.Actions.AsSpan(0, kept));
            rows += count;
            skipped += count - kept;
            if (rows - reported >= ProgressEvery)
            {
                reported = rows;
                progress?.Report(new EventLogProgress(events.Source, rows, events.BytesRead, events.Length));
            }
        }

        return (rows, skipped);
    }

    private static void ConvertIds(TableReader events, int column, IdNumbering? numbering, int[]? selection, int rows, long[] into)
    {
        var data = events.BatchColumn(column);
        if (numbering is null && data is IntegerColumn { Nulls: null } ids)
        {
            Select(ids.Values, selection, rows, into);
            return;
        }

        for (var j = 0; j < rows; j++)
        {
            events.MoveToBatchRow(selection is null ? j : selection[j]);
            into[j] = Id(events, column, numbering);
        }
    }

    private static void Select(long[] values, int[]? selection, int rows, long[] into)
    {
        if (selection is null)
        {
            values.AsSpan(0, rows).CopyTo(into);
            return;
        }

        for (var j = 0; j < rows; j++)
        {
            into[j] = values[selection[j]];
        }
    }

    private static int ReadCatalogue(TableReader table, EventLogSchema schema, Dictionary<ItemId, ItemRecord> items, IdNumbering? itemIds, List<string> missing, IProgress<EventLogProgress>? progress, CancellationToken cancellationToken)
    {
        var columns = schema.Items!;
        var id = Required(table, columns.Id, "items.id");
        var reader = InlineCatalogue.Open(table, columns, missing);
        long rows = 0;
        while (table.MoveNext())
        {
            rows++;
            if ((rows & (ProgressEvery - 1)) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report(new EventLogProgress(table.Source, rows, table.BytesRead, table.Length));
            }

            var itemId = new ItemId(Id(table, id, itemIds));
            if (!items.TryAdd(itemId, reader.Read(table, itemId)))
            {
                throw table.Error(id, $"item {(itemIds is null ? itemId.Value.ToString(CultureInfo.InvariantCulture) : $"'{itemIds[itemId.Value]}'")} is listed twice; a catalogue has one row per item.");
            }
        }

        progress?.Report(new EventLogProgress(table.Source, rows, table.BytesRead, table.Length));
        return items.Count;
    }

    private static int Required(TableReader table, string column, string key)
    {
        var index = table.IndexOf(column);
        return index >= 0
            ? index
            : throw new InvalidDataException($"{table.Source}: the header has no '{column}' column (the schema's {key}; found: {string.Join(", ", table.Columns)}).");
    }

    private static int Optional(TableReader table, string? column, List<string> missing)
    {
        if (column is null)
        {
            return -1;
        }

        var index = table.IndexOf(column);
        if (index < 0)
        {
            missing.Add($"{table.Source}: {column}");
        }

        return index;
    }

    private static long Id(TableReader table, int column, IdNumbering? numbering)
    {
        if (numbering is null && table.TryGetInt64(column, out var id))
        {
            return id;
        }

        if (table.IsMissing(column))
        {
            throw table.Error(column, "the id is missing.");
        }

        return numbering is not null
            ? numbering.Number(table.GetSpan(column))
            : throw table.Error(column, $"'{table.GetText(column)}' is not an integer id (set \"ids\": \"Text\" in the schema to number text ids such as UUIDs or SKUs).");
    }

    private static float Value(TableReader table, int column)
    {
        if (table.IsMissing(column))
        {
            return float.NaN;
        }

        return table.TryGetDouble(column, out var value) && double.IsFinite(value) && float.IsFinite((float)value)
            ? (float)value
            : throw table.Error(column, $"'{table.GetText(column)}' is not a finite number.");
    }

    private static long Time(TableReader table, int column, TimeUnit unit)
    {
        if (table.TryGetNativeTime(column, out var native))
        {
            return native;
        }

        if (table.IsMissing(column))
        {
            throw table.Error(column, "the time is missing.");
        }

        if (unit == TimeUnit.Iso8601)
        {
            return DateTimeOffset.TryParse(table.GetSpan(column), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
                ? parsed.ToUnixTimeSeconds()
                : throw table.Error(column, $"'{table.GetText(column)}' is not an ISO 8601 time.");
        }

        if (!table.TryGetInt64(column, out var raw))
        {
            throw table.Error(column, $"'{table.GetText(column)}' is not an integer time in {unit.ToString().ToLowerInvariant()} since 1970 (set 'events.timeUnit').");
        }

        return ToSeconds(raw, unit);
    }

    // Whole seconds, rounded down (a time before 1970 too).
    private static long ToSeconds(long raw, TimeUnit unit) => unit switch
    {
        TimeUnit.Milliseconds => Math.DivRem(raw, 1_000L).Quotient - (raw % 1_000L < 0 ? 1 : 0),
        TimeUnit.Microseconds => Math.DivRem(raw, 1_000_000L).Quotient - (raw % 1_000_000L < 0 ? 1 : 0),
        _ => raw,
    };

    private static void ToSeconds(Span<long> times, TimeUnit unit)
    {
        if (unit is TimeUnit.Milliseconds or TimeUnit.Microseconds)
        {
            for (var i = 0; i < times.Length; i++)
            {
                times[i] = ToSeconds(times[i], unit);
            }
        }
    }

    /// <summary>An action column's values to actions: the schema's table, else <see cref="ActionType"/> names and numbers.</summary>
    private sealed class ActionMap
    {
        private readonly Dictionary<string, ActionType>.AlternateLookup<ReadOnlySpan<char>> _lookup;
        private readonly bool _byName;
        private readonly ActionType?[] _codes;

        public ActionMap(EventColumns columns)
        {
            _byName = columns.ActionValues is not { Count: > 0 };
            var table = _byName
                ? Enum.GetValues<ActionType>().SelectMany(a => new[] { (a.ToString(), a), (((int)a).ToString(CultureInfo.InvariantCulture), a) })
                : columns.ActionValues!.Select(p => (p.Key, p.Value));
            var map = new Dictionary<string, ActionType>(_byName ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
            foreach (var (text, action) in table)
            {
                if (!Enum.IsDefined(action))
                {
                    throw new InvalidDataException($"events.actionValues maps '{text}' to {(int)action}, which is not an action.");
                }

                map[text] = action;
            }

            _lookup = map.GetAlternateLookup<ReadOnlySpan<char>>();
            var codes = map
                .Where(p => int.TryParse(p.Key, NumberStyles.None, CultureInfo.InvariantCulture, out var c) && c < 10_000 && c.ToString(CultureInfo.InvariantCulture) == p.Key)
                .Select(p => (Code: int.Parse(p.Key, CultureInfo.InvariantCulture), p.Value))
                .ToArray();
            _codes = new ActionType?[codes.Length == 0 ? 0 : codes.Max(c => c.Code) + 1];
            foreach (var (code, action) in codes)
            {
                _codes[code] = action;
            }
        }

        public bool TryMap(ReadOnlySpan<char> text, out ActionType action) => _lookup.TryGetValue(text, out action) || _lookup.TryGetValue(text.Trim(), out action);

        // Integer action codes (a Parquet integer column, or digits in CSV) through the same table, without text.
        public bool TryMap(long code, out ActionType action)
        {
            if ((ulong)code < (ulong)_codes.Length && _codes[code] is { } known)
            {
                action = known;
                return true;
            }

            action = default;
            return false;
        }

        public string Describe() => _byName
            ? "no 'events.actionValues', so the values must be action names: " + string.Join(", ", Enum.GetNames<ActionType>())
            : "it maps " + string.Join(", ", _lookup.Dictionary.Keys.Take(12).Select(k => $"'{k}'"));
    }

    /// <summary>One batch's columns converted to what the store keeps, in buffers reused from batch to batch.</summary>
    private sealed class EventBatch
    {
        private const int CacheSize = 8;
        private readonly ReadOnlyMemory<char>[] _texts = new ReadOnlyMemory<char>[CacheSize];
        private readonly byte[] _textActions = new byte[CacheSize];
        private int _cached;

        public long[] Users { get; private set; } = [];

        public long[] Items { get; private set; } = [];

        public long[] Times { get; private set; } = [];

        public float[] Values { get; private set; } = [];

        public byte[] Actions { get; private set; } = [];

        /// <summary>The rows kept (their indexes in the batch) when some were skipped.</summary>
        public int[] Kept { get; private set; } = [];

        /// <summary>The batch's rows.</summary>
        public int Rows { get; private set; }

        public void Resize(int rows)
        {
            Rows = rows;
            if (Users.Length < rows)
            {
                (Users, Items, Times, Values, Actions, Kept) = (new long[rows], new long[rows], new long[rows], new float[rows], new byte[rows], new int[rows]);
            }
        }

        public int SetActions(ActionType? action)
        {
            var rows = Rows;
            Actions.AsSpan(0, rows).Fill(action is { } a ? (byte)a : InteractionStore.NoAction);
            return rows;
        }

        // Maps the action column; returns the rows kept (the first ones of Actions; Kept lists them when rows were skipped).
        public int MapActions(TableReader events, int column, ActionMap actions, EventColumns e)
        {
            var data = events.BatchColumn(column);
            var texts = data is TextColumn { Nulls: null } text ? text.Values : null;
            var codes = data is IntegerColumn { Nulls: null } integers ? integers.Values : null;
            var rows = Rows;
            var kept = 0;
            var skipping = false;
            for (var i = 0; i < rows; i++)
            {
                byte action;
                if (texts is not null && TryCached(texts[i], out action))
                {
                }
                else if (codes is not null && actions.TryMap(codes[i], out var coded))
                {
                    action = (byte)coded;
                }
                else
                {
                    events.MoveToBatchRow(i);
                    if (!TryAction(events, column, actions, e, out var mapped))
                    {
                        if (!skipping)
                        {
                            for (var j = 0; j < i; j++)
                            {
                                Kept[j] = j;
                            }

                            skipping = true;
                        }

                        continue;
                    }

                    action = (byte)mapped;
                    if (texts is not null)
                    {
                        Cache(texts[i], action);
                    }
                }

                if (skipping)
                {
                    Kept[kept] = i;
                }

                Actions[kept++] = action;
            }

            return kept;
        }

        public void ConvertTimes(TableReader events, int column, TimeUnit unit, int[]? selection, int rows)
        {
            var data = events.BatchColumn(column);
            if (data is TimeColumn { Nulls: null } native)
            {
                Select(native.Values, selection, rows, Times);
                return;
            }

            if (data is IntegerColumn { Nulls: null } raw && unit != TimeUnit.Iso8601)
            {
                Select(raw.Values, selection, rows, Times);
                ToSeconds(Times.AsSpan(0, rows), unit);
                return;
            }

            for (var j = 0; j < rows; j++)
            {
                events.MoveToBatchRow(selection is null ? j : selection[j]);
                Times[j] = Time(events, column, unit);
            }
        }

        public void ConvertValues(TableReader events, int column, int[]? selection, int rows)
        {
            if (column < 0)
            {
                Values.AsSpan(0, rows).Fill(float.NaN);
                return;
            }

            var data = events.BatchColumn(column);
            if (data is RealColumn real)
            {
                var nulls = real.Nulls;
                for (var j = 0; j < rows; j++)
                {
                    var i = selection is null ? j : selection[j];
                    var v = (float)real.Values[i];
                    if (nulls is not null && nulls[i])
                    {
                        v = float.NaN;
                    }
                    else if (!float.IsFinite(v))
                    {
                        events.MoveToBatchRow(i);
                        v = Value(events, column); // throws, naming the row
                    }

                    Values[j] = v;
                }

                return;
            }

            for (var j = 0; j < rows; j++)
            {
                events.MoveToBatchRow(selection is null ? j : selection[j]);
                Values[j] = Value(events, column);
            }
        }

        // Each distinct text is mapped once: rows of a dictionary-encoded column with the same value are the same slice
        // of the dictionary (compared first), and another row group's dictionary has the same text.
        private bool TryCached(ReadOnlyMemory<char> text, out byte action)
        {
            for (var k = 0; k < _cached; k++)
            {
                if (_texts[k].Equals(text) || _texts[k].Span.SequenceEqual(text.Span))
                {
                    action = _textActions[k];
                    return true;
                }
            }

            action = 0;
            return false;
        }

        private void Cache(ReadOnlyMemory<char> text, byte action)
        {
            var slot = _cached < CacheSize ? _cached++ : CacheSize - 1;
            _texts[slot] = text;
            _textActions[slot] = action;
        }
    }

    /// <summary>Item metadata columns of a table (the catalogue's, or the event log's own).</summary>
    private sealed class InlineCatalogue
    {
        private readonly CatalogueColumns _columns;
        private readonly int[] _text;
        private readonly int _categories;
        private readonly int _published;
        private readonly HashSet<string> _noCategory;

        private InlineCatalogue(CatalogueColumns columns, int[] text, int categories, int published)
        {
            _columns = columns;
            _text = text;
            _categories = categories;
            _published = published;
            _noCategory = new HashSet<string>(columns.NoCategoryValues, StringComparer.Ordinal);
        }

        public static InlineCatalogue Open(TableReader table, CatalogueColumns columns, List<string> missing) => new(
            columns,
            columns.Text.Select(t => Optional(table, t, missing)).Where(i => i >= 0).ToArray(),
            Optional(table, columns.Categories, missing),
            Optional(table, columns.Published, missing));

        public ItemRecord Read(TableReader table, ItemId id)
        {
            string text;
            if (_text.Length == 1)
            {
                text = table.IsMissing(_text[0]) ? string.Empty : table.GetText(_text[0]);
            }
            else
            {
                text = string.Join(". ", _text.Where(c => !table.IsMissing(c)).Select(table.GetText).Where(t => t.Length > 0));
            }

            IReadOnlyList<string> categories = [];
            if (_categories >= 0 && !table.IsMissing(_categories) && table.GetText(_categories) is var all && !_noCategory.Contains(all))
            {
                categories = all.Split(_columns.CategorySeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            }

            return new ItemRecord(id, text, categories) { PublishedAt = _published >= 0 ? Published(table) : null };
        }

        private DateTimeOffset? Published(TableReader table)
        {
            if (table.IsMissing(_published))
            {
                return null;
            }

            if (_columns.PublishedUnit == TimeUnit.Year)
            {
                return table.TryGetInt64(_published, out var year) && year is > 0 and < 10_000
                    ? new DateTimeOffset((int)year, 1, 1, 0, 0, 0, TimeSpan.Zero)
                    : throw table.Error(_published, $"'{table.GetText(_published)}' is not a year.");
            }

            return DateTimeOffset.FromUnixTimeSeconds(Time(table, _published, _columns.PublishedUnit));
        }
    }
}

/// <summary>What <see cref="EventLogReader"/> read: the dataset and the read's report.</summary>
/// <param name="Dataset">The events and items.</param>
/// <param name="Report">What the read found (rows, skipped events, columns the schema names that the files lack).</param>
public sealed record EventLog(InteractionDataset Dataset, EventLogReport Report)
{
    /// <summary>How the log's text user ids were numbered (<see cref="IdKind.Text"/>); <see langword="null"/> when they are integers.</summary>
    public IdNumbering? UserIds { get; init; }

    /// <summary>How the text item ids of the log and the catalogue were numbered (<see cref="IdKind.Text"/>); <see langword="null"/> when they are integers.</summary>
    public IdNumbering? ItemIds { get; init; }
}

/// <summary>What a read of an event log found.</summary>
public sealed record EventLogReport
{
    /// <summary>The event log's name.</summary>
    public required string EventsSource { get; init; }

    /// <summary>The catalogue's name, or <see langword="null"/> when none was read.</summary>
    public string? ItemsSource { get; init; }

    /// <summary>Rows of the event log.</summary>
    public long Rows { get; init; }

    /// <summary>Events kept (rows less skipped ones).</summary>
    public long Events { get; init; }

    /// <summary>Rows skipped because their action maps to nothing (<see cref="UnmappedActionHandling.Skip"/>).</summary>
    public long SkippedUnmappedActions { get; init; }

    /// <summary>Items the catalogue file lists (0 without one).</summary>
    public int CatalogueItems { get; init; }

    /// <summary>Items of the event log that the catalogue file does not list (they get empty records).</summary>
    public int EventItemsWithoutCatalogueEntry { get; init; }

    /// <summary>Optional columns the schema names that a file lacks ("file: column"); their values are missing.</summary>
    public IReadOnlyList<string> MissingOptionalColumns { get; init; } = [];

    /// <summary>How long the read took.</summary>
    public TimeSpan Elapsed { get; init; }
}

/// <summary>Progress of a read: rows of one file so far.</summary>
/// <param name="Source">The file being read.</param>
/// <param name="Rows">Rows read so far.</param>
/// <param name="BytesRead">Bytes of the file consumed so far (compressed bytes for gzip).</param>
/// <param name="Length">The file's length in bytes, or 0 when unknown.</param>
public readonly record struct EventLogProgress(string Source, long Rows, long BytesRead, long Length);

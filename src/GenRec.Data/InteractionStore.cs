using System.Collections;

namespace GenRec.Data;

/// <summary>
/// Interactions kept as columns in blocks of 2^20 rows: user and item as indexes into their id tables (4 bytes each),
/// the time as seconds from the block's first (4; 8 in a block whose times span more than 68 years), the value (4) and
/// the action (1): 17 bytes an event, where a list of <see cref="Interaction"/> structs takes 40 and doubles while it grows. Rows are appended as a reader reads them (no copy when the next block starts)
/// and read back as <see cref="Interaction"/> values whose <see cref="Interaction.Row"/> is their index.
/// </summary>
internal sealed class InteractionStore : IReadOnlyList<Interaction>
{
    private const int Shift = 20;
    private const int BlockSize = 1 << Shift;
    private const int Mask = BlockSize - 1;
    /// <summary>How <see cref="AddRange"/> is told an event has no action.</summary>
    internal const byte NoAction = byte.MaxValue;

    private readonly List<Block> _blocks = [];
    private readonly Dictionary<long, int> _userIndex = [];
    private readonly Dictionary<long, int> _itemIndex = [];
    private readonly List<long> _users = [];
    private readonly List<long> _items = [];
    private long _lastUser = long.MinValue;
    private int _lastUserIndex;

    public int Count { get; private set; }

    /// <summary>The distinct users, in the order they first appear.</summary>
    public IReadOnlyList<long> UserIds => _users;

    /// <summary>The distinct items, in the order they first appear.</summary>
    public IReadOnlyList<long> ItemIds => _items;

    public Interaction this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(index), index, $"The store has {Count} interactions.");
            }

            var block = _blocks[index >> Shift];
            var i = index & Mask;
            var action = block.Actions[i];
            return new Interaction(new UserId(_users[block.Users[i]]), new ItemId(_items[block.Items[i]]), block.Values[i], block.Time(i), index)
            {
                Action = action == NoAction ? null : (ActionType)action,
            };
        }
    }

    /// <summary>Appends one interaction (its row is its index).</summary>
    public void Add(long user, long item, float value, long timestamp, ActionType? action)
    {
        var userIndex = UserIndex(user);
        var itemIndex = ItemIndex(item);
        var i = Count & Mask;
        if (i == 0)
        {
            _blocks.Add(new Block(BlockSize));
        }

        var block = _blocks[^1];
        block.Users[i] = userIndex;
        block.Items[i] = itemIndex;
        block.Values[i] = value;
        block.SetTime(i, timestamp);
        block.Actions[i] = action is { } a ? (byte)a : NoAction;
        Count++;
    }

    /// <summary>
    /// Appends a run of interactions given as columns (actions as <see cref="ActionType"/> bytes, <see cref="NoAction"/>
    /// for none), as <see cref="Add"/> would one by one.
    /// </summary>
    public void AddRange(ReadOnlySpan<long> users, ReadOnlySpan<long> items, ReadOnlySpan<float> values, ReadOnlySpan<long> timestamps, ReadOnlySpan<byte> actions)
    {
        var rows = users.Length;
        if (items.Length != rows || values.Length != rows || timestamps.Length != rows || actions.Length != rows)
        {
            throw new ArgumentException("The columns of a run of interactions have different lengths.");
        }

        var done = 0;
        while (done < rows)
        {
            var i = Count & Mask;
            if (i == 0)
            {
                _blocks.Add(new Block(BlockSize));
            }

            var block = _blocks[^1];
            var n = Math.Min(rows - done, BlockSize - i);
            for (var j = 0; j < n; j++)
            {
                block.Users[i + j] = UserIndex(users[done + j]);
                block.Items[i + j] = ItemIndex(items[done + j]);
                block.SetTime(i + j, timestamps[done + j]);
            }

            values.Slice(done, n).CopyTo(block.Values.AsSpan(i, n));
            actions.Slice(done, n).CopyTo(block.Actions.AsSpan(i, n));

            Count += n;
            done += n;
        }
    }

    /// <summary>Shrinks the last block to the rows it holds (after the last <see cref="Add"/>).</summary>
    public void Trim()
    {
        var used = Count & Mask;
        if (used != 0)
        {
            _blocks[^1] = _blocks[^1].Resized(used);
        }

        _users.TrimExcess();
        _items.TrimExcess();
        _userIndex.TrimExcess();
        _itemIndex.TrimExcess();
    }

    private int UserIndex(long user)
    {
        if (user != _lastUser)
        {
            if (!_userIndex.TryGetValue(user, out _lastUserIndex))
            {
                _lastUserIndex = _users.Count;
                _userIndex.Add(user, _lastUserIndex);
                _users.Add(user);
            }

            _lastUser = user;
        }

        return _lastUserIndex;
    }

    private int ItemIndex(long item)
    {
        if (!_itemIndex.TryGetValue(item, out var itemIndex))
        {
            itemIndex = _items.Count;
            _itemIndex.Add(item, itemIndex);
            _items.Add(item);
        }

        return itemIndex;
    }

    public IEnumerator<Interaction> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private sealed class Block(int size)
    {
        private long _base = long.MinValue;
        private int[] _offsets = new int[size];
        private long[]? _wide;

        public int[] Users { get; private init; } = new int[size];

        public int[] Items { get; private init; } = new int[size];

        public float[] Values { get; private init; } = new float[size];

        public byte[] Actions { get; private init; } = new byte[size];

        public long Time(int i) => _wide is not null ? _wide[i] : _base + _offsets[i];

        public void SetTime(int i, long timestamp)
        {
            if (_wide is not null)
            {
                _wide[i] = timestamp;
                return;
            }

            if (_base == long.MinValue)
            {
                _base = timestamp;
            }

            var offset = timestamp - _base;
            if (offset is >= int.MinValue and <= int.MaxValue)
            {
                _offsets[i] = (int)offset;
                return;
            }

            // Times more than 68 years apart in one block: keep this block's times whole.
            _wide = new long[_offsets.Length];
            for (var j = 0; j < i; j++)
            {
                _wide[j] = _base + _offsets[j];
            }

            _wide[i] = timestamp;
            _offsets = [];
        }

        public Block Resized(int rows) => new(0)
        {
            Users = Users[..rows],
            Items = Items[..rows],
            Values = Values[..rows],
            Actions = Actions[..rows],
            _base = _base,
            _offsets = _wide is null ? _offsets[..rows] : [],
            _wide = _wide?[..rows],
        };
    }
}

using MessagePack;

namespace GenRec.Orleans;

/// <summary>A user session's durable state: the sequence, ordered by time, a revision bumped by every change of it, and events waiting for their item.</summary>
[MessagePackObject]
internal sealed class UserSessionState
{
    [Key(0)]
    public List<StoredEvent> Events { get; set; } = [];

    [Key(1)]
    public long Revision { get; set; }

    /// <summary>Events for items the index did not know yet, in arrival order (absent in state written before they existed).</summary>
    [Key(2)]
    public List<StoredEvent> Pending { get; set; } = [];

    /// <summary>The arrival number the next event placed in the sequence gets (absent, so 0, in state written before it existed).</summary>
    [Key(3)]
    public long NextSequence { get; set; }

    /// <summary>The store's tag of the version read or last written (<see langword="null"/>: nothing stored yet); not stored itself.</summary>
    [IgnoreMember]
    public string? ETag { get; set; }
}

/// <summary>One stored event.</summary>
[MessagePackObject]
internal sealed class StoredEvent
{
    [Key(0)]
    public long Item { get; set; }

    [Key(1)]
    public int Action { get; set; }

    [Key(2)]
    public long TimeMilliseconds { get; set; }

    [Key(3)]
    public float? Value { get; set; }

    [Key(4)]
    public string Id { get; set; } = "";

    /// <summary>The order of arrival in the sequence: events of the same time stay in it.</summary>
    [Key(5)]
    public long Sequence { get; set; }

    public BehaviourEvent ToMessage() => new(Item, (ActionType)Action, DateTimeOffset.FromUnixTimeMilliseconds(TimeMilliseconds), Value, Id);
}

/// <summary>The published model.</summary>
[MessagePackObject]
internal sealed class ModelRegistryState
{
    [Key(0)]
    public string? Version { get; set; }

    [Key(1)]
    public string? Path { get; set; }
}

/// <summary>
/// The published index of a catalogue: the current version's manifest (its chunks live in the chunk store) and the
/// previous version's chunks (kept while silos may still be loading it, deleted at the next publish).
/// </summary>
[MessagePackObject]
internal sealed class IndexState
{
    [Key(0)]
    public int Version { get; set; }

    [Key(1)]
    public string Fingerprint { get; set; } = "";

    /// <summary>The whole index, as state written before chunks existed held it; empty once moved to chunks.</summary>
    [Key(2)]
    public byte[] Bytes { get; set; } = [];

    [Key(3)]
    public List<string> Lineage { get; set; } = [];

    [Key(4)]
    public long Length { get; set; }

    [Key(5)]
    public string Sha256 { get; set; } = "";

    [Key(6)]
    public int ChunkBytes { get; set; }

    [Key(7)]
    public List<string> Chunks { get; set; } = [];

    [Key(8)]
    public List<string> PreviousChunks { get; set; } = [];

    public IndexManifest? Manifest() =>
        Version > 0 && Chunks.Count > 0 ? new IndexManifest(Version, Fingerprint, [.. Lineage], Length, Sha256, ChunkBytes, [.. Chunks]) : null;
}

/// <summary>The content of a catalogue's items registered with content, in registration order.</summary>
[MessagePackObject]
internal sealed class CatalogueState
{
    [Key(0)]
    public int Version { get; set; }

    [Key(1)]
    public int Width { get; set; }

    [Key(2)]
    public List<long> Items { get; set; } = [];

    /// <summary>Row-major content vectors, <see cref="Width"/> per item.</summary>
    [Key(3)]
    public List<float> Values { get; set; } = [];
}

namespace GenRec;

/// <summary>The kind of a behaviour event. Values are stable: they are stored and sent over the wire.</summary>
public enum ActionType : byte
{
    /// <summary>The item was shown to the user.</summary>
    Impression = 0,

    /// <summary>The user clicked or opened the item.</summary>
    Click = 1,

    /// <summary>The user watched, read or listened to the item.</summary>
    View = 2,

    /// <summary>The user rated the item (the rating is in <see cref="UserEvent.Value"/>).</summary>
    Rate = 3,

    /// <summary>The user liked or saved the item.</summary>
    Like = 4,

    /// <summary>The user added the item to a cart.</summary>
    AddToCart = 5,

    /// <summary>The user bought the item.</summary>
    Purchase = 6,

    /// <summary>The user skipped or disliked the item.</summary>
    Skip = 7,
}

/// <summary>
/// One behaviour event: the unit of a user's history, which every recall channel, ranker and
/// generative model reads.
/// </summary>
/// <param name="User">Who acted.</param>
/// <param name="Item">On which item.</param>
/// <param name="Action">What the user did.</param>
/// <param name="Timestamp">When it happened (event time, not arrival time).</param>
/// <param name="Value">An optional value carried by the action: a rating, a watch ratio, a price.</param>
public sealed record UserEvent(UserId User, ItemId Item, ActionType Action, DateTimeOffset Timestamp, float? Value = null)
{
    /// <summary>
    /// An optional id that makes the event idempotent: stores that see the same id twice keep one copy.
    /// Default: <see langword="null"/> (no de-duplication).
    /// </summary>
    public string? EventId { get; init; }

    /// <summary>Optional context of the event (surface, device, query...). Default: <see langword="null"/>.</summary>
    public IReadOnlyDictionary<string, string>? Context { get; init; }
}

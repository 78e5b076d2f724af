namespace GenRec.Data;

/// <summary>
/// One row of an interaction log: a user acted on an item at a time, optionally with a rating.
/// </summary>
/// <param name="User">The user.</param>
/// <param name="Item">The item.</param>
/// <param name="Rating">The explicit rating or the event's value (a price, a watch ratio), or <see cref="float.NaN"/> when the log has none.</param>
/// <param name="Timestamp">Seconds since the Unix epoch (UTC).</param>
/// <param name="Row">The 0-based position of the row in its source file; breaks timestamp ties.</param>
public readonly record struct Interaction(UserId User, ItemId Item, float Rating, long Timestamp, int Row)
{
    /// <summary>
    /// What the user did, when the log says (<see cref="EventLogSchema"/>); <see langword="null"/> in a rating log, where
    /// an interaction with a rating is a <see cref="ActionType.Rate"/> and one without a <see cref="ActionType.View"/>.
    /// </summary>
    public ActionType? Action { get; init; }

    /// <summary>The action: <see cref="Action"/>, or the rating log's convention when it is <see langword="null"/>.</summary>
    public ActionType EffectiveAction => Action ?? (float.IsNaN(Rating) ? ActionType.View : ActionType.Rate);

    /// <summary>The interaction's time as a <see cref="DateTimeOffset"/>.</summary>
    public DateTimeOffset Time => DateTimeOffset.FromUnixTimeSeconds(Timestamp);

    /// <summary>The interaction as a behaviour event (its <see cref="EffectiveAction"/>, with the rating or value when present).</summary>
    /// <returns>The event.</returns>
    public UserEvent ToEvent() => float.IsNaN(Rating)
        ? new UserEvent(User, Item, EffectiveAction, Time)
        : new UserEvent(User, Item, EffectiveAction, Time, Rating);

    /// <summary>
    /// The canonical chronological order: by timestamp, ties broken by the row order of the source file.
    /// </summary>
    public static IComparer<Interaction> Chronological { get; } =
        Comparer<Interaction>.Create(static (a, b) => a.Timestamp != b.Timestamp ? a.Timestamp.CompareTo(b.Timestamp) : a.Row.CompareTo(b.Row));
}

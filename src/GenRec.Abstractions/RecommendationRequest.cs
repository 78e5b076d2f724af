namespace GenRec;

/// <summary>
/// A request for recommendations: who asks, what they did before, when, and how many items they want.
/// </summary>
public sealed record RecommendationRequest
{
    /// <summary>Creates a request.</summary>
    /// <param name="user">The user asking.</param>
    /// <param name="history">The user's behaviour history, oldest first.</param>
    /// <param name="count">How many items to return; must be positive.</param>
    /// <param name="requestTime">When the request is made.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not positive.</exception>
    public RecommendationRequest(UserId user, IReadOnlyList<UserEvent> history, int count, DateTimeOffset requestTime)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        User = user;
        History = history;
        Count = count;
        RequestTime = requestTime;
    }

    /// <summary>The user asking.</summary>
    public UserId User { get; }

    /// <summary>The user's behaviour history, oldest first. May be empty (a new user).</summary>
    public IReadOnlyList<UserEvent> History { get; }

    /// <summary>How many items the caller wants.</summary>
    public int Count { get; }

    /// <summary>When the request is made; time-aware channels look only at what happened before it.</summary>
    public DateTimeOffset RequestTime { get; }

    /// <summary>
    /// Whether items already in <see cref="History"/> are removed from the result. Default: <see langword="true"/>.
    /// </summary>
    public bool ExcludeHistory { get; init; } = true;

    /// <summary>
    /// The actions whose items <see cref="ExcludeHistory"/> removes (e.g. only what the user bought, not what they were
    /// shown). Default: <see langword="null"/>, every action of the history.
    /// </summary>
    public IReadOnlySet<ActionType>? ExcludeHistoryActions { get; init; }

    /// <summary>Further items that must not be returned (already shown, out of stock...). Default: none.</summary>
    public IReadOnlySet<ItemId>? ExcludedItems { get; init; }

    /// <summary>Request context (surface, device, locale...). Default: <see langword="null"/>.</summary>
    public IReadOnlyDictionary<string, string>? Context { get; init; }

    /// <summary>
    /// Tells whether <paramref name="item"/> must not be returned for this request, by
    /// <see cref="ExcludedItems"/> or, when <see cref="ExcludeHistory"/> is set, by the history.
    /// </summary>
    /// <param name="item">The item to test.</param>
    /// <returns><see langword="true"/> when the item must be left out.</returns>
    public bool IsExcluded(ItemId item)
    {
        if (ExcludedItems is not null && ExcludedItems.Contains(item))
        {
            return true;
        }

        return ExcludeHistory && ExcludedHistoryItems.Contains(item);
    }

    /// <summary>
    /// The history items <see cref="ExcludeHistory"/> removes: those of events whose action is in
    /// <see cref="ExcludeHistoryActions"/> (all of <see cref="HistoryItems"/> when it is not set), built once on first use.
    /// </summary>
    public IReadOnlySet<ItemId> ExcludedHistoryItems
    {
        get
        {
            if (ExcludeHistoryActions is not { } actions)
            {
                return HistoryItems;
            }

            // Cached for the set it was built from: a copy made with another set (`with`) builds its own.
            if (_excludedHistoryItems is not { } cached || !ReferenceEquals(cached.Actions, actions))
            {
                _excludedHistoryItems = cached = (actions, History.Where(e => actions.Contains(e.Action)).Select(e => e.Item).ToHashSet());
            }

            return cached.Items;
        }
    }

    /// <summary>The distinct items of <see cref="History"/>, built once on first use.</summary>
    public IReadOnlySet<ItemId> HistoryItems => _historyItems ??= History.Select(e => e.Item).ToHashSet();

    private HashSet<ItemId>? _historyItems;
    private (IReadOnlySet<ActionType> Actions, HashSet<ItemId> Items)? _excludedHistoryItems;
}

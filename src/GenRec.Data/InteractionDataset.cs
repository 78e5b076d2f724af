namespace GenRec.Data;

/// <summary>
/// An interaction log with its item catalogue: the input of every split, recall channel and trainer.
/// </summary>
public sealed class InteractionDataset
{
    private readonly Dictionary<ItemId, ItemRecord> _items;

    /// <summary>Creates a dataset.</summary>
    /// <param name="interactions">The interactions, in source-file order.</param>
    /// <param name="items">Metadata of every item; every interaction's item must be here.</param>
    /// <exception cref="ArgumentException">An interaction names an item that has no record.</exception>
    public InteractionDataset(IReadOnlyList<Interaction> interactions, IEnumerable<ItemRecord> items)
    {
        ArgumentNullException.ThrowIfNull(interactions);
        ArgumentNullException.ThrowIfNull(items);
        Interactions = interactions;
        _items = ById(items);
        foreach (var interaction in interactions)
        {
            if (!_items.ContainsKey(interaction.Item))
            {
                throw new ArgumentException($"Interaction at row {interaction.Row} names item {interaction.Item}, which has no item record.", nameof(interactions));
            }
        }

        Catalogue = _items.Keys.Order().ToArray();
        Users = interactions.Select(i => i.User).Distinct().Order().ToArray();
    }

    // A reader's columns (InteractionStore): every item of the store must have a record.
    internal InteractionDataset(InteractionStore interactions, IEnumerable<ItemRecord> items)
    {
        Interactions = interactions;
        _items = ById(items);
        foreach (var item in interactions.ItemIds)
        {
            if (!_items.ContainsKey(new ItemId(item)))
            {
                throw new ArgumentException($"Item {item} has interactions but no item record.", nameof(items));
            }
        }

        Catalogue = _items.Keys.Order().ToArray();
        Users = interactions.UserIds.Order().Select(u => new UserId(u)).ToArray();
    }

    // Item records by id; a later record of the same id replaces an earlier one.
    private static Dictionary<ItemId, ItemRecord> ById(IEnumerable<ItemRecord> items)
    {
        var byId = new Dictionary<ItemId, ItemRecord>();
        foreach (var item in items)
        {
            byId[item.Id] = item;
        }

        return byId;
    }

    /// <summary>The interactions, in source-file order.</summary>
    public IReadOnlyList<Interaction> Interactions { get; }

    /// <summary>Item metadata by id.</summary>
    public IReadOnlyDictionary<ItemId, ItemRecord> Items => _items;

    /// <summary>Every item id, ascending: the catalogue that full-ranking evaluation ranks over.</summary>
    public IReadOnlyList<ItemId> Catalogue { get; }

    /// <summary>Every user id that has an interaction, ascending.</summary>
    public IReadOnlyList<UserId> Users { get; }

    /// <summary>
    /// Groups the interactions by user, each user's in <see cref="Interaction.Chronological"/> order.
    /// </summary>
    /// <returns>One sequence per user, ascending by user id.</returns>
    public IReadOnlyList<UserSequence> UserSequences()
    {
        var byUser = new Dictionary<UserId, List<Interaction>>();
        foreach (var interaction in Interactions)
        {
            if (!byUser.TryGetValue(interaction.User, out var list))
            {
                byUser[interaction.User] = list = [];
            }

            list.Add(interaction);
        }

        return byUser.OrderBy(p => p.Key)
            .Select(p =>
            {
                p.Value.Sort(Interaction.Chronological);
                return new UserSequence(p.Key, p.Value);
            })
            .ToArray();
    }
}

/// <summary>One user's interactions in chronological order.</summary>
/// <param name="User">The user.</param>
/// <param name="Interactions">The user's interactions, oldest first.</param>
public sealed record UserSequence(UserId User, IReadOnlyList<Interaction> Interactions);

using System.Globalization;
using System.Text;

namespace GenRec.Evaluation;

/// <summary>
/// The recommendation file that the shared scorer reads: one line per user, <c>userId \t itemId,itemId,...</c>,
/// best first.
/// </summary>
public static class RecommendationFile
{
    /// <summary>Writes lists, one line per user in ascending user order.</summary>
    /// <param name="path">The file to write; its folder is created if missing.</param>
    /// <param name="lists">Each user's list, best first.</param>
    public static void Write(string path, IReadOnlyDictionary<UserId, IReadOnlyList<ItemId>> lists)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(lists);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
        }

        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
        foreach (var (user, items) in lists.OrderBy(p => p.Key))
        {
            writer.Write(user.Value.ToString(CultureInfo.InvariantCulture));
            writer.Write('\t');
            for (var i = 0; i < items.Count; i++)
            {
                if (i > 0)
                {
                    writer.Write(',');
                }

                writer.Write(items[i].Value.ToString(CultureInfo.InvariantCulture));
            }

            writer.Write('\n');
        }
    }

    /// <summary>Reads a recommendation file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>Each user's list, best first.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">A line is malformed or a user appears twice; the message names the line.</exception>
    public static IReadOnlyDictionary<UserId, IReadOnlyList<ItemId>> Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The recommendation file '{path}' does not exist.", path);
        }

        var lists = new Dictionary<UserId, IReadOnlyList<ItemId>>();
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (line.Length == 0)
            {
                continue;
            }

            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            if (tab < 0 || !long.TryParse(line.AsSpan(0, tab), NumberStyles.Integer, CultureInfo.InvariantCulture, out var user))
            {
                throw new InvalidDataException($"{path} line {number}: expected 'userId<TAB>item,item,...'.");
            }

            var items = new List<ItemId>();
            foreach (var part in line[(tab + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                items.Add(long.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var item)
                    ? new ItemId(item)
                    : throw new InvalidDataException($"{path} line {number}: '{part}' is not an item id."));
            }

            if (!lists.TryAdd(new UserId(user), items))
            {
                throw new InvalidDataException($"{path} line {number}: user {user} appears twice.");
            }
        }

        return lists;
    }
}

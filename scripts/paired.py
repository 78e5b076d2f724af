"""Per-user hits and paired differences of two recommendation lists, for the cold-start tables of the scripts.

Lists are the files `genrec eval --recs-out` writes (user TAB comma-separated items); targets are the shared split's
test targets (the cold-start split keeps the canonical ones). Differences are per-user means with 95 % normal
intervals; * marks an interval that excludes 0.
"""
import math
import os


def test_targets(scorer):
    """The canonical test target of every user, from the split beside the shared scorer."""
    split_dir = os.path.join(os.path.dirname(scorer), "split")
    targets = {}
    for line in open(os.path.join(split_dir, "test.tsv")):
        u, i, _ = line.rstrip("\n").split("\t")
        targets[u] = i
    return targets


def per_user(path, targets):
    """HR@50 and NDCG@10 of every user of a list file."""
    hr50, ndcg10 = {}, {}
    for line in open(path):
        u, items = line.rstrip("\n").split("\t")
        ranked = items.split(",")
        rank = ranked.index(targets[u]) + 1 if targets[u] in ranked else 0
        hr50[u] = 1.0 if 0 < rank <= 50 else 0.0
        ndcg10[u] = 1 / math.log2(rank + 1) if 0 < rank <= 10 else 0.0
    return hr50, ndcg10


def paired(a, b, users):
    """Mean of a - b over users, with its 95 % interval."""
    d = [a[u] - b[u] for u in users]
    mean = sum(d) / len(d)
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / (len(d) - 1) / len(d))
    star = "*" if abs(mean) > 1.96 * se else ""
    return f"{mean:+.4f} [{mean - 1.96 * se:+.4f}, {mean + 1.96 * se:+.4f}]{star}"

namespace GenRec.SemanticIds;

/// <summary>
/// k-means on row-major points: k-means++ initialisation on a sample, Lloyd iterations over every point in
/// parallel, empty clusters re-seeded from the worst-fitted points, and an optional balanced assignment where each
/// cluster takes at most ⌈n / k⌉ points (nearest-first greedy over each point's closest clusters).
/// </summary>
internal sealed class KMeans
{
    private const int InitSample = 32_768;

    public required int Clusters { get; init; }

    public required int MaxIterations { get; init; }

    public required bool Balanced { get; init; }

    public required int Seed { get; init; }

    public int Threads { get; init; } = Environment.ProcessorCount;

    public double Tolerance { get; init; } = 1e-4;

    /// <summary>Called after each iteration with (iteration, max iterations).</summary>
    public Action<int, int>? OnIteration { get; init; }

    /// <summary>Fits centroids and returns them with each point's cluster.</summary>
    public (float[] Centroids, int[] Assignment) Fit(float[] points, int n, int d, CancellationToken cancellationToken = default)
    {
        var k = Clusters;
        var random = new Random(Seed);
        var centroids = InitPlusPlus(points, n, d, k, random);
        var assignment = new int[n];
        Array.Fill(assignment, -1);
        var distance = new float[n];
        for (var iteration = 1; iteration <= MaxIterations; iteration++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var changed = Balanced
                ? AssignBalanced(points, n, d, centroids, k, assignment, distance)
                : AssignNearest(points, n, d, centroids, k, assignment, distance);
            Update(points, n, d, centroids, k, assignment, distance, random);
            OnIteration?.Invoke(iteration, MaxIterations);
            if (changed <= Tolerance * n)
            {
                break;
            }
        }

        // The codes must refer to the final centroids, not to the ones before the last update.
        if (Balanced)
        {
            AssignBalanced(points, n, d, centroids, k, assignment, distance);
        }
        else
        {
            AssignNearest(points, n, d, centroids, k, assignment, distance);
        }

        return (centroids, assignment);
    }

    private static float[] InitPlusPlus(float[] points, int n, int d, int k, Random random)
    {
        var sample = n <= InitSample ? Enumerable.Range(0, n).ToArray() : Enumerable.Range(0, InitSample).Select(_ => random.Next(n)).ToArray();
        var m = sample.Length;
        var centroids = new float[k * d];
        var nearest = new float[m];
        Array.Fill(nearest, float.PositiveInfinity);
        var first = sample[random.Next(m)];
        points.AsSpan(first * d, d).CopyTo(centroids.AsSpan(0, d));
        for (var c = 1; c < k; c++)
        {
            var previous = centroids.AsSpan((c - 1) * d, d);
            double total = 0;
            for (var s = 0; s < m; s++)
            {
                var dist = VectorMath.SquaredDistance(points.AsSpan(sample[s] * d, d), previous);
                if (dist < nearest[s])
                {
                    nearest[s] = dist;
                }

                total += nearest[s];
            }

            // Sample proportionally to squared distance; with every point already a centroid, any point will do.
            var pick = sample[random.Next(m)];
            if (total > 0)
            {
                var target = random.NextDouble() * total;
                double acc = 0;
                for (var s = 0; s < m; s++)
                {
                    acc += nearest[s];
                    if (acc >= target)
                    {
                        pick = sample[s];
                        break;
                    }
                }
            }

            points.AsSpan(pick * d, d).CopyTo(centroids.AsSpan(c * d, d));
        }

        return centroids;
    }

    private static float[] Norms(float[] centroids, int k, int d)
    {
        var norms = new float[k];
        for (var c = 0; c < k; c++)
        {
            var row = centroids.AsSpan(c * d, d);
            norms[c] = VectorMath.Dot(row, row);
        }

        return norms;
    }

    private int AssignNearest(float[] points, int n, int d, float[] centroids, int k, int[] assignment, float[] distance)
    {
        var norms = Norms(centroids, k, d);
        var transposed = VectorMath.Transpose(centroids, k, d);
        var changed = 0;
        Parallel.For(0, Chunks(n), new ParallelOptions { MaxDegreeOfParallelism = Threads }, chunk =>
        {
            var (from, to) = ChunkRange(chunk, n);
            var scores = new float[k];
            var local = 0;
            for (var i = from; i < to; i++)
            {
                var x = points.AsSpan(i * d, d);
                VectorMath.Scores(x, transposed, norms, scores);
                var best = 0;
                for (var c = 1; c < k; c++)
                {
                    if (scores[c] < scores[best])
                    {
                        best = c;
                    }
                }

                if (assignment[i] != best)
                {
                    local++;
                    assignment[i] = best;
                }

                distance[i] = Math.Max(0, scores[best] + VectorMath.Dot(x, x));
            }

            Interlocked.Add(ref changed, local);
        });
        return changed;
    }

    private int AssignBalanced(float[] points, int n, int d, float[] centroids, int k, int[] assignment, float[] distance)
    {
        var norms = Norms(centroids, k, d);
        var capacity = (n + k - 1) / k;
        var top = Math.Min(k, n > 200_000 ? 8 : 16);
        var keys = new float[(long)n * top];
        var values = new long[(long)n * top];
        var transposed = VectorMath.Transpose(centroids, k, d);
        Parallel.For(0, Chunks(n), new ParallelOptions { MaxDegreeOfParallelism = Threads }, chunk =>
        {
            var (from, to) = ChunkRange(chunk, n);
            var scores = new float[k];
            var bestScores = new float[top];
            var bestClusters = new int[top];
            for (var i = from; i < to; i++)
            {
                var x = points.AsSpan(i * d, d);
                VectorMath.Scores(x, transposed, norms, scores);
                var xx = VectorMath.Dot(x, x);

                // The `top` smallest scores by insertion into a short sorted list.
                var filled = 0;
                for (var c = 0; c < k; c++)
                {
                    var score = scores[c];
                    if (filled == top && score >= bestScores[top - 1])
                    {
                        continue;
                    }

                    var at = filled < top ? filled++ : top - 1;
                    while (at > 0 && bestScores[at - 1] > score)
                    {
                        bestScores[at] = bestScores[at - 1];
                        bestClusters[at] = bestClusters[at - 1];
                        at--;
                    }

                    bestScores[at] = score;
                    bestClusters[at] = c;
                }

                for (var t = 0; t < top; t++)
                {
                    keys[((long)i * top) + t] = Math.Max(0, bestScores[t] + xx);
                    values[((long)i * top) + t] = ((long)i << 20) | (uint)bestClusters[t];
                }
            }
        });

        Array.Sort(keys, values);
        var load = new int[k];
        var next = new int[n];
        Array.Fill(next, -1);
        for (long e = 0; e < keys.LongLength; e++)
        {
            var i = (int)(values[e] >> 20);
            var c = (int)(values[e] & 0xFFFFF);
            if (next[i] < 0 && load[c] < capacity)
            {
                next[i] = c;
                distance[i] = keys[e];
                load[c]++;
            }
        }

        // Points whose close clusters all filled up take the nearest cluster with room.
        for (var i = 0; i < n; i++)
        {
            if (next[i] >= 0)
            {
                continue;
            }

            var x = points.AsSpan(i * d, d);
            var best = -1;
            var bestDist = float.PositiveInfinity;
            for (var c = 0; c < k; c++)
            {
                if (load[c] >= capacity)
                {
                    continue;
                }

                var dist = VectorMath.SquaredDistance(x, centroids.AsSpan(c * d, d));
                if (dist < bestDist)
                {
                    (best, bestDist) = (c, dist);
                }
            }

            next[i] = best;
            distance[i] = bestDist;
            load[best]++;
        }

        var changed = 0;
        for (var i = 0; i < n; i++)
        {
            if (assignment[i] != next[i])
            {
                changed++;
                assignment[i] = next[i];
            }
        }

        return changed;
    }

    private void Update(float[] points, int n, int d, float[] centroids, int k, int[] assignment, float[] distance, Random random)
    {
        var chunks = Chunks(n);
        var partialSums = new double[chunks][];
        var partialCounts = new int[chunks][];
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = Threads }, chunk =>
        {
            var (from, to) = ChunkRange(chunk, n);
            var sums = new double[k * d];
            var counts = new int[k];
            for (var i = from; i < to; i++)
            {
                var c = assignment[i];
                counts[c]++;
                var x = points.AsSpan(i * d, d);
                var row = sums.AsSpan(c * d, d);
                for (var j = 0; j < d; j++)
                {
                    row[j] += x[j];
                }
            }

            partialSums[chunk] = sums;
            partialCounts[chunk] = counts;
        });

        var total = new double[k * d];
        var count = new int[k];
        for (var chunk = 0; chunk < chunks; chunk++)
        {
            for (var j = 0; j < total.Length; j++)
            {
                total[j] += partialSums[chunk][j];
            }

            for (var c = 0; c < k; c++)
            {
                count[c] += partialCounts[chunk][c];
            }
        }

        // Empty clusters restart at the points that are fitted worst (dead-code reset).
        var worst = count.Any(c => c == 0)
            ? Enumerable.Range(0, n).OrderByDescending(i => distance[i]).ThenBy(_ => random.Next()).Take(k).GetEnumerator()
            : null;
        for (var c = 0; c < k; c++)
        {
            var row = centroids.AsSpan(c * d, d);
            if (count[c] > 0)
            {
                for (var j = 0; j < d; j++)
                {
                    row[j] = (float)(total[(c * d) + j] / count[c]);
                }
            }
            else if (worst is not null && worst.MoveNext())
            {
                points.AsSpan(worst.Current * d, d).CopyTo(row);
            }
        }

        worst?.Dispose();
    }

    private const int ChunkSize = 4096;

    private static int Chunks(int n) => (n + ChunkSize - 1) / ChunkSize;

    private static (int From, int To) ChunkRange(int chunk, int n) => (chunk * ChunkSize, Math.Min(n, (chunk + 1) * ChunkSize));
}

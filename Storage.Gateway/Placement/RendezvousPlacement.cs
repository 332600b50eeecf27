namespace Storage.Gateway.Placement;

/// <summary>A node that may receive parts, weighted by how much room it has left.</summary>
public readonly record struct PlacementCandidate(string NodeId, double Weight);

/// <summary>
/// Capacity-weighted rendezvous (highest-random-weight) hashing: every node gets the score
/// <c>weight / -ln(u)</c> with <c>u</c> a uniform hash of (object identity, node id), and the best-scoring nodes
/// win. The same identity and nodes give the same answer; adding a node only takes the objects for which the
/// new node scores best; a node with twice the free room wins about twice as often.
/// </summary>
public static class RendezvousPlacement
{
    /// <summary>All candidates, best first, for this identity.</summary>
    public static string[] Rank(string identity, IReadOnlyList<PlacementCandidate> candidates)
    {
        var identityHash = StableHash.Of(identity);
        var scored = new (double Score, string NodeId)[candidates.Count];
        for (var i = 0; i < candidates.Count; i++)
        {
            var candidate = candidates[i];
            var u = StableHash.ToUnitInterval(StableHash.Mix(identityHash ^ StableHash.Of(candidate.NodeId)));
            scored[i] = (Math.Max(candidate.Weight, double.Epsilon) / -Math.Log(u), candidate.NodeId);
        }

        // Ties (equal scores are practically impossible) fall back to node id so the order stays deterministic.
        Array.Sort(scored, static (a, b) => b.Score != a.Score ? b.Score.CompareTo(a.Score) : string.CompareOrdinal(a.NodeId, b.NodeId));
        return Array.ConvertAll(scored, s => s.NodeId);
    }

    /// <summary>
    /// One node per shard: distinct nodes while there are enough, otherwise the ranking is reused round-robin,
    /// so shards double up as evenly as possible.
    /// </summary>
    public static string[] Assign(string identity, IReadOnlyList<PlacementCandidate> candidates, int shards)
    {
        if (candidates.Count == 0)
        {
            throw new ArgumentException("No candidate nodes.", nameof(candidates));
        }

        var ranked = Rank(identity, candidates);
        var assignment = new string[shards];
        for (var shard = 0; shard < shards; shard++)
        {
            assignment[shard] = ranked[shard % ranked.Length];
        }

        return assignment;
    }
}

/// <summary>A hash that is the same in every process and version (string.GetHashCode is randomised per process).</summary>
public static class StableHash
{
    public static ulong Of(string value)
    {
        // FNV-1a over UTF-16 code units, then a SplitMix64 finaliser for avalanche.
        var hash = 0xcbf29ce484222325UL;
        foreach (var c in value)
        {
            hash = (hash ^ c) * 0x100000001b3UL;
        }

        return Mix(hash);
    }

    public static ulong Mix(ulong x)
    {
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9UL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebUL;
        x ^= x >> 31;
        return x;
    }

    /// <summary>Maps to (0, 1), never 0, so -ln(u) is finite and positive.</summary>
    public static double ToUnitInterval(ulong hash) => ((hash >> 11) + 0.5) / (1UL << 53);
}

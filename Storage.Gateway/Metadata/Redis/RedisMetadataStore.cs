using System.Globalization;
using System.Text;

namespace Storage.Gateway.Metadata.Redis;

/// <summary>
/// Metadata in Redis, for any number of gateway replicas. Per bucket, a hash holds the object records and a
/// sorted set with equal scores holds the keys, so a listing page is one <c>ZRANGEBYLEX … LIMIT</c>: O(log N +
/// page) however many keys the bucket has. Every change that touches several keys is one Lua script (atomic in
/// Redis); commits and deletes compare the record they replace, and retry if another gateway got there first.
/// </summary>
public sealed class RedisMetadataStore(RedisConnection redis, string keyPrefix = RedisMetadataStore.DefaultKeyPrefix) : IMetadataStore
{
    public const string DefaultKeyPrefix = "storage:";

    private const int MaxCompareAndSwapAttempts = 32;

    // The object scripts share one argument layout. KEYS: 1 buckets, 2 the bucket's records, 3 its key index,
    // 4 reclaims, 5 reclaims by due time, 6.. the script's own. ARGV: 1 bucket, 2 key, 3 new record, 4 the record it
    // must replace ('' for none), 5-7 the reclaim entry for the replaced parts (id, json, due; '' for none), 8.. its own.
    private const string CheckTarget = """
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'NOBUCKET' end
        if (redis.call('HGET', KEYS[2], ARGV[2]) or '') ~= ARGV[4] then return 'CONFLICT' end

        """;

    private const string WriteTarget = """

        redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
        redis.call('ZADD', KEYS[3], 0, ARGV[2])
        if ARGV[5] ~= '' then
          redis.call('HSET', KEYS[4], ARGV[5], ARGV[6])
          redis.call('ZADD', KEYS[5], ARGV[7], ARGV[5])
        end
        return 'OK'
        """;

    /// <summary>A commit: also removes the write intents of the new segments (ARGV 8..) and adds usage (KEYS 6, 7).</summary>
    private static readonly RedisScript Commit = new(CheckTarget + """
        local i = 9
        for _ = 1, tonumber(ARGV[8]) do
          redis.call('HDEL', KEYS[4], ARGV[i])
          redis.call('ZREM', KEYS[5], ARGV[i])
          i = i + 1
        end
        local usage = tonumber(ARGV[i])
        i = i + 1
        for _ = 1, usage do
          redis.call('HINCRBY', KEYS[6], ARGV[i], ARGV[i + 1])
          redis.call('HINCRBY', KEYS[7], ARGV[i], ARGV[i + 2])
          i = i + 3
        end
        """ + WriteTarget);

    /// <summary>An assembled commit: first checks and removes the source records (KEYS 6, 7; ARGV 8.. key and segment id pairs).</summary>
    private static readonly RedisScript Assemble = new(CheckTarget + """
        local sources = tonumber(ARGV[8])
        for i = 0, sources - 1 do
          local current = redis.call('HGET', KEYS[6], ARGV[9 + 2 * i])
          if not current then return 'CHANGED' end
          local segments = cjson.decode(current).segments
          local id = ''
          if segments and #segments > 0 then id = segments[1].id end
          if id ~= ARGV[10 + 2 * i] then return 'CHANGED' end
        end
        for i = 0, sources - 1 do
          redis.call('HDEL', KEYS[6], ARGV[9 + 2 * i])
          redis.call('ZREM', KEYS[7], ARGV[9 + 2 * i])
        end
        """ + WriteTarget);

    private static readonly RedisScript Lease = new("""
        local holder = redis.call('GET', KEYS[1])
        if holder and holder ~= ARGV[1] then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """);

    private static readonly RedisScript ReleaseLease = new("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """);

    /// <summary>KEYS: 1 epochs, 2 verified epochs. ARGV: 1 node, 2 expected epoch ('' for none), 3 new epoch, 4 '1' when verified at once.</summary>
    private static readonly RedisScript ChangeEpoch = new("""
        if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2] then return 0 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
        if ARGV[4] == '1' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) else redis.call('HDEL', KEYS[2], ARGV[1]) end
        return 1
        """);

    private static readonly RedisScript MarkVerified = new("""
        if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
        return 1
        """);

    private static readonly RedisScript Delete = new("""
        local current = redis.call('HGET', KEYS[1], ARGV[1])
        if not current then return 'MISSING' end
        if current ~= ARGV[2] then return 'CONFLICT' end
        redis.call('HDEL', KEYS[1], ARGV[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        if ARGV[3] ~= '' then
          redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
          redis.call('ZADD', KEYS[4], ARGV[5], ARGV[3])
        end
        return 'OK'
        """);

    private static readonly RedisScript DeleteBucket = new("""
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'NOTFOUND' end
        if redis.call('ZCARD', KEYS[2]) > 0 then return 'NOTEMPTY' end
        redis.call('HDEL', KEYS[1], ARGV[1])
        return 'DELETED'
        """);

    private static readonly RedisScript Register = new("""
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
        return 1
        """);

    private static readonly RedisScript Complete = new("""
        if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
        redis.call('ZREM', KEYS[2], ARGV[1])
        local i = 3
        for _ = 1, tonumber(ARGV[2]) do
          redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1])
          redis.call('HINCRBY', KEYS[4], ARGV[i], ARGV[i + 2])
          i = i + 3
        end
        return 1
        """);

    private string Buckets => keyPrefix + "buckets";

    private string Nodes => keyPrefix + "nodes";

    private string NodeEpochs => keyPrefix + "node-epochs";

    private string NodeVerified => keyPrefix + "node-verified";

    private string UsageBytes => keyPrefix + "usage:bytes";

    private string UsageParts => keyPrefix + "usage:parts";

    private string Reclaims => keyPrefix + "reclaims";

    private string ReclaimsDue => keyPrefix + "reclaims:due";

    public Task InitializeAsync(CancellationToken cancellationToken) => PingAsync(cancellationToken);

    public override string ToString() => $"Redis at {redis.Options}, keys under '{keyPrefix}'";

    public Task PingAsync(CancellationToken cancellationToken) => redis.ExecuteAsync(cancellationToken, "PING");

    public async Task<bool> CreateBucketAsync(BucketRecord bucket, CancellationToken cancellationToken) =>
        (await redis.ExecuteAsync(cancellationToken, "HSETNX", Buckets, bucket.Name, bucket.CreatedAt.ToUnixTimeMilliseconds())).AsInteger() == 1;

    public async Task<BucketRecord?> GetBucketAsync(string name, CancellationToken cancellationToken)
    {
        var created = (await redis.ExecuteAsync(cancellationToken, "HGET", Buckets, name)).AsString();
        return created is null ? null : new BucketRecord(name, FromMilliseconds(created));
    }

    public async Task<IReadOnlyList<BucketRecord>> ListBucketsAsync(CancellationToken cancellationToken)
    {
        var pairs = (await redis.ExecuteAsync(cancellationToken, "HGETALL", Buckets)).AsArray();
        return [.. Enumerable.Range(0, pairs.Count / 2)
            .Select(i => new BucketRecord(pairs[2 * i].AsString()!, FromMilliseconds(pairs[(2 * i) + 1].AsString()!)))
            .OrderBy(b => b.Name, StringComparer.Ordinal)];
    }

    public async Task<BucketDeleteResult> DeleteBucketAsync(string name, CancellationToken cancellationToken) =>
        (await DeleteBucket.RunAsync(redis, [Buckets, KeysOf(name)], [name], cancellationToken)).AsString() switch
        {
            "DELETED" => BucketDeleteResult.Deleted,
            "NOTEMPTY" => BucketDeleteResult.NotEmpty,
            _ => BucketDeleteResult.NotFound,
        };

    public async Task<ObjectRecord?> GetObjectAsync(string bucket, string key, CancellationToken cancellationToken) =>
        Parse((await redis.ExecuteAsync(cancellationToken, "HGET", ObjectsOf(bucket), key)).AsString());

    public async Task<ObjectRecord?> CommitObjectAsync(ObjectRecord record, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken)
    {
        var json = MetadataJsonContext.Serialize(record);

        // The condition is checked against the version read for the swap, which the script replaces only if unchanged.
        var (outcome, previous) = await SwapAsync(
            Commit,
            record.Bucket,
            record.Key,
            replaced =>
            {
                WriteConditionFailedException.ThrowUnlessAllowed(condition, replaced);
                return CommitSwap(json, ReclaimOf(replaced, reclaimAt), [.. record.Segments.Select(s => s.Id)], record.Segments.Parts());
            },
            cancellationToken);
        return outcome == SwapOutcome.Applied ? previous : throw new BucketNotFoundException(record.Bucket);
    }

    public async Task<bool> CommitAssembledObjectAsync(ObjectRecord record, string sourceBucket, IReadOnlyList<AssembledSource> sources, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken)
    {
        var json = MetadataJsonContext.Serialize(record);
        RedisArg[] sourceArguments = [sources.Count, .. sources.SelectMany(s => new RedisArg[] { s.Key, s.SegmentId ?? string.Empty })];
        var (outcome, _) = await SwapAsync(
            Assemble,
            record.Bucket,
            record.Key,
            replaced =>
            {
                WriteConditionFailedException.ThrowUnlessAllowed(condition, replaced);
                return new Swap(json, ReclaimOf(replaced, reclaimAt), [ObjectsOf(sourceBucket), KeysOf(sourceBucket)], sourceArguments);
            },
            cancellationToken);
        return outcome switch
        {
            SwapOutcome.Applied => true,
            SwapOutcome.NoBucket => throw new BucketNotFoundException(record.Bucket),
            _ => false,
        };
    }

    public async Task<bool> ReplacePartAsync(PartMove move, DateTimeOffset reclaimAt, CancellationToken cancellationToken) =>
        (await SwapAsync(
            Commit,
            move.Bucket,
            move.Key,
            previous => previous?.SegmentForMove(move) is { } segment
                ? CommitSwap(
                    MetadataJsonContext.Serialize(previous!.WithPartMoved(move.SegmentId, move.Shard, move.ToNode)),
                    new ReclaimEntry($"move-{Guid.NewGuid():N}", [segment.Part(move.Shard)], reclaimAt, Accounted: true, move.Bucket, move.Key),
                    [],
                    [segment.Part(move.Shard) with { NodeId = move.ToNode }])
                : null,
            cancellationToken)).Outcome == SwapOutcome.Applied;

    public async Task<bool> TryAcquireLeaseAsync(string name, string holder, TimeSpan duration, CancellationToken cancellationToken) =>
        (await Lease.RunAsync(redis, [$"{keyPrefix}lease:{name}"], [holder, (long)duration.TotalMilliseconds], cancellationToken)).AsInteger() == 1;

    public async Task<ObjectRecord?> DeleteObjectAsync(string bucket, string key, DateTimeOffset reclaimAt, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxCompareAndSwapAttempts; attempt++)
        {
            var previousJson = (await redis.ExecuteAsync(cancellationToken, "HGET", ObjectsOf(bucket), key)).AsString();
            if (previousJson is null)
            {
                return null;
            }

            var previous = Parse(previousJson)!;
            var reclaim = ReclaimOf(previous, reclaimAt);
            var outcome = (await Delete.RunAsync(
                redis,
                [ObjectsOf(bucket), KeysOf(bucket), Reclaims, ReclaimsDue],
                [key, previousJson, reclaim?.Id ?? string.Empty, reclaim is null ? string.Empty : MetadataJsonContext.Serialize(reclaim), reclaimAt.ToUnixTimeMilliseconds()],
                cancellationToken)).AsString();
            switch (outcome)
            {
                case "OK":
                    return previous;
                case "MISSING":
                    return null;
            }
        }

        throw new RedisConnectionException($"Deleting '{bucket}/{key}' lost {MaxCompareAndSwapAttempts} races in a row; try again.");
    }

    public async Task<IReadOnlyList<ObjectRecord>> ListObjectsAsync(string bucket, string prefix, string? startAfter, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        var prefixBytes = Encoding.UTF8.GetBytes(prefix);

        // Lexicographic range on UTF-8 bytes: from the prefix (or just after startAfter) to the prefix followed
        // by 0xFF, a byte that never occurs in UTF-8, so every key with the prefix and nothing else is in range.
        byte[] from = startAfter is not null && Encoding.UTF8.GetBytes(startAfter).AsSpan().SequenceCompareTo(prefixBytes) >= 0
            ? [(byte)'(', .. Encoding.UTF8.GetBytes(startAfter)]
            : [(byte)'[', .. prefixBytes];
        byte[] to = prefix.Length == 0 ? "+"u8.ToArray() : [(byte)'(', .. prefixBytes, 0xFF];
        var keys = (await redis.ExecuteAsync(cancellationToken, "ZRANGEBYLEX", KeysOf(bucket), from, to, "LIMIT", 0, limit)).AsArray();
        if (keys.Count == 0)
        {
            return [];
        }

        var records = (await redis.ExecuteAsync([("HMGET"), ObjectsOf(bucket), .. keys.Select(k => (RedisArg)k.Bytes!)], cancellationToken)).AsArray();
        return [.. records.Select(r => Parse(r.AsString())).OfType<ObjectRecord>()];
    }

    public Task RegisterWriteAsync(ReclaimEntry intent, CancellationToken cancellationToken) =>
        Register.RunAsync(redis, [Reclaims, ReclaimsDue], [intent.Id, MetadataJsonContext.Serialize(intent), intent.Due.ToUnixTimeMilliseconds()], cancellationToken);

    public async Task<IReadOnlyList<ReclaimEntry>> GetDueReclaimsAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        var ids = (await redis.ExecuteAsync(cancellationToken, "ZRANGEBYSCORE", ReclaimsDue, "-inf", now.ToUnixTimeMilliseconds(), "LIMIT", 0, limit)).AsArray();
        if (ids.Count == 0)
        {
            return [];
        }

        var entries = (await redis.ExecuteAsync([("HMGET"), Reclaims, .. ids.Select(i => (RedisArg)i.Bytes!)], cancellationToken)).AsArray();
        return [.. entries.Select(e => e.AsString()).OfType<string>().Select(MetadataJsonContext.Deserialize<ReclaimEntry>)];
    }

    public Task CompleteReclaimAsync(ReclaimEntry entry, CancellationToken cancellationToken) =>
        Complete.RunAsync(redis, [Reclaims, ReclaimsDue, UsageBytes, UsageParts], [entry.Id, .. entry.Accounted ? UsageArguments(entry.Parts, -1) : [0]], cancellationToken);

    public Task ReleaseLeaseAsync(string name, string holder, CancellationToken cancellationToken) =>
        ReleaseLease.RunAsync(redis, [$"{keyPrefix}lease:{name}"], [holder], cancellationToken);

    public async Task<IReadOnlyDictionary<string, NodeEpoch>> GetNodeEpochsAsync(CancellationToken cancellationToken)
    {
        var epochs = Strings((await redis.ExecuteAsync(cancellationToken, "HGETALL", NodeEpochs)).AsArray());
        var verified = Strings((await redis.ExecuteAsync(cancellationToken, "HGETALL", NodeVerified)).AsArray());
        return epochs.ToDictionary(e => e.Key, e => new NodeEpoch(e.Key, e.Value, verified.GetValueOrDefault(e.Key)), StringComparer.Ordinal);
    }

    public async Task<bool> ChangeNodeEpochAsync(string nodeId, string? expected, string epoch, bool verified, CancellationToken cancellationToken) =>
        (await ChangeEpoch.RunAsync(redis, [NodeEpochs, NodeVerified], [nodeId, expected ?? string.Empty, epoch, verified ? "1" : "0"], cancellationToken)).AsInteger() == 1;

    public async Task<bool> MarkNodeVerifiedAsync(string nodeId, string epoch, CancellationToken cancellationToken) =>
        (await MarkVerified.RunAsync(redis, [NodeEpochs, NodeVerified], [nodeId, epoch], cancellationToken)).AsInteger() == 1;

    public async Task<bool> AddNodeAsync(NodeRecord node, CancellationToken cancellationToken) =>
        (await redis.ExecuteAsync(cancellationToken, "HSETNX", Nodes, node.Id, MetadataJsonContext.Serialize(node))).AsInteger() == 1;

    public async Task<IReadOnlyList<NodeRecord>> ListNodesAsync(CancellationToken cancellationToken) =>
        [.. (await redis.ExecuteAsync(cancellationToken, "HVALS", Nodes)).AsArray()
            .Select(n => MetadataJsonContext.Deserialize<NodeRecord>(n.AsString()!))
            .OrderBy(n => n.AddedAt)
            .ThenBy(n => n.Id, StringComparer.Ordinal)];

    public async Task<IReadOnlyDictionary<string, NodeUsage>> GetNodeUsageAsync(CancellationToken cancellationToken)
    {
        var bytes = Pairs((await redis.ExecuteAsync(cancellationToken, "HGETALL", UsageBytes)).AsArray());
        var parts = Pairs((await redis.ExecuteAsync(cancellationToken, "HGETALL", UsageParts)).AsArray());
        return bytes.Keys.Union(parts.Keys).ToDictionary(
            node => node,
            node => new NodeUsage(node, bytes.GetValueOrDefault(node), parts.GetValueOrDefault(node)),
            StringComparer.Ordinal);
    }

    /// <summary>
    /// Compare-and-swap of one object record: reads it, asks <paramref name="plan"/> for the replacement (null:
    /// give up), and runs <paramref name="script"/>, which applies it only if the record is still the one read;
    /// retries when another gateway changed it first.
    /// </summary>
    private async Task<(SwapOutcome Outcome, ObjectRecord? Previous)> SwapAsync(RedisScript script, string bucket, string key, Func<ObjectRecord?, Swap?> plan, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxCompareAndSwapAttempts; attempt++)
        {
            var previousJson = (await redis.ExecuteAsync(cancellationToken, "HGET", ObjectsOf(bucket), key)).AsString();
            var previous = Parse(previousJson);
            if (plan(previous) is not { } swap)
            {
                return (SwapOutcome.Declined, previous);
            }

            RedisArg[] arguments =
            [
                bucket, key, swap.RecordJson, previousJson ?? string.Empty,
                swap.Reclaim?.Id ?? string.Empty, swap.Reclaim is null ? string.Empty : MetadataJsonContext.Serialize(swap.Reclaim), swap.Reclaim?.Due.ToUnixTimeMilliseconds() ?? 0,
                .. swap.ExtraArguments,
            ];
            switch ((await script.RunAsync(redis, [Buckets, ObjectsOf(bucket), KeysOf(bucket), Reclaims, ReclaimsDue, .. swap.ExtraKeys], arguments, cancellationToken)).AsString())
            {
                case "OK":
                    return (SwapOutcome.Applied, previous);
                case "NOBUCKET":
                    return (SwapOutcome.NoBucket, previous);
                case "CHANGED":
                    return (SwapOutcome.Declined, previous);
            }
        }

        throw new RedisConnectionException($"Updating '{bucket}/{key}' lost {MaxCompareAndSwapAttempts} races in a row; try again.");
    }

    /// <summary>A swap by the Commit script: completes the write intents of <paramref name="segmentIds"/> and accounts <paramref name="addedParts"/>.</summary>
    private Swap CommitSwap(string recordJson, ReclaimEntry? reclaim, IReadOnlyList<string> segmentIds, IEnumerable<PartLocation> addedParts) =>
        new(recordJson, reclaim, [UsageBytes, UsageParts], [segmentIds.Count, .. segmentIds.Select(id => (RedisArg)id), .. UsageArguments(addedParts, +1)]);

    /// <summary>Per node: id, bytes and part count of the parts, times <paramref name="sign"/>, preceded by the node count.</summary>
    private static RedisArg[] UsageArguments(IEnumerable<PartLocation> parts, int sign)
    {
        var perNode = parts.GroupBy(p => p.NodeId).ToArray();
        return [perNode.Length, .. perNode.SelectMany(g => new RedisArg[] { g.Key, sign * g.Sum(p => p.Length), sign * g.Count() })];
    }

    private enum SwapOutcome
    {
        Applied,

        /// <summary>The plan gave up, or the script found its preconditions changed.</summary>
        Declined,
        NoBucket,
    }

    /// <summary>The new record, the parts it releases, and the script's own keys and arguments (KEYS 6.., ARGV 8..).</summary>
    private sealed record Swap(string RecordJson, ReclaimEntry? Reclaim, RedisArg[] ExtraKeys, RedisArg[] ExtraArguments);

    private static ReclaimEntry? ReclaimOf(ObjectRecord? replaced, DateTimeOffset reclaimAt) =>
        replaced is { Segments.Count: > 0 } ? ReclaimEntry.ForSegments(replaced.Segments, reclaimAt, accounted: true) : null;

    private static ObjectRecord? Parse(string? json) => json is null ? null : MetadataJsonContext.Deserialize<ObjectRecord>(json);

    private static Dictionary<string, long> Pairs(IReadOnlyList<RedisReply> flat) =>
        Enumerable.Range(0, flat.Count / 2).ToDictionary(i => flat[2 * i].AsString()!, i => flat[(2 * i) + 1].AsInteger(), StringComparer.Ordinal);

    private static Dictionary<string, string> Strings(IReadOnlyList<RedisReply> flat) =>
        Enumerable.Range(0, flat.Count / 2).ToDictionary(i => flat[2 * i].AsString()!, i => flat[(2 * i) + 1].AsString()!, StringComparer.Ordinal);

    private static DateTimeOffset FromMilliseconds(string text) =>
        DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(text, CultureInfo.InvariantCulture));

    private string ObjectsOf(string bucket) => $"{keyPrefix}objects:{bucket}";

    private string KeysOf(string bucket) => $"{keyPrefix}keys:{bucket}";
}

using StackExchange.Redis;

namespace Storage.Gateway.Metadata.Redis;

/// <summary>
/// Brings a store written before buckets had slots (every key straight under the prefix) to the slotted layout. The
/// old layout ran on one Redis, or on a cluster only under a prefix with its own hash tag; either way every old and
/// new key share a node's keyspace (or that one slot), so each step is a <c>RENAME</c> or a copy Redis allows. Each
/// step is idempotent, so an upgrade cut off half-way is finished by the next start; one gateway upgrades (under a
/// lease it renews after every step) while the others wait for the layout mark, and a key already in its new place is
/// never overwritten. Gateways of the old version must be stopped first: they would go on writing the old keys.
/// </summary>
public sealed partial class RedisMetadataStore
{
    private const string UpgradeLease = "layout-upgrade";

    /// <summary>The upgrader renews its lease after every step; a waiting gateway takes over only from one that stopped.</summary>
    private static readonly TimeSpan UpgradeLeaseDuration = TimeSpan.FromSeconds(30);

    /// <summary>KEYS: 1 old reclaims, 2 old due, 3 new reclaims, 4 new due. ARGV: 1 id. Moves the entry only if still there.</summary>
    private const string MoveReclaim = """
        local entry = redis.call('HGET', KEYS[1], ARGV[1])
        if not entry then return 0 end
        local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
        redis.call('HSET', KEYS[3], ARGV[1], entry)
        if due then redis.call('ZADD', KEYS[4], due, ARGV[1]) end
        redis.call('HDEL', KEYS[1], ARGV[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        return 1
        """;

    private async Task UpgradeLayoutAsync(CancellationToken cancellationToken)
    {
        var holder = Guid.NewGuid().ToString("N");
        while (true)
        {
            var layout = (string?)await CallAsync(db => db.StringGetAsync(Layout), cancellationToken);
            if (layout == CurrentLayout)
            {
                return;
            }

            if (layout is not null)
            {
                throw new InvalidOperationException($"The metadata under '{keyPrefix}' has key layout {layout}, which this version (layout {CurrentLayout}) does not know: run the version that wrote it.");
            }

            if (await TryAcquireLeaseAsync(UpgradeLease, holder, UpgradeLeaseDuration, cancellationToken))
            {
                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
        }

        try
        {
            await MoveUnslottedKeysAsync(holder, cancellationToken);
            await WriteAsync(db => db.StringSetAsync(Layout, CurrentLayout), _ => true, cancellationToken);
        }
        finally
        {
            await ReleaseLeaseAsync(UpgradeLease, holder, CancellationToken.None);
        }
    }

    /// <summary>Every key of the old layout to its place in the new one; nothing to do for an empty store.</summary>
    private async Task MoveUnslottedKeysAsync(string holder, CancellationToken cancellationToken)
    {
        // The old bucket hash (name → created) is the new layout's index as it is; each bucket gets its mark and slot.
        foreach (var bucket in await CallAsync(db => db.HashGetAllAsync(BucketIndex), cancellationToken))
        {
            string name = bucket.Name!;
            await RenewUpgradeLeaseAsync(holder, cancellationToken);
            await WriteAsync(db => db.SetAddAsync(SlotTags, SlotTag(name)), _ => true, cancellationToken);
            await WriteAsync(db => db.StringSetAsync(MarkOf(name), bucket.Value, when: When.NotExists), _ => true, cancellationToken);
            await RenameIfPresentAsync($"{keyPrefix}objects:{name}", ObjectsOf(name), cancellationToken);
            await RenameIfPresentAsync($"{keyPrefix}keys:{name}", KeysOf(name), cancellationToken);
        }

        // Reclaim entries go to their bucket's slot (the sweeper completes an entry in that slot), a page at a time.
        var reclaims = keyPrefix + "reclaims";
        var reclaimsDue = keyPrefix + "reclaims:due";
        await foreach (var entry in redis.GetDatabase().HashScanAsync(reclaims, pageSize: 500))
        {
            var tag = SlotTag(MetadataJsonContext.Deserialize<ReclaimEntry>(entry.Value!).Bucket);
            await RenewUpgradeLeaseAsync(holder, cancellationToken);
            await WriteAsync(db => db.SetAddAsync(SlotTags, tag), _ => true, cancellationToken);
            await EvalAsync(MoveReclaim, [reclaims, reclaimsDue, ReclaimsIn(tag), ReclaimsDueIn(tag)], [entry.Name], cancellationToken);
        }

        // Fill counters are summed over slots, so the old totals can stay whole in the shared slot.
        await RenameIfPresentAsync(keyPrefix + "usage:bytes", UsageBytesIn(SharedTag), cancellationToken);
        await RenameIfPresentAsync(keyPrefix + "usage:parts", UsagePartsIn(SharedTag), cancellationToken);
        await RenameIfPresentAsync(keyPrefix + "node-epochs", NodeEpochs, cancellationToken);
        await RenameIfPresentAsync(keyPrefix + "node-verified", NodeVerified, cancellationToken);
    }

    /// <exception cref="InvalidOperationException">The lease went to another gateway (this one stalled past it).</exception>
    private async Task RenewUpgradeLeaseAsync(string holder, CancellationToken cancellationToken)
    {
        if (!await TryAcquireLeaseAsync(UpgradeLease, holder, UpgradeLeaseDuration, cancellationToken))
        {
            throw new InvalidOperationException("Another gateway took over the metadata layout upgrade; this one stops (it stalled for over 30 s).");
        }
    }

    /// <summary>RENAMENX: a key already in the new layout is never overwritten (an older version ran again meanwhile?).</summary>
    /// <exception cref="InvalidOperationException">Both the old and the new key exist.</exception>
    private async Task RenameIfPresentAsync(string from, string to, CancellationToken cancellationToken)
    {
        if (await CallAsync(db => db.KeyExistsAsync(from), cancellationToken)
            && !await WriteAsync(db => db.KeyRenameAsync(from, to, When.NotExists), renamed => renamed, cancellationToken))
        {
            throw new InvalidOperationException(
                $"Both '{from}' (the layout before slots) and '{to}' exist: a gateway of an older version wrote after the upgrade began. Stop it, and merge or remove one of the two keys before starting again.");
        }
    }
}

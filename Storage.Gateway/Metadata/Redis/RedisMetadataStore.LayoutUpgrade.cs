using StackExchange.Redis;

namespace Storage.Gateway.Metadata.Redis;

/// <summary>
/// Brings a store written before buckets had slots (every key straight under the prefix) to the slotted layout. The
/// old layout ran on one Redis, or on a cluster only under a prefix with its own hash tag; either way every old and
/// new key share a node's keyspace (or that one slot), so each step is a <c>RENAME</c> or a copy Redis allows. Each
/// step is idempotent, so an upgrade cut off half-way is finished by the next start; one gateway upgrades (under a
/// lease) while the others wait for the layout mark. Gateways of the old version must be stopped first: they would
/// go on writing the old keys.
/// </summary>
public sealed partial class RedisMetadataStore
{
    private static readonly TimeSpan UpgradeWait = TimeSpan.FromMinutes(2);

    private async Task UpgradeLayoutAsync(CancellationToken cancellationToken)
    {
        var holder = Guid.NewGuid().ToString("N");
        var waitUntil = DateTimeOffset.UtcNow + UpgradeWait;
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

            if (await TryAcquireLeaseAsync("layout-upgrade", holder, UpgradeWait, cancellationToken))
            {
                break;
            }

            if (DateTimeOffset.UtcNow > waitUntil)
            {
                throw new InvalidOperationException($"Another gateway has been upgrading the metadata under '{keyPrefix}' for over {UpgradeWait.TotalMinutes:0} minutes; start again once it is done.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
        }

        try
        {
            await MoveUnslottedKeysAsync(cancellationToken);
            await WriteAsync(db => db.StringSetAsync(Layout, CurrentLayout), _ => true, cancellationToken);
        }
        finally
        {
            await ReleaseLeaseAsync("layout-upgrade", holder, CancellationToken.None);
        }
    }

    /// <summary>Every key of the old layout to its place in the new one; nothing to do for an empty store.</summary>
    private async Task MoveUnslottedKeysAsync(CancellationToken cancellationToken)
    {
        // The old bucket hash (name → created) is the new layout's index as it is; each bucket gets its mark and slot.
        foreach (var bucket in await CallAsync(db => db.HashGetAllAsync(BucketIndex), cancellationToken))
        {
            string name = bucket.Name!;
            await WriteAsync(db => db.SetAddAsync(SlotTags, SlotTag(name)), _ => true, cancellationToken);
            await WriteAsync(db => db.StringSetAsync(MarkOf(name), bucket.Value, when: When.NotExists), _ => true, cancellationToken);
            await RenameIfPresentAsync($"{keyPrefix}objects:{name}", ObjectsOf(name), cancellationToken);
            await RenameIfPresentAsync($"{keyPrefix}keys:{name}", KeysOf(name), cancellationToken);
        }

        // Reclaim entries go to their bucket's slot (one at a time: the sweeper completes an entry in that slot).
        var reclaims = keyPrefix + "reclaims";
        var reclaimsDue = keyPrefix + "reclaims:due";
        foreach (var entry in await CallAsync(db => db.HashGetAllAsync(reclaims), cancellationToken))
        {
            var reclaim = MetadataJsonContext.Deserialize<ReclaimEntry>(entry.Value!);
            var tag = SlotTag(reclaim.Bucket);
            await WriteAsync(db => db.SetAddAsync(SlotTags, tag), _ => true, cancellationToken);
            await EvalAsync(Register, [ReclaimsIn(tag), ReclaimsDueIn(tag)], [reclaim.Id, entry.Value, reclaim.Due.ToUnixTimeMilliseconds()], cancellationToken);
            await WriteAsync(db => db.SortedSetRemoveAsync(reclaimsDue, entry.Name), _ => true, cancellationToken);
            await WriteAsync(db => db.HashDeleteAsync(reclaims, entry.Name), _ => true, cancellationToken);
        }

        // Fill counters are summed over slots, so the old totals can stay whole in the shared slot.
        await RenameIfPresentAsync(keyPrefix + "usage:bytes", UsageBytesIn(SharedTag), cancellationToken);
        await RenameIfPresentAsync(keyPrefix + "usage:parts", UsagePartsIn(SharedTag), cancellationToken);
        await RenameIfPresentAsync(keyPrefix + "node-epochs", NodeEpochs, cancellationToken);
        await RenameIfPresentAsync(keyPrefix + "node-verified", NodeVerified, cancellationToken);
    }

    private async Task RenameIfPresentAsync(string from, string to, CancellationToken cancellationToken)
    {
        if (await CallAsync(db => db.KeyExistsAsync(from), cancellationToken))
        {
            await WriteAsync(db => db.KeyRenameAsync(from, to), _ => true, cancellationToken);
        }
    }
}

namespace Storage.Gateway.Metadata;

/// <summary>
/// Everything the gateway remembers: buckets, objects and where their parts are, the node registry, fill
/// counters and parts awaiting deletion. Implementations: SQLite (embedded) and Redis (distributed); both pass
/// the same contract tests. Keys are ordered by ordinal UTF-8 bytes, as S3 requires.
/// </summary>
public interface IMetadataStore
{
    /// <summary>Creates the schema if needed; called once at start-up.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Answers when the store is reachable (used by /health).</summary>
    Task PingAsync(CancellationToken cancellationToken);

    /// <summary>False when the bucket already exists.</summary>
    Task<bool> CreateBucketAsync(BucketRecord bucket, CancellationToken cancellationToken);

    /// <summary>The bucket with its versioning state, or null.</summary>
    Task<BucketRecord?> GetBucketAsync(string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<BucketRecord>> ListBucketsAsync(CancellationToken cancellationToken);

    /// <summary>Removes the bucket, with its documents, if it holds no objects and no versions of objects.</summary>
    Task<BucketDeleteResult> DeleteBucketAsync(string name, CancellationToken cancellationToken);

    /// <summary>
    /// Sets (null: removes) a named document the bucket carries: a configuration (its lifecycle rules) or a maintenance
    /// pass's progress through it. False, with nothing stored, when the bucket does not exist; the bucket's deletion
    /// removes its documents.
    /// </summary>
    Task<bool> SetBucketDocumentAsync(string bucket, string name, string? document, CancellationToken cancellationToken);

    /// <summary>The named document of the bucket, or null when it has none (or the bucket does not exist).</summary>
    Task<string?> GetBucketDocumentAsync(string bucket, string name, CancellationToken cancellationToken);

    Task<ObjectRecord?> GetObjectAsync(string bucket, string key, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically makes <paramref name="record"/> the current version of its key: removes the write intents of
    /// its segments, adds their bytes to the fill counters, and queues the replaced version's segments for
    /// deletion at <paramref name="reclaimAt"/>. Returns the replaced version, if any (whose inline bytes a store may
    /// leave out).
    /// </summary>
    /// <remarks>
    /// Versioning, checked in the same atomic step against the bucket's state: in an Enabled bucket the record has a
    /// version id and the replaced version is kept as a noncurrent one; in a Suspended bucket the record is the null
    /// version, replacing the key's null version wherever it is (current or not) and keeping any other; in an
    /// unversioned one it is as above. A <see cref="ObjectRecord.IsDeleteMarker">delete marker</see> (versioned
    /// buckets only) is committed the same way: it becomes the key's latest version and the key has no current one.
    /// </remarks>
    /// <exception cref="BucketNotFoundException">The bucket does not exist.</exception>
    /// <exception cref="WriteConditionFailedException">The key's current version does not satisfy <paramref name="condition"/>.</exception>
    /// <exception cref="VersioningChangedException">The record's version id does not fit the bucket's versioning state.</exception>
    Task<ObjectRecord?> CommitObjectAsync(ObjectRecord record, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically makes <paramref name="record"/> current (queuing a replaced version for deletion at
    /// <paramref name="reclaimAt"/>) and removes the <paramref name="sources"/> from <paramref name="sourceBucket"/>
    /// without reclaiming their segments, which the record now owns (and which stay accounted). Only if every source
    /// still holds the segment it names (none for an empty source); false, with nothing changed, otherwise.
    /// <paramref name="sourceBucket"/> is a hidden companion of the record's bucket, named <c>.&lt;purpose&gt;.&lt;bucket&gt;</c>,
    /// which a store may keep with its bucket (Redis Cluster: in one hash slot, as one atomic script needs).
    /// </summary>
    /// <exception cref="BucketNotFoundException">The record's bucket does not exist.</exception>
    /// <exception cref="WriteConditionFailedException">The key's current version does not satisfy <paramref name="condition"/>.</exception>
    /// <exception cref="VersioningChangedException">The record's version id does not fit the bucket's versioning state.</exception>
    Task<bool> CommitAssembledObjectAsync(ObjectRecord record, string sourceBucket, IReadOnlyList<AssembledSource> sources, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically replaces the tags of the key's current version (null: none), leaving everything else of it as it is
    /// (bytes, ETag, last-modified time). Returns the record as changed, or null when the key has no current version.
    /// </summary>
    Task<ObjectRecord?> SetObjectTagsAsync(string bucket, string key, IReadOnlyDictionary<string, string>? tags, CancellationToken cancellationToken);

    /// <summary>Like <see cref="SetObjectTagsAsync(string, string, IReadOnlyDictionary{string, string}?, CancellationToken)"/>, for one version, current or not (null if absent or a delete marker).</summary>
    Task<ObjectRecord?> SetObjectTagsAsync(string bucket, string key, string? versionId, IReadOnlyDictionary<string, string>? tags, CancellationToken cancellationToken);

    /// <summary>One version of the key (<paramref name="versionId"/> null: the null version), current or not, delete markers included; null if absent.</summary>
    Task<ObjectRecord?> GetObjectVersionAsync(string bucket, string key, string? versionId, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically removes one version for good and queues its segments for deletion; when it was the latest, the next
    /// newest becomes current (unless it is a delete marker, which then is the latest). Returns the removed version, or
    /// null if absent — or, with <paramref name="onlyIfNoncurrent"/>, if it is the key's current version (maintenance that
    /// judged a noncurrent version never removes one that became current meanwhile).
    /// </summary>
    Task<ObjectRecord?> DeleteObjectVersionAsync(string bucket, string key, string? versionId, DateTimeOffset reclaimAt, CancellationToken cancellationToken, bool onlyIfNoncurrent = false);

    /// <summary>
    /// Up to <paramref name="limit"/> versions (delete markers included) whose keys start with <paramref name="prefix"/>,
    /// after <paramref name="after"/>: by key, and each key's newest first. O(log N + page) however many versions there are.
    /// Listed records never carry their inline bytes. A cursor naming a version that is gone (removed since it was listed)
    /// continues with the key's noncurrent versions from the newest: a listing may repeat, never skip.
    /// </summary>
    Task<IReadOnlyList<ObjectVersion>> ListObjectVersionsAsync(string bucket, string prefix, VersionCursor? after, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically removes the object, if its current version satisfies <paramref name="condition"/>, and queues its
    /// segments for deletion; returns it (its inline bytes possibly left out), or null if absent. Unversioned buckets
    /// only: a versioned bucket's delete commits a delete marker.
    /// </summary>
    /// <exception cref="WriteConditionFailedException">The key's current version does not satisfy <paramref name="condition"/>.</exception>
    /// <exception cref="VersioningChangedException">The bucket is versioned.</exception>
    Task<ObjectRecord?> DeleteObjectAsync(string bucket, string key, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken);

    /// <summary>
    /// Up to <paramref name="limit"/> objects whose keys start with <paramref name="prefix"/> and sort after
    /// <paramref name="startAfter"/>, in key order. Listed records never carry their inline bytes (<c>Inline</c> is
    /// null): a listing names objects, it does not read them.
    /// </summary>
    Task<IReadOnlyList<ObjectRecord>> ListObjectsAsync(string bucket, string prefix, string? startAfter, int limit, CancellationToken cancellationToken);

    /// <summary>Records (or renews) an unaccounted reclaim entry for an upload in progress.</summary>
    Task RegisterWriteAsync(ReclaimEntry intent, CancellationToken cancellationToken);

    Task<IReadOnlyList<ReclaimEntry>> GetDueReclaimsAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken);

    /// <summary>Removes the entry once its parts are deleted; subtracts accounted bytes exactly once even when several gateways race.</summary>
    Task CompleteReclaimAsync(ReclaimEntry entry, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically points part <see cref="PartMove.Shard"/> of the segment at <see cref="PartMove.ToNode"/> — only if
    /// the version <see cref="PartMove.VersionId"/> of the object (current or not) still has that segment with the part on <see cref="PartMove.FromNode"/> — accounts the new copy
    /// and queues the old one for deletion at <paramref name="reclaimAt"/>. False (nothing changed) otherwise: the
    /// object was overwritten, deleted, or another gateway moved the part first.
    /// </summary>
    Task<bool> ReplacePartAsync(PartMove move, DateTimeOffset reclaimAt, CancellationToken cancellationToken);

    /// <summary>Takes or renews the named lease for <paramref name="holder"/>; false while another holder's lease is live.</summary>
    Task<bool> TryAcquireLeaseAsync(string name, string holder, TimeSpan duration, CancellationToken cancellationToken);

    /// <summary>Gives the lease up, if <paramref name="holder"/> still holds it, so another gateway can take it at once.</summary>
    Task ReleaseLeaseAsync(string name, string holder, CancellationToken cancellationToken);

    /// <summary>Every node's epoch (nodes never checked have none).</summary>
    Task<IReadOnlyDictionary<string, NodeEpoch>> GetNodeEpochsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Starts a new epoch for the node if its epoch is still <paramref name="expected"/> (null: it has none yet);
    /// false, with nothing changed, when another gateway changed it first. <paramref name="verified"/> marks the new
    /// epoch verified at once (a node that has never held parts).
    /// </summary>
    Task<bool> ChangeNodeEpochAsync(string nodeId, string? expected, string epoch, bool verified, CancellationToken cancellationToken);

    /// <summary>Records that every part metadata places on the node was found there in <paramref name="epoch"/>, if that is still its epoch.</summary>
    Task<bool> MarkNodeVerifiedAsync(string nodeId, string epoch, CancellationToken cancellationToken);

    /// <summary>False when a node with this id already exists.</summary>
    Task<bool> AddNodeAsync(NodeRecord node, CancellationToken cancellationToken);

    Task<IReadOnlyList<NodeRecord>> ListNodesAsync(CancellationToken cancellationToken);

    Task<IReadOnlyDictionary<string, NodeUsage>> GetNodeUsageAsync(CancellationToken cancellationToken);
}

/// <summary>The unconditional forms of the commits and the delete.</summary>
public static class MetadataStoreCommits
{
    public static Task<ObjectRecord?> DeleteObjectAsync(this IMetadataStore store, string bucket, string key, DateTimeOffset reclaimAt, CancellationToken cancellationToken) =>
        store.DeleteObjectAsync(bucket, key, reclaimAt, WriteCondition.None, cancellationToken);

    public static Task<ObjectRecord?> CommitObjectAsync(this IMetadataStore store, ObjectRecord record, DateTimeOffset reclaimAt, CancellationToken cancellationToken) =>
        store.CommitObjectAsync(record, reclaimAt, WriteCondition.None, cancellationToken);

    public static Task<bool> CommitAssembledObjectAsync(this IMetadataStore store, ObjectRecord record, string sourceBucket, IReadOnlyList<AssembledSource> sources, DateTimeOffset reclaimAt, CancellationToken cancellationToken) =>
        store.CommitAssembledObjectAsync(record, sourceBucket, sources, reclaimAt, WriteCondition.None, cancellationToken);
}

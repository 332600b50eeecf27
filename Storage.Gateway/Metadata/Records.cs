using System.Text.Json.Serialization;

namespace Storage.Gateway.Metadata;

/// <summary>A bucket: its name, when it was made, and whether it keeps versions of its objects.</summary>
public sealed record BucketRecord(string Name, DateTimeOffset CreatedAt, BucketVersioning Versioning = BucketVersioning.Unversioned);

/// <summary>
/// S3's versioning states. A bucket starts unversioned and, once versioning was enabled, is Enabled or Suspended forever
/// (as in S3): Enabled keeps every version with its own id, Suspended writes the <c>null</c> version but keeps the others.
/// </summary>
public enum BucketVersioning
{
    Unversioned,
    Enabled,
    Suspended,
}

/// <summary>The bucket document that holds a bucket's versioning state, as S3 spells it ("Enabled", "Suspended"); none: unversioned.</summary>
public static class VersioningDocument
{
    public const string Name = "versioning";

    public static BucketVersioning Parse(string? document) => document switch
    {
        nameof(BucketVersioning.Enabled) => BucketVersioning.Enabled,
        nameof(BucketVersioning.Suspended) => BucketVersioning.Suspended,
        _ => BucketVersioning.Unversioned,
    };
}

/// <summary>
/// A committed object: its attributes and the segments holding its bytes, in order. A single upload is one
/// segment; a multipart upload is one segment per part. An object small enough to be kept inline has no segments:
/// <see cref="Inline"/> holds its bytes as one block is stored in a part (the bytes, then their CRC-32C).
/// <see cref="VersionId"/> is null for the <c>null</c> version (every object of a bucket never versioned); a
/// <see cref="IsDeleteMarker">delete marker</see> is a version without bytes that hides the key.
/// </summary>
public sealed record ObjectRecord(
    string Bucket,
    string Key,
    long Size,
    string ETag,
    DateTimeOffset LastModified,
    ObjectAttributes Attributes,
    IReadOnlyList<Segment> Segments,
    ObjectChecksum? Checksum = null,
    IReadOnlyList<long>? PartSizes = null,
    byte[]? Inline = null,
    string? VersionId = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool IsDeleteMarker = false,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ObjectEncryption? Encryption = null)
{
    /// <summary>How S3 names the version of an object written while its bucket was unversioned or suspended.</summary>
    public const string NullVersionId = "null";

    /// <summary>The version id as S3 shows it: <c>null</c> for the null version.</summary>
    [JsonIgnore]
    public string VersionIdText => VersionId ?? NullVersionId;

    /// <summary>
    /// The sizes of a multipart object's parts, null for an object written in one piece. Records written before the
    /// sizes were kept have one segment per non-empty part, so their segments stand in when the ETag's part count agrees.
    /// </summary>
    public IReadOnlyList<long>? Parts() =>
        PartSizes ?? (ETag.LastIndexOf('-') is var dash and > 0 && int.TryParse(ETag.AsSpan(dash + 1), out var count) && count == Segments.Count
            ? [.. Segments.Select(s => s.Size)]
            : null);

    /// <summary>How many parts a multipart object has; null for an object written in one piece.</summary>
    public int? PartCount() => Parts()?.Count;
}

/// <summary>
/// How an object's bytes are encrypted at rest: <see cref="Mode"/> <c>SSE-S3</c> (data keys wrapped by master keys) or
/// <c>SSE-C</c> (wrapped by the client's key, which is never stored); one wrapped data key per part (one for an object
/// written in one piece, aligned with <see cref="ObjectRecord.Parts"/>), each part AES-256-GCM in blocks of
/// <see cref="BlockSize"/> plaintext bytes. Segments and inline bytes hold the ciphertext; the record's size, ETag and
/// checksum are the plaintext's (an SSE-C object's ETag is its ciphertext's MD5, as S3's is no MD5 of the data).
/// </summary>
public sealed record ObjectEncryption(string Mode, IReadOnlyList<WrappedDataKey> DataKeys, int BlockSize)
{
    public const string ServerSide = "SSE-S3";
    public const string CustomerKey = "SSE-C";

    public bool IsCustomerKey => Mode == CustomerKey;
}

/// <summary>A part's data key as stored: wrapped (nonce, ciphertext, tag) by the master key <see cref="MasterKeyId"/>, or by the client's key (null).</summary>
public sealed record WrappedDataKey(string? MasterKeyId, byte[] Wrapped);

/// <summary>
/// A checksum the client sent and the gateway verified (S3's <c>x-amz-checksum-*</c>): algorithm name as S3
/// spells it (CRC32, CRC32C, CRC64NVME, SHA1, SHA256), base64 value, and whether it covers the whole object
/// (FULL_OBJECT) or is a checksum of part checksums (COMPOSITE, value ending in <c>-N</c>).
/// </summary>
public sealed record ObjectChecksum(string Algorithm, string Value, string Type = ObjectChecksum.FullObject)
{
    public const string FullObject = "FULL_OBJECT";
    public const string Composite = "COMPOSITE";
}

/// <summary>
/// What clients set and get back: content type, the original file name (REST file API), user metadata
/// (x-amz-meta-*, names in lower case), and the representation headers S3 stores as sent (Content-Disposition,
/// Cache-Control, Content-Encoding, Content-Language, Expires), and the object's tags (S3's object tagging: at most
/// <see cref="MaxTags"/>, keys unique).
/// </summary>
public sealed record ObjectAttributes(
    string? ContentType = null,
    string? FileName = null,
    IReadOnlyDictionary<string, string>? UserMetadata = null,
    string? ContentDisposition = null,
    string? CacheControl = null,
    string? ContentEncoding = null,
    string? ContentLanguage = null,
    string? Expires = null,
    IReadOnlyDictionary<string, string>? Tags = null)
{
    /// <summary>S3's limit on the tags of one object.</summary>
    public const int MaxTags = 10;

    public static ObjectAttributes None { get; } = new();

    /// <summary>How many tags the object has (S3's <c>x-amz-tagging-count</c>).</summary>
    [JsonIgnore]
    public int TagCount => Tags?.Count ?? 0;
}

/// <summary>
/// Bytes stored as stripes of <see cref="DataShards"/> data blocks plus <see cref="ParityShards"/> parity
/// blocks; shard i of every stripe lives in one part on <c>Nodes[i]</c>. Replicated small objects are
/// segments with one data shard, whose parity shards are exact copies.
/// </summary>
public sealed record Segment(
    string Id,
    long Size,
    int DataShards,
    int ParityShards,
    int BlockSize,
    IReadOnlyList<string> Nodes);

public sealed record NodeRecord(string Id, string Kind, string Address, DateTimeOffset AddedAt);

/// <summary>
/// A node's identity in the cluster: the epoch its identity marker must carry, changed whenever the node is found
/// without its data (or with someone else's), and the epoch whose contents healing last verified against metadata.
/// </summary>
public sealed record NodeEpoch(string NodeId, string Epoch, string? Verified)
{
    /// <summary>True when every part metadata places on the node was found there since the epoch began.</summary>
    public bool IsVerified => Verified == Epoch;
}

/// <summary>Bytes and parts each node holds, as accounted by commits and reclamation.</summary>
public sealed record NodeUsage(string NodeId, long BytesUsed, long PartCount);

/// <summary>One stored part: which node, under which key, how many bytes (blocks plus checksums).</summary>
public sealed record PartLocation(string NodeId, string Key, long Length);

/// <summary>
/// Parts to delete once <see cref="Due"/> passes: those of an upload in progress (not yet <see cref="Accounted"/>;
/// the commit removes the entry, a crash leaves it to the sweeper), of a replaced or deleted object, or a part
/// that healing or rebalancing moved elsewhere (accounted; deleted after a grace period so readers in flight
/// can finish).
/// </summary>
/// <remarks>
/// <see cref="Bucket"/> is the bucket whose write or delete made the entry: a store may keep the entry with that
/// bucket's records (Redis Cluster keeps it in the bucket's hash slot, so the commit that completes an intent touches
/// one slot). With <see cref="Key"/> as well, they name the object the parts belonged to: before deleting, the sweeper
/// skips any part that object's current record uses again (a part moved away and back within the grace period).
/// Entries written before buckets were recorded have none.
/// </remarks>
public sealed record ReclaimEntry(string Id, IReadOnlyList<PartLocation> Parts, DateTimeOffset Due, bool Accounted, string? Bucket = null, string? Key = null)
{
    /// <summary>An entry of <paramref name="bucket"/> for every part of <paramref name="segments"/>, named after the first segment.</summary>
    public static ReclaimEntry ForSegments(string bucket, IReadOnlyList<Segment> segments, DateTimeOffset due, bool accounted) =>
        new(segments[0].Id, [.. segments.Parts()], due, accounted, bucket);

    private const string MovePrefix = "move-";

    /// <summary>An entry for the copy of a part that healing or rebalancing moved elsewhere.</summary>
    public static ReclaimEntry ForMove(PartMove move, PartLocation movedAway, DateTimeOffset due) =>
        new($"{MovePrefix}{Guid.NewGuid():N}", [movedAway], due, Accounted: true, move.Bucket, move.Key);
}

/// <summary>An object record whose segment (null: it has none) becomes part of an assembled object.</summary>
public sealed record AssembledSource(string Key, string? SegmentId);

/// <summary>Healing or rebalancing moves one part of a segment of one version of an object (null: the null version) from one node to another.</summary>
public sealed record PartMove(string Bucket, string Key, string SegmentId, int Shard, string FromNode, string ToNode, string? VersionId = null);

/// <summary>One entry of a version listing: a version (or delete marker) and whether it is the key's latest.</summary>
public sealed record ObjectVersion(ObjectRecord Record, bool IsLatest);

/// <summary>
/// Where a version listing continues: after every version of <see cref="Key"/> (<see cref="AfterAllVersions"/>), or
/// after its version <see cref="VersionId"/> (null: the null version).
/// </summary>
public sealed record VersionCursor(string Key, bool AfterAllVersions, string? VersionId = null);

public enum BucketDeleteResult
{
    Deleted,
    NotFound,
    NotEmpty,
}

/// <summary>
/// A conditional write (S3's <c>If-None-Match: *</c> and <c>If-Match</c>), checked by the metadata store against the
/// version it replaces in the same atomic step as the commit, so of two racing writers exactly one can win.
/// </summary>
/// <remarks>
/// <see cref="CurrentVersion"/> names one exact version (its ETag and last-modified time): a rewrite with the same bytes
/// is another version. Maintenance that decided from a listing what to remove uses it, so it never removes a newer write.
/// </remarks>
public sealed record WriteCondition(bool MustNotExist, string? CurrentETag, DateTimeOffset? CurrentLastModified = null)
{
    public static WriteCondition None { get; } = new(false, null);

    /// <summary>Allows only <paramref name="version"/> itself, not a later write of the key.</summary>
    public static WriteCondition CurrentVersion(ObjectRecord version) => new(false, version.ETag, version.LastModified);

    public bool Allows(ObjectRecord? current) =>
        (!MustNotExist || current is null)
        && (CurrentETag is null || (current is not null && string.Equals(current.ETag, CurrentETag, StringComparison.OrdinalIgnoreCase)))
        && (CurrentLastModified is null || (current is not null && current.LastModified == CurrentLastModified));
}

/// <summary>A conditional write found the key in a state its condition excludes; nothing was committed.</summary>
public sealed class WriteConditionFailedException(bool keyExists)
    : InvalidOperationException(keyExists ? "The object's current version does not satisfy the write condition." : "The object does not exist (any more).")
{
    /// <summary>Whether the key had a current version when the condition was checked.</summary>
    public bool KeyExists { get; } = keyExists;

    public static void ThrowUnlessAllowed(WriteCondition condition, ObjectRecord? current)
    {
        if (!condition.Allows(current))
        {
            throw new WriteConditionFailedException(current is not null);
        }
    }
}

/// <summary>
/// A write planned for one versioning state found the bucket in another (it changed meanwhile); nothing was committed.
/// The writer plans again for <see cref="Actual"/>.
/// </summary>
public sealed class VersioningChangedException(BucketVersioning actual)
    : InvalidOperationException($"The bucket's versioning is {actual}: the write was planned for another state.")
{
    public BucketVersioning Actual { get; } = actual;

    /// <summary>Throws unless a version with <paramref name="record"/>'s id (and kind) can be written in <paramref name="actual"/>.</summary>
    public static void ThrowUnlessWritable(ObjectRecord record, BucketVersioning actual)
    {
        var fits = actual switch
        {
            BucketVersioning.Enabled => record.VersionId is not null,
            BucketVersioning.Suspended => record.VersionId is null,
            _ => record.VersionId is null && !record.IsDeleteMarker,
        };
        if (!fits)
        {
            throw new VersioningChangedException(actual);
        }
    }
}

public sealed class BucketNotFoundException(string bucket) : InvalidOperationException($"Bucket '{bucket}' does not exist.");

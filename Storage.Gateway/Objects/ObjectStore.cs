using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects.Erasure;

namespace Storage.Gateway.Objects;

/// <summary>An object opened for reading: its record and a stream over the selected bytes.</summary>
public sealed record ObjectReadResult(ObjectRecord Record, long Offset, long Length, Stream Content) : IAsyncDisposable
{
    public bool IsPartial => Length != Record.Size;

    public ValueTask DisposeAsync() => Content.DisposeAsync();
}

/// <summary>A requested range that starts beyond the object's end (416).</summary>
public sealed class RangeNotSatisfiableException(long size) : Exception($"The requested range is outside the object's {size} bytes.")
{
    public long Size { get; } = size;
}

/// <summary>
/// The object layer every front door uses: put, get, head, delete and list over erasure-coded segments.
/// An object becomes visible only when all its parts are durable and its record is committed; an overwrite
/// swaps records atomically, and the replaced parts are reclaimed after a grace period.
/// </summary>
public sealed class ObjectStore(
    IMetadataStore metadata,
    SegmentWriter writer,
    ErasureCodecs codecs,
    NodeRegistry registry,
    StorageTelemetry telemetry,
    DamagedParts damaged,
    IOptions<StorageOptions> options,
    TimeProvider time)
{
    public async Task<ObjectRecord> PutAsync(string bucket, string key, Stream body, long? length, ObjectAttributes attributes, CancellationToken cancellationToken)
    {
        var written = await WriteAsync(bucket, key, body, length, expectedMd5: null, cancellationToken);
        return await CommitAsync(bucket, key, written, attributes, checksum: null, cancellationToken);
    }

    /// <summary>
    /// Streams a body into the nodes as one segment (or keeps a small one for its record); nothing is visible until a
    /// commit. The bucket is checked first, so a write to a missing bucket stores nothing.
    /// </summary>
    public Task<WrittenSegment> WriteAsync(string bucket, string key, Stream body, long? length, byte[]? expectedMd5, CancellationToken cancellationToken) =>
        WriteAsync(bucket, key, body, length, expectedMd5, mayInline: true, cancellationToken);

    /// <summary>
    /// Like <see cref="WriteAsync(string, string, Stream, long?, byte[], CancellationToken)"/>, but always onto the
    /// nodes: the segment of a part that will be assembled into a multipart object must exist as a segment.
    /// </summary>
    public Task<WrittenSegment> WritePartAsync(string bucket, string key, Stream body, long? length, byte[]? expectedMd5, CancellationToken cancellationToken) =>
        WriteAsync(bucket, key, body, length, expectedMd5, mayInline: false, cancellationToken);

    /// <summary>Makes a written segment the current version of the key (atomically replacing any previous one).</summary>
    public Task<ObjectRecord> CommitAsync(string bucket, string key, WrittenSegment written, ObjectAttributes attributes, ObjectChecksum? checksum, CancellationToken cancellationToken) =>
        CommitAsync(bucket, key, written, attributes, checksum, WriteCondition.None, cancellationToken);

    /// <summary>
    /// Makes a written segment the current version of the key if the version it replaces satisfies
    /// <paramref name="condition"/>; otherwise the segment's parts are released at once and nothing changes.
    /// </summary>
    /// <exception cref="WriteConditionFailedException">The condition did not hold.</exception>
    public async Task<ObjectRecord> CommitAsync(string bucket, string key, WrittenSegment written, ObjectAttributes attributes, ObjectChecksum? checksum, WriteCondition condition, CancellationToken cancellationToken)
    {
        using var activity = StorageTelemetry.Source.StartActivity("object.commit");
        var record = new ObjectRecord(
            bucket,
            key,
            written.Size,
            Convert.ToHexStringLower(written.Md5),
            time.GetUtcNow(),
            attributes,
            written.Segment is null ? [] : [written.Segment],
            checksum,
            Inline: written.Inline);
        try
        {
            await metadata.CommitObjectAsync(record, ReclaimAt, condition, cancellationToken);
        }
        catch (WriteConditionFailedException) when (written.Segment is { } segment)
        {
            // The write intent becomes due now, so the sweeper deletes the parts on its next pass.
            await metadata.RegisterWriteAsync(ReclaimEntry.ForSegments(bucket, [segment], time.GetUtcNow(), accounted: false), CancellationToken.None);
            throw;
        }

        return record;
    }

    /// <summary>
    /// Makes <paramref name="record"/>, whose segments are those of the committed <paramref name="sources"/> (the
    /// parts of a multipart upload), current, and removes the sources in the same step. False when a source
    /// changed meanwhile.
    /// </summary>
    /// <exception cref="WriteConditionFailedException">The key's current version does not satisfy <paramref name="condition"/>.</exception>
    public Task<bool> CommitAssembledAsync(ObjectRecord record, string sourceBucket, IReadOnlyList<AssembledSource> sources, WriteCondition condition, CancellationToken cancellationToken) =>
        metadata.CommitAssembledObjectAsync(record, sourceBucket, sources, ReclaimAt, condition, cancellationToken);

    public async Task<bool> BucketExistsAsync(string bucket, CancellationToken cancellationToken) =>
        await metadata.GetBucketAsync(bucket, cancellationToken) is not null;

    /// <summary>Replaces the tags of the key's current version (null: none); null when the key has none.</summary>
    public Task<ObjectRecord?> SetTagsAsync(string bucket, string key, IReadOnlyDictionary<string, string>? tags, CancellationToken cancellationToken) =>
        metadata.SetObjectTagsAsync(bucket, key, tags, cancellationToken);

    public Task<ObjectRecord?> HeadAsync(string bucket, string key, CancellationToken cancellationToken) =>
        metadata.GetObjectAsync(bucket, key, cancellationToken);

    /// <summary>Opens the object (or a range of it) and fetches its first stripe; null when it does not exist.</summary>
    /// <exception cref="RangeNotSatisfiableException">The range starts at or beyond the end.</exception>
    /// <exception cref="DataUnavailableException">Too many of its parts are lost.</exception>
    public async Task<ObjectReadResult?> GetAsync(string bucket, string key, ByteRange? range, CancellationToken cancellationToken)
    {
        var record = await metadata.GetObjectAsync(bucket, key, cancellationToken);
        return record is null ? null : await OpenAsync(record, range, cancellationToken);
    }

    /// <summary>Opens a record already read (one metadata read per request); its parts stay until the reclaim delay passes.</summary>
    /// <exception cref="RangeNotSatisfiableException">The range starts at or beyond the end.</exception>
    /// <exception cref="DataUnavailableException">Too many of its parts are lost.</exception>
    public async Task<ObjectReadResult> OpenAsync(ObjectRecord record, ByteRange? range, CancellationToken cancellationToken)
    {
        using var activity = StorageTelemetry.Source.StartActivity("object.get");
        activity?.SetTag("storage.bucket", record.Bucket);
        var (offset, length) = range is { } r
            ? r.Resolve(record.Size) ?? throw new RangeNotSatisfiableException(record.Size)
            : (0, record.Size);
        // Segments win: a SQLite file written meanwhile by a version without inline objects may have replaced an inline
        // version with a segmented (or empty) one and left the old bytes in their column.
        if (record.Inline is { } inline && record.Segments.Count == 0 && record.Size > 0)
        {
            telemetry.BytesRead.Add(length);
            return new ObjectReadResult(record, offset, length, new MemoryStream(VerifiedInline(record, inline), (int)offset, (int)length, writable: false));
        }

        var content = new ObjectReadStream(record, offset, length, codecs, registry, telemetry, damaged);
        try
        {
            await content.PrepareAsync(cancellationToken);
        }
        catch
        {
            await content.DisposeAsync();
            throw;
        }

        return new ObjectReadResult(record, offset, length, content);
    }

    private async Task<WrittenSegment> WriteAsync(string bucket, string key, Stream body, long? length, byte[]? expectedMd5, bool mayInline, CancellationToken cancellationToken)
    {
        using var activity = StorageTelemetry.Source.StartActivity("object.write");
        activity?.SetTag("storage.bucket", bucket);
        if (!await BucketExistsAsync(bucket, cancellationToken))
        {
            throw new BucketNotFoundException(bucket);
        }

        var written = await writer.WriteAsync(bucket, key, body, length, expectedMd5, mayInline, cancellationToken);
        activity?.SetTag("storage.object.size", written.Size);
        return written;
    }

    public Task<bool> DeleteAsync(string bucket, string key, CancellationToken cancellationToken) =>
        DeleteAsync(bucket, key, WriteCondition.None, cancellationToken);

    /// <summary>Deletes the key's current version if it satisfies <paramref name="condition"/>; false when there was none.</summary>
    /// <exception cref="WriteConditionFailedException">The key's current version does not satisfy <paramref name="condition"/>.</exception>
    public async Task<bool> DeleteAsync(string bucket, string key, WriteCondition condition, CancellationToken cancellationToken)
    {
        using var activity = StorageTelemetry.Source.StartActivity("object.delete");
        return await metadata.DeleteObjectAsync(bucket, key, ReclaimAt, condition, cancellationToken) is not null;
    }

    public Task<IReadOnlyList<ObjectRecord>> ListAsync(string bucket, string prefix, string? startAfter, int limit, CancellationToken cancellationToken) =>
        metadata.ListObjectsAsync(bucket, prefix, startAfter, limit, cancellationToken);

    /// <summary>
    /// Inline bytes are stored as a block is in a part, followed by their CRC-32C, and checked on every read: a damaged
    /// metadata store answers 503, never wrong bytes.
    /// </summary>
    private byte[] VerifiedInline(ObjectRecord record, byte[] stored)
    {
        if (stored.Length == record.Size + StripeLayout.ChecksumBytes && StripeLayout.IsIntact(stored, (int)record.Size))
        {
            return stored;
        }

        telemetry.CorruptBlocks.Add(1);
        throw new DataUnavailableException($"The stored bytes of '{record.Bucket}/{record.Key}' do not match their checksum; nothing was served.");
    }

    /// <summary>When parts released now (by an overwrite or delete) may be deleted: after readers in flight finish.</summary>
    private DateTimeOffset ReclaimAt => time.GetUtcNow() + options.Value.Maintenance.ReclaimDelay;

    public async Task EnsureBucketAsync(string bucket, CancellationToken cancellationToken)
    {
        if (await metadata.GetBucketAsync(bucket, cancellationToken) is null)
        {
            await metadata.CreateBucketAsync(new BucketRecord(bucket, time.GetUtcNow()), cancellationToken);
        }
    }
}

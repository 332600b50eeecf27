using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects.Encryption;
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

/// <summary>What deleting a key did: the current version it removed or hid (null: there was none), and the delete marker it wrote (versioned buckets).</summary>
public sealed record ObjectDeletion(ObjectRecord? Removed, ObjectRecord? Marker);

/// <summary>
/// The object layer every front door uses: put, get, head, delete and list over erasure-coded segments.
/// An object becomes visible only when all its parts are durable and its record is committed; an overwrite
/// swaps records atomically, and the replaced parts are reclaimed after a grace period (or, in a versioned bucket,
/// kept as a noncurrent version).
/// </summary>
/// <remarks>
/// Each write is planned for the bucket's versioning state as last seen (remembered per bucket, refreshed by every
/// bucket look-up), and the metadata store checks that state in the commit's own atomic step: a write planned for a
/// state that changed meanwhile is planned again, so no version is lost to a stale view and the hot path reads nothing more.
/// </remarks>
public sealed class ObjectStore(
    IMetadataStore metadata,
    SegmentWriter writer,
    ErasureCodecs codecs,
    NodeRegistry registry,
    StorageTelemetry telemetry,
    DamagedParts damaged,
    ObjectEncryptor encryptor,
    BucketEncryptionDefaults encryptionDefaults,
    IOptions<StorageOptions> options,
    TimeProvider time)
{
    /// <summary>Beyond this many buckets the remembered states are forgotten (and read again as needed).</summary>
    private const int MaxRememberedBuckets = 10_000;

    private const int MaxVersioningAttempts = 4;

    private readonly ConcurrentDictionary<string, BucketVersioning> _versioning = new(StringComparer.Ordinal);

    public async Task<ObjectRecord> PutAsync(string bucket, string key, Stream body, long? length, ObjectAttributes attributes, CancellationToken cancellationToken)
    {
        var written = await WriteAsync(bucket, key, body, length, expectedMd5: null, encryption: null, cancellationToken);
        return await CommitAsync(bucket, key, written, attributes, checksum: null, cancellationToken);
    }

    /// <summary>
    /// Streams a body into the nodes as one segment (or keeps a small one for its record); nothing is visible until a
    /// commit. The bucket is checked first, so a write to a missing bucket stores nothing. <paramref name="encryption"/>
    /// null: as the bucket's default encryption says.
    /// </summary>
    public Task<WrittenSegment> WriteAsync(string bucket, string key, Stream body, long? length, byte[]? expectedMd5, EncryptionRequest? encryption, CancellationToken cancellationToken) =>
        WriteAsync(bucket, key, body, length, expectedMd5, encryption, inline: true, cancellationToken);

    /// <summary>
    /// Like <see cref="WriteAsync(string, string, Stream, long?, byte[], EncryptionRequest, CancellationToken)"/>, but
    /// always onto the nodes: the segment of a part that will be assembled into a multipart object must exist as a segment.
    /// </summary>
    public Task<WrittenSegment> WritePartAsync(string bucket, string key, Stream body, long? length, byte[]? expectedMd5, EncryptionRequest encryption, CancellationToken cancellationToken) =>
        WriteAsync(bucket, key, body, length, expectedMd5, encryption, inline: false, cancellationToken);

    /// <summary>Checks that <paramref name="customerKey"/> opens an object's data keys (none for an object without SSE-C).</summary>
    /// <exception cref="EncryptionKeyRequiredException">Missing (<see cref="WrongEncryptionKeyException"/>: wrong; <see cref="EncryptionNotApplicableException"/>: not needed).</exception>
    public void CheckEncryptionKey(ObjectEncryption? encryption, byte[]? customerKey)
    {
        if (encryption is not null)
        {
            foreach (var key in encryptor.OpenKeys(encryption, customerKey))
            {
                CryptographicOperations.ZeroMemory(key);
            }
        }
        else if (customerKey is not null)
        {
            throw new EncryptionNotApplicableException();
        }
    }

    /// <summary>What a write asks for, or, when it asks for nothing, what the bucket's default says.</summary>
    public async ValueTask<EncryptionRequest> EncryptionForAsync(string bucket, EncryptionRequest? requested, CancellationToken cancellationToken) =>
        requested ?? (await encryptionDefaults.IsSetAsync(bucket, cancellationToken) ? EncryptionRequest.ServerSide : EncryptionRequest.Plain);

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
            Inline: written.Inline,
            Encryption: written.Encryption);
        try
        {
            return await WithVersioningAsync(bucket, record, async versioned =>
            {
                await metadata.CommitObjectAsync(versioned, ReclaimAt, condition, cancellationToken);
                return versioned;
            }, cancellationToken);
        }
        catch (WriteConditionFailedException) when (written.Segment is { } segment)
        {
            // The write intent becomes due now, so the sweeper deletes the parts on its next pass.
            await metadata.RegisterWriteAsync(ReclaimEntry.ForSegments(bucket, [segment], time.GetUtcNow(), accounted: false), CancellationToken.None);
            throw;
        }
    }

    /// <summary>
    /// Runs a write of <paramref name="record"/> (a new version) given the version id the bucket's versioning state
    /// calls for: a new id when Enabled, the null version otherwise; planned again when the store finds the state changed.
    /// </summary>
    private async Task<T> WithVersioningAsync<T>(string bucket, ObjectRecord record, Func<ObjectRecord, Task<T>> write, CancellationToken cancellationToken)
    {
        var state = await VersioningAsync(bucket, cancellationToken);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await write(record with { VersionId = state == BucketVersioning.Enabled ? NewVersionId() : null });
            }
            catch (VersioningChangedException changed) when (attempt < MaxVersioningAttempts)
            {
                state = Remember(bucket, changed.Actual);
            }
        }
    }

    /// <summary>The bucket's versioning state as last seen here (read when never seen).</summary>
    public async Task<BucketVersioning> VersioningAsync(string bucket, CancellationToken cancellationToken)
    {
        if (_versioning.TryGetValue(bucket, out var state))
        {
            return state;
        }

        var record = await metadata.GetBucketAsync(bucket, cancellationToken) ?? throw new BucketNotFoundException(bucket);
        return Remember(bucket, record.Versioning);
    }

    private BucketVersioning Remember(string bucket, BucketVersioning state)
    {
        if (_versioning.Count >= MaxRememberedBuckets)
        {
            _versioning.Clear();
        }

        _versioning[bucket] = state;
        return state;
    }

    /// <summary>
    /// A version id: 6 bytes of milliseconds since 1970 and 10 random bytes, in hex. Ids of one key sort roughly by age
    /// for a person reading them; the store orders versions by its own ranks, never by id.
    /// </summary>
    private string NewVersionId()
    {
        Span<byte> id = stackalloc byte[16];
        var milliseconds = time.GetUtcNow().ToUnixTimeMilliseconds();
        for (var i = 5; i >= 0; i--, milliseconds >>= 8)
        {
            id[i] = (byte)milliseconds;
        }

        RandomNumberGenerator.Fill(id[6..]);
        return Convert.ToHexStringLower(id);
    }

    /// <summary>Whether <paramref name="versionId"/> could name a version here: <c>null</c> or an id as <see cref="NewVersionId"/> makes them.</summary>
    public static bool IsVersionId(string versionId) =>
        versionId == ObjectRecord.NullVersionId || (versionId.Length == 32 && versionId.All(char.IsAsciiHexDigitLower));

    /// <summary>
    /// Makes <paramref name="record"/>, whose segments are those of the committed <paramref name="sources"/> (the
    /// parts of a multipart upload), current, and removes the sources in the same step. False when a source
    /// changed meanwhile.
    /// </summary>
    /// <exception cref="WriteConditionFailedException">The key's current version does not satisfy <paramref name="condition"/>.</exception>
    /// <returns>The committed record (with its version id), or null when a source changed meanwhile.</returns>
    public Task<ObjectRecord?> CommitAssembledAsync(ObjectRecord record, string sourceBucket, IReadOnlyList<AssembledSource> sources, WriteCondition condition, CancellationToken cancellationToken) =>
        WithVersioningAsync(record.Bucket, record, async versioned =>
            await metadata.CommitAssembledObjectAsync(versioned, sourceBucket, sources, ReclaimAt, condition, cancellationToken) ? versioned : null, cancellationToken);

    public async Task<bool> BucketExistsAsync(string bucket, CancellationToken cancellationToken)
    {
        if (await metadata.GetBucketAsync(bucket, cancellationToken) is not { } record)
        {
            return false;
        }

        Remember(bucket, record.Versioning);
        return true;
    }

    /// <summary>Replaces the tags of the key's current version (null: none); null when the key has none.</summary>
    public Task<ObjectRecord?> SetTagsAsync(string bucket, string key, IReadOnlyDictionary<string, string>? tags, CancellationToken cancellationToken) =>
        metadata.SetObjectTagsAsync(bucket, key, tags, cancellationToken);

    /// <summary>Replaces the tags of one version (null: the null version); null when it does not exist or is a delete marker.</summary>
    public Task<ObjectRecord?> SetTagsAsync(string bucket, string key, string? versionId, IReadOnlyDictionary<string, string>? tags, CancellationToken cancellationToken) =>
        metadata.SetObjectTagsAsync(bucket, key, versionId, tags, cancellationToken);

    public Task<ObjectRecord?> HeadAsync(string bucket, string key, CancellationToken cancellationToken) =>
        metadata.GetObjectAsync(bucket, key, cancellationToken);

    /// <summary>One version (null: the null version), delete markers included; null when it does not exist.</summary>
    public Task<ObjectRecord?> HeadVersionAsync(string bucket, string key, string? versionId, CancellationToken cancellationToken) =>
        metadata.GetObjectVersionAsync(bucket, key, versionId, cancellationToken);

    /// <summary>The delete marker that is the key's latest version, if it has one (a key without a current version in a versioned bucket).</summary>
    public async Task<ObjectRecord?> LatestDeleteMarkerAsync(string bucket, string key, CancellationToken cancellationToken) =>
        (await metadata.ListObjectVersionsAsync(bucket, key, after: null, limit: 1, cancellationToken)) is [{ IsLatest: true, Record: { IsDeleteMarker: true } marker }] && marker.Key == key
            ? marker
            : null;

    /// <summary>Versions by key, each key's newest first (see <see cref="IMetadataStore.ListObjectVersionsAsync"/>).</summary>
    public Task<IReadOnlyList<ObjectVersion>> ListVersionsAsync(string bucket, string prefix, VersionCursor? after, int limit, CancellationToken cancellationToken) =>
        metadata.ListObjectVersionsAsync(bucket, prefix, after, limit, cancellationToken);

    /// <summary>Removes one version for good (its parts are reclaimed); null when it does not exist (or, with <paramref name="onlyIfNoncurrent"/>, is current).</summary>
    public async Task<ObjectRecord?> DeleteVersionAsync(string bucket, string key, string? versionId, CancellationToken cancellationToken, bool onlyIfNoncurrent = false)
    {
        using var activity = StorageTelemetry.Source.StartActivity("object.delete_version");
        return await metadata.DeleteObjectVersionAsync(bucket, key, versionId, ReclaimAt, cancellationToken, onlyIfNoncurrent);
    }

    /// <summary>Forgets the bucket's remembered versioning state (it was just changed): the next write reads it.</summary>
    public void ForgetVersioning(string bucket) => _versioning.TryRemove(bucket, out _);

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
    /// <exception cref="EncryptionKeyRequiredException">An SSE-C object without <paramref name="customerKey"/> (or with another: <see cref="WrongEncryptionKeyException"/>).</exception>
    public async Task<ObjectReadResult> OpenAsync(ObjectRecord record, ByteRange? range, CancellationToken cancellationToken, byte[]? customerKey = null)
    {
        using var activity = StorageTelemetry.Source.StartActivity("object.get");
        activity?.SetTag("storage.bucket", record.Bucket);
        var (offset, length) = range is { } r
            ? r.Resolve(record.Size) ?? throw new RangeNotSatisfiableException(record.Size)
            : (0, record.Size);
        if (record.Encryption is { } envelope)
        {
            return await OpenEncryptedAsync(record, envelope, offset, length, customerKey, cancellationToken);
        }

        if (customerKey is not null)
        {
            throw new EncryptionNotApplicableException();
        }

        return await OpenStoredAsync(record, offset, length, cancellationToken);
    }

    /// <summary>
    /// The whole blocks of ciphertext the range touches, opened like any stored bytes (erasure-coded or inline), and
    /// decrypted as they stream; the first block is decrypted before anything is answered.
    /// </summary>
    private async Task<ObjectReadResult> OpenEncryptedAsync(ObjectRecord record, ObjectEncryption envelope, long offset, long length, byte[]? customerKey, CancellationToken cancellationToken)
    {
        var keys = encryptor.OpenKeys(envelope, customerKey);
        var parts = record.Parts() ?? [record.Size];
        if (keys.Count != parts.Count)
        {
            throw new InvalidDataException($"'{record.Bucket}/{record.Key}' has {keys.Count} data keys for {parts.Count} parts.");
        }

        var cipher = record with { Size = parts.Sum(size => EncryptedLayout.CiphertextLength(size, envelope.BlockSize)) };
        var range = EncryptedLayout.Locate(parts, envelope.BlockSize, offset, length);
        var stored = await OpenStoredAsync(cipher, range.Offset, range.Length, cancellationToken);
        var plaintext = new DecryptingStream(stored.Content, keys, parts, envelope.BlockSize, range, length, $"{record.Bucket}/{record.Key}");
        try
        {
            await plaintext.PrepareAsync(cancellationToken);
        }
        catch
        {
            await plaintext.DisposeAsync();
            throw;
        }

        return new ObjectReadResult(record, offset, length, plaintext);
    }

    private async Task<ObjectReadResult> OpenStoredAsync(ObjectRecord record, long offset, long length, CancellationToken cancellationToken)
    {
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

    private async Task<WrittenSegment> WriteAsync(string bucket, string key, Stream body, long? length, byte[]? expectedMd5, EncryptionRequest? encryption, bool inline, CancellationToken cancellationToken)
    {
        using var activity = StorageTelemetry.Source.StartActivity("object.write");
        activity?.SetTag("storage.bucket", bucket);
        if (!await BucketExistsAsync(bucket, cancellationToken))
        {
            throw new BucketNotFoundException(bucket);
        }

        var settings = options.Value;
        var request = await EncryptionForAsync(bucket, encryption, cancellationToken);
        if (request.Mode is null)
        {
            var plain = await writer.WriteAsync(bucket, key, body, length, expectedMd5, inline ? settings.InlineObjectLimit : 0, cancellationToken);
            activity?.SetTag("storage.object.size", plain.Size);
            return plain;
        }

        // The nodes (or the record) keep ciphertext; the record keeps the plaintext's size and digest.
        var (ciphertext, envelope) = encryptor.Encrypt(request, body, length, expectedMd5);
        await using (ciphertext)
        {
            var inlineLimit = inline ? (int)EncryptedLayout.CiphertextLength(settings.InlineObjectLimit, envelope.BlockSize) : 0;
            var cipherLength = length is { } plainLength ? EncryptedLayout.CiphertextLength(plainLength, envelope.BlockSize) : (long?)null;
            var written = await writer.WriteAsync(bucket, key, ciphertext, cipherLength, expectedMd5: null, inlineLimit, cancellationToken, digest: envelope.IsCustomerKey);
            activity?.SetTag("storage.object.size", ciphertext.PlaintextLength);
            activity?.SetTag("storage.object.encryption", envelope.Mode);
            return written with
            {
                Size = ciphertext.PlaintextLength,
                Md5 = envelope.IsCustomerKey ? written.Md5 : ciphertext.PlaintextMd5!,
                Encryption = envelope,
            };
        }
    }

    public Task<bool> DeleteAsync(string bucket, string key, CancellationToken cancellationToken) =>
        DeleteAsync(bucket, key, WriteCondition.None, cancellationToken);

    /// <summary>Deletes the key's current version if it satisfies <paramref name="condition"/>; false when there was none.</summary>
    /// <exception cref="WriteConditionFailedException">The key's current version does not satisfy <paramref name="condition"/>.</exception>
    public async Task<bool> DeleteAsync(string bucket, string key, WriteCondition condition, CancellationToken cancellationToken) =>
        (await DeleteKeyAsync(bucket, key, condition, cancellationToken)).Removed is not null;

    /// <summary>
    /// Deletes the key as S3 does: removes its current version in an unversioned bucket; in a versioned one writes a
    /// delete marker (the null version's, when Suspended) that hides it and keeps the versions.
    /// </summary>
    /// <exception cref="WriteConditionFailedException">The key's current version does not satisfy <paramref name="condition"/>.</exception>
    public async Task<ObjectDeletion> DeleteKeyAsync(string bucket, string key, WriteCondition condition, CancellationToken cancellationToken)
    {
        using var activity = StorageTelemetry.Source.StartActivity("object.delete");
        var state = await VersioningAsync(bucket, cancellationToken);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (state == BucketVersioning.Unversioned)
                {
                    return new ObjectDeletion(await metadata.DeleteObjectAsync(bucket, key, ReclaimAt, condition, cancellationToken), null);
                }

                var marker = new ObjectRecord(bucket, key, 0, string.Empty, time.GetUtcNow(), ObjectAttributes.None, [],
                    VersionId: state == BucketVersioning.Enabled ? NewVersionId() : null, IsDeleteMarker: true);
                return new ObjectDeletion(await metadata.CommitObjectAsync(marker, ReclaimAt, condition, cancellationToken), marker);
            }
            catch (VersioningChangedException changed) when (attempt < MaxVersioningAttempts)
            {
                state = Remember(bucket, changed.Actual);
            }
        }
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

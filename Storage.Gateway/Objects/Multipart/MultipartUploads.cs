using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects.Encryption;

namespace Storage.Gateway.Objects.Multipart;

/// <summary>
/// A multipart upload in progress: its target, when it began, and what the finished object will carry (attributes,
/// and the checksum algorithm and type, COMPOSITE or FULL_OBJECT, its parts are checksummed for).
/// </summary>
/// <summary>
/// An upload in progress; <see cref="EncryptionMode"/> (SSE-S3, SSE-C or null) is what every part is stored with, and an
/// SSE-C upload's <see cref="KeyCheck"/> tells whether a part comes with the key the upload was started with.
/// </summary>
public sealed record MultipartUpload(string Bucket, string Key, string UploadId, DateTimeOffset Initiated, ObjectAttributes Attributes, string? ChecksumAlgorithm, string? ChecksumType = null, string? EncryptionMode = null, byte[]? KeyCheck = null);

/// <summary>An uploaded part: number, size, MD5 (hex) and the checksum the client sent, if any.</summary>
public sealed record UploadedPart(int Number, long Size, string ETag, DateTimeOffset LastModified, ObjectChecksum? Checksum);

/// <summary>One part a completion names (the client's list, in the client's order).</summary>
public sealed record CompletedPart(int Number, string ETag, string? Checksum);

/// <summary>Why a completion was refused; S3 has an error code for each.</summary>
public enum CompletionProblem
{
    /// <summary>No parts listed.</summary>
    NoParts,

    /// <summary>Part numbers not strictly ascending.</summary>
    InvalidPartOrder,

    /// <summary>A listed part is missing, or its ETag or checksum differs from the uploaded one.</summary>
    InvalidPart,

    /// <summary>A part other than the last is smaller than the minimum.</summary>
    EntityTooSmall,

    /// <summary>The object's checksum the client sent differs from the one the parts' checksums give.</summary>
    BadDigest,

    /// <summary>The client sent an object checksum the parts cannot give (another algorithm, parts without checksums, SHA as FULL_OBJECT).</summary>
    ChecksumUnavailable,
}

public sealed class MultipartCompletionException(CompletionProblem problem, string message) : Exception(message)
{
    public CompletionProblem Problem { get; } = problem;
}

/// <summary>
/// Multipart uploads on top of the object layer. Uploads and their parts are ordinary records in a hidden companion
/// bucket of their target (<c>.multipart.&lt;bucket&gt;</c>: not a valid S3 name, so no client can reach it): a part is
/// a committed segment, so it is accounted, healed and rebalanced like any object, and re-uploading a part number
/// reclaims the old one. Completing turns the parts' segments into the object's segments in one atomic metadata step,
/// without copying a byte. One companion per target, not one hidden bucket for all, so that a store may keep a bucket
/// and its uploads together (Redis Cluster: one hash slot, which the completion's one atomic script needs).
/// </summary>
public sealed class MultipartUploads(ObjectStore store, IMetadataStore metadata, TimeProvider time)
{
    /// <summary>The one hidden bucket every upload lived in before companions; its uploads move at start-up.</summary>
    public const string LegacyBucket = ".multipart";

    /// <summary>Not the start of a valid S3 bucket name (leading dot), so unreachable through any front door.</summary>
    private const string CompanionPrefix = LegacyBucket + ".";

    public const int MaxParts = 10_000;

    public const long MinimumPartSize = 5L * 1024 * 1024;

    /// <summary>
    /// How long a completed upload's result is remembered, so that a Complete repeated after a lost reply (SDKs retry)
    /// answers the same 200 instead of NoSuchUpload for a write that succeeded.
    /// </summary>
    public static readonly TimeSpan CompletionMemory = TimeSpan.FromMinutes(15);

    private const string UploadPrefix = "u/";
    private const string PartPrefix = "p/";
    private const string CompletedPrefix = "c/";

    /// <summary>Separates key and upload id in an upload's record key; sorts before every character a key continues with.</summary>
    private const char IdSeparator = '\u0001';

    /// <summary>The hidden bucket that holds the uploads to <paramref name="bucket"/>.</summary>
    public static string BucketFor(string bucket) => CompanionPrefix + bucket;

    /// <summary>Starts an upload; <paramref name="encryption"/> null: as the bucket's default encryption says (the client's key itself is never kept).</summary>
    public async Task<MultipartUpload> CreateAsync(string bucket, string key, ObjectAttributes attributes, string? checksumAlgorithm, string? checksumType, EncryptionRequest? encryption, CancellationToken cancellationToken)
    {
        if (!await store.BucketExistsAsync(bucket, cancellationToken))
        {
            throw new BucketNotFoundException(bucket);
        }

        var mode = (await store.EncryptionForAsync(bucket, encryption, cancellationToken)).Mode;
        var keyCheck = encryption?.CustomerKey is { } customerKey ? DataKeys.KeyCheck(customerKey) : null;
        var upload = new MultipartUpload(bucket, key, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), time.GetUtcNow(), attributes, checksumAlgorithm, checksumType, mode, keyCheck);
        var record = new ObjectRecord(BucketFor(bucket), UploadKey(bucket, key, upload.UploadId), 0, string.Empty, upload.Initiated, attributes, [],
            checksumAlgorithm is null ? null : new ObjectChecksum(checksumAlgorithm, string.Empty, checksumType ?? ObjectChecksum.Composite),
            Encryption: mode is null ? null : new ObjectEncryption(mode, keyCheck is null ? [] : [new WrappedDataKey(null, keyCheck)], 0));
        try
        {
            await metadata.CommitObjectAsync(record, time.GetUtcNow(), cancellationToken);
        }
        catch (BucketNotFoundException)
        {
            // The bucket's first upload: its companion is made on demand, so buckets without uploads have none.
            await store.EnsureBucketAsync(record.Bucket, cancellationToken);
            await metadata.CommitObjectAsync(record, time.GetUtcNow(), cancellationToken);
        }

        return upload;
    }

    public async Task<MultipartUpload?> GetAsync(string bucket, string key, string uploadId, CancellationToken cancellationToken) =>
        IsUploadId(uploadId) && await metadata.GetObjectAsync(BucketFor(bucket), UploadKey(bucket, key, uploadId), cancellationToken) is { } record
            ? ToUpload(record)
            : null;

    /// <summary>
    /// After a bucket's deletion: as S3, which deletes a bucket with uploads in progress and them with it, aborts them
    /// (releasing their parts), forgets its remembered completions and drops the companion.
    /// </summary>
    public async Task ForgetBucketAsync(string bucket, CancellationToken cancellationToken)
    {
        var companion = BucketFor(bucket);
        await foreach (var record in RecordsAsync(companion, UploadPrefix, cancellationToken))
        {
            await AbortAsync(ToUpload(record), cancellationToken);
        }

        await foreach (var completion in RecordsAsync(companion, CompletedPrefix, cancellationToken))
        {
            await metadata.DeleteObjectAsync(companion, completion.Key, time.GetUtcNow(), cancellationToken);
        }

        await metadata.DeleteBucketAsync(companion, cancellationToken);
    }

    /// <summary>
    /// Writes a part's bytes (not yet a part of the upload: <see cref="PutPartAsync"/> makes it one), encrypted as the
    /// upload is, with its own data key; an SSE-C upload's parts each need the client's key, the one it was started with.
    /// </summary>
    /// <exception cref="EncryptionKeyRequiredException">An SSE-C upload's part without <paramref name="customerKey"/>.</exception>
    /// <exception cref="EncryptionNotApplicableException">A client key for an upload that was not started with one.</exception>
    public Task<WrittenSegment> WritePartAsync(MultipartUpload upload, int number, Stream body, long? length, byte[]? expectedMd5, byte[]? customerKey, CancellationToken cancellationToken)
    {
        var encryption = (upload.EncryptionMode, customerKey) switch
        {
            (ObjectEncryption.CustomerKey, { } key) when upload.KeyCheck is { } check && !DataKeys.Matches(check, key) => throw new WrongEncryptionKeyException(),
            (ObjectEncryption.CustomerKey, { } key) => EncryptionRequest.Customer(key),
            (ObjectEncryption.CustomerKey, null) => throw new EncryptionKeyRequiredException(),
            (_, not null) => throw new EncryptionNotApplicableException(),
            (ObjectEncryption.ServerSide, null) => EncryptionRequest.ServerSide,
            _ => EncryptionRequest.Plain,
        };
        return store.WritePartAsync(BucketFor(upload.Bucket), $"{upload.UploadId}/{number}", body, length, expectedMd5, encryption, cancellationToken);
    }

    /// <summary>Stores a part; null when the upload does not exist (any bytes written are released).</summary>
    public async Task<UploadedPart?> PutPartAsync(MultipartUpload upload, int number, WrittenSegment written, ObjectChecksum? checksum, CancellationToken cancellationToken)
    {
        var partKey = PartKey(upload.UploadId, number);
        var record = await store.CommitAsync(BucketFor(upload.Bucket), partKey, written, ObjectAttributes.None, checksum, cancellationToken);

        // An abort that ran while this part was uploading could not see it: remove it now rather than leave it behind.
        if (await GetAsync(upload.Bucket, upload.Key, upload.UploadId, cancellationToken) is null)
        {
            await store.DeleteAsync(BucketFor(upload.Bucket), partKey, cancellationToken);
            return null;
        }

        return ToPart(record);
    }

    /// <summary>Parts in number order, after <paramref name="afterNumber"/>.</summary>
    public async Task<IReadOnlyList<UploadedPart>> ListPartsAsync(MultipartUpload upload, int afterNumber, int limit, CancellationToken cancellationToken) =>
        [.. (await metadata.ListObjectsAsync(BucketFor(upload.Bucket), $"{PartPrefix}{upload.UploadId}/", afterNumber > 0 ? PartKey(upload.UploadId, afterNumber) : null, limit, cancellationToken)).Select(ToPart)];

    /// <summary>Uploads of a bucket in key order (then upload id), starting after the given key and upload id.</summary>
    public async Task<IReadOnlyList<MultipartUpload>> ListUploadsAsync(string bucket, string prefix, string? keyMarker, string? uploadIdMarker, int limit, CancellationToken cancellationToken)
    {
        string? after = keyMarker is null ? null
            : uploadIdMarker is null ? $"{UploadPrefix}{bucket}/{keyMarker}{(char)(IdSeparator + 1)}"
            : UploadKey(bucket, keyMarker, uploadIdMarker);
        var records = await metadata.ListObjectsAsync(BucketFor(bucket), $"{UploadPrefix}{bucket}/{prefix}", after, limit, cancellationToken);
        return [.. records.Select(ToUpload)];
    }

    /// <summary>
    /// Validates the client's part list and atomically replaces the key with the assembled object; parts not listed
    /// are released. A whole-object checksum the client sent (<c>expected</c>) is verified against the one the parts'
    /// checksums give. Returns null when the upload does not exist.
    /// </summary>
    /// <exception cref="MultipartCompletionException">The list is empty, out of order, names a wrong part, or a part is too small.</exception>
    /// <exception cref="WriteConditionFailedException">The key's current version does not satisfy <paramref name="condition"/>; the upload stays as it was.</exception>
    /// <exception cref="WrongEncryptionKeyException">An SSE-C upload completed with a key that does not open every part.</exception>
    public async Task<ObjectRecord?> CompleteAsync(MultipartUpload upload, IReadOnlyList<CompletedPart> requested, ObjectChecksum? expected, WriteCondition condition, byte[]? customerKey, CancellationToken cancellationToken)
    {
        if (requested.Count == 0)
        {
            throw new MultipartCompletionException(CompletionProblem.NoParts, "You must specify at least one part.");
        }

        for (var i = 1; i < requested.Count; i++)
        {
            if (requested[i].Number <= requested[i - 1].Number)
            {
                throw new MultipartCompletionException(CompletionProblem.InvalidPartOrder, "The list of parts was not in ascending order of part number.");
            }
        }

        // A Complete that committed but was cut off before its bookkeeping (the client gone, the process killed):
        // the object with this part list's ETag is there, so finish the bookkeeping and answer as the first did.
        if (requested.All(p => IsHexMd5(p.ETag.Trim('"')))
            && await metadata.GetObjectAsync(upload.Bucket, upload.Key, cancellationToken) is { } current
            && current.LastModified >= upload.Initiated
            && current.ETag == MultipartETag([.. requested.Select(p => new UploadedPart(p.Number, 0, p.ETag.Trim('"').ToLowerInvariant(), default, null))]))
        {
            await FinishAsync(upload, current);
            return current;
        }

        var partRecords = (await AllPartRecordsAsync(BucketFor(upload.Bucket), upload.UploadId, cancellationToken)).ToDictionary(r => ToPart(r).Number);
        var uploaded = partRecords.Values.Select(ToPart).ToDictionary(p => p.Number);
        var chosen = new List<UploadedPart>(requested.Count);
        foreach (var (index, want) in requested.Index())
        {
            if (!uploaded.TryGetValue(want.Number, out var part) || !string.Equals(want.ETag.Trim('"'), part.ETag, StringComparison.OrdinalIgnoreCase)
                || (want.Checksum is not null && want.Checksum != part.Checksum?.Value))
            {
                throw new MultipartCompletionException(CompletionProblem.InvalidPart, $"Part {want.Number} was not uploaded or its ETag or checksum does not match.");
            }

            if (index < requested.Count - 1 && part.Size < MinimumPartSize)
            {
                throw new MultipartCompletionException(CompletionProblem.EntityTooSmall, $"Part {want.Number} is {part.Size} bytes; every part but the last must be at least {MinimumPartSize} bytes.");
            }

            chosen.Add(part);
        }

        var checksum = ObjectChecksumOf(upload.ChecksumAlgorithm, upload.ChecksumType, chosen);
        if (expected is not null)
        {
            if (checksum is null || checksum.Algorithm != expected.Algorithm)
            {
                throw new MultipartCompletionException(CompletionProblem.ChecksumUnavailable,
                    $"A {expected.Type} {expected.Algorithm} checksum needs an upload created with x-amz-checksum-algorithm {expected.Algorithm} and every part uploaded with its checksum{(expected.Type == ObjectChecksum.FullObject ? " (FULL_OBJECT is defined for the CRC algorithms only)" : string.Empty)}.");
            }

            if (!SameChecksum(checksum, expected))
            {
                throw new MultipartCompletionException(CompletionProblem.BadDigest, $"The {expected.Type} {expected.Algorithm} checksum you specified is not the one the parts' checksums give ({checksum.Value}).");
            }
        }

        // The records validated above, not fresh reads: a part re-uploaded meanwhile fails the commit's check instead.
        var chosenRecords = chosen.Select(p => partRecords[p.Number]).ToList();

        // Completion assembles segments, so a part's bytes must be one (parts are never inline: WritePartAsync).
        if (chosenRecords.FirstOrDefault(r => r.Size > 0 && r.Segments.Count == 0) is { } unassemblable)
        {
            throw new InvalidOperationException($"Part record '{unassemblable.Key}' has bytes but no segment; parts are never kept inline.");
        }
        var record = new ObjectRecord(
            upload.Bucket,
            upload.Key,
            chosen.Sum(p => p.Size),
            MultipartETag(chosen),
            time.GetUtcNow(),
            upload.Attributes,
            [.. chosenRecords.SelectMany(r => r.Segments)],
            checksum,
            [.. chosen.Select(p => p.Size)],
            Encryption: AssembledEncryption(upload, chosenRecords, customerKey));
        var sources = chosenRecords.Select(r => new AssembledSource(r.Key, r.Segments.Count > 0 ? r.Segments[0].Id : null)).ToArray();
        var committed = await store.CommitAssembledAsync(record, BucketFor(upload.Bucket), sources, condition, cancellationToken)
            ?? throw new MultipartCompletionException(CompletionProblem.InvalidPart, "A part was replaced or the upload was aborted while completing; list the parts and try again.");
        await FinishAsync(upload, committed);
        return committed;
    }

    /// <summary>
    /// The completed object's envelope: every part's own data key in order. A Complete of an SSE-C upload that carries
    /// the key (S3 does not require it) checks that every part opens with it, so no object is assembled that its key
    /// cannot read whole.
    /// </summary>
    private ObjectEncryption? AssembledEncryption(MultipartUpload upload, IReadOnlyList<ObjectRecord> parts, byte[]? customerKey)
    {
        if (upload.EncryptionMode is not { } mode)
        {
            return customerKey is null ? null : throw new EncryptionNotApplicableException();
        }

        var envelopes = parts.Select(p => p.Encryption ?? throw new InvalidOperationException($"Part record '{p.Key}' of an encrypted upload is not encrypted.")).ToList();
        if (envelopes.Select(e => e.BlockSize).Distinct().Count() > 1)
        {
            throw new MultipartCompletionException(CompletionProblem.InvalidPart, "The parts were encrypted with different block sizes (Storage:Encryption:BlockSize changed during the upload); upload them again.");
        }

        var assembled = new ObjectEncryption(mode, [.. envelopes.SelectMany(e => e.DataKeys)], envelopes[0].BlockSize);
        if (customerKey is not null)
        {
            store.CheckEncryptionKey(assembled, customerKey);
        }

        return assembled;
    }

    /// <summary>
    /// After the commit: remember the result (a retried Complete finds it once the upload is gone), release the parts
    /// not listed (the commit removed the listed ones), drop the upload. Not cancellable: the object is committed, and a client that hung up must not
    /// leave this half done (a retry would still find it, through the object's ETag, but the parts would linger).
    /// </summary>
    private async Task FinishAsync(MultipartUpload upload, ObjectRecord completed)
    {
        var companion = BucketFor(upload.Bucket);
        // The companion bucket is unversioned: the version the Complete made is remembered in the record's metadata.
        var completion = new ObjectRecord(companion, CompletedKey(upload.Bucket, upload.Key, upload.UploadId), completed.Size, completed.ETag, completed.LastModified,
            completed.VersionId is { } version ? new ObjectAttributes(UserMetadata: new Dictionary<string, string> { [CompletedVersion] = version }) : ObjectAttributes.None,
            [], completed.Checksum);
        await metadata.CommitObjectAsync(completion, time.GetUtcNow(), CancellationToken.None);
        await DeletePartsAsync(companion, upload.UploadId, CancellationToken.None);
        await metadata.DeleteObjectAsync(companion, UploadKey(upload.Bucket, upload.Key, upload.UploadId), time.GetUtcNow(), CancellationToken.None);
    }

    /// <summary>
    /// The result of an upload of this bucket and key completed within <see cref="CompletionMemory"/> with the same
    /// part list (the multipart ETag is a digest of the listed parts' ETags), as its Complete answered; null otherwise.
    /// </summary>
    public async Task<ObjectRecord?> CompletedAsync(string bucket, string key, string uploadId, IReadOnlyList<CompletedPart> requested, CancellationToken cancellationToken)
    {
        if (!IsUploadId(uploadId) || requested.Count == 0 || requested.Any(p => !IsHexMd5(p.ETag.Trim('"')))
            || await metadata.GetObjectAsync(BucketFor(bucket), CompletedKey(bucket, key, uploadId), cancellationToken) is not { } completion
            || completion.LastModified + CompletionMemory < time.GetUtcNow())
        {
            return null;
        }

        var etag = MultipartETag([.. requested.Select(p => new UploadedPart(p.Number, 0, p.ETag.Trim('"'), default, null))]);
        return string.Equals(etag, completion.ETag, StringComparison.OrdinalIgnoreCase)
            ? completion with { Bucket = bucket, Key = key, VersionId = completion.Attributes.UserMetadata?.GetValueOrDefault(CompletedVersion), Attributes = ObjectAttributes.None }
            : null;
    }

    /// <summary>Forgets completions older than <see cref="CompletionMemory"/>; returns how many.</summary>
    public async Task<int> ForgetCompletionsAsync(CancellationToken cancellationToken)
    {
        var forgotten = 0;
        foreach (var companion in await CompanionsAsync(cancellationToken))
        {
            await foreach (var completion in RecordsAsync(companion, CompletedPrefix, cancellationToken))
            {
                if (completion.LastModified + CompletionMemory < time.GetUtcNow())
                {
                    await metadata.DeleteObjectAsync(companion, completion.Key, time.GetUtcNow(), cancellationToken);
                    forgotten++;
                }
            }
        }

        return forgotten;
    }

    /// <summary>Deletes the upload and releases its parts; false when it does not exist.</summary>
    public async Task<bool> AbortAsync(MultipartUpload upload, CancellationToken cancellationToken)
    {
        // The upload record goes first, so a part arriving meanwhile sees it gone and removes itself.
        var companion = BucketFor(upload.Bucket);
        if (!await store.DeleteAsync(companion, UploadKey(upload.Bucket, upload.Key, upload.UploadId), cancellationToken))
        {
            return false;
        }

        await DeletePartsAsync(companion, upload.UploadId, cancellationToken);
        return true;
    }

    /// <summary>Aborts every upload begun before <paramref name="initiatedBefore"/>; returns how many.</summary>
    public async Task<int> AbortBeforeAsync(DateTimeOffset initiatedBefore, CancellationToken cancellationToken)
    {
        var aborted = 0;
        foreach (var companion in await CompanionsAsync(cancellationToken))
        {
            aborted += await AbortBeforeAsync(companion[CompanionPrefix.Length..], string.Empty, initiatedBefore, cancellationToken);
        }

        return aborted;
    }

    /// <summary>Aborts the uploads to keys of <paramref name="bucket"/> under <paramref name="prefix"/> begun before <paramref name="initiatedBefore"/>; returns how many.</summary>
    public async Task<int> AbortBeforeAsync(string bucket, string prefix, DateTimeOffset initiatedBefore, CancellationToken cancellationToken)
    {
        var aborted = 0;
        await foreach (var record in RecordsAsync(BucketFor(bucket), $"{UploadPrefix}{bucket}/{prefix}", cancellationToken))
        {
            if (record.LastModified < initiatedBefore && await AbortAsync(ToUpload(record), cancellationToken))
            {
                aborted++;
            }
        }

        return aborted;
    }

    /// <summary>
    /// Moves the uploads of the one hidden bucket earlier versions kept (<see cref="LegacyBucket"/>) to their targets'
    /// companions, so uploads in progress survive the upgrade: each part, then its upload record, then the remembered
    /// completions, each in one atomic step that keeps its segments (and their accounting). Parts without an upload
    /// are released; the emptied bucket is deleted. Idempotent, and safe on several replicas at once (a record another
    /// one moved first is skipped). Returns how many uploads moved.
    /// </summary>
    public async Task<int> MoveLegacyUploadsAsync(CancellationToken cancellationToken)
    {
        if (!await store.BucketExistsAsync(LegacyBucket, cancellationToken))
        {
            return 0;
        }

        var moved = 0;
        await foreach (var record in RecordsAsync(LegacyBucket, UploadPrefix, cancellationToken))
        {
            var upload = ToUpload(record);
            var companion = BucketFor(upload.Bucket);
            await store.EnsureBucketAsync(companion, cancellationToken);
            foreach (var part in await AllPartRecordsAsync(LegacyBucket, upload.UploadId, cancellationToken))
            {
                await MoveAsync(part, companion, cancellationToken);
            }

            if (await MoveAsync(record, companion, cancellationToken))
            {
                moved++;
            }
        }

        await foreach (var completion in RecordsAsync(LegacyBucket, CompletedPrefix, cancellationToken))
        {
            var target = completion.Key[CompletedPrefix.Length..completion.Key.IndexOf('/', CompletedPrefix.Length)];
            await store.EnsureBucketAsync(BucketFor(target), cancellationToken);
            await MoveAsync(completion, BucketFor(target), cancellationToken);
        }

        await foreach (var orphan in RecordsAsync(LegacyBucket, string.Empty, cancellationToken))
        {
            await store.DeleteAsync(LegacyBucket, orphan.Key, cancellationToken);
        }

        await metadata.DeleteBucketAsync(LegacyBucket, cancellationToken);
        return moved;
    }

    /// <summary>One record from the legacy bucket to <paramref name="companion"/>, its segments with it; false if it was gone or changed.</summary>
    private Task<bool> MoveAsync(ObjectRecord record, string companion, CancellationToken cancellationToken) =>
        metadata.CommitAssembledObjectAsync(
            record with { Bucket = companion },
            LegacyBucket,
            [new AssembledSource(record.Key, record.Segments.Count > 0 ? record.Segments[0].Id : null)],
            time.GetUtcNow(),
            cancellationToken);

    /// <summary>Every companion bucket, that is every bucket with uploads (now or before).</summary>
    private async Task<IEnumerable<string>> CompanionsAsync(CancellationToken cancellationToken) =>
        (await metadata.ListBucketsAsync(cancellationToken)).Select(b => b.Name).Where(name => name.StartsWith(CompanionPrefix, StringComparison.Ordinal));

    /// <summary>The records of <paramref name="bucket"/> under <paramref name="prefix"/>, page by page.</summary>
    private async IAsyncEnumerable<ObjectRecord> RecordsAsync(string bucket, string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? after = null;
        while (true)
        {
            var page = await metadata.ListObjectsAsync(bucket, prefix, after, 1000, cancellationToken);
            foreach (var record in page)
            {
                yield return record;
            }

            if (page.Count < 1000)
            {
                yield break;
            }

            after = page[^1].Key;
        }
    }

    private async Task DeletePartsAsync(string companion, string uploadId, CancellationToken cancellationToken)
    {
        foreach (var part in await AllPartRecordsAsync(companion, uploadId, cancellationToken))
        {
            await store.DeleteAsync(companion, part.Key, cancellationToken);
        }
    }

    public static bool IsUploadId(string uploadId) => uploadId.Length == 32 && uploadId.All(char.IsAsciiHexDigitLower);

    /// <summary>S3's multipart ETag: MD5 of the concatenated binary part MD5s, then "-" and the part count.</summary>
    public static string MultipartETag(IReadOnlyCollection<UploadedPart> parts)
    {
        // MD5 because S3 defines the ETag so; it identifies content, it protects nothing.
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        foreach (var part in parts)
        {
            md5.AppendData(Convert.FromHexString(part.ETag));
        }

        return Convert.ToHexStringLower(md5.GetHashAndReset()) + "-" + parts.Count.ToString(CultureInfo.InvariantCulture);
    }

    private async Task<List<ObjectRecord>> AllPartRecordsAsync(string companion, string uploadId, CancellationToken cancellationToken)
    {
        var records = new List<ObjectRecord>();
        await foreach (var record in RecordsAsync(companion, $"{PartPrefix}{uploadId}/", cancellationToken))
        {
            records.Add(record);
        }

        return records;
    }

    /// <summary>
    /// The object's checksum from its parts', when every part has one of the upload's algorithm: FULL_OBJECT (the CRC
    /// of the whole object, combined from the parts' CRCs and sizes) or COMPOSITE (checksum of the parts' checksums,
    /// "-N").
    /// </summary>
    private static ObjectChecksum? ObjectChecksumOf(string? algorithm, string? type, List<UploadedPart> parts)
    {
        if (algorithm is null || parts.Any(p => p.Checksum?.Algorithm != algorithm))
        {
            return null;
        }

        if (type == ObjectChecksum.FullObject)
        {
            return Integrity.PayloadChecksum.CombineFullObject(algorithm, parts.Select(p => (p.Checksum!.Value, p.Size))) is { } combined
                ? new ObjectChecksum(algorithm, combined, ObjectChecksum.FullObject)
                : null;
        }

        using var digest = Integrity.PayloadChecksum.Create(algorithm)!;
        foreach (var part in parts)
        {
            digest.Append(Convert.FromBase64String(part.Checksum!.Value));
        }

        return new ObjectChecksum(algorithm, $"{digest.GetBase64()}-{parts.Count.ToString(CultureInfo.InvariantCulture)}", ObjectChecksum.Composite);
    }

    /// <summary>Equal values; a COMPOSITE value may be sent with or without its "-N" part count.</summary>
    private static bool SameChecksum(ObjectChecksum computed, ObjectChecksum sent) =>
        computed.Type == sent.Type
        && (computed.Value == sent.Value || (sent.Type == ObjectChecksum.Composite && computed.Value.StartsWith(sent.Value + "-", StringComparison.Ordinal)));

    private static string UploadKey(string bucket, string key, string uploadId) => $"{UploadPrefix}{bucket}/{key}{IdSeparator}{uploadId}";

    private const string CompletedVersion = "version-id";

    private static string CompletedKey(string bucket, string key, string uploadId) => $"{CompletedPrefix}{bucket}/{key}{IdSeparator}{uploadId}";

    private static bool IsHexMd5(string etag) => etag.Length == 32 && etag.All(char.IsAsciiHexDigit);

    private static string PartKey(string uploadId, int number) => $"{PartPrefix}{uploadId}/{number.ToString("D5", CultureInfo.InvariantCulture)}";

    private static MultipartUpload ToUpload(ObjectRecord record)
    {
        var path = record.Key[UploadPrefix.Length..];
        var slash = path.IndexOf('/', StringComparison.Ordinal);
        var separator = path.LastIndexOf(IdSeparator);
        return new MultipartUpload(path[..slash], path[(slash + 1)..separator], path[(separator + 1)..], record.LastModified, record.Attributes, record.Checksum?.Algorithm, record.Checksum?.Type, record.Encryption?.Mode,
            record.Encryption is { DataKeys: [var check, ..] } ? check.Wrapped : null);
    }

    private static UploadedPart ToPart(ObjectRecord record) =>
        new(int.Parse(record.Key.AsSpan(record.Key.LastIndexOf('/') + 1), CultureInfo.InvariantCulture), record.Size, record.ETag, record.LastModified, record.Checksum);
}

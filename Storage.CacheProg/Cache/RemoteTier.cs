using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Polly;
using Polly.CircuitBreaker;

namespace Storage.CacheProg.Cache;

/// <summary>An action entry as the remote holds it, and when it was written there.</summary>
public sealed record RemoteEntry(ActionEntry Entry, DateTime WrittenUtc);

/// <summary>
/// The shared tier on any S3 endpoint (the gateway, MinIO, AWS) in the workshop layout: <c>&lt;prefix&gt;&lt;ActionID
/// hex&gt;-a.json</c> and <c>&lt;prefix&gt;&lt;OutputID hex&gt;-d</c>. Every call runs under a deadline and a circuit breaker,
/// so a slow or failing remote costs a build at most a timeout, then nothing until it recovers. Downloads are
/// verified against their OutputID before they are kept.
/// </summary>
public sealed class RemoteTier : IDisposable
{
    /// <summary>Each remote call is a span of its own, so its trace starts here and carries the gateway's spans.</summary>
    private static readonly ActivitySource Source = new(CacheStats.MeterName);

    /// <summary>Bodies up to this size travel inside their action entry too (most of a Go build's outputs are under 1 KiB).</summary>
    public const int InlineBodyLimit = 32 * 1024;

    private readonly AmazonS3Client _s3;
    private readonly ResiliencePipeline _pipeline;

    /// <summary>
    /// Calls ahead of the go command (a prefetch) run this many at once, so each gets this many times the time, and
    /// bypass the breaker: a prefetch stops at its first failure, and its slow calls must not make the build's own
    /// gets misses.
    /// </summary>
    public const int AheadShare = 16;
    private readonly CacheProgOptions _options;

    public RemoteTier(CacheProgOptions options)
    {
        _options = options;
        AWSCredentials credentials = options.AccessKey is { Length: > 0 } accessKey
            ? options.SessionToken is { Length: > 0 } token
                ? new SessionAWSCredentials(accessKey, options.SecretKey, token)
                : new BasicAWSCredentials(accessKey, options.SecretKey)
            : new AnonymousAWSCredentials();
        _s3 = new AmazonS3Client(credentials, new AmazonS3Config
        {
            ServiceURL = options.Endpoint!.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = options.Region,

            // Bodies are verified against their SHA-256 OutputID here, which is stronger than the SDK's CRCs; and plain
            // (not aws-chunked) uploads work with every S3 server.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            MaxErrorRetry = 1,
            Timeout = options.RemoteTimeout,
        });
        _pipeline = new ResiliencePipelineBuilder()
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = 0.5,
                MinimumThroughput = 4,
                SamplingDuration = TimeSpan.FromSeconds(10),
                BreakDuration = TimeSpan.FromSeconds(30),
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => !IsNotFound(ex)),
            })
            .Build();
    }

    /// <summary>The remote's action entry and when it was written there, or null when it has none.</summary>
    /// <exception cref="RemoteUnavailableException">The remote failed, timed out, or the breaker is open.</exception>
    public Task<RemoteEntry?> GetActionAsync(byte[] actionId, bool ahead, CancellationToken cancellationToken) =>
        RunAsync(ahead ? "remote.prefetch_action" : "remote.get_action", async ct =>
        {
            using var response = await _s3.GetObjectAsync(_options.Bucket, ActionKey(actionId), ct);
            using var buffer = new MemoryStream();
            await response.ResponseStream.CopyToAsync(buffer, ct);
            return ActionEntry.Parse(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)) is { } entry
                ? new RemoteEntry(entry, response.LastModified?.ToUniversalTime() ?? DateTime.UtcNow)
                : null;
        }, cancellationToken, ahead: ahead);

    /// <summary>
    /// Downloads a body to <paramref name="path"/>, hashing it; true only if it has the expected size and SHA-256
    /// (a corrupt or foreign object is refused: the caller deletes the file and reports a miss).
    /// </summary>
    public Task<bool> DownloadAsync(ActionEntry entry, string path, bool ahead, CancellationToken cancellationToken) =>
        RunAsync(ahead ? "remote.prefetch_body" : "remote.download", async ct =>
        {
            using var response = await _s3.GetObjectAsync(_options.Bucket, BodyKey(entry.OutputID), ct);
            if (response.ContentLength != entry.Size)
            {
                return false;
            }

            using var sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0);
            var buffer = new byte[81920];
            long total = 0;
            int read;
            while ((read = await response.ResponseStream.ReadAsync(buffer, ct)) > 0)
            {
                sha256.AppendData(buffer, 0, read);
                file.Write(buffer, 0, read);
                total += read;
            }

            return total == entry.Size && string.Equals(Convert.ToHexStringLower(sha256.GetHashAndReset()), entry.OutputID, StringComparison.OrdinalIgnoreCase);
        }, cancellationToken, BodyTimeout(entry.Size), ahead);

    /// <summary>When the remote's copy of the body was written; null when it has none.</summary>
    public Task<DateTime?> BodyWrittenAsync(string outputIdHex, CancellationToken cancellationToken) =>
        RunAsync("remote.has_body", async ct =>
        {
            try
            {
                var head = await _s3.GetObjectMetadataAsync(_options.Bucket, BodyKey(outputIdHex), ct);
                return head.LastModified?.ToUniversalTime() ?? DateTime.UtcNow;
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
            {
                return (DateTime?)null;
            }
        }, cancellationToken);

    /// <summary>Writes the remote's body again where it is (a copy onto itself), so its age starts over without sending it.</summary>
    public Task RefreshBodyAsync(string outputIdHex, long size, CancellationToken cancellationToken) =>
        RunAsync("remote.refresh_body", async ct =>
        {
            var key = BodyKey(outputIdHex);
            await _s3.CopyObjectAsync(new CopyObjectRequest { SourceBucket = _options.Bucket, SourceKey = key, DestinationBucket = _options.Bucket, DestinationKey = key, MetadataDirective = S3MetadataDirective.REPLACE }, ct);
            return true;
        }, cancellationToken, BodyTimeout(size));

    public Task UploadBodyAsync(string outputIdHex, string path, long size, CancellationToken cancellationToken) =>
        RunAsync("remote.upload_body", async ct =>
        {
            await _s3.PutObjectAsync(new PutObjectRequest { BucketName = _options.Bucket, Key = BodyKey(outputIdHex), FilePath = path, UseChunkEncoding = false }, ct);
            return true;
        }, cancellationToken, BodyTimeout(size));

    /// <summary>Uploads the action entry, with the body inline when it is small (read from <paramref name="bodyPath"/>).</summary>
    public async Task UploadActionAsync(byte[] actionId, ActionEntry entry, string bodyPath, CancellationToken cancellationToken)
    {
        // Read before the remote call: a local I/O error is no sign of the remote's health, for the breaker.
        var json = (entry.Size <= InlineBodyLimit ? entry with { Body = await File.ReadAllBytesAsync(bodyPath, cancellationToken) } : entry).ToJson();
        await RunAsync("remote.upload_action", async ct =>
        {
            await _s3.PutObjectAsync(new PutObjectRequest { BucketName = _options.Bucket, Key = ActionKey(actionId), InputStream = new MemoryStream(json), ContentType = "application/json", UseChunkEncoding = false }, ct);
            return true;
        }, cancellationToken);
    }

    /// <summary>Publishes a build's manifest, and drops all but the newest <paramref name="keep"/> (best effort).</summary>
    public async Task PublishManifestAsync(IReadOnlyList<byte[]> actionIds, int keep, CancellationToken cancellationToken)
    {
        var body = BuildManifest.Serialize(actionIds);
        await RunAsync("remote.publish_manifest", async ct =>
        {
            await _s3.PutObjectAsync(new PutObjectRequest { BucketName = _options.Bucket, Key = _options.Prefix + BuildManifest.NameFor(DateTimeOffset.UtcNow), InputStream = new MemoryStream(body), UseChunkEncoding = false }, ct);
            var listed = await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = _options.Prefix + BuildManifest.Folder, MaxKeys = keep + 8 }, ct);
            if (listed.S3Objects is { Count: > 0 } manifests && manifests.Count > keep)
            {
                await _s3.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = _options.Bucket, Objects = [.. manifests.Skip(keep).Select(m => new KeyVersion { Key = m.Key })], Quiet = true }, ct);
            }

            return true;
        }, cancellationToken);
    }

    /// <summary>The action ids of the newest <paramref name="count"/> manifests, newest first (objects that are not manifests are skipped).</summary>
    /// <exception cref="RemoteUnavailableException">The remote failed, timed out, or the breaker is open.</exception>
    public async Task<IReadOnlyList<IReadOnlyList<byte[]>>> RecentManifestsAsync(int count, CancellationToken cancellationToken) =>
        await RunAsync<IReadOnlyList<IReadOnlyList<byte[]>>>("remote.recent_manifests", async ct =>
        {
            var listed = await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = _options.Prefix + BuildManifest.Folder, MaxKeys = count }, ct);
            var manifests = await Task.WhenAll((listed.S3Objects ?? []).Take(count).Select(async item =>
            {
                try
                {
                    using var response = await _s3.GetObjectAsync(_options.Bucket, item.Key, ct);
                    using var buffer = new MemoryStream();
                    await response.ResponseStream.CopyToAsync(buffer, ct);
                    return BuildManifest.Parse(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
                }
                catch (AmazonS3Exception ex) when (IsNotFound(ex))
                {
                    // Pruned by another build since the listing: the others still count.
                    return null;
                }
            }));
            return [.. manifests.OfType<IReadOnlyList<byte[]>>()];
        }, cancellationToken) ?? [];

    /// <summary>Creates the bucket if it does not exist (the worker does this at start, so a fresh store just works).</summary>
    public async Task EnsureBucketAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _s3.PutBucketAsync(_options.Bucket, cancellationToken);
        }
        catch (AmazonS3Exception ex) when (ex.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
        {
            // Already there: the usual case.
        }
    }

    /// <summary>Every key under the prefix, with sizes (for <c>clean</c>).</summary>
    public async IAsyncEnumerable<(string Key, long Size)> ListAsync(string prefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? token = null;
        do
        {
            ListObjectsV2Response page;
            using (Source.StartActivity("remote.list"))
            {
                page = await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = prefix, ContinuationToken = token }, cancellationToken);
            }

            foreach (var item in page.S3Objects ?? [])
            {
                yield return (item.Key, item.Size ?? 0);
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
    }

    public async Task DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        using var activity = Source.StartActivity("remote.delete");
        await _s3.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = _options.Bucket, Objects = [.. keys.Select(k => new KeyVersion { Key = k })], Quiet = true }, cancellationToken);
    }

    public void Dispose() => _s3.Dispose();

    private string ActionKey(byte[] actionId) => _options.Prefix + Convert.ToHexStringLower(actionId) + LocalTier.ActionSuffix;

    private string BodyKey(string outputIdHex) => _options.Prefix + outputIdHex.ToLowerInvariant() + LocalTier.BodySuffix;

    /// <summary>Large bodies get time for their bytes at a modest 5 MB/s on top of the request timeout.</summary>
    private TimeSpan BodyTimeout(long size) => _options.RemoteTimeout + TimeSpan.FromSeconds(size / 5e6);

    private async Task<T?> RunAsync<T>(string operation, Func<CancellationToken, Task<T?>> call, CancellationToken cancellationToken, TimeSpan? timeout = null, bool ahead = false)
    {
        using var activity = Source.StartActivity(operation);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter((timeout ?? _options.RemoteTimeout) * (ahead ? AheadShare : 1));

            return ahead ? await call(deadline.Token) : await _pipeline.ExecuteAsync(async ct => await call(ct), deadline.Token);
        }
        catch (Exception ex) when (IsNotFound(ex))
        {
            return default;
        }
        catch (Exception ex) when (ex is BrokenCircuitException or AmazonServiceException or HttpRequestException or IOException
            || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            throw new RemoteUnavailableException(ex.Message, ex);
        }
    }

    private static bool IsNotFound(Exception ex) => ex is AmazonS3Exception { StatusCode: HttpStatusCode.NotFound };
}

/// <summary>The remote tier could not answer (error, timeout, open circuit): a get becomes a miss, an upload waits for the next build.</summary>
public sealed class RemoteUnavailableException(string message, Exception inner) : Exception(message, inner);

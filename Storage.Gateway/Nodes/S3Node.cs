using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Gateway.Security;

namespace Storage.Gateway.Nodes;

/// <summary>
/// A node that is a bucket on an S3-compatible server (MinIO in production). Reads, deletes, listing and bucket
/// creation use AWSSDK.S3. Parts are uploaded by a SigV4-signed streaming PUT with <c>UNSIGNED-PAYLOAD</c> and
/// a Content-Length, without aws-chunked framing or transport checksums: the one upload form every S3 server
/// accepts, over http or https, and integrity is already guaranteed by the CRC-32C after every block. (The SDK
/// cannot do this: it refuses UNSIGNED-PAYLOAD over plain http, and its default aws-chunked form is not decoded
/// by every S3-compatible server.) A part of unknown length is first spooled to a local temporary file so it
/// can be sent with its length: memory stays bounded, and no server needs multipart support.
/// </summary>
public sealed class S3Node : IStorageNode, IDisposable
{
    /// <summary>MinIO and most S3-compatible servers accept any region; this is the conventional default.</summary>
    private const string Region = "us-east-1";

    private readonly AmazonS3Client _client;
    private readonly HttpClient _uploads;
    private readonly S3NodeOptions _options;

    public S3Node(string id, S3NodeOptions options)
    {
        Id = id;
        _options = options;
        _client = new AmazonS3Client(
            new BasicAWSCredentials(options.AccessKey, options.SecretKey),
            new AmazonS3Config
            {
                ServiceURL = options.Endpoint.ToString(),
                ForcePathStyle = true,
                AuthenticationRegion = Region,
                RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
                ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
                Timeout = TimeSpan.FromMinutes(5),
                MaxErrorRetry = 2,
            });
        _uploads = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public string Id { get; }

    public string Address => _options.Address;

    /// <summary>Creates the parts bucket if it does not exist yet.</summary>
    public async Task CreateAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _client.PutBucketAsync(new PutBucketRequest { BucketName = _options.Bucket }, cancellationToken);
        }
        catch (AmazonS3Exception ex) when (ex.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
        {
        }
    }

    public async Task PutAsync(string key, Stream content, long length, CancellationToken cancellationToken)
    {
        PartKeys.EnsureSafe(key);
        try
        {
            await AsNodeFailureAsync(key, () => length >= 0 ? UploadAsync(key, content, length, cancellationToken) : SpoolAndUploadAsync(key, content, cancellationToken));
        }
        catch
        {
            // Some S3-compatible servers keep a truncated object when a request breaks off. Part keys are unique
            // to one write, so removing the key cannot lose a good part; failing here too is left to the sweeper.
            await DeleteQuietlyAsync(key);
            throw;
        }
    }

    public async Task<Stream> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken)
    {
        PartKeys.EnsureSafe(key);
        try
        {
            var response = await _client.GetObjectAsync(
                new GetObjectRequest { BucketName = _options.Bucket, Key = key, ByteRange = new ByteRange(offset, offset + Math.Max(length, 1) - 1) },
                cancellationToken);
            return new ResponseStream(response);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            throw new PartNotFoundException(Id, key);
        }
        catch (Exception ex) when (IsNodeFailure(ex))
        {
            throw new IOException($"Node '{Id}' failed to read '{key}': {ex.Message}", ex);
        }
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        PartKeys.EnsureSafe(key);
        return AsNodeFailureAsync(key, () => _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _options.Bucket, Key = key }, cancellationToken));
    }

    public async IAsyncEnumerable<PartInfo> ListAsync(string prefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = prefix, MaxKeys = 1000 };
        do
        {
            ListObjectsV2Response page = null!;
            await AsNodeFailureAsync(prefix, async () => page = await _client.ListObjectsV2Async(request, cancellationToken));
            foreach (var item in page.S3Objects ?? [])
            {
                yield return new PartInfo(item.Key, item.Size ?? 0, item.LastModified ?? DateTime.UnixEpoch);
            }

            request.ContinuationToken = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (request.ContinuationToken is not null);
    }

    public async Task<PartInfo?> StatAsync(string key, CancellationToken cancellationToken)
    {
        PartKeys.EnsureSafe(key);
        try
        {
            var metadata = await _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _options.Bucket, Key = key }, cancellationToken);
            return new PartInfo(key, metadata.ContentLength, metadata.LastModified ?? DateTime.UnixEpoch);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (Exception ex) when (IsNodeFailure(ex))
        {
            throw new IOException($"Node '{Id}' failed to stat '{key}': {ex.Message}", ex);
        }
    }

    /// <summary>
    /// S3 does not report capacity: placement treats the node as large and weighs it by what it holds. A server that
    /// answers without the parts bucket (never prepared, or back with an empty disk) gets the bucket; whether it lost
    /// data is the identity marker's question (<see cref="NodeIdentity"/>).
    /// </summary>
    public async Task<NodeCapacity?> ProbeAsync(CancellationToken cancellationToken)
    {
        try
        {
            // HEAD on the bucket: answers whether the server and bucket are there, without listing anything.
            await _client.HeadBucketAsync(new HeadBucketRequest { BucketName = _options.Bucket }, cancellationToken);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            await CreateAsync(cancellationToken);
        }

        return null;
    }

    public void Dispose()
    {
        _client.Dispose();
        _uploads.Dispose();
    }

    /// <summary>SDK and transport errors become IOException, as for any other node, so callers handle one failure type.</summary>
    private static bool IsNodeFailure(Exception ex) => ex is AmazonServiceException or AmazonClientException or HttpRequestException or IOException;

    private async Task AsNodeFailureAsync(string key, Func<Task> operation)
    {
        try
        {
            await operation();
        }
        catch (Exception ex) when (IsNodeFailure(ex) && ex is not IOException)
        {
            throw new IOException($"Node '{Id}' failed on '{key}': {ex.Message}", ex);
        }
    }

    private async Task UploadAsync(string key, Stream content, long length, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri(_options.Endpoint, $"{_options.Bucket}/{key}"))
        {
            Content = new StreamContent(content, 256 * 1024),
        };
        request.Content.Headers.ContentLength = length;
        SigV4.Sign(request, _options.AccessKey, _options.SecretKey, Region, DateTimeOffset.UtcNow);
        using var response = await _uploads.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            var detail = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new IOException($"Node '{Id}' refused part '{key}': {(int)response.StatusCode} {detail[..Math.Min(detail.Length, 300)]}");
        }
    }

    private async Task DeleteQuietlyAsync(string key)
    {
        try
        {
            await _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _options.Bucket, Key = key }, CancellationToken.None);
        }
        catch (Exception ex) when (IsNodeFailure(ex))
        {
            // The node is unreachable: the write intent's sweep deletes the part later.
        }
    }

    private async Task SpoolAndUploadAsync(string key, Stream content, CancellationToken cancellationToken)
    {
        var spool = Path.Combine(Path.GetTempPath(), $"storage-spool-{Guid.NewGuid():N}");
        await using var file = new FileStream(spool, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 0, FileOptions.Asynchronous | FileOptions.DeleteOnClose);
        await content.CopyToAsync(file, 256 * 1024, cancellationToken);
        var length = file.Length;
        file.Position = 0;
        await UploadAsync(key, file, length, cancellationToken);
    }

    /// <summary>Disposes the SDK response (and its connection) with the body stream.</summary>
    private sealed class ResponseStream(GetObjectResponse response) : Objects.ReadOnlyStream
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            response.ResponseStream.ReadAsync(buffer, cancellationToken);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                response.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

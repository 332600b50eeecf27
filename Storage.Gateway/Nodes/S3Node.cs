using System.Buffers;
using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Storage.Gateway.Nodes;

/// <summary>
/// A node that is a bucket on an S3-compatible server (MinIO in production). Bodies are sent plainly with
/// <c>UNSIGNED-PAYLOAD</c>, without aws-chunked framing or transport checksums: the one upload form every S3
/// server accepts, and integrity is already guaranteed by the CRC-32C that follows every block of a part.
/// A part of known length streams in one PutObject; one of unknown length goes up as a multipart upload of
/// 5 MiB pooled pieces, so memory stays bounded either way. Keys are gateway-generated and validated.
/// </summary>
public sealed class S3Node : IStorageNode, IDisposable
{
    /// <summary>S3's minimum part size (all parts but the last).</summary>
    private const int MultipartPieceBytes = 5 * 1024 * 1024;

    private readonly AmazonS3Client _client;
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
                AuthenticationRegion = "us-east-1",
                RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
                ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
                Timeout = TimeSpan.FromMinutes(5),
                MaxErrorRetry = 2,
            });
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
        if (length >= 0)
        {
            var request = new PutObjectRequest
            {
                BucketName = _options.Bucket,
                Key = key,
                InputStream = content,
                AutoCloseStream = false,
                UseChunkEncoding = false,
                DisablePayloadSigning = true,
            };
            request.Headers.ContentLength = length;
            await _client.PutObjectAsync(request, cancellationToken);
            return;
        }

        await PutMultipartAsync(key, content, cancellationToken);
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
        catch (AmazonServiceException ex)
        {
            throw new IOException($"Node '{Id}' failed to read '{key}': {ex.Message}", ex);
        }
    }

    public async Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        PartKeys.EnsureSafe(key);
        await _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _options.Bucket, Key = key }, cancellationToken);
    }

    public async IAsyncEnumerable<PartInfo> ListAsync(string prefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = prefix, MaxKeys = 1000 };
        do
        {
            var page = await _client.ListObjectsV2Async(request, cancellationToken);
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
    }

    /// <summary>S3 does not report capacity: placement treats the node as large and weighs it by what it holds.</summary>
    public async Task<NodeCapacity?> ProbeAsync(CancellationToken cancellationToken)
    {
        await _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _options.Bucket, MaxKeys = 1 }, cancellationToken);
        return null;
    }

    public void Dispose() => _client.Dispose();

    private async Task PutMultipartAsync(string key, Stream content, CancellationToken cancellationToken)
    {
        var upload = await _client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _options.Bucket, Key = key }, cancellationToken);
        var buffer = ArrayPool<byte>.Shared.Rent(MultipartPieceBytes);
        try
        {
            var parts = new List<PartETag>();
            int filled;
            do
            {
                filled = await content.ReadAtLeastAsync(buffer.AsMemory(0, MultipartPieceBytes), MultipartPieceBytes, throwOnEndOfStream: false, cancellationToken);
                if (filled == 0 && parts.Count > 0)
                {
                    break;
                }

                var part = await _client.UploadPartAsync(
                    new UploadPartRequest
                    {
                        BucketName = _options.Bucket,
                        Key = key,
                        UploadId = upload.UploadId,
                        PartNumber = parts.Count + 1,
                        InputStream = new MemoryStream(buffer, 0, filled, writable: false),
                        UseChunkEncoding = false,
                        DisablePayloadSigning = true,
                    },
                    cancellationToken);
                parts.Add(new PartETag(parts.Count + 1, part.ETag));
            }
            while (filled == MultipartPieceBytes);

            await _client.CompleteMultipartUploadAsync(
                new CompleteMultipartUploadRequest { BucketName = _options.Bucket, Key = key, UploadId = upload.UploadId, PartETags = parts },
                cancellationToken);
        }
        catch
        {
            await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _options.Bucket, Key = key, UploadId = upload.UploadId }, CancellationToken.None);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
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

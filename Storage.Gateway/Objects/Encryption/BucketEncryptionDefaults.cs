using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;

namespace Storage.Gateway.Objects.Encryption;

/// <summary>
/// A bucket's default encryption (S3's PutBucketEncryption; SSE-S3 is the only algorithm), the bucket document
/// <c>encryption</c>: every write to the bucket that asks for nothing is encrypted with SSE-S3, through every front door.
/// </summary>
public sealed class BucketEncryptionDefaults(IMetadataStore metadata, IOptions<StorageOptions> options, TimeProvider time)
{
    public const string DocumentName = "encryption";
    public const string Algorithm = "AES256";

    private readonly BucketDocumentCache<string> _cache = new(metadata, options, time, DocumentName,
        (bucket, text) => text == Algorithm ? text : throw new InvalidDataException($"'{text}' is no default encryption of bucket {bucket}."));

    public async ValueTask<bool> IsSetAsync(string bucket, CancellationToken cancellationToken) => await _cache.GetAsync(bucket, cancellationToken) is not null;

    /// <summary>Sets or removes the default; false when the bucket does not exist.</summary>
    public Task<bool> SetAsync(string bucket, bool encrypt, CancellationToken cancellationToken) =>
        _cache.SetAsync(bucket, encrypt ? Algorithm : null, encrypt ? Algorithm : null, cancellationToken);

    public void Forget(string bucket) => _cache.Forget(bucket);
}

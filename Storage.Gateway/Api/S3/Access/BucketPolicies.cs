using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;

namespace Storage.Gateway.Api.S3.Access;

/// <summary>Bucket policies, kept as the bucket document <c>policy</c> exactly as put (so a bucket's deletion removes its policy).</summary>
public sealed class BucketPolicies(IMetadataStore metadata, IOptions<StorageOptions> options, TimeProvider time)
{
    public const string DocumentName = "policy";

    private readonly BucketDocumentCache<BucketPolicy> _cache = new(metadata, options, time, DocumentName, BucketPolicy.Parse);

    /// <summary>The bucket's policy; null when it has none (or the bucket does not exist).</summary>
    public ValueTask<BucketPolicy?> GetAsync(string bucket, CancellationToken cancellationToken) => _cache.GetAsync(bucket, cancellationToken);

    /// <summary>Stores (null: removes) the bucket's policy; false when the bucket does not exist.</summary>
    public Task<bool> SetAsync(string bucket, BucketPolicy? policy, CancellationToken cancellationToken) =>
        _cache.SetAsync(bucket, policy, policy?.Document, cancellationToken);

    /// <summary>Forgets what is known of the bucket (it was created or deleted here).</summary>
    public void Forget(string bucket) => _cache.Forget(bucket);
}

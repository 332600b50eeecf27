using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;

namespace Storage.Gateway.Api.S3.Access;

/// <summary>
/// Bucket policies, kept as the bucket document <c>policy</c> (so a bucket's deletion removes its policy) and held in
/// memory for <see cref="S3Options.PolicyRefreshInterval"/>: every request consults its bucket's policy, and reading
/// it from Redis each time would add a round trip to every GET. A change through this gateway applies at once.
/// </summary>
public sealed class BucketPolicies(IMetadataStore metadata, IOptions<StorageOptions> options, TimeProvider time)
{
    public const string DocumentName = "policy";

    /// <summary>Beyond this many buckets (requests may name any), the cache starts over rather than grow.</summary>
    private const int MaxCachedBuckets = 10_000;

    private readonly ConcurrentDictionary<string, (BucketPolicy? Policy, long ReadAt)> _cache = new(StringComparer.Ordinal);

    /// <summary>The bucket's policy; null when it has none (or the bucket does not exist).</summary>
    public async ValueTask<BucketPolicy?> GetAsync(string bucket, CancellationToken cancellationToken)
    {
        if (_cache.TryGetValue(bucket, out var cached) && time.GetElapsedTime(cached.ReadAt) < options.Value.S3.PolicyRefreshInterval)
        {
            return cached.Policy;
        }

        var readAt = time.GetTimestamp();
        var document = await metadata.GetBucketDocumentAsync(bucket, DocumentName, cancellationToken);

        // Stored policies were checked when put; one that no longer parses fails requests (500) rather than open them.
        var policy = document is null ? null : Parse(bucket, document);
        Remember(bucket, policy, readAt);
        return policy;
    }

    /// <summary>Stores (null: removes) the bucket's policy; false when the bucket does not exist.</summary>
    public async Task<bool> SetAsync(string bucket, BucketPolicy? policy, CancellationToken cancellationToken)
    {
        var readAt = time.GetTimestamp();
        var stored = await metadata.SetBucketDocumentAsync(bucket, DocumentName, policy?.Document, cancellationToken);
        Remember(bucket, stored ? policy : null, readAt);
        return stored;
    }

    /// <summary>Forgets what is known of the bucket (it was created or deleted here).</summary>
    public void Forget(string bucket) => _cache.TryRemove(bucket, out _);

    private void Remember(string bucket, BucketPolicy? policy, long readAt)
    {
        if (_cache.Count >= MaxCachedBuckets)
        {
            _cache.Clear();
        }

        _cache[bucket] = (policy, readAt);
    }

    private static BucketPolicy Parse(string bucket, string document)
    {
        try
        {
            return BucketPolicy.Parse(bucket, document);
        }
        catch (S3Exception ex)
        {
            throw new InvalidDataException($"The stored policy of bucket '{bucket}' no longer parses: {ex.Message}", ex);
        }
    }
}

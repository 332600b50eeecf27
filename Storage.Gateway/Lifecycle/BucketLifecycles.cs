using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Storage.Gateway.Metadata;

namespace Storage.Gateway.Lifecycle;

/// <summary>
/// The lifecycle rules of each bucket, stored as a bucket document so every gateway and the expirer see the same ones.
/// Reads for responses (<c>x-amz-expiration</c>) come from a short per-gateway cache, so a GET costs no extra metadata
/// round trip.
/// </summary>
public sealed class BucketLifecycles(IMetadataStore metadata, IOptions<LifecycleOptions> options, TimeProvider time)
{
    public const string DocumentName = "lifecycle";

    /// <summary>The bucket document holding the last key the expirer finished, while a scan of the bucket is under way.</summary>
    public const string PositionDocument = "lifecycle.position";

    private readonly ConcurrentDictionary<string, (LifecycleConfiguration? Rules, DateTimeOffset ReadAt)> _recent = new(StringComparer.Ordinal);

    public TimeSpan DayLength => options.Value.DayLength;

    /// <summary>The bucket's stored rules, or null when it has none.</summary>
    public async Task<LifecycleConfiguration?> GetAsync(string bucket, CancellationToken cancellationToken)
    {
        var rules = await metadata.GetBucketDocumentAsync(bucket, DocumentName, cancellationToken) is { } json ? LifecycleConfiguration.FromJson(json) : null;
        _recent[bucket] = (rules, time.GetUtcNow());
        return rules;
    }

    /// <summary>The bucket's rules as read within <see cref="LifecycleOptions.RulesCacheTime"/>.</summary>
    public async ValueTask<LifecycleConfiguration?> GetRecentAsync(string bucket, CancellationToken cancellationToken) =>
        _recent.TryGetValue(bucket, out var recent) && time.GetUtcNow() - recent.ReadAt < options.Value.RulesCacheTime
            ? recent.Rules
            : await GetAsync(bucket, cancellationToken);

    /// <summary>Replaces (null: removes) the bucket's rules; false when the bucket does not exist.</summary>
    public async Task<bool> SetAsync(string bucket, LifecycleConfiguration? rules, CancellationToken cancellationToken)
    {
        var stored = await metadata.SetBucketDocumentAsync(bucket, DocumentName, rules?.ToJson(), cancellationToken);
        _recent.TryRemove(bucket, out _);

        // New rules start a new scan from the first key: a position left by the old ones would skip the keys before it.
        return stored && await metadata.SetBucketDocumentAsync(bucket, PositionDocument, null, cancellationToken);
    }

    /// <summary>When the version expires and by which rule, by the bucket's recent rules; null when no rule selects it.</summary>
    public async ValueTask<(DateTimeOffset At, LifecycleRule Rule)?> ExpiryOfAsync(ObjectRecord version, CancellationToken cancellationToken) =>
        (await GetRecentAsync(version.Bucket, cancellationToken))?.ExpiryOf(version, DayLength);
}

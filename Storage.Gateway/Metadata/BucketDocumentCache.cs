using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;

namespace Storage.Gateway.Metadata;

/// <summary>
/// One kind of bucket document that requests consult (a policy, CORS rules, default encryption), parsed and held in
/// memory for <see cref="StorageOptions.BucketSettingsRefreshInterval"/>: reading it from Redis on every request would
/// add a round trip to every GET. A change through this gateway applies at once; through another replica, within the interval.
/// </summary>
public sealed class BucketDocumentCache<T>(IMetadataStore metadata, IOptions<StorageOptions> options, TimeProvider time, string documentName, Func<string, string, T> parse)
    where T : class
{
    /// <summary>Beyond this many buckets (requests may name any), the cache starts over rather than grow.</summary>
    private const int MaxCachedBuckets = 10_000;

    private readonly ConcurrentDictionary<string, (T? Document, long ReadAt)> _cache = new(StringComparer.Ordinal);

    /// <summary>The bucket's document; null when it has none (or the bucket does not exist).</summary>
    public async ValueTask<T?> GetAsync(string bucket, CancellationToken cancellationToken)
    {
        if (_cache.TryGetValue(bucket, out var cached) && time.GetElapsedTime(cached.ReadAt) < options.Value.BucketSettingsRefreshInterval)
        {
            return cached.Document;
        }

        var readAt = time.GetTimestamp();
        var text = await metadata.GetBucketDocumentAsync(bucket, documentName, cancellationToken);
        T? document;
        try
        {
            document = text is null ? null : parse(bucket, text);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Stored documents were checked when put; one that no longer parses fails requests (500) rather than open them.
            throw new InvalidDataException($"The stored {documentName} of bucket '{bucket}' no longer parses: {ex.Message}", ex);
        }

        Remember(bucket, document, readAt);
        return document;
    }

    /// <summary>Stores (null: removes) the bucket's document as <paramref name="text"/>; false when the bucket does not exist.</summary>
    public async Task<bool> SetAsync(string bucket, T? document, string? text, CancellationToken cancellationToken)
    {
        var readAt = time.GetTimestamp();
        var stored = await metadata.SetBucketDocumentAsync(bucket, documentName, text, cancellationToken);
        Remember(bucket, stored ? document : null, readAt);
        return stored;
    }

    /// <summary>Forgets what is known of the bucket (it was created or deleted here).</summary>
    public void Forget(string bucket) => _cache.TryRemove(bucket, out _);

    /// <summary>Keeps the newer of two reads: one that started before a change here must not put the old document back.</summary>
    private void Remember(string bucket, T? document, long readAt)
    {
        if (_cache.Count >= MaxCachedBuckets)
        {
            _cache.Clear();
        }

        _cache.AddOrUpdate(bucket, (document, readAt), (_, existing) => existing.ReadAt > readAt ? existing : (document, readAt));
    }
}

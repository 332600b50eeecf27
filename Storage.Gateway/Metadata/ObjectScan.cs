using System.Runtime.CompilerServices;

namespace Storage.Gateway.Metadata;

public static class ObjectScan
{
    private const int PageSize = 1000;

    /// <summary>
    /// Every version that holds bytes (current or not; delete markers have none) of every bucket, page by page: what
    /// healing, rebalancing and the protection census walk.
    /// </summary>
    public static async IAsyncEnumerable<ObjectRecord> AllObjectsAsync(this IMetadataStore metadata, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var bucket in await metadata.ListBucketsAsync(cancellationToken))
        {
            await foreach (var version in metadata.VersionsAsync(bucket.Name, string.Empty, cancellationToken))
            {
                if (!version.Record.IsDeleteMarker)
                {
                    yield return version.Record;
                }
            }
        }
    }

    /// <summary>Every version of the one key, newest first.</summary>
    public static async IAsyncEnumerable<ObjectRecord> VersionsOfKeyAsync(this IMetadataStore metadata, string bucket, string key, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var version in metadata.VersionsAsync(bucket, key, cancellationToken))
        {
            if (version.Record.Key != key)
            {
                yield break;
            }

            yield return version.Record;
        }
    }

    private static async IAsyncEnumerable<ObjectVersion> VersionsAsync(this IMetadataStore metadata, string bucket, string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        VersionCursor? after = null;
        while (true)
        {
            var page = await metadata.ListObjectVersionsAsync(bucket, prefix, after, PageSize, cancellationToken);
            foreach (var version in page)
            {
                yield return version;
            }

            if (page.Count < PageSize)
            {
                break;
            }

            after = new VersionCursor(page[^1].Record.Key, AfterAllVersions: false, page[^1].Record.VersionId);
        }
    }
}

using System.Runtime.CompilerServices;

namespace Storage.Gateway.Metadata;

public static class ObjectScan
{
    private const int PageSize = 1000;

    /// <summary>Every object of every bucket, page by page (what healing and rebalancing walk).</summary>
    public static async IAsyncEnumerable<ObjectRecord> AllObjectsAsync(this IMetadataStore metadata, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var bucket in await metadata.ListBucketsAsync(cancellationToken))
        {
            string? after = null;
            while (true)
            {
                var page = await metadata.ListObjectsAsync(bucket.Name, string.Empty, after, PageSize, cancellationToken);
                foreach (var record in page)
                {
                    yield return record;
                }

                if (page.Count < PageSize)
                {
                    break;
                }

                after = page[^1].Key;
            }
        }
    }
}

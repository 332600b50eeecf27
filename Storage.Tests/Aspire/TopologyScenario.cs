using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Aspire.Hosting.Testing;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Aspire;

/// <summary>
/// What a user of the AppHost does, the same in every mode: every front door through the external endpoint, both
/// replicas answering, a Go build cached in the store through the worker, and then a restart with one more node that
/// keeps everything readable and gives the new node its share of parts.
/// </summary>
public static partial class TopologyScenario
{
    private const string Bucket = "aspire";
    private const string S3Key = "reports/2026/summary.bin";

    public static async Task RunAsync(TopologyRun run, string label, CancellationToken cancellationToken)
    {
        StoredObjects stored;
        await using (var topology = await AspireTopology.StartAsync(run, label, cancellationToken))
        {
            using var gateway = topology.Gateway();
            using var s3 = S3Client(gateway.BaseAddress!);
            await NodesAreTheTopologysAsync(gateway, run.NodeCount, cancellationToken);
            stored = await EveryFrontDoorWorksAsync(gateway, s3, cancellationToken);
            await BothReplicasAnswerAsync(gateway.BaseAddress!, cancellationToken);
            await GoBuildsAreCachedInTheStoreAsync(topology, gateway, cancellationToken);
        }

        var grown = run with { NodeCount = run.NodeCount + 1 };
        await using (var topology = await AspireTopology.StartAsync(grown, $"{label}-grown", cancellationToken))
        {
            using var gateway = topology.Gateway();
            using var s3 = S3Client(gateway.BaseAddress!);
            await NodesAreTheTopologysAsync(gateway, grown.NodeCount, cancellationToken);
            await stored.AreReadableAsync(gateway, s3, cancellationToken);
            await TheNewNodeReceivesPartsAsync(gateway, $"node{grown.NodeCount}", cancellationToken);
            await stored.AreReadableAsync(gateway, s3, cancellationToken);
        }
    }

    public static AmazonS3Client S3Client(Uri endpoint) => new(
        new BasicAWSCredentials(AspireTopology.AccessKey, AspireTopology.SecretKey),
        new AmazonS3Config { ServiceURL = endpoint.ToString(), ForcePathStyle = true, AuthenticationRegion = "us-east-1" });

    /// <summary>The gateway sees exactly the AppHost's nodes, all up, all S3 nodes (MinIO servers, not folders).</summary>
    private static async Task NodesAreTheTopologysAsync(HttpClient gateway, int nodeCount, CancellationToken cancellationToken)
    {
        var cluster = await gateway.GetFromJsonAsync<ClusterView>("/admin/nodes", cancellationToken);
        Assert.Equal(Enumerable.Range(1, nodeCount).Select(i => $"node{i}").Order(StringComparer.Ordinal), cluster!.Nodes.Select(n => n.Id).Order(StringComparer.Ordinal));
        Assert.All(cluster.Nodes, node => Assert.Equal(("s3", "up"), (node.Kind, node.State)));
    }

    private static async Task<StoredObjects> EveryFrontDoorWorksAsync(HttpClient gateway, AmazonS3Client s3, CancellationToken cancellationToken)
    {
        // The object API: PUT, GET, a range, HEAD, DELETE.
        var objectBody = TestData.Bytes(1_000_000, 61);
        (await gateway.PutAsync("/object/aspire1", new ByteArrayContent(objectBody), cancellationToken)).EnsureSuccessStatusCode();
        Assert.Equal(objectBody, await gateway.GetByteArrayAsync("/object/aspire1", cancellationToken));
        using (var range = new HttpRequestMessage(HttpMethod.Get, "/object/aspire1") { Headers = { Range = new(300_000, 300_099) } })
        using (var partial = await gateway.SendAsync(range, cancellationToken))
        {
            Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
            Assert.Equal(objectBody.AsSpan(300_000, 100).ToArray(), await partial.Content.ReadAsByteArrayAsync(cancellationToken));
        }

        (await gateway.PutAsync("/object/scratch", new ByteArrayContent([1, 2, 3]), cancellationToken)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.OK, (await gateway.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/object/scratch"), cancellationToken)).StatusCode);
        (await gateway.DeleteAsync("/object/scratch", cancellationToken)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.NotFound, (await gateway.GetAsync("/object/scratch", cancellationToken)).StatusCode);

        // The file API: multipart form in, name and type back.
        var fileBody = TestData.Bytes(700_000, 62);
        using var form = new MultipartFormDataContent { { new ByteArrayContent(fileBody) { Headers = { ContentType = new("application/pdf") } }, "file", "report.pdf" } };
        var file = await (await gateway.PutAsync("/api/file", form, cancellationToken)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<FileId>(cancellationToken);
        using (var download = await gateway.GetAsync($"/api/file/{file!.Id}", cancellationToken))
        {
            Assert.Equal(fileBody, await download.EnsureSuccessStatusCode().Content.ReadAsByteArrayAsync(cancellationToken));
            Assert.Equal("report.pdf", download.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
            Assert.Equal("application/pdf", download.Content.Headers.ContentType?.MediaType);
        }

        // S3: a bucket, an object put and read back and listed, and the object API's object seen in its bucket.
        var s3Body = TestData.Bytes(3_000_000, 63);
        await s3.PutBucketAsync(Bucket, cancellationToken);
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = S3Key, InputStream = new MemoryStream(s3Body) }, cancellationToken);
        var listing = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket, Prefix = "reports/" }, cancellationToken);
        Assert.Equal([S3Key], listing.S3Objects.Select(o => o.Key));
        Assert.Equal(objectBody, await ReadAsync(s3, "objects", "aspire1", cancellationToken));
        Assert.Equal(s3Body, await ReadAsync(s3, Bucket, S3Key, cancellationToken));
        return new StoredObjects(objectBody, file.Id, fileBody, s3Body);
    }

    /// <summary>
    /// Both replicas take requests behind the one endpoint: fresh connections land on both, told apart by the S3 host
    /// id (<c>x-amz-id-2</c>) each gateway process sends.
    /// </summary>
    private static async Task BothReplicasAnswerAsync(Uri endpoint, CancellationToken cancellationToken)
    {
        var hosts = new HashSet<string>(StringComparer.Ordinal);
        for (var attempt = 0; attempt < 40 && hosts.Count < 2; attempt++)
        {
            using var client = new HttpClient { BaseAddress = endpoint };
            using var request = new HttpRequestMessage(HttpMethod.Head, $"/{Bucket}") { Headers = { ConnectionClose = true } };
            using var response = await client.SendAsync(request, cancellationToken);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            hosts.Add(response.Headers.GetValues("x-amz-id-2").Single());
        }

        Assert.Equal(2, hosts.Count);
    }

    /// <summary>
    /// A Go build through the worker (<c>connect</c>), its uploads drained into the store, then a build with an empty
    /// local tier, straight against the external endpoint, served from the store and producing the same binary.
    /// </summary>
    private static async Task GoBuildsAreCachedInTheStoreAsync(AspireTopology topology, HttpClient gateway, CancellationToken cancellationToken)
    {
        var sandbox = topology.Run.DataPath;
        var module = GoToolchain.WriteModule(Path.Combine(sandbox, "module"));
        var throughWorker = GoToolchain.SandboxEnvironment(sandbox, $"{GoToolchain.CacheProg} connect unix:{topology.Run.WorkerSocket}", Path.Combine(sandbox, "gocache-1"));
        await CommandLine.RunCheckedAsync(GoToolchain.Go, ["-C", module, "build", "-trimpath", "-o", Path.Combine(sandbox, "hello1"), "."], throughWorker, TimeSpan.FromMinutes(5));

        using var worker = topology.App.CreateHttpClient("cacheprog");
        string workerStats;
        using (var drained = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            drained.CancelAfter(TimeSpan.FromMinutes(2));
            while (!AllUploaded(workerStats = await worker.GetStringAsync("/stats", drained.Token)))
            {
                await Task.Delay(200, drained.Token);
            }
        }

        // The second build is a CI job's: the AppHost's cache-reader key, which the gateway lets read the cache and nothing else.
        await TheCacheReaderKeyMayOnlyReadTheCacheAsync(gateway.BaseAddress!, cancellationToken);
        var direct = GoToolchain.SandboxEnvironment(sandbox, $"{GoToolchain.CacheProg} --read-only --dir {Path.Combine(sandbox, "empty-local")} --endpoint {gateway.BaseAddress} --bucket gocache", Path.Combine(sandbox, "gocache-2"));
        direct["S3_ACCESS_KEY_ID"] = AspireTopology.CacheReaderAccessKey;
        direct["S3_SECRET_ACCESS_KEY"] = AspireTopology.CacheReaderSecretKey;
        var second = await CommandLine.RunCheckedAsync(GoToolchain.Go, ["-C", module, "build", "-trimpath", "-o", Path.Combine(sandbox, "hello2"), "."], direct, TimeSpan.FromMinutes(5));
        Assert.True(RemoteHitsOnly().IsMatch(second), $"{second}\nThe worker, once the first build's uploads were done: {workerStats}");
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(sandbox, "hello1"), cancellationToken), await File.ReadAllBytesAsync(Path.Combine(sandbox, "hello2"), cancellationToken));
    }

    /// <summary>The cache-reader key lists and reads the cache bucket; writing there, or reading any other bucket, is 403 AccessDenied.</summary>
    private static async Task TheCacheReaderKeyMayOnlyReadTheCacheAsync(Uri endpoint, CancellationToken cancellationToken)
    {
        using var reader = new AmazonS3Client(
            new BasicAWSCredentials(AspireTopology.CacheReaderAccessKey, AspireTopology.CacheReaderSecretKey),
            new AmazonS3Config { ServiceURL = endpoint.ToString(), ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
        var listed = await reader.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "gocache", MaxKeys = 5 }, cancellationToken);
        Assert.NotEmpty(listed.S3Objects);
        var write = await Assert.ThrowsAsync<AmazonS3Exception>(() => reader.PutObjectAsync(new PutObjectRequest { BucketName = "gocache", Key = "forged-a.json", ContentBody = "{}" }, cancellationToken));
        Assert.Equal(("AccessDenied", HttpStatusCode.Forbidden), (write.ErrorCode, write.StatusCode));
        var other = await Assert.ThrowsAsync<AmazonS3Exception>(() => reader.GetObjectMetadataAsync(Bucket, S3Key, cancellationToken));
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
    }

    /// <summary>The node added by the restart gets parts moved onto it by the rebalancer (run now rather than at its interval).</summary>
    private static async Task TheNewNodeReceivesPartsAsync(HttpClient gateway, string newNode, CancellationToken cancellationToken)
    {
        using var moved = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        moved.CancelAfter(TimeSpan.FromMinutes(2));
        while (true)
        {
            using var rebalance = await gateway.PostAsync("/admin/rebalance", null, moved.Token);
            rebalance.EnsureSuccessStatusCode();
            var cluster = await gateway.GetFromJsonAsync<ClusterView>("/admin/nodes", moved.Token);
            if (cluster!.Nodes.Single(n => n.Id == newNode).PartCount > 0)
            {
                return;
            }

            await Task.Delay(500, moved.Token);
        }
    }

    private static async Task<byte[]> ReadAsync(AmazonS3Client s3, string bucket, string key, CancellationToken cancellationToken)
    {
        using var response = await s3.GetObjectAsync(bucket, key, cancellationToken);
        using var copy = new MemoryStream();
        await response.ResponseStream.CopyToAsync(copy, cancellationToken);
        return copy.ToArray();
    }

    [GeneratedRegex(" 0 local hits, [1-9][0-9]* remote hits")]
    private static partial Regex RemoteHitsOnly();

    /// <summary>Every put the worker took is uploaded (a queue momentarily empty is not enough: puts may still be arriving).</summary>
    private static bool AllUploaded(string stats) =>
        UploadCounts().Match(stats) is { Success: true } counts
        && long.Parse(counts.Groups["uploads"].Value, CultureInfo.InvariantCulture) is var uploads and > 0
        && uploads >= long.Parse(counts.Groups["puts"].Value, CultureInfo.InvariantCulture)
        && counts.Groups["queued"].Value == "0";

    [GeneratedRegex(@"(?<puts>[0-9]+) puts; (?<uploads>[0-9]+) uploads .*, (?<queued>[0-9]+) queued\)")]
    private static partial Regex UploadCounts();

    private sealed record StoredObjects(byte[] ObjectBody, string FileId, byte[] FileBody, byte[] S3Body)
    {
        public async Task AreReadableAsync(HttpClient gateway, AmazonS3Client s3, CancellationToken cancellationToken)
        {
            Assert.Equal(ObjectBody, await gateway.GetByteArrayAsync("/object/aspire1", cancellationToken));
            Assert.Equal(FileBody, await gateway.GetByteArrayAsync($"/api/file/{FileId}", cancellationToken));
            Assert.Equal(S3Body, await ReadAsync(s3, Bucket, S3Key, cancellationToken));
        }
    }

    private sealed record FileId(string Id);

    private sealed record NodeView(string Id, string Kind, string State, long PartCount);

    private sealed record ClusterView(IReadOnlyList<NodeView> Nodes);
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Storage.Gateway;
using Storage.Gateway.Metadata;
using Storage.Gateway.Metadata.Redis;
using Storage.Gateway.Metadata.Sqlite;
using Storage.Gateway.Nodes;
using Storage.Tests.Fixtures;

namespace Storage.LoadBench;

/// <summary>
/// The distributed figures: listing pages from a 100,000-key bucket in Redis vs SQLite; 64 MiB objects through
/// the gateway over eight s3rver nodes vs straight to one s3rver; healing a lost node that held 1 GiB of parts,
/// and rebalancing onto two new nodes. Real redis-server and s3rver processes, all on loopback.
/// </summary>
public static class ClusterBenchmark
{
    private const int ListingKeys = 100_000;
    private const int PageSize = 1000;

    public static async Task<string> RunAsync(LoadBenchOptions options)
    {
        var report = new StringBuilder();
        report.AppendLine(await ListingAsync());
        report.AppendLine(await S3NodesAsync(options.LargeIterations));
        report.AppendLine(await RepairAsync(options.DataPath));
        return report.ToString();
    }

    /// <summary>Listing pages from a 100,000-key bucket, Redis and SQLite (also the "listing" scenario on its own).</summary>
    public static async Task<string> ListingAsync()
    {
        await using var redisServer = await RedisServer.StartAsync();
        await using var redis = await RedisClient.ConnectAsync(redisServer.ConnectionString);
        using var folder = new TempDirectory("listing-bench");
        await using var sqlite = new SqliteMetadataStore(Path.Combine(folder.Path, "metadata.db"));
        var stores = new (string Name, IMetadataStore Store)[] { ("Redis 7 (sorted set, ZRANGEBYLEX)", new RedisMetadataStore(redis)), ("SQLite (WAL, primary key range)", sqlite) };
        var table = new StringBuilder($"| Listing {ListingKeys:N0} keys in pages of {PageSize:N0} | fill time | page p50 ms | page p99 ms | page max ms | page after key 50,000 ms |\n|---|---:|---:|---:|---:|---:|\n");
        foreach (var (name, store) in stores)
        {
            await store.InitializeAsync(default);
            await store.CreateBucketAsync(new BucketRecord("bench", DateTimeOffset.UtcNow), default);
            var fill = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, ListingKeys), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, ct) =>
                await store.CommitObjectAsync(Record($"dir{i % 10}/object-{i:D7}"), DateTimeOffset.UtcNow, ct));
            var fillSeconds = fill.Elapsed.TotalSeconds;

            var pages = new List<double>();
            string? after = null;
            for (var round = 0; round < 2; round++, after = null)
            {
                while (true)
                {
                    var started = Stopwatch.GetTimestamp();
                    var page = await store.ListObjectsAsync("bench", string.Empty, after, PageSize, default);
                    pages.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    if (page.Count < PageSize)
                    {
                        break;
                    }

                    after = page[^1].Key;
                }
            }

            var deep = Stopwatch.StartNew();
            await store.ListObjectsAsync("bench", string.Empty, "dir5/object-0050005", PageSize, default);
            var sorted = pages.Order().ToArray();
            table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {fillSeconds:F1} s | {sorted[sorted.Length / 2]:F1} | {sorted[(int)(sorted.Length * 0.99)]:F1} | {sorted[^1]:F1} | {deep.Elapsed.TotalMilliseconds:F1} |");
        }

        return table.ToString();
    }

    private static async Task<string> S3NodesAsync(int iterations)
    {
        var servers = await Task.WhenAll(Enumerable.Range(0, 9).Select(_ => S3Server.StartAsync()));
        try
        {
            var settings = servers.Take(8).Select((s, i) => $"--ConnectionStrings:node{i + 1}={s.ConnectionString}");
            using var data = new TempDirectory("s3-bench");
            var gateway = await GatewayApp.CreateAsync(["--urls=http://127.0.0.1:0", $"--Storage:DataPath={data.Path}", "--Logging:LogLevel:Default=Warning", .. settings]);
            await gateway.StartAsync();
            try
            {
                var address = new Uri(gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
                using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(10) };
                var body = new byte[LoadBenchOptions.LargeObjectBytes];
                new Random(3).NextBytes(body);
                var gatewayPut = await TimeAsync(iterations, i => client.PutAsync($"/object/big{i}", new ByteArrayContent(body)));
                var gatewayGet = await TimeAsync(iterations, i => client.GetByteArrayAsync($"/object/big{i}"));

                using var single = new AmazonS3Client(
                    new BasicAWSCredentials(S3Server.AccessKey, S3Server.SecretKey),
                    new AmazonS3Config
                    {
                        ServiceURL = $"http://127.0.0.1:{servers[8].Port}",
                        ForcePathStyle = true,
                        AuthenticationRegion = "us-east-1",
                        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
                        ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
                    });
                await single.PutBucketAsync("single");
                var singlePut = await TimeAsync(iterations, i => single.PutObjectAsync(new PutObjectRequest { BucketName = "single", Key = $"big{i}", InputStream = new MemoryStream(body), UseChunkEncoding = false }));
                var singleGet = await TimeAsync(iterations, async i =>
                {
                    using var response = await single.GetObjectAsync("single", $"big{i}");
                    await response.ResponseStream.CopyToAsync(Stream.Null);
                });

                double Rate(TimeSpan elapsed) => (double)body.Length * iterations / elapsed.TotalSeconds / 1e6;
                return $"""
                    | 64 MiB objects, {iterations} each | PUT MB/s | GET MB/s |
                    |---|---:|---:|
                    | gateway `/object/{"{id}"}` over 8 s3rver nodes (6+2) | {Rate(gatewayPut):F0} | {Rate(gatewayGet):F0} |
                    | baseline: AWSSDK.S3 straight to one s3rver | {Rate(singlePut):F0} | {Rate(singleGet):F0} |

                    """;
            }
            finally
            {
                await gateway.StopAsync();
                await gateway.DisposeAsync();
            }
        }
        finally
        {
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }

    private static async Task<string> RepairAsync(string? dataPath)
    {
        using var data = new TempDirectory("repair-bench");
        var root = dataPath ?? data.Path;
        var nodes = Enumerable.Range(1, 9).Select(i => $"--Storage:Nodes:n{i}={Path.Combine(root, $"n{i}")}");
        var gateway = await GatewayApp.CreateAsync(
            ["--urls=http://127.0.0.1:0", $"--Storage:DataPath={Path.Combine(root, "gateway")}", "--Logging:LogLevel:Default=Warning",
             "--Storage:Maintenance:HealAfter=00:00:00", "--Storage:Maintenance:RebalanceBytesPerSecond=0", "--Storage:Maintenance:ReclaimDelay=00:00:00", .. nodes]);
        await gateway.StartAsync();
        try
        {
            var address = new Uri(gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(30) };
            var body = new byte[LoadBenchOptions.LargeObjectBytes];
            new Random(4).NextBytes(body);
            var count = 0;
            while (PartBytes(Path.Combine(root, "n1")) < 1L << 30)
            {
                (await client.PutAsync($"/object/fill{count++}", new ByteArrayContent(body))).EnsureSuccessStatusCode();
            }

            var lost = PartBytes(Path.Combine(root, "n1"));
            Directory.Delete(Path.Combine(root, "n1"), recursive: true);
            await gateway.Services.GetRequiredService<NodeMonitor>().RefreshAsync(default);
            var healWatch = Stopwatch.StartNew();
            var heal = await (await client.PostAsync("/admin/heal", null)).Content.ReadFromJsonAsync<JsonElement>();
            var healSeconds = healWatch.Elapsed.TotalSeconds;

            foreach (var node in new[] { "n10", "n11" })
            {
                (await client.PostAsJsonAsync("/admin/nodes", new { id = node, path = Path.Combine(root, node) })).EnsureSuccessStatusCode();
            }

            var rebalance = await (await client.PostAsync("/admin/rebalance", null)).Content.ReadFromJsonAsync<JsonElement>();
            return $"""
                | Repair (9 folder nodes, {count} objects of 64 MiB) | result |
                |---|---|
                | heal: node n1 lost holding {lost / 1048576.0:F0} MiB of parts | {heal.GetProperty("partsRebuilt").GetInt64()} parts rebuilt in {healSeconds:F1} s ({lost / healSeconds / 1e6:F0} MB/s of parts rebuilt), still under-protected: {heal.GetProperty("stillUnderProtected").GetInt64()} |
                | rebalance: 2 empty nodes added to 8 | {rebalance.GetProperty("partsMoved").GetInt64()} parts, {rebalance.GetProperty("bytesMoved").GetInt64() / 1048576.0:F0} MiB moved at {rebalance.GetProperty("megabytesPerSecond").GetDouble():F0} MB/s; spread {rebalance.GetProperty("spreadBefore").GetDouble():P1} -> {rebalance.GetProperty("spreadAfter").GetDouble():P1} |

                """;
        }
        finally
        {
            await gateway.StopAsync();
            await gateway.DisposeAsync();
        }
    }

    private static long PartBytes(string node) =>
        Directory.Exists(Path.Combine(node, "parts")) ? Directory.GetFiles(Path.Combine(node, "parts"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) : 0;

    private static async Task<TimeSpan> TimeAsync(int iterations, Func<int, Task> operation)
    {
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
        {
            await operation(i);
        }

        return watch.Elapsed;
    }

    private static ObjectRecord Record(string key) =>
        new("bench", key, 1000, "d41d8cd98f00b204e9800998ecf8427e", DateTimeOffset.UtcNow, Storage.Gateway.Metadata.ObjectAttributes.None,
            [new Segment(Guid.NewGuid().ToString("N"), 1000, 1, 2, 262144, ["node1", "node2", "node3"])]);
}

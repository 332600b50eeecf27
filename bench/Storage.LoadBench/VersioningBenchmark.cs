using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Storage.Gateway.Metadata;
using Storage.Gateway.Metadata.Redis;
using Storage.Gateway.Metadata.Sqlite;
using Storage.Tests.Fixtures;
using static Storage.LoadBench.BucketComparison;

namespace Storage.LoadBench;

/// <summary>
/// What versioning costs. (1) PUT and GET of 64 MiB, 4 KiB (inline) and 16 KiB (parts on the nodes) objects (concurrency 16) through the S3 API, plain SigV4
/// requests, in an unversioned bucket and in a versioned one of the same gateway process, rounds interleaved; with SQLite
/// metadata and with Redis. In the versioned bucket every PUT keeps the version it replaces; small PUTs of new keys in the unversioned bucket, which grow the store as much, are measured alongside. (2) A ListObjectVersions page
/// of 1,000 from 100,000 versions (1,000 keys of 100 versions each), read from the metadata store directly, against a
/// ListObjects page of 1,000 from 100,000 current objects in the same store, both stores.
/// </summary>
public static class VersioningBenchmark
{
    private const int ListedVersions = 100_000;
    private const int VersionsPerKey = 100;
    private const int PageSize = 1000;
    private const int PagesTimed = 25;

    private static readonly string[] Buckets = ["plain", "versioned"];

    private static readonly (int Bytes, string Label)[] SmallSizes = [(LoadBenchOptions.SmallObjectBytes, "4 KiB"), (16 * 1024, "16 KiB")];

    public static async Task<string> RunAsync(LoadBenchOptions options)
    {
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}");
        report.AppendLine();
        await using var redis = await RedisServer.StartAsync();
        report.AppendLine(CultureInfo.InvariantCulture, $"| objects (S3, plain SigV4) | metadata | unversioned | versioned | versioned / unversioned |");
        report.AppendLine("|---|---|---:|---:|---:|");
        foreach (var (store, environment) in new[] { ("SQLite", new Dictionary<string, string>()), ("Redis", new Dictionary<string, string> { ["ConnectionStrings__redis"] = redis.ConnectionString }) })
        {
            foreach (var line in await ObjectsAsync(store, environment, options))
            {
                report.AppendLine(line);
            }
        }

        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"| page of {PageSize:N0} (median of {PagesTimed}) | ListObjectVersions, {ListedVersions:N0} versions | ListObjects, {ListedVersions:N0} objects | versions / objects |");
        report.AppendLine("|---|---:|---:|---:|");
        using (var folder = new TempDirectory("versions-sqlite"))
        {
            await using var sqlite = new SqliteMetadataStore(Path.Combine(folder.Path, "metadata.db"));
            report.AppendLine(await ListingAsync("SQLite", sqlite));
        }

        await using (var connection = await RedisClient.ConnectAsync(redis.ConnectionString))
        {
            report.AppendLine(await ListingAsync("Redis", new RedisMetadataStore(connection, "versions-bench:")));
        }

        return report.ToString();
    }

    private static async Task<List<string>> ObjectsAsync(string store, Dictionary<string, string> environment, LoadBenchOptions options)
    {
        environment["Storage__S3__Credentials__0__AccessKey"] = S3Benchmark.AccessKey;
        environment["Storage__S3__Credentials__0__SecretKey"] = S3Benchmark.Secret;
        environment["Storage__S3__Credentials__0__Administrator"] = "true";
        await using var gateway = await GatewayProcess.StartAsync(environment);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = LoadBenchOptions.Concurrency, UseProxy = false }) { Timeout = TimeSpan.FromMinutes(5) };
        foreach (var bucket in Buckets)
        {
            await SendAsync(http, HttpMethod.Put, new Uri(gateway.BaseAddress, $"/{bucket}"), null);
        }

        await SendAsync(http, HttpMethod.Put, new Uri(gateway.BaseAddress, "/versioned?versioning"),
            """<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>""");
        var clients = Buckets.Select(b => new S3Benchmark.SignedClient(http, gateway.BaseAddress, bucket: b)).ToArray();

        var large = new byte[LoadBenchOptions.LargeObjectBytes];
        new Random(1).NextBytes(large);

        // Every round overwrites the same key, which the versioned bucket keeps each time.
        var times = await BucketComparison.LargeRoundsAsync(clients, large, options.LargeIterations);
        static double Rate(List<double> seconds) => LoadBenchOptions.LargeObjectBytes / Median(seconds) / 1e6;
        var lines = new List<string>
        {
            Line($"64 MiB PUT MB/s (median of {options.LargeIterations})", store, Rate(times[0].Put), Rate(times[1].Put)),
            Line($"64 MiB GET MB/s (median of {options.LargeIterations})", store, Rate(times[0].Get), Rate(times[1].Get)),
        };

        // 4 KiB objects are inline (their bytes in their metadata record); 16 KiB ones are not (replicated parts on the nodes).
        foreach (var (size, label) in SmallSizes)
        {
            var small = new byte[size];
            new Random(2).NextBytes(small);
            foreach (var client in clients)
            {
                await S3Benchmark.RunSmallAsync(client, small, put: true, seconds: 2);
                await S3Benchmark.RunSmallAsync(client, small, put: false, seconds: 2);
            }

            var rounds = new[] { new List<(S3Benchmark.SmallResult Put, S3Benchmark.SmallResult Get)>(), [] };
            var newKeyPuts = new List<S3Benchmark.SmallResult>();
            for (var round = 0; round < 2; round++)
            {
                foreach (var (client, index) in clients.Select((c, n) => (c, n)))
                {
                    rounds[index].Add((await S3Benchmark.RunSmallAsync(client, small, put: true, options.Seconds), await S3Benchmark.RunSmallAsync(client, small, put: false, options.Seconds)));
                }

                // A kept version grows the store as a new object does: unversioned PUTs of new keys are the same work.
                newKeyPuts.Add(await S3Benchmark.RunSmallAsync(clients[0], small, put: true, options.Seconds, newKeys: true));
            }

            lines.Add(Line($"{label} PUT ops/s (c={LoadBenchOptions.Concurrency}, 2 × {options.Seconds} s)", store, rounds[0].Average(r => r.Put.OpsPerSecond), rounds[1].Average(r => r.Put.OpsPerSecond)));
            lines.Add(Line($"{label} PUT p99 ms", store, rounds[0].Max(r => r.Put.P99), rounds[1].Max(r => r.Put.P99), lowerIsBetter: true));
            lines.Add(Line($"{label} PUT ops/s: unversioned new keys, versioned overwrites", store, newKeyPuts.Average(r => r.OpsPerSecond), rounds[1].Average(r => r.Put.OpsPerSecond)));
            lines.Add(Line($"{label} PUT p99 ms: unversioned new keys, versioned overwrites", store, newKeyPuts.Max(r => r.P99), rounds[1].Max(r => r.Put.P99), lowerIsBetter: true));
            lines.Add(Line($"{label} GET ops/s (c={LoadBenchOptions.Concurrency}, 2 × {options.Seconds} s)", store, rounds[0].Average(r => r.Get.OpsPerSecond), rounds[1].Average(r => r.Get.OpsPerSecond)));
            lines.Add(Line($"{label} GET p99 ms", store, rounds[0].Max(r => r.Get.P99), rounds[1].Max(r => r.Get.P99), lowerIsBetter: true));
        }

        return lines;
    }

    /// <summary>
    /// The metadata stores alone: 16 writers commit 4 KiB inline records over 1,024 keys straight into the store, in
    /// an unversioned and a versioned bucket in turn (3 rounds of 5 s), SQLite then Redis: what a small versioned
    /// overwrite costs the store, without HTTP, parts or the client sharing the cores.
    /// </summary>
    public static async Task<string> CommitsAsync()
    {
        var report = new StringBuilder("| metadata commits of 4 KiB inline records (c=16, 5 s) | round | unversioned /s | versioned /s | versioned / unversioned |\n|---|---:|---:|---:|---:|\n");
        using (var folder = new TempDirectory("commits-sqlite"))
        {
            await using var sqlite = new SqliteMetadataStore(Path.Combine(folder.Path, "metadata.db"));
            await sqlite.InitializeAsync(default);
            await CommitRoundsAsync("SQLite", sqlite, report);
        }

        await using var redis = await RedisServer.StartAsync();
        await using var connection = await RedisClient.ConnectAsync(redis.ConnectionString);
        await CommitRoundsAsync("Redis", new RedisMetadataStore(connection, "commits-bench:"), report);
        return report.ToString();
    }

    private static async Task CommitRoundsAsync(string name, IMetadataStore store, StringBuilder report)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var bucket in Buckets)
        {
            await store.CreateBucketAsync(new BucketRecord(bucket, now), default);
        }

        await store.SetBucketDocumentAsync("versioned", VersioningDocument.Name, nameof(BucketVersioning.Enabled), default);
        var bytes = new byte[LoadBenchOptions.SmallObjectBytes + 4];
        async Task<double> RateAsync(string bucket)
        {
            long commits = 0;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, LoadBenchOptions.Concurrency).Select(worker => Task.Run(async () =>
            {
                for (var i = 0; clock.Elapsed < TimeSpan.FromSeconds(5); i++)
                {
                    var record = new ObjectRecord(bucket, S3Benchmark.SmallKey(worker, i), LoadBenchOptions.SmallObjectBytes, Guid.NewGuid().ToString("N"), DateTimeOffset.UtcNow,
                        ObjectAttributes.None, [], Inline: bytes, VersionId: bucket == "versioned" ? $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds():x12}{Guid.NewGuid():N}"[..32] : null);
                    await store.CommitObjectAsync(record, now, default);
                    Interlocked.Increment(ref commits);
                }
            })));
            return commits / clock.Elapsed.TotalSeconds;
        }

        for (var round = 1; round <= 3; round++)
        {
            var plain = await RateAsync("plain");
            var versioned = await RateAsync("versioned");
            report.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {round} | {plain:F0} | {versioned:F0} | {versioned / plain:F2} × |");
        }
    }

    /// <summary>Fills a versioned bucket and an unversioned one with 100,000 entries each, then times pages at spread-out cursors.</summary>
    private static async Task<string> ListingAsync(string name, IMetadataStore store)
    {
        await store.InitializeAsync(default);
        var now = DateTimeOffset.UtcNow;
        await store.CreateBucketAsync(new BucketRecord("versions", now), default);
        await store.SetBucketDocumentAsync("versions", VersioningDocument.Name, nameof(BucketVersioning.Enabled), default);
        await store.CreateBucketAsync(new BucketRecord("objects", now), default);
        var keys = ListedVersions / VersionsPerKey;

        // Each key's versions in order (a key's commits are sequential), the keys in parallel.
        await Parallel.ForEachAsync(Enumerable.Range(0, keys), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (k, ct) =>
        {
            for (var v = 0; v < VersionsPerKey; v++)
            {
                await store.CommitObjectAsync(Record("versions", $"key-{k:D5}", now) with { VersionId = $"{k:x8}{v:x24}" }, now, ct);
            }
        });
        await Parallel.ForEachAsync(Enumerable.Range(0, ListedVersions), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
            await store.CommitObjectAsync(Record("objects", $"key-{i:D6}", now), now, ct));

        var random = new Random(7);
        var versionPages = new List<double>();
        var objectPages = new List<double>();
        for (var i = 0; i < PagesTimed + 3; i++)
        {
            // A cursor in the middle of a key's versions, and the matching place among the objects.
            var k = random.Next(keys);
            var cursor = new VersionCursor($"key-{k:D5}", AfterAllVersions: false, $"{k:x8}{random.Next(VersionsPerKey):x24}");
            var started = Stopwatch.StartNew();
            var versions = await store.ListObjectVersionsAsync("versions", string.Empty, cursor, PageSize, default);
            var versionMs = started.Elapsed.TotalMilliseconds;
            started.Restart();
            var objects = await store.ListObjectsAsync("objects", string.Empty, $"key-{random.Next(ListedVersions - PageSize):D6}", PageSize, default);
            var objectMs = started.Elapsed.TotalMilliseconds;
            if (versions.Count != PageSize && k < keys - 10 || objects.Count != PageSize)
            {
                throw new InvalidOperationException($"A page held {versions.Count} versions and {objects.Count} objects, not {PageSize}.");
            }

            // The first pages warm up connections and caches.
            if (i >= 3)
            {
                versionPages.Add(versionMs);
                objectPages.Add(objectMs);
            }
        }

        return string.Create(CultureInfo.InvariantCulture, $"| {name} | {Median(versionPages):F1} ms | {Median(objectPages):F1} ms | {Median(versionPages) / Median(objectPages):F2} × |");
    }

    private static ObjectRecord Record(string bucket, string key, DateTimeOffset now) =>
        new(bucket, key, 4096, Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()), now, ObjectAttributes.None,
            [new Segment(Guid.NewGuid().ToString("N"), 4096, 1, 2, 4096, ["node1", "node2", "node3"])]);
}

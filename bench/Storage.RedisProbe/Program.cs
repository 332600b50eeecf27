// Metadata-store operations through Redis at a fixed concurrency, with the CPU each one costs this process: reads
// of one object record (HGET), commits over an existing record and of new keys (the commit script, with the read it
// needs) and listing pages (ZRANGEBYLEX + HMGET).
// Each worker uses one of BUCKETS buckets; under a plain prefix each bucket is its own hash slot (spread over a
// cluster's masters), under a hash-tagged one ({probe}:) every key shares one slot. Also a sweeper's look for due
// reclaims, which reads every slot.
// Usage: Storage.RedisProbe <connection string> [seconds per operation] [concurrency] [key prefix] [buckets]
using System.Diagnostics;
using System.Globalization;
using Storage.Gateway.Metadata;
using Storage.Gateway.Metadata.Redis;

var connectionString = args[0];
var seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 5;
var concurrency = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 16;
var prefix = args.Length > 3 ? args[3] : "{probe}:";
var bucketCount = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 1;
#if RESP_CLIENT
const string Client = "RESP client";
await using var connection = new RedisConnection(RedisOptions.Parse(connectionString), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
var store = new RedisMetadataStore(connection, prefix);
#else
const string Client = "StackExchange.Redis";
var settings = RedisClient.Parse(connectionString);
await using var multiplexer = await RedisClient.ConnectAsync(settings);

// As the gateway registers them: with waitReplicas, writes and their WAITs on a connection of their own.
await using var writes = settings.Acknowledgement is null ? null : await RedisClient.ConnectAsync(settings);
var store = new RedisMetadataStore(multiplexer, prefix, settings.Acknowledgement, writes);
await store.InitializeAsync(CancellationToken.None);
#endif

string BucketOf(int worker) => $"probe-{worker % bucketCount:D3}";
for (var b = 0; b < bucketCount; b++)
{
    await store.CreateBucketAsync(new BucketRecord(BucketOf(b), DateTimeOffset.UtcNow), CancellationToken.None);
}

// A 4 KiB object's record as the gateway writes it: one segment, three copies.
ObjectRecord RecordOf(int worker, string key) => new(
    BucketOf(worker), key, 4096, "0123456789abcdef0123456789abcdef", DateTimeOffset.UtcNow, ObjectAttributes.None,
    [new Segment(Guid.NewGuid().ToString("N"), 4096, 1, 2, 4096, ["node1", "node2", "node3"])]);
for (var i = 0; i < 1000; i++)
{
    await store.CommitObjectAsync(RecordOf(i % concurrency, $"key/{i:D5}"), DateTimeOffset.UtcNow.AddMinutes(5), CancellationToken.None);
}

await MeasureAsync("get", worker => store.GetObjectAsync(BucketOf(worker), $"key/{worker:D5}", CancellationToken.None));
await MeasureAsync("overwrite", worker => store.CommitObjectAsync(RecordOf(worker, $"key/{worker:D5}"), DateTimeOffset.UtcNow.AddMinutes(5), CancellationToken.None));
var created = 0;
await MeasureAsync("create", worker => store.CommitObjectAsync(RecordOf(worker, $"new/{Interlocked.Increment(ref created):D8}"), DateTimeOffset.UtcNow.AddMinutes(5), CancellationToken.None));
await MeasureAsync("list 100", worker => store.ListObjectsAsync(BucketOf(worker), "key/", null, 100, CancellationToken.None));
await MeasureAsync($"due reclaims ({bucketCount} buckets)", _ => store.GetDueReclaimsAsync(DateTimeOffset.UtcNow, 256, CancellationToken.None));

async Task MeasureAsync(string operation, Func<int, Task> run)
{
    for (var i = 0; i < 2000; i++)
    {
        await run(i % concurrency);
    }

    var process = Process.GetCurrentProcess();
    var cpuBefore = process.TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    var deadline = TimeSpan.FromSeconds(seconds);
    var counts = await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
    {
        long done = 0;
        while (clock.Elapsed < deadline)
        {
            await run(worker);
            done++;
        }

        return done;
    })));
    clock.Stop();
    process.Refresh();
    var operations = counts.Sum();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {Client} | {operation} | {operations / clock.Elapsed.TotalSeconds:N0} ops/s | {(process.TotalProcessorTime - cpuBefore).TotalMicroseconds / operations:0.0} µs CPU/op |"));
}

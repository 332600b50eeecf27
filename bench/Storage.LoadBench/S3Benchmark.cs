using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Gateway.Security;

namespace Storage.LoadBench;

/// <summary>
/// What the S3 layer costs: the same PUTs and GETs (64 MiB, and 4 KiB at concurrency 16) through the S3 API and
/// through <c>/object/{id}</c> on one gateway in the same run. The gateway runs as its own process, so its CPU time
/// per request (read from the process) separates the server's cost from the clients' on the same cores. S3 is driven twice: by AWSSDK.S3 at its defaults
/// (signed aws-chunked uploads with a CRC32 trailer, response checksums validated: what users run), by plain
/// SigV4-signed requests with UNSIGNED-PAYLOAD (the S3 layer's own cost, signature and routing, without the
/// SDK's client-side hashing competing for the same cores), and with unsigned GETs of a public-read bucket (the
/// S3 layer without signature verification).
/// </summary>
public static class S3Benchmark
{
    internal const string AccessKey = "AKIDLOADBENCH";
    internal const string Secret = "loadbench-secret";
    private const string Region = "us-east-1";
    private const int KeysPerWorker = 64;

    public static async Task<string> RunAsync(LoadBenchOptions options)
    {
        await using var gateway = await Storage.Tests.Fixtures.GatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["Storage__S3__Credentials__0__AccessKey"] = AccessKey,
            ["Storage__S3__Credentials__0__SecretKey"] = Secret,
            ["Storage__S3__Credentials__0__Administrator"] = "true",
            ["Storage__S3__PublicReadBuckets__0"] = "objects",
        });
        var address = gateway.BaseAddress;
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = LoadBenchOptions.Concurrency, UseProxy = false }) { Timeout = TimeSpan.FromMinutes(5) };
        using var sdk = new AmazonS3Client(new BasicAWSCredentials(AccessKey, Secret), new AmazonS3Config
        {
            ServiceURL = address.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = Region,
            MaxConnectionsPerServer = LoadBenchOptions.Concurrency,
        });

        using var sdkWithoutValidation = new AmazonS3Client(new BasicAWSCredentials(AccessKey, Secret), new AmazonS3Config
        {
            ServiceURL = address.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = Region,
            MaxConnectionsPerServer = LoadBenchOptions.Concurrency,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });

        var clients = new Dictionary<string, IObjectClient>
        {
            ["`/object/{id}` (HttpClient)"] = new RestClient(http, address),
            ["S3, AWSSDK.S3 defaults"] = new SdkClient(sdk),
            ["S3, AWSSDK.S3, response checksums not validated"] = new SdkClient(sdkWithoutValidation),
            ["S3, plain SigV4 requests"] = new SignedClient(http, address),
            ["S3, GET unsigned (public-read bucket; PUT signed)"] = new SignedClient(http, address, signGets: false),
        };

        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}");
        report.AppendLine();

        var large = new byte[LoadBenchOptions.LargeObjectBytes];
        new Random(1).NextBytes(large);
        var largeResults = clients.Keys.ToDictionary(k => k, _ => (Put: 0.0, Get: 0.0));

        foreach (var client in clients.Values)
        {
            await client.PutAsync("warmup", large);
            await client.GetAsync("warmup");
        }

        // Rounds alternate between clients so drift in disk or CPU state affects all of them alike.
        for (var i = 0; i < options.LargeIterations; i++)
        {
            foreach (var (name, client) in clients)
            {
                var put = Stopwatch.StartNew();
                await client.PutAsync($"large{i}", large);
                var putSeconds = put.Elapsed.TotalSeconds;
                var get = Stopwatch.StartNew();
                await client.GetAsync($"large{i}");
                var (p, g) = largeResults[name];
                largeResults[name] = (p + putSeconds, g + get.Elapsed.TotalSeconds);
            }
        }

        var rest = largeResults.First().Value;
        report.AppendLine("| 64 MiB objects | PUT MB/s | GET MB/s | PUT vs REST | GET vs REST |");
        report.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var (name, (put, get)) in largeResults)
        {
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| {name} | {Rate(put, options)} | {Rate(get, options)} | {rest.Put / put - 1:+0%;-0%;0%} | {rest.Get / get - 1:+0%;-0%;0%} |");
        }

        report.AppendLine();
        var small = new byte[LoadBenchOptions.SmallObjectBytes];
        new Random(2).NextBytes(small);
        report.AppendLine(CultureInfo.InvariantCulture, $"| 4 KiB objects, concurrency {LoadBenchOptions.Concurrency}, 2 rounds of {options.Seconds} s | PUT ops/s | PUT p99 ms | gateway CPU µs per PUT (vs REST) | GET ops/s | GET p99 ms | gateway CPU µs per GET (vs REST) |");
        report.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        // All clients share the keys (the REST API's bucket is "objects" in S3 too): GETs never miss.
        await Task.WhenAll(Enumerable.Range(0, LoadBenchOptions.Concurrency).Select(async worker =>
        {
            for (var i = 0; i < KeysPerWorker; i++)
            {
                await clients.Values.First().PutAsync(SmallKey(worker, i), small);
            }
        }));

        // Every client warms up (JIT, connection pool, caches) before any is measured; then two rounds, alternating.
        foreach (var client in clients.Values)
        {
            await RunSmallAsync(client, small, put: true, seconds: 2);
            await RunSmallAsync(client, small, put: false, seconds: 2);
        }

        var smallResults = clients.Keys.ToDictionary(k => k, _ => new List<(SmallResult Put, SmallResult Get)>());
        for (var round = 0; round < 2; round++)
        {
            foreach (var (name, client) in clients)
            {
                smallResults[name].Add((await MeasureAsync(gateway.ProcessId, () => RunSmallAsync(client, small, put: true, options.Seconds)), await MeasureAsync(gateway.ProcessId, () => RunSmallAsync(client, small, put: false, options.Seconds))));
            }
        }

        var restSmall = smallResults.First().Value;
        foreach (var (name, results) in smallResults)
        {
            var put = results.Average(r => r.Put.OpsPerSecond);
            var get = results.Average(r => r.Get.OpsPerSecond);
            var putCpu = results.Average(r => r.Put.GatewayMicroseconds);
            var getCpu = results.Average(r => r.Get.GatewayMicroseconds);
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| {name} | {put:F0} | {results.Max(r => r.Put.P99):F1} | {putCpu:F0} ({putCpu / restSmall.Average(r => r.Put.GatewayMicroseconds) - 1:+0%;-0%;0%}) | {get:F0} | {results.Max(r => r.Get.P99):F1} | {getCpu:F0} ({getCpu / restSmall.Average(r => r.Get.GatewayMicroseconds) - 1:+0%;-0%;0%}) |");
        }

        return report.ToString();
    }

    private static string Rate(double seconds, LoadBenchOptions options) =>
        (LoadBenchOptions.LargeObjectBytes * (double)options.LargeIterations / seconds / 1e6).ToString("F0", CultureInfo.InvariantCulture);

    /// <summary>PUTs (or GETs) of the same few keys per worker; with <paramref name="newKeys"/>, every PUT writes a key never written before.</summary>
    internal static async Task<SmallResult> RunSmallAsync(IObjectClient client, byte[] body, bool put, int seconds, bool newKeys = false)
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var latencies = new List<double>[LoadBenchOptions.Concurrency];
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, LoadBenchOptions.Concurrency).Select(worker => Task.Run(async () =>
        {
            var mine = latencies[worker] = [];
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var key = newKeys ? $"new/{run}/{worker}/{i}" : SmallKey(worker, i);
                var started = Stopwatch.GetTimestamp();
                if (put)
                {
                    await client.PutAsync(key, body);
                }
                else
                {
                    await client.GetAsync(key);
                }

                mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        })));
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new SmallResult(all.Length / clock.Elapsed.TotalSeconds, all[Math.Min(all.Length - 1, (int)(0.99 * all.Length))], all.Length, 0);
    }

    /// <summary>Runs a phase and charges it the gateway process's CPU time (user + system), per request.</summary>
    private static async Task<SmallResult> MeasureAsync(int gatewayProcess, Func<Task<SmallResult>> phase)
    {
        static TimeSpan Cpu(int id)
        {
            using var process = Process.GetProcessById(id);
            return process.TotalProcessorTime;
        }

        var before = Cpu(gatewayProcess);
        var result = await phase();
        return result with { GatewayMicroseconds = (Cpu(gatewayProcess) - before).TotalMicroseconds / result.Count };
    }

    internal static string SmallKey(int worker, int i) => $"s{worker}x{i % KeysPerWorker}";

    internal sealed record SmallResult(double OpsPerSecond, double P99, long Count, double GatewayMicroseconds);

    internal interface IObjectClient
    {
        Task PutAsync(string key, byte[] body);

        Task GetAsync(string key);
    }

    private sealed class RestClient(HttpClient http, Uri address) : IObjectClient
    {
        public async Task PutAsync(string key, byte[] body)
        {
            using var response = await http.PutAsync(new Uri(address, $"/object/{key}"), new ByteArrayContent(body));
            response.EnsureSuccessStatusCode();
        }

        public async Task GetAsync(string key)
        {
            using var response = await http.GetAsync(new Uri(address, $"/object/{key}"), HttpCompletionOption.ResponseHeadersRead);
            await Drain(await response.EnsureSuccessStatusCode().Content.ReadAsStreamAsync());
        }
    }

    private sealed class SdkClient(AmazonS3Client s3) : IObjectClient
    {
        public Task PutAsync(string key, byte[] body) =>
            s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = key, InputStream = new MemoryStream(body) });

        public async Task GetAsync(string key)
        {
            using var response = await s3.GetObjectAsync("objects", key);
            await Drain(response.ResponseStream);
        }
    }

    /// <summary>SigV4-signed requests with UNSIGNED-PAYLOAD to <paramref name="bucket"/>: the S3 layer's own cost.</summary>
    internal sealed class SignedClient(HttpClient http, Uri address, bool signGets = true, string bucket = "objects") : IObjectClient
    {
        public async Task PutAsync(string key, byte[] body)
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, new Uri(address, $"/{bucket}/{key}")) { Content = new ByteArrayContent(body) };
            SigV4.Sign(request, AccessKey, Secret, Region, DateTimeOffset.UtcNow);
            using var response = await http.SendAsync(request);
            response.EnsureSuccessStatusCode();
        }

        public async Task GetAsync(string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(address, $"/{bucket}/{key}"));
            if (signGets)
            {
                SigV4.Sign(request, AccessKey, Secret, Region, DateTimeOffset.UtcNow);
            }

            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await Drain(await response.EnsureSuccessStatusCode().Content.ReadAsStreamAsync());
        }
    }

    private static async Task Drain(Stream stream)
    {
        var buffer = new byte[1 << 20];
        while (await stream.ReadAsync(buffer) > 0)
        {
        }
    }
}

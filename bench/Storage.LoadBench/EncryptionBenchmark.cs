using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Storage.Tests.Fixtures;
using static Storage.LoadBench.BucketComparison;

namespace Storage.LoadBench;

/// <summary>
/// What SSE-S3 costs: PUT and GET of 64 MiB objects, and 4 KiB PUT and GET (concurrency 16, inline objects), through the
/// S3 API with plain SigV4 requests, in a bucket without encryption and in one whose default is SSE-S3, on one gateway
/// process with SQLite metadata, rounds interleaved.
/// </summary>
public static class EncryptionBenchmark
{
    private static readonly string[] Buckets = ["plain", "encrypted"];

    public static async Task<string> RunAsync(LoadBenchOptions options)
    {
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}");
        report.AppendLine();
        report.AppendLine("| objects (S3, plain SigV4) | metadata | plain | SSE-S3 | SSE-S3 / plain |");
        report.AppendLine("|---|---|---:|---:|---:|");
        await using var gateway = await GatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["Storage__S3__Credentials__0__AccessKey"] = S3Benchmark.AccessKey,
            ["Storage__S3__Credentials__0__SecretKey"] = S3Benchmark.Secret,
            ["Storage__S3__Credentials__0__Administrator"] = "true",
        });
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = LoadBenchOptions.Concurrency, UseProxy = false }) { Timeout = TimeSpan.FromMinutes(5) };
        foreach (var bucket in Buckets)
        {
            await SendAsync(http, HttpMethod.Put, new Uri(gateway.BaseAddress, $"/{bucket}"), null);
        }

        await SendAsync(http, HttpMethod.Put, new Uri(gateway.BaseAddress, "/encrypted?encryption"),
            """<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>""");
        var clients = Buckets.Select(b => new S3Benchmark.SignedClient(http, gateway.BaseAddress, bucket: b)).ToArray();

        var large = new byte[LoadBenchOptions.LargeObjectBytes];
        new Random(1).NextBytes(large);
        var times = await LargeRoundsAsync(clients, large, options.LargeIterations);
        static double Rate(List<double> seconds) => LoadBenchOptions.LargeObjectBytes / Median(seconds) / 1e6;
        report.AppendLine(Line($"64 MiB PUT MB/s (median of {options.LargeIterations})", "SQLite", Rate(times[0].Put), Rate(times[1].Put)));
        report.AppendLine(Line($"64 MiB GET MB/s (median of {options.LargeIterations})", "SQLite", Rate(times[0].Get), Rate(times[1].Get)));

        var small = new byte[LoadBenchOptions.SmallObjectBytes];
        new Random(2).NextBytes(small);
        foreach (var client in clients)
        {
            await S3Benchmark.RunSmallAsync(client, small, put: true, seconds: 2);
            await S3Benchmark.RunSmallAsync(client, small, put: false, seconds: 2);
        }

        var rounds = new[] { new List<(S3Benchmark.SmallResult Put, S3Benchmark.SmallResult Get)>(), [] };
        for (var round = 0; round < 2; round++)
        {
            foreach (var (client, index) in clients.Select((c, n) => (c, n)))
            {
                rounds[index].Add((await S3Benchmark.RunSmallAsync(client, small, put: true, options.Seconds), await S3Benchmark.RunSmallAsync(client, small, put: false, options.Seconds)));
            }
        }

        var concurrency = $"c={LoadBenchOptions.Concurrency}, 2 × {options.Seconds} s";
        report.AppendLine(Line($"4 KiB PUT ops/s ({concurrency})", "SQLite", rounds[0].Average(r => r.Put.OpsPerSecond), rounds[1].Average(r => r.Put.OpsPerSecond)));
        report.AppendLine(Line($"4 KiB GET ops/s ({concurrency})", "SQLite", rounds[0].Average(r => r.Get.OpsPerSecond), rounds[1].Average(r => r.Get.OpsPerSecond)));
        report.AppendLine(Line("4 KiB GET p99 ms", "SQLite", rounds[0].Max(r => r.Get.P99), rounds[1].Max(r => r.Get.P99), lowerIsBetter: true));
        return report.ToString();
    }
}

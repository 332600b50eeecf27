using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Storage.Gateway;
using Storage.Gateway.Lifecycle;
using Storage.Tests.Fixtures;

namespace Storage.LoadBench;

/// <summary>
/// The lifecycle expirer's throughput (rate limit off) against the same number of objects deleted by a client (DELETE
/// /object/{id}, 16 at a time), in one gateway on folder nodes, with SQLite and with Redis metadata. The objects are
/// 8 KiB (replicated, parts on the nodes), so each expiry also queues its parts for the sweeper, as a client delete does.
/// </summary>
public static class LifecycleBenchmark
{
    private const int ObjectBytes = 8 * 1024;
    private const int Concurrency = 16;

    public static async Task<string> RunAsync(int objects)
    {
        var table = new StringBuilder(string.Create(CultureInfo.InvariantCulture,
            $"| {objects:N0} objects of {ObjectBytes / 1024} KiB | expirer objects/s | client DELETE objects/s (c={Concurrency}) | expirer / client |\n|---|---:|---:|---:|\n"));
        await using var redis = await RedisServer.StartAsync();
        foreach (var (name, extra) in new[] { ("SQLite", Array.Empty<string>()), ("Redis", [$"--ConnectionStrings:redis={redis.ConnectionString}"]) })
        {
            using var data = new TempDirectory("lifecycle-bench");
            var gateway = await GatewayApp.CreateAsync([
                "--urls=http://127.0.0.1:0", $"--Storage:DataPath={data.Path}", "--Logging:LogLevel:Default=Warning",
                "--Storage:Lifecycle:DayLength=00:00:01", "--Storage:Lifecycle:Interval=01:00:00", "--Storage:Lifecycle:MaxExpirationsPerSecond=1000000", .. extra]);
            await gateway.StartAsync();
            try
            {
                var address = new Uri(gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
                using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(5) };
                var body = new byte[ObjectBytes];
                new Random(5).NextBytes(body);
                await Parallel.ForEachAsync(Enumerable.Range(0, objects * 2), new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (i, ct) =>
                    (await client.PutAsync($"/object/{(i % 2 == 0 ? "expire" : "delete")}{i / 2:D7}", new ByteArrayContent(body), ct)).EnsureSuccessStatusCode());

                var deletes = Stopwatch.StartNew();
                await Parallel.ForEachAsync(Enumerable.Range(0, objects), new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (i, ct) =>
                    (await client.DeleteAsync($"/object/delete{i:D7}", ct)).EnsureSuccessStatusCode());
                var clientRate = objects / deletes.Elapsed.TotalSeconds;

                await gateway.Services.GetRequiredService<BucketLifecycles>().SetAsync("objects",
                    new LifecycleConfiguration([new LifecycleRule("bench", true, new LifecycleFilter("expire"), ExpirationDays: 1)]), default);
                await Task.Delay(TimeSpan.FromSeconds(1.5));
                var expiry = Stopwatch.StartNew();
                var pass = await gateway.Services.GetRequiredService<LifecycleExpirer>().RunAsync(default);
                var expirerRate = pass.Expired / expiry.Elapsed.TotalSeconds;
                if (pass.Expired != objects)
                {
                    throw new InvalidOperationException($"The expirer removed {pass.Expired} of {objects} objects.");
                }

                table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {expirerRate:N0} | {clientRate:N0} | {expirerRate / clientRate:F2} × |");
            }
            finally
            {
                await gateway.StopAsync();
                await gateway.DisposeAsync();
            }
        }

        return table.ToString();
    }
}

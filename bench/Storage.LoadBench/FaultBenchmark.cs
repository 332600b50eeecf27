using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Storage.Gateway;
using Storage.Tests.Fixtures;

namespace Storage.LoadBench;

/// <summary>
/// Recovery figures: a node that comes back with an empty disk while holding 1 GiB of parts, from the moment it is
/// emptied to full protection (default probe interval and healing settings), with the heal pass's throughput and, as
/// the same-run baseline, copying the same bytes from one folder to another with one fsync per file; and the time a
/// surviving gateway process needs to take over the lease of one killed with SIGKILL mid-pass (default 30 s lease).
/// </summary>
public static class FaultBenchmark
{
    private const long TargetPartBytes = 1L << 30;

    public static async Task<string> RunAsync(LoadBenchOptions options) =>
        await EmptiedNodeAsync(options.DataPath) + Environment.NewLine + await LeaseTakeoverAsync();

    private static async Task<string> EmptiedNodeAsync(string? dataPath)
    {
        using var data = new TempDirectory("refill-bench");
        var root = dataPath ?? data.Path;
        var nodes = Enumerable.Range(1, 8).Select(i => $"--Storage:Nodes:n{i}={Path.Combine(root, $"n{i}")}");
        var gateway = await GatewayApp.CreateAsync(["--urls=http://127.0.0.1:0", $"--Storage:DataPath={Path.Combine(root, "gateway")}", "--Logging:LogLevel:Default=Warning", .. nodes]);
        await gateway.StartAsync();
        try
        {
            var address = new Uri(gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(30) };
            var body = new byte[LoadBenchOptions.LargeObjectBytes];
            new Random(5).NextBytes(body);
            var count = 0;
            var node = Path.Combine(root, "n3");
            while (PartBytes(node) < TargetPartBytes)
            {
                (await client.PutAsync($"/object/fill{count++}", new ByteArrayContent(body))).EnsureSuccessStatusCode();
            }

            var held = PartBytes(node);
            var copy = CopyBaseline(Path.Combine(node, "parts"), Path.Combine(root, "copy"));

            // A replaced disk: the node's folder is there again, empty.
            var emptied = Stopwatch.StartNew();
            Directory.Delete(node, recursive: true);
            Directory.CreateDirectory(node);
            JsonElement heal;
            while (true)
            {
                await Task.Delay(200);
                var health = await client.GetFromJsonAsync<JsonElement>("/admin/health");
                if (health.GetProperty("lastHeal") is { ValueKind: JsonValueKind.Object } last
                    && last.GetProperty("nodesVerified").EnumerateArray().Any(n => n.GetString() == "n3") && PartBytes(node) >= held)
                {
                    heal = last;
                    break;
                }
            }

            var protectedAfter = emptied.Elapsed.TotalSeconds;
            var pass = (heal.GetProperty("finishedAt").GetDateTimeOffset() - heal.GetProperty("startedAt").GetDateTimeOffset()).TotalSeconds;
            return $"""
                | A node back empty (8 folder nodes, 6+2, {count} objects of 64 MiB; n3 held {held / 1048576.0:F0} MiB of parts) | result |
                |---|---|
                | emptied → fully protected (probe every 5 s, then the woken heal pass) | {protectedAfter:F1} s |
                | heal pass: {heal.GetProperty("partsMissing").GetInt64()} parts found missing and rebuilt in place | {pass:F1} s, {held / pass / 1e6:F0} MB/s of parts rebuilt |
                | baseline: copying the same {held / 1048576.0:F0} MiB folder to folder, fsync per file | {copy:F1} s, {held / copy / 1e6:F0} MB/s |

                """;
        }
        finally
        {
            await gateway.StopAsync();
            await gateway.DisposeAsync();
        }
    }

    private static async Task<string> LeaseTakeoverAsync()
    {
        await using var redis = await RedisServer.StartAsync(persistent: true);
        var nodes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => S3Server.StartAsync()));
        try
        {
            var environment = new Dictionary<string, string>
            {
                ["ConnectionStrings__redis"] = redis.ConnectionString,
                ["Storage__Maintenance__RebalanceInterval"] = "01:00:00",
                ["Storage__Maintenance__RebalanceBytesPerSecond"] = "20000",
            };
            foreach (var (index, server) in nodes.Index().Take(7))
            {
                environment[$"ConnectionStrings__node{index + 1}"] = server.ConnectionString;
            }

            // Data on seven nodes, then an eighth: a rebalancing pass with minutes of work at this rate.
            await using (var writer = await GatewayProcess.StartAsync(environment))
            {
                for (var i = 0; i < 12; i++)
                {
                    (await writer.Client.PutAsync($"/object/l{i}", new ByteArrayContent(new byte[1_000_000]))).EnsureSuccessStatusCode();
                }
            }

            environment["ConnectionStrings__node8"] = nodes[7].ConnectionString;
            await using var holder = await GatewayProcess.StartAsync(environment);
            await using var survivor = await GatewayProcess.StartAsync(environment);
            _ = holder.Client.PostAsync("/admin/rebalance", null);
            while (!(await holder.Client.GetFromJsonAsync<JsonElement>("/admin/health")).GetProperty("rebalancing").GetBoolean())
            {
                await Task.Delay(100);
            }

            await Task.Delay(TimeSpan.FromSeconds(12));
            await holder.KillAsync();
            var killed = Stopwatch.StartNew();
            while (await SkippedAsync(survivor))
            {
                await Task.Delay(250);
            }

            return $"""
                | Lease takeover (two gateway processes, Redis, default 30 s lease renewed every 10 s) | result |
                |---|---|
                | holder killed (SIGKILL) 12 s into a rebalancing pass → survivor's pass runs | {killed.Elapsed.TotalSeconds:F1} s |

                """;
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }
    }

    private static async Task<bool> SkippedAsync(GatewayProcess gateway)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            var report = await (await gateway.Client.PostAsync("/admin/rebalance", null, timeout.Token)).Content.ReadFromJsonAsync<JsonElement>(timeout.Token);
            return report.GetProperty("skipped").ValueKind == JsonValueKind.String;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static double CopyBaseline(string from, string to)
    {
        var watch = Stopwatch.StartNew();
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            using var source = File.OpenRead(file);
            using var destination = new FileStream(target, FileMode.Create, FileAccess.Write);
            source.CopyTo(destination);
            destination.Flush(flushToDisk: true);
        }

        var seconds = watch.Elapsed.TotalSeconds;
        Directory.Delete(to, recursive: true);
        return seconds;
    }

    private static long PartBytes(string node) =>
        Directory.Exists(Path.Combine(node, "parts")) ? Directory.GetFiles(Path.Combine(node, "parts"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) : 0;
}

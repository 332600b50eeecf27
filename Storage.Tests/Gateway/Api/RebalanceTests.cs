using System.Net.Http.Json;
using System.Text.Json;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Api;

public sealed class RebalanceTests
{
    [Fact]
    public async Task Two_empty_nodes_added_to_six_full_ones_are_filled_to_within_ten_percent_while_reads_continue()
    {
        using var data = new TempDirectory("rebalance");
        var settings = Enumerable.Range(1, 6).ToDictionary(i => $"Storage:Nodes:n{i}", i => Path.Combine(data.Path, $"n{i}"));
        settings["Storage:Maintenance:RebalanceBytesPerSecond"] = "0";
        await using var gateway = await GatewayHost.StartAsync(settings, Path.Combine(data.Path, "gateway"));
        var objects = new Dictionary<string, byte[]>();
        for (var i = 0; i < 40; i++)
        {
            objects[$"r{i}"] = TestData.Bytes(300_000 + (i * 37_000), i);
            (await gateway.Client.PutAsync($"/object/r{i}", new ByteArrayContent(objects[$"r{i}"]))).EnsureSuccessStatusCode();
        }

        foreach (var node in new[] { "n7", "n8" })
        {
            (await gateway.Client.PostAsJsonAsync("/admin/nodes", new { id = node, path = Path.Combine(data.Path, node) })).EnsureSuccessStatusCode();
        }

        using var stop = new CancellationTokenSource();
        var failedReads = 0;
        var reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var (id, bytes) in objects)
                {
                    var body = await gateway.Client.GetByteArrayAsync($"/object/{id}");
                    if (!bytes.AsSpan().SequenceEqual(body))
                    {
                        Interlocked.Increment(ref failedReads);
                    }
                }
            }
        });

        var report = await (await gateway.Client.PostAsync("/admin/rebalance", null)).Content.ReadFromJsonAsync<JsonElement>();
        await stop.CancelAsync();
        await reader;
        Assert.Equal(0, failedReads);
        Assert.True(report.GetProperty("balanced").GetBoolean(), report.ToString());
        Assert.True(report.GetProperty("partsMoved").GetInt64() > 0);

        // Once the originals are reclaimed, the nodes' real fill is within 10% of the mean.
        await gateway.Client.PostAsync("/admin/sweep", null);
        var used = (await gateway.Client.GetFromJsonAsync<JsonElement>("/admin/nodes")).GetProperty("nodes").EnumerateArray()
            .Select(n => (double)n.GetProperty("bytesUsed").GetInt64()).ToArray();
        var mean = used.Average();
        Assert.All(used, u => Assert.InRange(u, mean * 0.9, mean * 1.1));
        var onDisk = Enumerable.Range(1, 8).Select(i => Directory.GetFiles(Path.Combine(data.Path, $"n{i}", "parts"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length)).ToArray();
        Assert.Equal(used.Sum(), onDisk.Sum());

        foreach (var (id, bytes) in objects)
        {
            Assert.Equal(bytes, await gateway.Client.GetByteArrayAsync($"/object/{id}"));
        }
    }
}

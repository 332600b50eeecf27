using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Faults;

/// <summary>
/// Two gateway processes sharing Redis and the nodes: a maintenance lease is held only while its holder works on it
/// (renewed, so a long pass keeps it), and a surviving replica takes it over within one lease duration when the
/// holder is killed (SIGKILL) or stops.
/// </summary>
public sealed class LeaseTakeoverTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task A_killed_lease_holder_is_taken_over_within_one_lease_duration_and_a_live_one_keeps_its_lease()
    {
        await using var cluster = await StorageCluster.StartAsync(9, new Dictionary<string, string>
        {
            ["Storage:Maintenance:LeaseDuration"] = "00:00:03",
            ["Storage:Maintenance:RebalanceBytesPerSecond"] = "40000",
            ["Storage:Maintenance:RebalanceInterval"] = "01:00:00",
        });

        // Data on eight nodes, then both replicas start with a ninth, empty one: the rebalancer has minutes of work at this rate.
        await using (var writer = await cluster.StartGatewayAsync(nodeCount: 8))
        {
            await NodeRecoveryTests.StoreAsync(writer, 16);
        }

        await using var holder = await cluster.StartGatewayAsync();
        await using var survivor = await cluster.StartGatewayAsync();
        var pass = holder.Client.PostAsync("/admin/rebalance", null);
        await NodeRecoveryTests.WaitUntilAsync(
            async () => (await holder.Client.GetFromJsonAsync<JsonElement>("/admin/health")).GetProperty("rebalancing").GetBoolean(),
            "the holder to start rebalancing");
        Assert.True(await SkippedAsync(survivor), "the survivor must find the lease held");

        // Renewed while the pass runs: still held after several lease durations.
        await Task.Delay(Lease * 3);
        Assert.True(await SkippedAsync(survivor), "the lease of a live holder must not expire while it works");

        await holder.KillAsync();
        var killed = Stopwatch.StartNew();
        await NodeRecoveryTests.WaitUntilAsync(async () => !await SkippedAsync(survivor, wait: false), "the survivor to take the lease over");
        Assert.True(killed.Elapsed < Lease + TimeSpan.FromSeconds(3), $"took {killed.Elapsed.TotalSeconds:0.0} s to take over a {Lease.TotalSeconds:0} s lease");
        await Assert.ThrowsAnyAsync<Exception>(() => pass);
    }

    [Fact]
    public async Task A_gateway_that_finishes_its_pass_releases_the_lease_at_once()
    {
        await using var cluster = await StorageCluster.StartAsync(8, new Dictionary<string, string> { ["Storage:Maintenance:LeaseDuration"] = "00:10:00" });
        await using var first = await cluster.StartGatewayAsync();
        await using var second = await cluster.StartGatewayAsync();
        var report = await (await first.Client.PostAsync("/admin/heal", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(JsonValueKind.Null, report.GetProperty("skipped").ValueKind);
        report = await (await second.Client.PostAsync("/admin/heal", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(JsonValueKind.Null, report.GetProperty("skipped").ValueKind);
    }

    /// <summary>Whether a rebalancing pass on this gateway is refused because another gateway holds the lease.</summary>
    private static async Task<bool> SkippedAsync(GatewayProcess gateway, bool wait = true)
    {
        using var timeout = new CancellationTokenSource(wait ? TimeSpan.FromSeconds(30) : TimeSpan.FromSeconds(2));
        try
        {
            var report = await (await gateway.Client.PostAsync("/admin/rebalance", null, timeout.Token)).Content.ReadFromJsonAsync<JsonElement>(timeout.Token);
            return report.GetProperty("skipped").ValueKind == JsonValueKind.String;
        }
        catch (OperationCanceledException) when (!wait)
        {
            // The survivor took the lease and is now running the pass itself.
            return false;
        }
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Storage.Gateway.Nodes;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Api;

/// <summary>Two gateway processes' worth of state — one Redis, the same nodes — behave as one store.</summary>
public sealed class ReplicaTests : IAsyncLifetime
{
    private readonly TempDirectory _nodes = new("shared-nodes");
    private RedisServer _redis = null!;
    private GatewayHost _first = null!;
    private GatewayHost _second = null!;

    public async ValueTask InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        var settings = Enumerable.Range(1, 8).ToDictionary(i => $"Storage:Nodes:node{i}", i => Path.Combine(_nodes.Path, $"node{i}"));
        settings["ConnectionStrings:redis"] = _redis.ConnectionString;
        _first = await GatewayHost.StartAsync(settings);
        _second = await GatewayHost.StartAsync(settings);
    }

    public async ValueTask DisposeAsync()
    {
        await _first.DisposeAsync();
        await _second.DisposeAsync();
        await _redis.DisposeAsync();
        _nodes.Dispose();
    }

    [Fact]
    public async Task A_write_through_one_replica_is_readable_and_deletable_through_the_other()
    {
        var data = TestData.Bytes(3_000_000, 1);
        (await _first.Client.PutAsync("/object/shared", new ByteArrayContent(data))).EnsureSuccessStatusCode();
        Assert.Equal(data, await _second.Client.GetByteArrayAsync("/object/shared"));

        using var form = new MultipartFormDataContent { { new ByteArrayContent([1, 2, 3]), "file", "tiny.bin" } };
        var id = (await (await _second.Client.PutAsync("/api/file", form)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        Assert.Equal([1, 2, 3], await _first.Client.GetByteArrayAsync($"/api/file/{id}"));

        Assert.Equal(HttpStatusCode.NoContent, (await _second.Client.DeleteAsync("/object/shared")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _first.Client.GetAsync("/object/shared")).StatusCode);
    }

    [Fact]
    public async Task Concurrent_overwrites_through_both_replicas_end_with_one_complete_version()
    {
        var versions = Enumerable.Range(0, 12).Select(i => TestData.Bytes(400_000 + (i * 1000), i)).ToArray();
        await Task.WhenAll(versions.Select((v, i) => Task.Run(async () =>
            (await (i % 2 == 0 ? _first : _second).Client.PutAsync("/object/raced", new ByteArrayContent(v))).EnsureSuccessStatusCode())));

        var fromFirst = await _first.Client.GetByteArrayAsync("/object/raced");
        var fromSecond = await _second.Client.GetByteArrayAsync("/object/raced");
        Assert.Equal(fromFirst, fromSecond);
        Assert.Contains(versions, v => v.AsSpan().SequenceEqual(fromFirst));

        // Every replaced version's parts are queued exactly once: after a sweep only the winner's 8 parts remain.
        await _first.Client.PostAsync("/admin/sweep", null);
        var parts = Directory.GetFiles(_nodes.Path, "*", SearchOption.AllDirectories).Count(f => f.Contains("/parts/", StringComparison.Ordinal));
        Assert.Equal(8, parts);
    }

    [Fact]
    public async Task Maintenance_passes_started_on_both_replicas_at_once_run_on_one()
    {
        var passes = await Task.WhenAll(
            _first.Client.PostAsync("/admin/rebalance", null),
            _second.Client.PostAsync("/admin/rebalance", null));
        var reports = await Task.WhenAll(passes.Select(p => p.Content.ReadFromJsonAsync<JsonElement>()));

        // The lease is released when a pass ends, so a quick pass may be followed by the other replica's: what may
        // never happen is two passes at the same time.
        var ran = reports.Where(r => !(r.TryGetProperty("skipped", out var skipped) && skipped.ValueKind == JsonValueKind.String)).ToList();
        Assert.NotEmpty(ran);
        if (ran.Count == 2)
        {
            var (a, b) = (Interval(ran[0]), Interval(ran[1]));
            Assert.True(a.End <= b.Start || b.End <= a.Start, $"Two rebalancing passes overlapped: {a} and {b}.");
        }

        static (DateTimeOffset Start, DateTimeOffset End) Interval(JsonElement report) =>
            (report.GetProperty("startedAt").GetDateTimeOffset(), report.GetProperty("finishedAt").GetDateTimeOffset());
    }

    [Fact]
    public async Task A_node_added_through_one_replica_joins_the_other()
    {
        var path = Path.Combine(_nodes.Path, "node9");
        (await _first.Client.PostAsJsonAsync("/admin/nodes", new { id = "node9", path })).EnsureSuccessStatusCode();
        await _second.Service<NodeMonitor>().RefreshAsync(default);
        var view = await _second.Client.GetFromJsonAsync<JsonElement>("/admin/nodes");
        Assert.Contains(view.GetProperty("nodes").EnumerateArray(), n => n.GetProperty("id").GetString() == "node9" && n.GetProperty("state").GetString() == "up");
    }
}

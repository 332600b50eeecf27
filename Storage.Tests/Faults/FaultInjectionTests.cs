using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Faults;

/// <summary>
/// The operator's bad day, at a small scale, on processes: two gateways over Redis and eight s3rver nodes under
/// continuous PUT/GET traffic; two nodes SIGKILLed mid-traffic, Redis SIGKILLed and restarted, a gateway SIGKILLed in
/// the middle of a large PUT, one dead node back with an empty disk and a ninth node added (a rolling restart of the
/// gateways with the new connection string), healing, then two other nodes killed. Nothing acknowledged may be lost
/// or served wrong, no answer may be a 5xx other than a 503 with a reason, and protection must be full again
/// (audited against what the nodes actually hold) within <see cref="HealingDeadline"/>.
/// </summary>
public sealed class FaultInjectionTests
{
    private static readonly TimeSpan HealingDeadline = TimeSpan.FromSeconds(90);

    [Fact(Timeout = 420_000)]
    public async Task Acknowledged_objects_survive_node_redis_and_gateway_crashes_and_protection_returns_in_time()
    {
        var log = TestContext.Current.TestOutputHelper;
        var cancellationToken = TestContext.Current.CancellationToken;
        var clock = Stopwatch.StartNew();
        void Step(string what) => log?.WriteLine($"{clock.Elapsed.TotalSeconds,6:0.0} s  {what}");
        await using var cluster = await StorageCluster.StartAsync(9, new Dictionary<string, string>
        {
            ["Storage:Maintenance:HealAfter"] = "00:00:05",
            ["Storage:Maintenance:HealInterval"] = "00:00:05",
            ["Storage:Maintenance:LeaseDuration"] = "00:00:05",
        });
        await cluster.Nodes["node9"].StopAsync();
        var gateways = new GatewayProcess[] { await cluster.StartGatewayAsync(nodeCount: 8), await cluster.StartGatewayAsync(nodeCount: 8) };
        using var traffic = new Traffic(() => gateways);
        var running = traffic.RunAsync();

        await traffic.WaitForAcknowledgedAsync(25);
        Step("killing node2 and node6");
        await cluster.Nodes["node2"].StopAsync();
        await cluster.Nodes["node6"].StopAsync();

        await traffic.WaitForAcknowledgedAsync(45);
        Step("killing and restarting Redis");
        await cluster.Redis.CrashAndRestartAsync();

        await traffic.WaitForAcknowledgedAsync(65);
        Step("killing a gateway in the middle of a 20 MiB PUT");
        var big = new GatedContent(20L * 1024 * 1024, 77, pauseAfter: 8 * 1024 * 1024);
        var cut = gateways[0].Client.PutAsync("/object/bigcut", big);
        await Task.WhenAny(big.Paused, cut).WaitAsync(TimeSpan.FromMinutes(1), cancellationToken);
        if (!big.Paused.IsCompleted)
        {
            Assert.Fail($"the large PUT ended before reaching its pause: {(cut.IsCompletedSuccessfully ? (await cut).StatusCode.ToString() : cut.Exception?.Message)}");
        }

        await gateways[0].KillAsync();
        big.Resume();
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => cut).WaitAsync(TimeSpan.FromMinutes(1), cancellationToken);

        // node2's disk was replaced; node9 joins: both gateways restart (one after the other) knowing all nine nodes.
        Step("node2 back empty, node9 added, gateways restarted");
        await cluster.Nodes["node2"].RestartEmptyAsync();
        await cluster.Nodes["node9"].RestartAsync();
        gateways[0] = await cluster.StartGatewayAsync();
        var old = gateways[1];
        gateways[1] = await cluster.StartGatewayAsync();
        await old.DisposeAsync();
        await traffic.WaitForAcknowledgedAsync(90);
        await traffic.StopAsync(running).WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);

        Step($"traffic stopped: {traffic.Acknowledged} PUTs acknowledged; healing");
        var healing = Stopwatch.StartNew();
        while ((await ProtectionGapsAsync(cluster, dead: ["node6"])).Count > 0)
        {
            Assert.True(healing.Elapsed < HealingDeadline, $"Not fully protected {HealingDeadline.TotalSeconds:0} s after the faults: {string.Join("; ", (await ProtectionGapsAsync(cluster, ["node6"])).Take(5))}");
            await gateways[healing.Elapsed.Seconds % 2].Client.PostAsync("/admin/heal", null);
            await Task.Delay(500);
        }

        Step($"fully protected after {healing.Elapsed.TotalSeconds:0.0} s; killing node3 and node7");
        await cluster.Nodes["node3"].StopAsync();
        await cluster.Nodes["node7"].StopAsync();
        foreach (var gateway in gateways)
        {
            await NodeRecoveryTests.WaitUntilAsync(
                async () => (await gateway.Client.GetFromJsonAsync<JsonElement>("/admin/health")).GetProperty("nodesDown").GetArrayLength() == 3,
                "the gateway to see node3 and node7 down");
            await traffic.VerifyEverythingAsync(gateway);
        }

        Step("every object verified through both gateways");
        Assert.Empty(traffic.Violations);
        Assert.True(traffic.Acknowledged >= 90, $"only {traffic.Acknowledged} PUTs were acknowledged");
    }

    /// <summary>What keeps the store from full protection: a part its node lacks, or a segment using a dead node or a node twice.</summary>
    private static async Task<List<string>> ProtectionGapsAsync(StorageCluster cluster, string[] dead)
    {
        List<string> gaps = [.. await cluster.MissingPartsAsync()];
        foreach (var record in await cluster.ObjectsAsync())
        {
            foreach (var segment in record.Segments.Where(s => s.Nodes.Any(dead.Contains) || s.Nodes.Distinct().Count() < s.Nodes.Count))
            {
                gaps.Add($"{record.Bucket}/{record.Key}: segment {segment.Id} on {string.Join(",", segment.Nodes)}");
            }
        }

        return gaps;
    }

    /// <summary>
    /// Writers and readers through whichever gateways are current. A PUT answered 200 is acknowledged; one whose
    /// answer was lost may or may not be stored; either way a later read must give exactly that body or nothing.
    /// </summary>
    private sealed class Traffic(Func<GatewayProcess[]> gateways) : IDisposable
    {
        private readonly ConcurrentDictionary<string, byte[]> _acknowledged = new();
        private readonly ConcurrentDictionary<string, byte[]> _uncertain = new();
        private readonly CancellationTokenSource _stop = new();
        private int _next;

        public ConcurrentQueue<string> Violations { get; } = new();

        public int Acknowledged => _acknowledged.Count;

        public Task RunAsync() => Task.WhenAll(
            Task.Run(() => WriteAsync(0)),
            Task.Run(() => WriteAsync(1)),
            Task.Run(ReadAsync));

        public async Task WaitForAcknowledgedAsync(int count)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            while (_acknowledged.Count < count)
            {
                Assert.True(DateTime.UtcNow < deadline, $"traffic stalled at {_acknowledged.Count} acknowledged PUTs; violations: {string.Join("; ", Violations.Take(5))}");
                await Task.Delay(100);
            }
        }

        /// <summary>Stops the loops even when the test failed half-way.</summary>
        public void Dispose()
        {
            _stop.Cancel();
            _stop.Dispose();
        }

        public async Task StopAsync(Task running)
        {
            await _stop.CancelAsync();
            await running;
        }

        /// <summary>Every acknowledged object, byte-exact, from this gateway; every uncertain one exact or absent.</summary>
        public async Task VerifyEverythingAsync(GatewayProcess gateway)
        {
            foreach (var (id, sha) in _acknowledged)
            {
                using var response = await gateway.Client.GetAsync($"/object/{id}");
                var body = await response.Content.ReadAsByteArrayAsync();
                if (response.StatusCode != HttpStatusCode.OK || !SHA256.HashData(body).AsSpan().SequenceEqual(sha))
                {
                    Violations.Enqueue($"acknowledged {id}: {(int)response.StatusCode} with {body.Length} bytes after the faults");
                }
            }

            foreach (var (id, sha) in _uncertain)
            {
                using var response = await gateway.Client.GetAsync($"/object/{id}");
                var body = await response.Content.ReadAsByteArrayAsync();
                if (response.StatusCode == HttpStatusCode.OK && !SHA256.HashData(body).AsSpan().SequenceEqual(sha))
                {
                    Violations.Enqueue($"uncertain {id}: served {body.Length} bytes that were never sent");
                }
            }
        }

        private async Task WriteAsync(int writer)
        {
            var random = new Random(writer);
            while (!_stop.IsCancellationRequested)
            {
                var id = $"w{writer}n{Interlocked.Increment(ref _next)}";
                var size = random.Next(10) switch { 0 => 0, < 5 => random.Next(1, 64 * 1024), _ => random.Next(200_000, 3_000_000) };
                var data = TestData.Bytes(size, id.GetHashCode(StringComparison.Ordinal));
                var gateway = Pick(random);
                try
                {
                    using var response = await gateway.Client.PutAsync($"/object/{id}", new ByteArrayContent(data));
                    if (response.IsSuccessStatusCode)
                    {
                        _acknowledged[id] = SHA256.HashData(data);
                    }
                    else
                    {
                        await CheckFailureAsync(response, $"PUT {id}");
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or ObjectDisposedException or TaskCanceledException)
                {
                    // The gateway died or restarted under the request: the outcome is unknown, and must be all or nothing.
                    _uncertain[id] = SHA256.HashData(data);
                    await Task.Delay(200);
                }
            }
        }

        private async Task ReadAsync()
        {
            var random = new Random(7);
            while (!_stop.IsCancellationRequested)
            {
                var ids = _acknowledged.Keys.ToArray();
                if (ids.Length == 0)
                {
                    await Task.Delay(50);
                    continue;
                }

                var id = ids[random.Next(ids.Length)];
                try
                {
                    using var response = await Pick(random).Client.GetAsync($"/object/{id}");
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        var body = await response.Content.ReadAsByteArrayAsync();
                        if (!SHA256.HashData(body).AsSpan().SequenceEqual(_acknowledged[id]))
                        {
                            Violations.Enqueue($"GET {id} served {body.Length} bytes that differ from the acknowledged body");
                        }
                    }
                    else
                    {
                        await CheckFailureAsync(response, $"GET {id}");
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or ObjectDisposedException or TaskCanceledException)
                {
                    // A gateway going away mid-response cuts the body off; the client sees an error, not wrong bytes.
                    await Task.Delay(100);
                }
            }
        }

        /// <summary>A failure is fine only as a 503 that says why (during the outages), never a 500 or a 404 of an acknowledged object.</summary>
        private async Task CheckFailureAsync(HttpResponseMessage response, string request)
        {
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.ServiceUnavailable || !body.Contains("\"detail\"", StringComparison.Ordinal))
            {
                Violations.Enqueue($"{request}: {(int)response.StatusCode} {body}");
            }
        }

        private GatewayProcess Pick(Random random)
        {
            var current = gateways();
            return current[random.Next(current.Length)];
        }
    }
}

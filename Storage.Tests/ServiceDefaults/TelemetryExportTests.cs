using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Http;
using Storage.Tests.Fixtures;

namespace Storage.Tests.ServiceDefaults;

/// <summary>
/// The gateway (on Redis metadata) exports traces, metrics and logs over OTLP (http/protobuf) to a real receiver on
/// loopback: a PUT's spans cover the request, the object layer, the node writes and the Redis commands.
/// </summary>
public sealed class TelemetryExportTests
{
    [Fact]
    public async Task Traces_metrics_and_logs_reach_an_otlp_endpoint()
    {
        var received = new ConcurrentDictionary<string, ConcurrentBag<string>>();
        await using var collector = await StartReceiverAsync((path, body) =>
        {
            received.GetOrAdd(path, _ => []).Add(body);
            return Task.CompletedTask;
        });

        await using var redis = await RedisServer.StartAsync();
        var environment = ExportingTo(collector, redis);
        environment["OTEL_BSP_SCHEDULE_DELAY"] = "200";
        environment["OTEL_METRIC_EXPORT_INTERVAL"] = "500";
        environment["OTEL_BLRP_SCHEDULE_DELAY"] = "200";
        await using var gateway = await GatewayProcess.StartAsync(environment);

        (await gateway.Client.PutAsync("/object/traced", new ByteArrayContent(new byte[2_000_000]))).EnsureSuccessStatusCode();
        (await gateway.Client.GetAsync("/object/traced")).EnsureSuccessStatusCode();
        await gateway.Client.GetAsync("/object/bad-id");
        for (var i = 0; i < 5; i++)
        {
            await gateway.Client.GetAsync("/health");
        }

        (string Path, string Text)[] expected =
        [
            ("/v1/traces", "gateway-under-test"),
            ("/v1/traces", "object.write"),
            ("/v1/traces", "segment.write"),
            ("/v1/traces", "node.put"),
            ("/v1/traces", "object.get"),
            ("/v1/traces", "EVAL"),
            ("/v1/traces", "PUT /object/{**id}"),
            ("/v1/traces", "http.response.status_code"),
            ("/v1/metrics", "storage.object.bytes_written"),
            ("/v1/metrics", "http.server.request.duration"),
            ("/v1/logs", "Application started"),
        ];
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !expected.All(e => Contains(received, e.Path, e.Text)))
        {
            await Task.Delay(200);
        }

        var summary = string.Join(", ", received.Select(r => $"{r.Key} x{r.Value.Count}"));
        foreach (var (path, text) in expected)
        {
            Assert.True(Contains(received, path, text), $"nothing with '{text}' arrived at {path}; received: {summary}");
        }

        Assert.False(Contains(received, "/v1/traces", "/health"), "health probes must not be traced");
    }

    /// <summary>
    /// A burst of small PUTs (what the Go cache's worker sends after a build) exports every span, with the settings
    /// the gateway ships with (no OTEL_BSP_* overrides), to a receiver that takes 150 ms to answer each export, as a
    /// busy dashboard or collector does: about 11 spans per PUT, some 6,000 spans/s at full speed here. The bodies are
    /// just above the inline limit, so each PUT still writes three node copies with their spans: the heaviest small PUT.
    /// </summary>
    [Fact]
    public async Task A_burst_of_small_puts_loses_no_spans()
    {
        var received = new ConcurrentBag<string>();
        await using var collector = await StartReceiverAsync(async (path, body) =>
        {
            if (path == "/v1/traces")
            {
                received.Add(body);
                await Task.Delay(150);
            }
        });

        await using var redis = await RedisServer.StartAsync();
        await using var gateway = await GatewayProcess.StartAsync(ExportingTo(collector, redis));

        const int Puts = 3000;
        var body = new byte[5000];
        var next = 0;
        var started = DateTime.UtcNow;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) is var i && i <= Puts)
            {
                (await gateway.Client.PutAsync($"/object/burst{i}", new ByteArrayContent(body))).EnsureSuccessStatusCode();
            }
        })));
        var elapsed = DateTime.UtcNow - started;

        int Count(string name) => received.Sum(b => Occurrences(b, name));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && Count("PUT /object/{**id}") < Puts)
        {
            await Task.Delay(500);
        }

        // Let a late batch arrive, so a count above the expected one would show too.
        await Task.Delay(TimeSpan.FromSeconds(6));
        var servers = Count("PUT /object/{**id}");
        var nodeWrites = Count("node.put"); // a 5,000-byte object is three copies
        Assert.True(
            servers == Puts && nodeWrites == 3 * Puts,
            $"{Puts} PUTs in {elapsed.TotalSeconds:0.0} s: {servers} server spans and {nodeWrites} node.put spans arrived in {received.Count} exports");
    }

    /// <summary>A loopback OTLP receiver handing each export's path and body to <paramref name="onExport"/>.</summary>
    private static Task<LoopbackServer> StartReceiverAsync(Func<string, string, Task> onExport) =>
        LoopbackServer.StartAsync(async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);

            // Protobuf keeps strings as UTF-8 bytes: span names and attribute values are searchable as text.
            await onExport(context.Request.Path.Value ?? string.Empty, Encoding.UTF8.GetString(body.ToArray()));
            context.Response.StatusCode = StatusCodes.Status200OK;
        });

    /// <summary>A gateway on <paramref name="redis"/> exporting over OTLP http/protobuf to <paramref name="receiver"/>.</summary>
    private static Dictionary<string, string> ExportingTo(LoopbackServer receiver, RedisServer redis) => new()
    {
        ["ConnectionStrings__redis"] = redis.ConnectionString,
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.BaseAddress.ToString().TrimEnd('/'),
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_SERVICE_NAME"] = "gateway-under-test",
    };

    private static int Occurrences(string text, string value)
    {
        var count = 0;
        for (var at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + value.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private static bool Contains(ConcurrentDictionary<string, ConcurrentBag<string>> received, string path, string text) =>
        received.TryGetValue(path, out var bodies) && bodies.Any(b => b.Contains(text, StringComparison.Ordinal));
}

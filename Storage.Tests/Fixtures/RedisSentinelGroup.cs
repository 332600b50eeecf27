using System.Diagnostics;

namespace Storage.Tests.Fixtures;

/// <summary>
/// Redis as Sentinel runs it, on loopback: a primary and two replicas (all AOF, fsync always; two, so that a promoted
/// replica still has one to confirm writes) and three <c>redis-sentinel</c> processes (Debian's redis-sentinel
/// package) watching them as <see cref="ServiceName"/>, with a quorum of two and a primary declared down after one
/// second, so a failover takes a few seconds.
/// </summary>
public sealed class RedisSentinelGroup : IAsyncDisposable
{
    public const string ServiceName = "storage";

    private readonly TempDirectory _configs;
    private readonly List<(Process Process, int Port)> _sentinels;

    private RedisSentinelGroup(RedisServer primary, IReadOnlyList<RedisServer> replicas, TempDirectory configs, List<(Process, int)> sentinels)
    {
        Primary = primary;
        Replicas = replicas;
        _configs = configs;
        _sentinels = sentinels;
    }

    public RedisServer Primary { get; }

    public IReadOnlyList<RedisServer> Replicas { get; }

    /// <summary>The sentinels' endpoints and the service name: what a gateway is given, in StackExchange.Redis' format.</summary>
    public string ConnectionString => $"{string.Join(',', _sentinels.Select(s => $"127.0.0.1:{s.Port}"))},serviceName={ServiceName}";

    /// <summary>
    /// Starts the group and waits until the replica is in sync and every sentinel knows it and the others (a
    /// failover needs both).
    /// </summary>
    public static async Task<RedisSentinelGroup> StartAsync()
    {
        var primary = await RedisServer.StartAsync(persistent: true);
        RedisServer[] replicas =
        [
            await RedisServer.StartAsync(persistent: true, replicaOf: primary.Port),
            await RedisServer.StartAsync(persistent: true, replicaOf: primary.Port),
        ];
        var configs = new TempDirectory("redis-sentinel");
        var sentinels = new List<(Process, int)>();
        var group = new RedisSentinelGroup(primary, replicas, configs, sentinels);
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var port = ServerProcess.FreePort();
                var config = Path.Combine(configs.Path, $"sentinel-{port}.conf");
                await File.WriteAllTextAsync(config, $"""
                    port {port}
                    bind 127.0.0.1
                    sentinel monitor {ServiceName} 127.0.0.1 {primary.Port} 2
                    sentinel down-after-milliseconds {ServiceName} 1000
                    sentinel failover-timeout {ServiceName} 5000
                    sentinel parallel-syncs {ServiceName} 1

                    """);
                var start = new ProcessStartInfo("redis-sentinel") { ArgumentList = { config } };
                try
                {
                    sentinels.Add((await ServerProcess.StartAsync(start, port, TimeSpan.FromSeconds(20)), port));
                }
                catch (System.ComponentModel.Win32Exception ex)
                {
                    throw new InvalidOperationException("redis-sentinel is not installed; ./.ci/test.sh installs it (apt-get install redis-sentinel).", ex);
                }
            }

            await group.WaitUntilReadyAsync();
            return group;
        }
        catch
        {
            await group.DisposeAsync();
            throw;
        }
    }

    /// <summary>Freezes (SIGSTOP) or thaws (SIGCONT) the replicas: while frozen, the primary's writes reach no replica.</summary>
    public async Task SignalReplicasAsync(string signal)
    {
        foreach (var replica in Replicas)
        {
            await CommandLine.RunCheckedAsync("kill", [$"-{signal}", $"{replica.ProcessId}"], new Dictionary<string, string?>(), TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>The replica every sentinel names as the primary after a failover (they agree within seconds).</summary>
    public async Task<RedisServer> PromotedReplicaAsync()
    {
        RedisServer? promoted = null;
        await Poll.UntilAsync(
            async () =>
            {
                var named = new HashSet<int>();
                foreach (var (_, port) in _sentinels)
                {
                    var answer = await SentinelAsync(port, "get-master-addr-by-name", ServiceName);
                    var lines = answer.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    named.Add(lines.Length == 2 && int.TryParse(lines[1], System.Globalization.CultureInfo.InvariantCulture, out var primary) ? primary : -1);
                }

                promoted = named.Count == 1 ? Replicas.FirstOrDefault(r => r.Port == named.Single()) : null;
                return promoted is not null;
            },
            TimeSpan.FromSeconds(30),
            "the sentinels to agree on a promoted replica");
        return promoted!;
    }

    private Task WaitUntilReadyAsync() => Poll.UntilAsync(
        async () =>
        {
            var ready = true;
            foreach (var replica in Replicas)
            {
                var (_, replication) = await CommandLine.RunAsync("redis-cli", ["-p", $"{replica.Port}", "info", "replication"], new Dictionary<string, string?>(), TimeSpan.FromSeconds(10));
                ready &= replication.Contains("master_link_status:up", StringComparison.Ordinal);
            }

            foreach (var (_, port) in _sentinels)
            {
                var known = await SentinelAsync(port, "replicas", ServiceName);
                var quorum = await SentinelAsync(port, "ckquorum", ServiceName);
                ready &= Replicas.All(r => known.Contains($"{r.Port}", StringComparison.Ordinal)) && quorum.Contains("3 usable", StringComparison.Ordinal);
            }

            return ready;
        },
        TimeSpan.FromSeconds(30),
        "the replicas to sync and the sentinels to find them and each other");

    private static async Task<string> SentinelAsync(int port, params string[] arguments)
    {
        var (_, output) = await CommandLine.RunAsync("redis-cli", ["-p", $"{port}", "sentinel", .. arguments], new Dictionary<string, string?>(), TimeSpan.FromSeconds(10));
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (process, _) in _sentinels)
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }

        foreach (var replica in Replicas)
        {
            await replica.DisposeAsync();
        }

        await Primary.DisposeAsync();
        _configs.Dispose();
    }
}

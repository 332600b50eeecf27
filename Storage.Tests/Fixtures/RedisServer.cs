using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Storage.Tests.Fixtures;

/// <summary>
/// A real <c>redis-server</c> on a free loopback port (installed by .ci/test.sh). With a data folder it runs with
/// AOF and <c>appendfsync always</c>, the persistence the product documents, so a restart keeps everything.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string? _password;
    private readonly TempDirectory? _data;
    private readonly RedisTls? _tls;
    private readonly int? _replicaOf;
    private readonly bool _clusterNode;
    private Process _process;

    private RedisServer(Process process, int port, string? password, TempDirectory? data, RedisTls? tls, int? replicaOf, bool clusterNode)
    {
        _clusterNode = clusterNode;
        _process = process;
        Port = port;
        _password = password;
        _data = data;
        _tls = tls;
        _replicaOf = replicaOf;
    }

    public int Port { get; }

    public int ProcessId => _process.Id;

    /// <summary>The Aspire format the gateway reads from <c>ConnectionStrings:redis</c>.</summary>
    public string ConnectionString => _password is null ? $"127.0.0.1:{Port}" : $"127.0.0.1:{Port},password={_password}";

    /// <summary>The TLS files when started with TLS (the port then speaks only TLS).</summary>
    public RedisTls? Tls => _tls;

    /// <summary>
    /// Starts a server; with <paramref name="replicaOf"/>, a replica of the primary on that loopback port; as a
    /// <paramref name="clusterNode"/>, a node of a Redis Cluster yet to be formed (persistent; its bus on port + 10000).
    /// </summary>
    public static async Task<RedisServer> StartAsync(string? password = null, bool persistent = false, RedisTls? tls = null, int? replicaOf = null, bool clusterNode = false)
    {
        var data = persistent || clusterNode ? new TempDirectory("redis-data") : null;
        var port = clusterNode ? FreePortWithFreeBus() : ServerProcess.FreePort();
        return new RedisServer(await LaunchAsync(port, password, data, tls, replicaOf, clusterNode), port, password, data, tls, replicaOf, clusterNode);
    }

    /// <summary>Kills the server without letting it save (as a crash would), then starts it again on the same port and data.</summary>
    public async Task CrashAndRestartAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = await LaunchAsync(Port, _password, _data, _tls, _replicaOf, _clusterNode);
    }

    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
        _data?.Dispose();
    }

    /// <summary>A free port whose cluster bus port (+10000) is free too.</summary>
    private static int FreePortWithFreeBus()
    {
        while (true)
        {
            var port = ServerProcess.FreePort(headroom: 10000);
            try
            {
                using var bus = new TcpListener(IPAddress.Loopback, port + 10000);
                bus.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken: try another.
            }
        }
    }

    private static async Task<Process> LaunchAsync(int port, string? password, TempDirectory? data, RedisTls? tls, int? replicaOf, bool clusterNode)
    {
        var start = new ProcessStartInfo("redis-server");
        string[] arguments =
        [
            .. tls is null
                ? new[] { "--port", $"{port}" }
                : ["--port", "0", "--tls-port", $"{port}", "--tls-cert-file", tls.CertificatePath, "--tls-key-file", tls.KeyPath, "--tls-ca-cert-file", tls.CaPath, "--tls-auth-clients", "no"],
            "--bind", "127.0.0.1", "--save", "", "--daemonize", "no",
            .. data is null ? new[] { "--appendonly", "no" } : ["--appendonly", "yes", "--appendfsync", "always", "--dir", data.Path],
            .. password is null ? Array.Empty<string>() : ["--requirepass", password],
            .. replicaOf is null ? Array.Empty<string>() : ["--replicaof", "127.0.0.1", $"{replicaOf}"],

            .. clusterNode ? new[] { "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000" } : [],

            // A replica's first sync starts at once instead of after Redis' 5 s wait for more replicas to join.
            "--repl-diskless-sync-delay", "0",
        ];
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            return await ServerProcess.StartAsync(start, port, TimeSpan.FromSeconds(20));
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server is not installed; ./.ci/test.sh installs it (apt-get install redis-server).", ex);
        }
    }
}

using System.Diagnostics;
using Storage.CacheProg.Worker;
using Storage.Tests.Fixtures;

namespace Storage.Tests.CacheProg;

/// <summary>
/// The real go command with GOCACHEPROG: direct mode, connect + serve with the gateway as the remote tier, two
/// builds sharing one worker, and a remote that dies mid-build. Every binary is compared with the native cache's.
/// </summary>
public sealed class GoBuildTests(S3Gateway gateway) : IClassFixture<S3Gateway>, IDisposable
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);

    private readonly TempDirectory _sandbox = new("go-builds");

    /// <summary>
    /// Workers that direct mode started (detached, as users get them) outlive their builds; one still retrying a dead
    /// remote would write into the sandbox while it is removed. They are stopped first.
    /// </summary>
    public void Dispose()
    {
        foreach (var lockFile in Directory.EnumerateFiles(_sandbox.Path, "worker.lock", SearchOption.AllDirectories))
        {
            if (WorkerOwnership.Running(Path.GetDirectoryName(lockFile)!) is { } worker && int.TryParse(worker.ProcessId, out var id))
            {
                try
                {
                    using var process = Process.GetProcessById(id);
                    process.Kill();
                    process.WaitForExit(TimeSpan.FromSeconds(10));
                }
                catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
                {
                    // Gone already.
                }
            }
        }

        _sandbox.Dispose();
    }

    [Fact]
    public async Task Direct_mode_builds_the_same_binary_and_a_warm_build_comes_from_the_local_tier()
    {
        var module = GoToolchain.WriteModule(Path.Combine(_sandbox.Path, "module"));
        var native = await BuildAsync(module, "native", cacheProg: null);
        var commandLine = $"{GoToolchain.CacheProg} --dir {Path.Combine(_sandbox.Path, "local")}";
        var cold = await BuildAsync(module, "cold", commandLine);
        var warm = await BuildAsync(module, "warm", commandLine);

        Assert.Equal(native.Binary, cold.Binary);
        Assert.Equal(native.Binary, warm.Binary);
        Assert.Contains(" puts", cold.Output, StringComparison.Ordinal);
        var stats = Stats(warm.Output);
        Assert.True(stats.LocalHits > 50 && stats.Misses <= 2, warm.Output);
    }

    [Fact]
    public async Task Builds_through_connect_share_a_worker_and_a_new_worker_is_served_from_the_store()
    {
        var bucket = await NewBucketAsync();
        var module = GoToolchain.WriteModule(Path.Combine(_sandbox.Path, "module"));
        var copy = GoToolchain.WriteModule(Path.Combine(_sandbox.Path, "copy"));
        var native = await BuildAsync(module, "native", cacheProg: null);

        string[] outputs;
        await using (var worker = await WorkerAsync("first", bucket))
        {
            var both = await Task.WhenAll(BuildAsync(module, "one", worker.ConnectCommandLine), BuildAsync(copy, "two", worker.ConnectCommandLine));
            Assert.All(both, b => Assert.Equal(native.Binary, b.Binary));
            outputs = [.. both.Select(b => b.Output)];
        }

        await using var second = await WorkerAsync("second", bucket);
        var fromStore = await BuildAsync(module, "from-store", second.ConnectCommandLine);
        Assert.Equal(native.Binary, fromStore.Binary);
        var stats = await second.StatsAsync();
        Assert.Matches(@"[1-9][0-9]* remote hits", stats);
        Assert.DoesNotContain("storage-cacheprog:", string.Concat(outputs), StringComparison.Ordinal);

        // `stats` on a worker's folder tells each build apart: the first worker served two, the second one, from the store.
        // (A session is recorded just after its close is answered.)
        Task<string> HistoryAsync(string worker) =>
            CommandLine.RunCheckedAsync(GoToolchain.CacheProg, ["stats", "--dir", Path.Combine(_sandbox.Path, worker)], new Dictionary<string, string?>(), TimeSpan.FromMinutes(1));
        await Poll.UntilAsync(async () => (await HistoryAsync("first")).Contains("Last 2 sessions:", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "both builds of the first worker recorded");
        await Poll.UntilAsync(async () => (await HistoryAsync("second")).Contains("Last 1 sessions:", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the second worker's build recorded");
        var fromStoreSession = (await HistoryAsync("second")).Split('\n').Single(line => line.Contains(" gets ", StringComparison.Ordinal));
        Assert.Matches(@"\(0 local, [1-9][0-9]* remote\)", fromStoreSession);
    }

    [Fact]
    public async Task Go_build_std_in_direct_mode_and_through_a_worker_yields_the_native_cache_outputs()
    {
        var native = await BuildStdAsync("native", cacheProg: null);
        Assert.True(native.Count > 250, $"only {native.Count} packages");

        var direct = await BuildStdAsync("direct", $"{GoToolchain.CacheProg} --dir {Path.Combine(_sandbox.Path, "std-direct")}");
        Assert.Equal(native, direct);

        await using var worker = await WorkerAsync("std-worker", await NewBucketAsync());
        var connected = await BuildStdAsync("connect", worker.ConnectCommandLine);
        Assert.Equal(native, connected);
    }

    [Fact]
    public async Task A_remote_that_dies_mid_build_does_not_fail_the_build()
    {
        var module = GoToolchain.WriteModule(Path.Combine(_sandbox.Path, "module"));
        var native = await BuildAsync(module, "native", cacheProg: null);
        var doomed = await GatewayHost.StartAsync(new Dictionary<string, string>
        {
            ["Storage:S3:Credentials:0:AccessKey"] = S3Gateway.AccessKey,
            ["Storage:S3:Credentials:0:SecretKey"] = S3Gateway.Secret,
            ["Storage:S3:Credentials:0:Administrator"] = "true",
        });
        var commandLine = $"{GoToolchain.CacheProg} --dir {Path.Combine(_sandbox.Path, "local")} --endpoint {doomed.BaseAddress} --bucket objects --remote-timeout 1 --close-timeout 2 --worker-idle-exit 1";
        var build = BuildAsync(module, "survivor", commandLine);
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await doomed.DisposeAsync();

        var survived = await build;
        Assert.Equal(native.Binary, survived.Binary);
    }

    private async Task<string> NewBucketAsync()
    {
        var bucket = $"go-{Guid.NewGuid():N}"[..16];
        await gateway.Client().PutBucketAsync(bucket);
        return bucket;
    }

    /// <summary>go build -trimpath -o into the sandbox (so the module's folder does not matter), with a fresh GOCACHE: the binary's bytes and everything the build printed.</summary>
    private async Task<(byte[] Binary, string Output)> BuildAsync(string module, string name, string? cacheProg)
    {
        var binary = Path.Combine(_sandbox.Path, "bin", name);
        var environment = GoToolchain.SandboxEnvironment(_sandbox.Path, cacheProg, Path.Combine(_sandbox.Path, "gocache-" + name));
        environment["S3_ACCESS_KEY_ID"] = S3Gateway.AccessKey;
        environment["S3_SECRET_ACCESS_KEY"] = S3Gateway.Secret;
        var output = await CommandLine.RunCheckedAsync(GoToolchain.Go, ["-C", module, "build", "-trimpath", "-o", binary, "."], environment, BuildTimeout);
        return (await File.ReadAllBytesAsync(binary), output);
    }

    /// <summary>
    /// <c>go build std</c> with a fresh GOCACHE, then every package's compiled export data (as <c>go list -export</c>
    /// reports it: a DiskPath of the helper, or a file of the native cache) by its SHA-256.
    /// </summary>
    private async Task<SortedDictionary<string, string>> BuildStdAsync(string name, string? cacheProg)
    {
        var environment = GoToolchain.SandboxEnvironment(_sandbox.Path, cacheProg, Path.Combine(_sandbox.Path, "gocache-std-" + name));
        environment["S3_ACCESS_KEY_ID"] = S3Gateway.AccessKey;
        environment["S3_SECRET_ACCESS_KEY"] = S3Gateway.Secret;
        await CommandLine.RunCheckedAsync(GoToolchain.Go, ["build", "-trimpath", "std"], environment, BuildTimeout);
        var listing = await CommandLine.RunCheckedAsync(GoToolchain.Go, ["list", "-trimpath", "-export", "-f", "{{.ImportPath}} {{.Export}}", "std"], environment, BuildTimeout);
        var exports = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in listing.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ', 2);
            if (parts.Length == 2 && Path.IsPathRooted(parts[1]) && File.Exists(parts[1]))
            {
                exports[parts[0]] = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(parts[1])));
            }
        }

        return exports;
    }

    private async Task<Worker> WorkerAsync(string name, string bucket)
    {
        var socket = Path.Combine(_sandbox.Path, name + ".sock");
        var port = ServerProcess.FreePort();
        var start = new ProcessStartInfo(GoToolchain.CacheProg)
        {
            ArgumentList = { "serve", "--listen", "unix:" + socket, "--http", $"http://127.0.0.1:{port}", "--dir", Path.Combine(_sandbox.Path, name), "--endpoint", gateway.BaseAddress.ToString(), "--bucket", bucket },
            Environment = { ["S3_ACCESS_KEY_ID"] = S3Gateway.AccessKey, ["S3_SECRET_ACCESS_KEY"] = S3Gateway.Secret, ["Logging__LogLevel__Default"] = "Warning" },
        };
        var process = await ServerProcess.StartAsync(start, port, TimeSpan.FromSeconds(30));
        for (var i = 0; i < 100 && !File.Exists(socket); i++)
        {
            await Task.Delay(50);
        }

        return new Worker(process, socket, new Uri($"http://127.0.0.1:{port}"));
    }

    private static (long LocalHits, long Misses) Stats(string output)
    {
        var match = System.Text.RegularExpressions.Regex.Match(output, @"(\d+) local hits, \d+ remote hits, (\d+) misses");
        Assert.True(match.Success, output);
        return (long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), long.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    private sealed class Worker(Process process, string socket, Uri http) : IAsyncDisposable
    {
        public string ConnectCommandLine => $"{GoToolchain.CacheProg} connect unix:{socket}";

        public async Task<string> StatsAsync()
        {
            using var client = new HttpClient();
            return await client.GetStringAsync(new Uri(http, "/stats"));
        }

        /// <summary>SIGTERM: the worker finishes its uploads (up to its close timeout) and exits.</summary>
        public async ValueTask DisposeAsync()
        {
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                process.Kill(entireProcessTree: true);
            }

            process.Dispose();
        }
    }
}

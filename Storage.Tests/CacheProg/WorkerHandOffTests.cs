using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Amazon.S3.Model;
using Storage.CacheProg.Cache;
using Storage.CacheProg.Protocol;
using Storage.CacheProg.Worker;
using Storage.Tests.Fixtures;

namespace Storage.Tests.CacheProg;

/// <summary>
/// Direct mode handing its uploads to the folder's worker, as the published executable does it: the protocol spoken
/// over real pipes, the worker started (once) and detached, uploads landing in the gateway after the build is let go.
/// </summary>
public sealed class WorkerHandOffTests(S3Gateway gateway) : IClassFixture<S3Gateway>, IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private readonly TempDirectory _folder = new("cacheprog-handoff");
    private readonly string _bucket = $"handoff-{Guid.NewGuid():N}"[..20];

    private string Local => Path.Combine(_folder.Path, "local");

    public async ValueTask InitializeAsync() => await gateway.Client().PutBucketAsync(_bucket);

    public async ValueTask DisposeAsync()
    {
        // A worker a test left running (a failed assertion) must not outlive the suite.
        if (WorkerOwnership.Running(Local) is { ProcessId.Length: > 0 } running)
        {
            try
            {
                using var worker = Process.GetProcessById(int.Parse(running.ProcessId, CultureInfo.InvariantCulture));
                worker.Kill();
                await worker.WaitForExitAsync();
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
            {
                // It exited meanwhile.
            }
        }

        _folder.Dispose();
    }

    [Fact]
    public async Task A_build_is_let_go_at_close_and_the_worker_it_starts_uploads_then_exits_when_idle()
    {
        var bodies = Enumerable.Range(0, 20).Select(i => TestData.Bytes(8000 + i, seed: i)).ToArray();

        // The test holds the spawn lock, so the helper is kept from handing over: the build must be let go all the same.
        Directory.CreateDirectory(Local);
        var spawning = FileLock.TryAcquire(WorkerOwnership.SpawnLockPath(Local))!;
        var build = await DirectBuildAsync(
            bodies,
            helper =>
            {
                Assert.False(helper.HasExited, "stdout reached EOF only when the helper exited");
                spawning.Dispose();
            },
            "--worker-idle-exit",
            "3");
        Assert.Equal(0, build.ExitCode);
        var worker = WorkerOwnership.Running(Local) ?? throw new Xunit.Sdk.XunitException("no worker holds the folder");
        Assert.Equal(UploadSpool.DestinationOf(Options()), worker.Destination);

        // Its standard streams are /dev/null and its log, it holds none of the build's pipes, and it leads a session of its own.
        var descriptors = Directory.GetFiles($"/proc/{worker.ProcessId}/fd").Select(fd => new FileInfo(fd).LinkTarget).ToArray();
        Assert.Equal(["/dev/null", Path.Combine(Local, WorkerLauncher.LogFileName), Path.Combine(Local, WorkerLauncher.LogFileName)], Enumerable.Range(0, 3).Select(fd => new FileInfo($"/proc/{worker.ProcessId}/fd/{fd}").LinkTarget));
        Assert.DoesNotContain(descriptors, build.Pipes.Contains);
        Assert.Equal(worker.ProcessId, SessionOf(worker.ProcessId));

        await Poll.UntilAsync(async () => await RemoteKeysAsync() == 2 * bodies.Length, Patience, "every body and entry uploaded");
        await Poll.UntilAsync(() => Task.FromResult(SpoolFiles().Length == 0), Patience, "the spool emptied");

        // Nothing to do for its idle time: it gives the folder up and exits.
        await Poll.UntilAsync(() => Task.FromResult(WorkerOwnership.Running(Local) is null && !Directory.Exists($"/proc/{worker.ProcessId}")), Patience, "the idle worker gone");
    }

    [Fact]
    public async Task Builds_that_close_together_start_one_worker_and_every_upload_lands()
    {
        var bodies = Enumerable.Range(0, 4).Select(i => TestData.Bytes(3000, seed: 100 + i)).ToArray();
        var builds = await Task.WhenAll(bodies.Select(body => DirectBuildAsync([body], afterEof: null, "--worker-idle-exit", "3")));
        Assert.All(builds, b => Assert.Equal(0, b.ExitCode));

        Assert.Single(Workers());
        await Poll.UntilAsync(async () => await RemoteKeysAsync() == 2 * bodies.Length, Patience, "every build's uploads");
    }

    [Fact]
    public async Task Without_a_worker_the_uploads_are_done_before_the_build_is_let_go()
    {
        var bodies = Enumerable.Range(0, 5).Select(i => TestData.Bytes(2000, seed: 200 + i)).ToArray();
        var build = await DirectBuildAsync(bodies, afterEof: null, "--no-worker");

        Assert.Equal(0, build.ExitCode);
        Assert.Equal(2 * bodies.Length, await RemoteKeysAsync());
        Assert.Null(WorkerOwnership.Running(Local));
        Assert.Empty(SpoolFiles());
    }

    [Fact]
    public async Task A_spool_left_behind_is_uploaded_by_the_next_worker_and_a_second_worker_is_refused()
    {
        // A build whose worker died: its puts are in the local tier and listed in the spool, nothing is remote.
        var options = Options();
        var actions = new List<byte[]>();
        await using (var cache = new CacheService(options with { Endpoint = null }, TextWriter.Null))
        {
            for (var i = 0; i < 3; i++)
            {
                var body = TestData.Bytes(1500, seed: 300 + i);
                var path = cache.NewTemporaryPath();
                await File.WriteAllBytesAsync(path, body);
                actions.Add(RandomNumberGenerator.GetBytes(32));
                await cache.PutAsync(i, actions[^1], SHA256.HashData(body), new ReceivedBody(path, body.Length, SHA256.HashData(body)), new SessionCounters(), default);
            }
        }

        new UploadSpool(Local).Write(UploadSpool.DestinationOf(options), actions, []);
        new UploadSpool(Local).Write("http://elsewhere/ other ", actions, []);

        var first = Serve();
        try
        {
            await Poll.UntilAsync(async () => await RemoteKeysAsync() == 6, Patience, "the spool's uploads");
            await Poll.UntilAsync(() => Task.FromResult(SpoolFiles().Length == 1), Patience, "this remote's spool file done, the other's left");

            var (exitCode, output) = await CommandLine.RunAsync(GoToolchain.CacheProg, ServeArguments(), Variables(), TimeSpan.FromSeconds(30));
            Assert.Equal(1, exitCode);
            Assert.Contains("already serves", output, StringComparison.Ordinal);
        }
        finally
        {
            first.Kill();
            await first.WaitForExitAsync();
            first.Dispose();
        }
    }

    [Fact]
    public async Task A_worker_meant_to_last_takes_the_folder_over_from_one_a_build_started()
    {
        // As when the AppHost (or the user's own serve) starts while a worker a build started still idles there.
        var started = Serve("--idle-exit", "60");
        var lasting = default(Process);
        try
        {
            await Poll.UntilAsync(() => Task.FromResult(WorkerOwnership.Running(Local) is { ExitsWhenIdle: true }), Patience, "the idle-exiting worker up");
            lasting = Serve();
            await Poll.UntilAsync(
                () => Task.FromResult(WorkerOwnership.Running(Local) is { ExitsWhenIdle: false } running && running.ProcessId == lasting.Id.ToString(CultureInfo.InvariantCulture)),
                Patience,
                "the lasting worker holding the folder");
            await started.WaitForExitAsync().WaitAsync(Patience);
            Assert.Equal(0, started.ExitCode);
        }
        finally
        {
            foreach (var process in new[] { started, lasting }.OfType<Process>())
            {
                if (!process.HasExited)
                {
                    process.Kill();
                    await process.WaitForExitAsync();
                }

                process.Dispose();
            }
        }
    }

    private CacheProgOptions Options() => new()
    {
        CacheDirectory = Local,
        Endpoint = gateway.BaseAddress,
        Bucket = _bucket,
        AccessKey = S3Gateway.AccessKey,
        SecretKey = S3Gateway.Secret,
    };

    private string[] CommonArguments() => ["--dir", Local, "--endpoint", gateway.BaseAddress.ToString(), "--bucket", _bucket];

    private string[] ServeArguments() => ["serve", "--listen", "none", "--http", "http://127.0.0.1:0", .. CommonArguments()];

    private static Dictionary<string, string?> Variables() => new()
    {
        ["S3_ACCESS_KEY_ID"] = S3Gateway.AccessKey,
        ["S3_SECRET_ACCESS_KEY"] = S3Gateway.Secret,
        ["Logging__LogLevel__Default"] = "Warning",

        // In CI (as the suite may run), direct mode would upload by itself rather than hand over.
        ["CI"] = null,
    };

    private Process Serve(params string[] arguments)
    {
        var start = new ProcessStartInfo(GoToolchain.CacheProg) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in ServeArguments().Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in Variables())
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start)!;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>
    /// A direct-mode session as the go command holds it: pipes for stdin, stdout and stderr, puts, close, EOF on stdout
    /// (then <paramref name="afterEof"/>), exit. Returns the exit code and the pipes the helper was given.
    /// </summary>
    private async Task<(int ExitCode, string[] Pipes)> DirectBuildAsync(byte[][] bodies, Action<Process>? afterEof, params string[] arguments)
    {
        var start = new ProcessStartInfo(GoToolchain.CacheProg) { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in CommonArguments().Concat(["--quiet", .. arguments]))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in Variables())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput;
        Assert.Contains("KnownCommands", await stdout.ReadLineAsync(), StringComparison.Ordinal);
        var pipes = Enumerable.Range(0, 3).Select(fd => new FileInfo($"/proc/{process.Id}/fd/{fd}").LinkTarget!).ToArray();
        Assert.All(pipes, pipe => Assert.StartsWith("pipe:", pipe, StringComparison.Ordinal));
        var id = 1;
        foreach (var body in bodies)
        {
            var request = JsonSerializer.Serialize(new { ID = id++, Command = "put", ActionID = RandomNumberGenerator.GetBytes(32), OutputID = SHA256.HashData(body), BodySize = body.Length });
            await process.StandardInput.WriteAsync($"{request}\n\n\"{Convert.ToBase64String(body)}\"\n");
        }

        await process.StandardInput.WriteAsync($"{{\"ID\":{id},\"Command\":\"close\"}}\n\n");
        await process.StandardInput.FlushAsync();
        for (var answered = 0; answered < bodies.Length + 1;)
        {
            var line = await stdout.ReadLineAsync().WaitAsync(Patience) ?? throw new Xunit.Sdk.XunitException("stdout ended before every answer");
            Assert.DoesNotContain("\"Err\"", line, StringComparison.Ordinal);
            answered += line.Length > 0 ? 1 : 0;
        }

        process.StandardInput.Close();
        Assert.Equal(string.Empty, await stdout.ReadToEndAsync().WaitAsync(Patience));
        afterEof?.Invoke(process);
        await process.WaitForExitAsync().WaitAsync(Patience);
        Assert.Equal(string.Empty, await errors);
        return (process.ExitCode, pipes);
    }

    private async Task<int> RemoteKeysAsync() =>
        (await gateway.Client().ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket })).KeyCount ?? 0;

    private string[] SpoolFiles() => Directory.GetFiles(Path.Combine(Local, "spool"), "*" + UploadSpool.Extension);

    /// <summary>The running workers of this test's folder, from their command lines.</summary>
    private string[] Workers() =>
        [.. Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)).Where(d =>
        {
            try
            {
                var arguments = File.ReadAllText(Path.Combine(d, "cmdline")).Split('\0');
                return arguments.Contains("serve") && arguments.Contains(Local);
            }
            catch (IOException)
            {
                return false;
            }
        })];

    /// <summary>The session id of a process (field 6 of /proc/pid/stat, after the parenthesised name).</summary>
    private static string SessionOf(string processId)
    {
        var stat = File.ReadAllText($"/proc/{processId}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[3];
    }
}

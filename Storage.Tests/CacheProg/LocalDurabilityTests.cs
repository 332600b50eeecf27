using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Storage.CacheProg.Cache;
using Storage.Tests.Fixtures;

namespace Storage.Tests.CacheProg;

/// <summary>
/// The local tier's crash safety without a flush per put: the marker a process holds while its names are unflushed,
/// the flush after the build, and the repair a later process makes when one ended before flushing. In this process
/// and with the published executable killed in the middle of a session.
/// </summary>
public sealed class LocalDurabilityTests : IDisposable
{
    private readonly TempDirectory _folder = new("cacheprog-durability");

    public void Dispose() => _folder.Dispose();

    private string Markers => Path.Combine(_folder.Path, LocalDurability.FolderName);

    [Fact]
    public async Task A_put_holds_a_marker_until_the_flush_after_it()
    {
        using var local = new LocalTier(_folder.Path, maxBytes: 0);
        Assert.Empty(Directory.GetFiles(Markers));

        await LocalTierTests.PutAsync(local, 1);
        Assert.Single(Directory.GetFiles(Markers));
        Assert.True(local.Durability.Unflushed);

        await local.Durability.FlushAsync(CancellationToken.None);
        Assert.Empty(Directory.GetFiles(Markers));
        Assert.False(local.Durability.Unflushed);

        // The next put marks again.
        await LocalTierTests.PutAsync(local, 2);
        Assert.Single(Directory.GetFiles(Markers));
    }

    [Fact]
    public async Task After_an_unflushed_end_the_next_open_removes_exactly_the_recent_files_a_power_cut_could_have_torn()
    {
        byte[] intact, torn, tornEntry, old;
        string tornBody, oldBody;
        using (var first = new LocalTier(_folder.Path, maxBytes: 0))
        {
            (old, oldBody) = await LocalTierTests.PutAsync(first, 1);
            await first.Durability.FlushAsync(CancellationToken.None);
            File.SetLastWriteTimeUtc(oldBody, DateTime.UtcNow.AddHours(-2));
            (intact, _) = await LocalTierTests.PutAsync(first, 2);
            (torn, tornBody) = await LocalTierTests.PutAsync(first, 3);
            (tornEntry, _) = await LocalTierTests.PutAsync(first, 4);
        }

        // What a power cut can leave: names over blocks never written (zeros, the right size), an entry cut short.
        Assert.Single(Directory.GetFiles(Markers));
        await File.WriteAllBytesAsync(tornBody, new byte[new FileInfo(tornBody).Length]);
        await File.WriteAllTextAsync(ActionPath(tornEntry), "{\"OutputID\":\"ab");

        // A flushed body is not looked at again (the repair reads only what the marker covers), even if it changed since.
        var oldLength = new FileInfo(oldBody).Length;
        await File.WriteAllBytesAsync(oldBody, new byte[oldLength]);
        File.SetLastWriteTimeUtc(oldBody, DateTime.UtcNow.AddHours(-2));

        using var second = new LocalTier(_folder.Path, maxBytes: 0);
        Assert.Equal(2, second.Durability.Repaired);
        Assert.Empty(Directory.GetFiles(Markers));
        Assert.NotNull(second.Get(intact));
        Assert.Null(second.Get(torn));
        Assert.False(File.Exists(tornBody));
        Assert.Null(second.Get(tornEntry));
        Assert.NotNull(second.Get(old));
    }

    [Fact]
    public async Task A_marker_held_by_a_running_process_is_left_alone()
    {
        using var running = new LocalTier(_folder.Path, maxBytes: 0);
        var (action, body) = await LocalTierTests.PutAsync(running, 1);
        await File.WriteAllBytesAsync(body, new byte[new FileInfo(body).Length]);

        using var other = new LocalTier(_folder.Path, maxBytes: 0);
        Assert.Equal(0, other.Durability.Repaired);
        Assert.Single(Directory.GetFiles(Markers));
        Assert.NotNull(other.Get(action));
    }

    [Fact]
    public async Task A_helper_killed_mid_session_leaves_every_answered_put_a_hit_for_the_next_and_a_clean_exit_leaves_no_marker()
    {
        var bodies = Enumerable.Range(0, 40).Select(i => TestData.Bytes(500 + (i * 997), seed: i)).ToArray();
        var actions = bodies.Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
        using (var killed = Start())
        {
            var stdout = killed.StandardOutput;
            Assert.Contains("KnownCommands", await stdout.ReadLineAsync(), StringComparison.Ordinal);
            for (var i = 0; i < bodies.Length; i++)
            {
                var request = JsonSerializer.Serialize(new { ID = i + 1, Command = "put", ActionID = actions[i], OutputID = SHA256.HashData(bodies[i]), BodySize = bodies[i].Length });
                await killed.StandardInput.WriteAsync($"{request}\n\n\"{Convert.ToBase64String(bodies[i])}\"\n");
            }

            await killed.StandardInput.FlushAsync();
            await AnswersAsync(stdout, bodies.Length);
            killed.Kill();
            await killed.WaitForExitAsync();
        }

        Assert.Single(Directory.GetFiles(Markers));

        using var next = Start();
        Assert.Contains("KnownCommands", await next.StandardOutput.ReadLineAsync(), StringComparison.Ordinal);
        for (var i = 0; i < actions.Length; i++)
        {
            await next.StandardInput.WriteAsync($"{JsonSerializer.Serialize(new { ID = i + 1, Command = "get", ActionID = actions[i] })}\n\n");
        }

        await next.StandardInput.WriteAsync($"{{\"ID\":{actions.Length + 1},\"Command\":\"close\"}}\n\n");
        next.StandardInput.Close();
        var answers = await AnswersAsync(next.StandardOutput, actions.Length + 1);
        Assert.Equal(actions.Length, answers.Count(a => a.Contains("DiskPath", StringComparison.Ordinal)));
        await next.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, next.ExitCode);

        // The killed process's marker was checked (its files were intact: the kernel had them) and the survivor flushed and left.
        Assert.Empty(Directory.GetFiles(Markers));
    }

    private static async Task<List<string>> AnswersAsync(StreamReader stdout, int count)
    {
        var answers = new List<string>();
        while (answers.Count < count)
        {
            var line = await stdout.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)) ?? throw new Xunit.Sdk.XunitException("stdout ended before every answer");
            Assert.DoesNotContain("\"Err\"", line, StringComparison.Ordinal);
            if (line.Length > 0)
            {
                answers.Add(line);
            }
        }

        return answers;
    }

    /// <summary>Direct mode on this test's folder with no remote: the local tier alone.</summary>
    private Process Start()
    {
        var start = new ProcessStartInfo(GoToolchain.CacheProg) { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "--dir", _folder.Path, "--quiet" })
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var name in new[] { "S3_ENDPOINT", "S3_BUCKET_NAME", "CI" })
        {
            start.Environment[name] = null;
        }

        var process = Process.Start(start)!;
        process.BeginErrorReadLine();
        return process;
    }

    private string ActionPath(byte[] actionId) => Path.Combine(_folder.Path, Convert.ToHexStringLower(actionId) + LocalTier.ActionSuffix);
}

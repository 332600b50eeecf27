using System.Diagnostics;

namespace Storage.Tests.Fixtures;

/// <summary>
/// A real, foreign S3 server process standing in for a MinIO node: <c>s3rver</c> under Node.js (installed by
/// .ci/test.sh into .tools/; override with the S3RVER environment variable). It can be killed and restarted
/// on the same port and data, like a node going down and coming back.
/// </summary>
public sealed class S3Server : IAsyncDisposable
{
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";

    private readonly TempDirectory _data = new("s3rver");
    private Process? _process;

    private S3Server(int port) => Port = port;

    public int Port { get; }

    public string ConnectionString => $"Endpoint=http://127.0.0.1:{Port};AccessKey={AccessKey};SecretKey={SecretKey}";

    public bool IsRunning => _process is { HasExited: false };

    public static async Task<S3Server> StartAsync()
    {
        var server = new S3Server(ServerProcess.FreePort());
        await server.RestartAsync();
        return server;
    }

    public async Task StopAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>Restarts the server with an empty data folder: a node whose disk was replaced.</summary>
    public async Task RestartEmptyAsync()
    {
        await StopAsync();
        foreach (var entry in new DirectoryInfo(_data.Path).EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo directory)
            {
                directory.Delete(recursive: true);
            }
            else
            {
                entry.Delete();
            }
        }

        await RestartAsync();
    }

    public async Task RestartAsync()
    {
        await StopAsync();
        _process?.Dispose();
        var start = new ProcessStartInfo(Executable());
        foreach (var argument in new[] { "-d", _data.Path, "-p", $"{Port}", "-a", "127.0.0.1", "--silent" })
        {
            start.ArgumentList.Add(argument);
        }

        _process = await ServerProcess.StartAsync(start, Port, TimeSpan.FromSeconds(30));
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose();
        _data.Dispose();
    }

    private static string Executable()
    {
        if (Environment.GetEnvironmentVariable("S3RVER") is { Length: > 0 } configured)
        {
            return configured;
        }

        var installed = Repository.Tool("node_modules", ".bin", "s3rver");
        return File.Exists(installed)
            ? installed
            : throw new InvalidOperationException("s3rver is not installed; ./.ci/test.sh installs it (npm install --prefix .tools s3rver@3.7.1).");
    }
}

using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Storage.AppHost;

/// <summary>
/// What the AppHost runs, from configuration: <c>Parameters:node-count</c> storage nodes (default 8; raise it and
/// restart to add nodes: the new ones join, the others keep their data volumes), and <c>Storage:Containers</c>:
/// <c>auto</c> (containers when docker or podman is on PATH), <c>true</c> (require them) or <c>false</c> (processes:
/// a local redis-server, and nodes as folders, or as local <c>minio</c> servers when that executable is on PATH).
/// </summary>
public sealed record TopologySettings(int NodeCount, bool UseContainers, string DataPath, string? MinioExecutable, string? WorkerListen)
{
    public static TopologySettings Read(IDistributedApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var nodeText = configuration["Parameters:node-count"] ?? "8";
        if (!int.TryParse(nodeText, NumberStyles.None, CultureInfo.InvariantCulture, out var nodes) || nodes is < 1 or > 64)
        {
            throw new DistributedApplicationException($"Parameters:node-count must be a number from 1 to 64, not '{nodeText}'.");
        }

        var engine = Executables.Find("docker") ?? Executables.Find("podman");
        var useContainers = (configuration["Storage:Containers"] ?? "auto").ToLowerInvariant() switch
        {
            "true" => engine is not null
                ? true
                : throw new DistributedApplicationException("Storage:Containers is true, but no container engine (docker or podman) is on PATH. Install one, or set Storage:Containers=false to run Redis and the nodes as local processes."),
            "false" => false,
            "auto" => engine is not null,
            var other => throw new DistributedApplicationException($"Storage:Containers must be auto, true or false, not '{other}'."),
        };

        if (!useContainers)
        {
            Console.Error.WriteLine(engine is null
                ? "No container engine (docker or podman) on PATH: running Redis from a local redis-server and the storage nodes as folders (or local minio servers). Set Storage:Containers=true to require containers."
                : "Storage:Containers=false: running Redis from a local redis-server and the storage nodes as folders (or local minio servers).");
        }

        return new TopologySettings(
            nodes,
            useContainers,
            Path.GetFullPath(configuration["Storage:DataPath"] ?? Path.Combine(builder.AppHostDirectory, ".storage")),
            Executables.Find("minio"),
            configuration["Storage:CacheProg:Listen"]);
    }
}

/// <summary>Finds executables on PATH (to choose between containers and local processes).</summary>
public static class Executables
{
    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, name))
            .FirstOrDefault(File.Exists);

    public static int FreeLoopbackPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}

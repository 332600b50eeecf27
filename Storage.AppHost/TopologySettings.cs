using System.Globalization;
using Storage.AppHost.Resources;

namespace Storage.AppHost;

/// <summary>
/// What the AppHost runs, from configuration (docs/configuration.md, "The AppHost"):
/// <list type="bullet">
/// <item><c>Parameters:node-count</c>: storage nodes, default 8; raise it and restart to add nodes (existing nodes keep their data).</item>
/// <item><c>Storage:Containers</c>: <c>auto</c> (containers when a container engine answers), <c>true</c> (require one)
/// or <c>false</c> (local processes: redis-server, and nodes as local minio servers or, without one, folders).</item>
/// <item><c>Storage:Images:Minio</c> / <c>Storage:Images:Redis</c>: image references (default the real MinIO and Aspire's Redis).</item>
/// <item><c>Storage:MinioCommand</c>: the minio executable for process mode (default <c>minio</c> on PATH; relative to the AppHost folder).</item>
/// <item><c>Storage:VolumePrefix</c>: names the data volumes <c>&lt;prefix&gt;-&lt;resource&gt;-data</c> instead of after the AppHost.</item>
/// <item><c>Storage:DataPath</c>: where process mode keeps Redis and node data (default <c>Storage.AppHost/.storage</c>).</item>
/// <item><c>Storage:CacheProg:Listen</c> / <c>Storage:CacheProg:Dir</c>: the cache worker's socket and local tier (default: the user's).</item>
/// </list>
/// </summary>
public sealed record TopologySettings(
    int NodeCount,
    bool UseContainers,
    string DataPath,
    string MinioImage,
    string? RedisImage,
    string? MinioCommand,
    string? VolumePrefix,
    string? WorkerListen,
    string? WorkerDirectory)
{
    public static async Task<TopologySettings> ReadAsync(IDistributedApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var nodeText = configuration["Parameters:node-count"] ?? "8";
        if (!int.TryParse(nodeText, NumberStyles.None, CultureInfo.InvariantCulture, out var nodes) || nodes is < 1 or > 64)
        {
            throw new DistributedApplicationException($"Parameters:node-count must be a number from 1 to 64, not '{nodeText}'.");
        }

        var mode = (configuration["Storage:Containers"] ?? "auto").ToLowerInvariant();
        if (mode is not ("auto" or "true" or "false"))
        {
            throw new DistributedApplicationException($"Storage:Containers must be auto, true or false, not '{mode}'.");
        }

        var useContainers = false;
        if (mode != "false")
        {
            var engine = await ContainerEngine.ProbeAsync(ContainerEngine.Runtime(configuration));
            useContainers = engine.Answers;
            if (!engine.Answers && mode == "true")
            {
                throw new DistributedApplicationException($"Storage:Containers is true, but no container engine answers ({engine.Detail}). Start Docker or Podman, or set Storage:Containers=false to run Redis and the nodes as local processes.");
            }

            Console.WriteLine(engine.Answers
                ? $"Containers: {engine.Detail}; MinIO and Redis run as containers."
                : $"No container engine answers ({engine.Detail}): Redis and the storage nodes run as local processes. Set Storage:Containers=true to require containers.");
        }
        else
        {
            Console.WriteLine("Storage:Containers=false: Redis and the storage nodes run as local processes.");
        }

        var minioCommand = Executables.Find("minio");
        if (configuration["Storage:MinioCommand"] is { Length: > 0 } configured)
        {
            minioCommand = Executables.Find(Path.GetFullPath(configured, builder.AppHostDirectory))
                ?? throw new DistributedApplicationException($"Storage:MinioCommand '{configured}' does not exist (a relative path is relative to {builder.AppHostDirectory}).");
        }

        return new TopologySettings(
            nodes,
            useContainers,
            Path.GetFullPath(configuration["Storage:DataPath"] ?? ".storage", builder.AppHostDirectory),
            configuration["Storage:Images:Minio"] ?? MinioBuilderExtensions.DefaultImage,
            configuration["Storage:Images:Redis"],
            minioCommand,
            configuration["Storage:VolumePrefix"],
            configuration["Storage:CacheProg:Listen"],
            configuration["Storage:CacheProg:Dir"]);
    }

    /// <summary>The data volume of a resource: named after the prefix when one is set, else after the AppHost (null).</summary>
    public string? VolumeName(string resource) => VolumePrefix is { Length: > 0 } prefix ? $"{prefix}-{resource}-data" : null;

    public string DataFolder(params string[] parts) => Directory.CreateDirectory(Path.Combine([DataPath, .. parts])).FullName;
}

/// <summary>Finds executables on PATH.</summary>
public static class Executables
{
    public static string? Find(string name) =>
        Path.IsPathRooted(name) ? (File.Exists(name) ? name : null)
        : (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, name))
            .FirstOrDefault(File.Exists);
}

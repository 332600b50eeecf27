using Aspire.Hosting;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Aspire;

public enum TopologyMode
{
    /// <summary>Redis from redis-server, nodes as local minio (stand-in) processes: no container engine involved.</summary>
    Processes,

    /// <summary>MinIO and Redis containers from the local stand-in images, volumes and network as users get them.</summary>
    Containers,
}

/// <summary>One start of the AppHost: which mode, where its data lives, how many nodes, and whether the dashboard runs.</summary>
public sealed record TopologyRun(TopologyMode Mode, string DataPath, int NodeCount = 8, string? VolumePrefix = null, bool Dashboard = false)
{
    public string WorkerSocket => Path.Combine(DataPath, "worker.sock");
}

/// <summary>
/// The AppHost's whole topology started with <see cref="DistributedApplicationTestingBuilder"/>, as a user's
/// <c>dotnet run</c> would start it but with the test's settings; every resource's output goes to a log file under
/// the test artifacts. Started, it has waited until every resource (both gateway replicas included) is healthy.
/// </summary>
public sealed class AspireTopology : IAsyncDisposable
{
    public const string AccessKey = "AKIDASPIRETEST";
    public const string SecretKey = "aspire-test-secret-0123456789abcdef";
    public const string CacheReaderAccessKey = "AKIDASPIREREADER";
    public const string CacheReaderSecretKey = "aspire-reader-secret-0123456789abcdef";

    private readonly FileLoggerProvider _log;

    private AspireTopology(DistributedApplication app, TopologyRun run, FileLoggerProvider log, TimeSpan startup)
    {
        App = app;
        Run = run;
        _log = log;
        StartupTime = startup;
    }

    public DistributedApplication App { get; }

    public TopologyRun Run { get; }

    /// <summary>From building the app to every resource healthy.</summary>
    public TimeSpan StartupTime { get; }

    public string LogPath => _log.Path;

    public static async Task<AspireTopology> StartAsync(TopologyRun run, string label, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var arguments = Arguments(run);
        var builder = run.Dashboard
            ? await DistributedApplicationTestingBuilder.CreateAsync<Projects.Storage_AppHost>(new DistributedApplicationTestingBuilderOptions { EnableDashboard = true }, arguments, cancellationToken)
            : await DistributedApplicationTestingBuilder.CreateAsync<Projects.Storage_AppHost>(arguments, cancellationToken);
        var log = new FileLoggerProvider(TestArtifacts.PathFor($"{label}.log"));
        builder.Services.AddLogging(logging => logging.AddProvider(log));
        var app = await builder.BuildAsync(cancellationToken);
        try
        {
            await app.StartAsync(cancellationToken);
            await WaitUntilHealthyAsync(app, run, cancellationToken);
        }
        catch (Exception exception)
        {
            await app.DisposeAsync();
            log.Dispose();
            throw new InvalidOperationException($"The AppHost did not come up healthy ({exception.Message}); every resource's output is in {log.Path}.", exception);
        }

        return new AspireTopology(app, run, log, started.Elapsed);
    }

    /// <summary>The gateway's external endpoint (one address; the orchestrator's proxy spreads connections over the replicas).</summary>
    public HttpClient Gateway() => App.CreateHttpClient("gateway");

    public async ValueTask DisposeAsync()
    {
        try
        {
            await App.StopAsync();
        }
        finally
        {
            await App.DisposeAsync();
            _log.Dispose();
        }
    }

    private static string[] Arguments(TopologyRun run)
    {
        List<string> arguments =
        [
            $"Storage:Containers={(run.Mode == TopologyMode.Containers ? "true" : "false")}",
            $"Storage:DataPath={run.DataPath}",
            $"Storage:CacheProg:Listen=unix:{run.WorkerSocket}",
            $"Storage:CacheProg:Dir={Path.Combine(run.DataPath, "worker-cache")}",
            $"Parameters:node-count={run.NodeCount}",
            $"Parameters:s3-access-key={AccessKey}",
            $"Parameters:s3-secret-key={SecretKey}",
            $"Parameters:s3-cache-reader-access-key={CacheReaderAccessKey}",
            $"Parameters:s3-cache-reader-secret-key={CacheReaderSecretKey}",
        ];
        if (run.Mode == TopologyMode.Processes)
        {
            arguments.Add($"Storage:MinioCommand={Repository.MinioStandIn}");
        }
        else
        {
            arguments.Add($"Storage:Images:Minio={StandInImages.Minio}");
            arguments.Add($"Storage:Images:Redis={StandInImages.Redis}");
            arguments.Add($"Storage:VolumePrefix={run.VolumePrefix ?? throw new ArgumentException("Container runs need a volume prefix.", nameof(run))}");
        }

        return [.. arguments];
    }

    /// <summary>Every resource healthy: Redis, each node, both gateway replicas (each its own resource instance), the worker.</summary>
    private static async Task WaitUntilHealthyAsync(DistributedApplication app, TopologyRun run, CancellationToken cancellationToken)
    {
        var notifications = app.ResourceNotifications;
        await notifications.WaitForResourceHealthyAsync("redis", cancellationToken);
        foreach (var node in Enumerable.Range(1, run.NodeCount))
        {
            await notifications.WaitForResourceHealthyAsync($"node{node}", cancellationToken);
        }

        var healthyReplicas = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var update in notifications.WatchAsync(cancellationToken))
        {
            if (update.Resource.Name == "gateway" && update.Snapshot.HealthStatus == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy
                && healthyReplicas.Add(update.ResourceId) && healthyReplicas.Count == 2)
            {
                break;
            }
        }

        await notifications.WaitForResourceHealthyAsync("cacheprog", cancellationToken);
    }
}

using System.CommandLine;
using System.Runtime.InteropServices;
using Storage.CacheProg.Cache;
using Storage.CacheProg.Worker;

namespace Storage.CacheProg.Commands;

/// <summary>
/// <c>storage-cacheprog serve</c>: the long-running worker that owns the local tier, the remote client and the upload
/// queue, and serves protocol sessions (one per <c>connect</c>) on a socket. Runs with ServiceDefaults, so its traces,
/// cache metrics and health reach the Aspire dashboard; <c>/stats</c> (or SIGUSR1, to stderr) shows the counters.
/// </summary>
public static class ServeCommand
{
    private static readonly Option<string?> Listen = new("--listen") { Description = "unix:/path (default, owner-only) or tcp:127.0.0.1:PORT; default $STORAGE_CACHEPROG_ADDRESS or the default socket" };
    private static readonly Option<string?> Http = new("--http") { Description = "URL for /health, /alive and /stats (default: ASPNETCORE_URLS, else a free loopback port)" };

    /// <summary>SIGUSR1 on Linux: print the counters to stderr.</summary>
    private const int StatsSignal = 10;

    public static Command Create(Func<ParseResult, CacheProgOptions> options)
    {
        var command = new Command("serve", "Run the shared worker that 'connect' relays to") { Listen, Http };
        command.SetAction((parse, cancellationToken) => RunAsync(options(parse), WorkerAddress.Resolve(parse.GetValue(Listen)), parse.GetValue(Http), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CacheProgOptions options, WorkerAddress address, string? http, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateBuilder();
        builder.AddServiceDefaults();

        // As a web project's appsettings would: health probes every few seconds must not write four lines each.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        if (http is not null || string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(http ?? "http://127.0.0.1:0");
        }

        await using var cache = new CacheService(options, Console.Error, drainOnClose: false);
        builder.Services.AddSingleton(cache);
        builder.Services.AddSingleton(address);
        builder.Services.AddHostedService<WorkerListener>();
        builder.Services.AddHealthChecks().AddCheck<LocalTierHealthCheck>("local-tier");
        await using var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapGet("/stats", () => cache.Stats.Summary());

        using var statsSignal = OperatingSystem.IsLinux()
            ? PosixSignalRegistration.Create((PosixSignal)StatsSignal, context =>
            {
                context.Cancel = true;
                Console.Error.WriteLine(cache.Stats.Summary());
            })
            : null;

        await cache.PrepareRemoteAsync(cancellationToken);
        await app.StartAsync(cancellationToken);
        app.Logger.LogInformation("storage-cacheprog worker on {Address}: {Options}", address, options);
        await app.WaitForShutdownAsync(cancellationToken);

        // The worker's promise is that uploads outlive builds; at shutdown they get the close timeout to finish.
        await cache.DrainAsync(options.CloseTimeout, CancellationToken.None);
        await Console.Error.WriteLineAsync(cache.Stats.Summary());
        return 0;
    }
}

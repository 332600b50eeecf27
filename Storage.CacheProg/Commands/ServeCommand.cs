using System.CommandLine;
using System.Runtime.InteropServices;
using Storage.CacheProg.Cache;
using Storage.CacheProg.Worker;

namespace Storage.CacheProg.Commands;

/// <summary>
/// <c>storage-cacheprog serve</c>: the long-running worker that owns the local tier, the remote client and the upload
/// queue, serves protocol sessions (one per <c>connect</c>) on a socket and uploads what direct-mode builds on its
/// folder spool. One worker per folder (<see cref="WorkerOwnership"/>). Runs with ServiceDefaults, so its traces,
/// cache metrics and health reach the Aspire dashboard; <c>/stats</c> (or SIGUSR1, to stderr) shows the counters.
/// </summary>
public static class ServeCommand
{
    private static readonly Option<string?> Listen = new("--listen") { Description = $"unix:/path (default, owner-only), tcp:127.0.0.1:PORT or {WorkerAddress.None}; default $STORAGE_CACHEPROG_ADDRESS or the default socket" };
    private static readonly Option<string?> Http = new("--http") { Description = "URL for /health, /alive and /stats (default: ASPNETCORE_URLS, else a free loopback port)" };
    private static readonly Option<double> IdleExit = new("--idle-exit") { Description = "Exit after this many seconds with no session, upload or spool; 0 = never", DefaultValueFactory = _ => 0 };

    /// <summary>SIGUSR1 on Linux: print the counters to stderr.</summary>
    private const int StatsSignal = 10;

    public static Command Create(Func<ParseResult, CacheProgOptions> options)
    {
        var command = new Command("serve", "Run the shared worker that 'connect' relays to and direct mode hands its uploads to") { Listen, Http, IdleExit };
        CacheProgCommandLine.AcceptSecondsOnly(IdleExit);
        command.SetAction((parse, cancellationToken) => RunAsync(
            options(parse),
            parse.GetValue(Listen) is WorkerAddress.None ? null : WorkerAddress.Resolve(parse.GetValue(Listen)),
            parse.GetValue(Http),
            TimeSpan.FromSeconds(parse.GetValue(IdleExit)),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CacheProgOptions options, WorkerAddress? address, string? http, TimeSpan idleExit, CancellationToken cancellationToken)
    {

        await using var cache = new CacheService(options, Console.Error);
        var destination = UploadSpool.DestinationOf(options);
        var exitsWhenIdle = idleExit > TimeSpan.Zero;
        using var ownership = await WorkerOwnership.TakeAsync(cache.Local.Root, destination, exitsWhenIdle, cancellationToken)
            ?? (exitsWhenIdle ? null : await WorkerOwnership.TakeOverAsync(cache.Local.Root, destination, options.CloseTimeout + TimeSpan.FromSeconds(5), cancellationToken));
        if (ownership is null)
        {
            var running = WorkerOwnership.Running(cache.Local.Root);
            await Console.Error.WriteLineAsync($"storage-cacheprog serve: a worker (pid {running?.ProcessId}) already serves {cache.Local.Root}; one worker per folder.");
            return 1;
        }

        if (address is not null && await WorkerListener.AnswersAsync(address, cancellationToken))
        {
            await Console.Error.WriteLineAsync($"storage-cacheprog serve: another worker listens on {address}.");
            return 1;
        }

        var builder = WebApplication.CreateBuilder();
        builder.AddServiceDefaults();

        // As a web project's appsettings would: health probes every few seconds must not write four lines each.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        if (http is not null || string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(http ?? "http://127.0.0.1:0");
        }

        var spool = new UploadSpool(cache.Local.Root);
        builder.Services.AddSingleton(cache);
        builder.Services.AddSingleton(spool);
        builder.Services.AddSingleton(ownership);
        builder.Services.AddSingleton(services => new SpoolUploads(cache, spool, destination, services.GetRequiredService<ILogger<SpoolUploads>>()));
        builder.Services.AddHostedService(services => services.GetRequiredService<SpoolUploads>());
        if (address is not null)
        {
            builder.Services.AddSingleton(address);
            builder.Services.AddHostedService<WorkerListener>();
        }

        if (idleExit > TimeSpan.Zero)
        {
            builder.Services.AddSingleton(services => new IdleShutdown(
                idleExit,
                cache,
                services.GetRequiredService<SpoolUploads>(),
                ownership,
                services.GetRequiredService<IHostApplicationLifetime>(),
                services.GetRequiredService<ILogger<IdleShutdown>>()));
            builder.Services.AddHostedService(services => services.GetRequiredService<IdleShutdown>());
        }

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
        app.Logger.LogInformation("storage-cacheprog worker on {Address}: {Options}", address?.ToString() ?? "no socket", options);
        await app.WaitForShutdownAsync(cancellationToken);

        // The worker's promise is that uploads outlive builds; at shutdown they get the close timeout to finish.
        await cache.DrainAsync(options.CloseTimeout, CancellationToken.None);
        await Console.Error.WriteLineAsync(cache.Stats.Summary());
        app.Services.GetService<IdleShutdown>()?.Leave();
        return 0;
    }
}

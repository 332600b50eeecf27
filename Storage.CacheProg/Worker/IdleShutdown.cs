using Storage.CacheProg.Cache;

namespace Storage.CacheProg.Worker;

/// <summary>
/// Ends a worker that has had nothing to do for its idle time: no session open, no upload pending, nothing spooled for
/// it. It leaves under the spawn lock and gives its folder up before letting go of it, so a build that spools
/// meanwhile either is seen here (and the worker stays) or finds no worker and starts one.
/// </summary>
public sealed class IdleShutdown(
    TimeSpan idleTime,
    CacheService cache,
    SpoolUploads spoolUploads,
    UploadSpool spool,
    string destination,
    WorkerOwnership ownership,
    IHostApplicationLifetime lifetime,
    ILogger<IdleShutdown> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var every = TimeSpan.FromMilliseconds(Math.Clamp(idleTime.TotalMilliseconds / 4, 50, 5000));
        using var timer = new PeriodicTimer(every);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (!Idle())
            {
                continue;
            }

            using var spawning = await FileLock.AcquireAsync(WorkerOwnership.SpawnLockPath(cache.Local.Root), TimeSpan.FromSeconds(5), stoppingToken);
            if (spawning is null || !Idle() || spool.Pending(destination).Any())
            {
                continue;
            }

            ownership.Dispose();
            logger.LogInformation("Idle for {Idle}; the worker exits (the next build starts another)", idleTime);
            lifetime.StopApplication();
            return;
        }
    }

    private bool Idle() =>
        cache.ActiveSessions == 0 && cache.PendingUploads == 0 && spoolUploads.Busy == 0 && cache.IdleFor >= idleTime;
}

using Storage.CacheProg.Cache;

namespace Storage.CacheProg.Worker;

/// <summary>
/// Ends a worker that has had nothing to do for its idle time: no session open, no upload pending, nothing spooled for
/// it that it has not tried. It decides under the spawn lock and keeps that lock until it has stopped serving and
/// given its folder up (<see cref="Leave"/>), so a build that spools meanwhile either is seen here (and the worker
/// stays) or waits, then finds no worker and starts one — never a worker on its way out, nor its socket.
/// </summary>
public sealed class IdleShutdown(
    TimeSpan idleTime,
    CacheService cache,
    SpoolUploads spoolUploads,
    WorkerOwnership ownership,
    IHostApplicationLifetime lifetime,
    ILogger<IdleShutdown> logger) : BackgroundService
{
    private FileLock? _leaving;

    /// <summary>After the worker stopped serving: gives the folder up, then lets builds start a new worker.</summary>
    public void Leave()
    {
        ownership.Dispose();
        Interlocked.Exchange(ref _leaving, null)?.Dispose();
    }

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

            var spawning = await FileLock.AcquireAsync(WorkerOwnership.SpawnLockPath(cache.Local.Root), TimeSpan.FromSeconds(5), stoppingToken);
            if (spawning is null)
            {
                continue;
            }

            if (!Idle() || spoolUploads.HasUntried())
            {
                spawning.Dispose();
                continue;
            }

            _leaving = spawning;
            logger.LogInformation("Idle for {Idle}; the worker exits (the next build starts another)", idleTime);
            lifetime.StopApplication();
            return;
        }
    }

    private bool Idle() =>
        cache.ActiveSessions == 0 && cache.PendingUploads == 0 && spoolUploads.Busy == 0 && cache.IdleFor >= idleTime;
}

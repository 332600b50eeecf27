using Storage.Gateway.Objects;

namespace Storage.Gateway.Maintenance;

/// <summary>
/// Runs a maintenance pass every interval on whichever gateway holds the pass's lease, so several replicas never
/// do the same work at once (and if they did, the compare-and-swap in metadata would keep them correct). A pass
/// can also be woken early (<see cref="WaitForWakeAsync"/>), as healing is when a node lost data.
/// </summary>
public abstract class MaintenanceLoop(TimeSpan interval, TimeProvider time, ILogger logger) : BackgroundService
{
    protected TimeProvider Time { get; } = time;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, Time);
        while (!stoppingToken.IsCancellationRequested)
        {
            using (var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
            {
                var tick = timer.WaitForNextTickAsync(wake.Token).AsTask();
                var early = WaitForWakeAsync(wake.Token);
                await Task.WhenAny(tick, early);
                await wake.CancelAsync();
                await Task.WhenAll(tick, early).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }

            if (stoppingToken.IsCancellationRequested)
            {
                return;
            }

            // One named trace per pass, with the pass's Redis and node calls inside it (loose, they would be dropped).
            using var activity = StorageTelemetry.Source.StartActivity($"maintenance {GetType().Name}");
            try
            {
                await RunScheduledPassAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.GetType().Name);
                logger.LogWarning(ex, "{Pass} pass failed; retrying next interval", GetType().Name);
            }
        }
    }

    protected abstract Task RunScheduledPassAsync(CancellationToken cancellationToken);

    /// <summary>Completes when a pass should run before the next interval; by default never.</summary>
    protected virtual Task WaitForWakeAsync(CancellationToken cancellationToken) => Task.Delay(Timeout.Infinite, cancellationToken);
}

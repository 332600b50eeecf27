namespace Storage.Gateway.Maintenance;

/// <summary>
/// Runs a maintenance pass every interval on whichever gateway holds the pass's lease, so several replicas never
/// do the same work at once (and if they did, the compare-and-swap in metadata would keep them correct).
/// </summary>
public abstract class MaintenanceLoop(TimeSpan interval, TimeProvider time, ILogger logger) : BackgroundService
{
    protected TimeProvider Time { get; } = time;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, Time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await RunScheduledPassAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "{Pass} pass failed; retrying next interval", GetType().Name);
            }
        }
    }

    protected abstract Task RunScheduledPassAsync(CancellationToken cancellationToken);
}

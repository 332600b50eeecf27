using Storage.Gateway.Metadata;

namespace Storage.Gateway.Maintenance;

/// <summary>
/// A maintenance lease held for one pass: short, renewed in the background while the pass runs, and released when it
/// ends (also on shutdown), so a surviving replica takes over within one lease duration of a holder dying — not
/// after the pass's whole budget. If a renewal fails (metadata unreachable, or the lease went to someone else),
/// <see cref="Lost"/> is cancelled and the pass stops where it is; every step it took is committed metadata, so the
/// next holder simply continues.
/// </summary>
public sealed class MaintenanceLease : IAsyncDisposable
{
    private static readonly TimeSpan ReleaseTimeout = TimeSpan.FromSeconds(2);

    private readonly IMetadataStore _metadata;
    private readonly string _name;
    private readonly string _holder;
    private readonly CancellationTokenSource _lost;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renewals;

    private MaintenanceLease(IMetadataStore metadata, string name, string holder, TimeSpan duration, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        (_metadata, _name, _holder) = (metadata, name, holder);
        _lost = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _renewals = RenewAsync(duration, time, logger);
    }

    /// <summary>Cancelled when the pass must stop: shutdown, or the lease could not be renewed.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>The lease, or null while another gateway holds it.</summary>
    public static async Task<MaintenanceLease?> TryAcquireAsync(
        IMetadataStore metadata, string name, string holder, TimeSpan duration, TimeProvider time, ILogger logger, CancellationToken cancellationToken) =>
        await metadata.TryAcquireLeaseAsync(name, holder, duration, cancellationToken)
            ? new MaintenanceLease(metadata, name, holder, duration, time, logger, cancellationToken)
            : null;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _renewals;
        using var timeout = new CancellationTokenSource(ReleaseTimeout);
        try
        {
            await _metadata.ReleaseLeaseAsync(_name, _holder, timeout.Token);
        }
        catch (Exception)
        {
            // Unreleased, it expires within one lease duration.
        }

        _lost.Dispose();
        _stop.Dispose();
    }

    private async Task RenewAsync(TimeSpan duration, TimeProvider time, ILogger logger)
    {
        using var timer = new PeriodicTimer(duration / 3, time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                if (!await _metadata.TryAcquireLeaseAsync(_name, _holder, duration, _stop.Token))
                {
                    logger.LogWarning("The {Lease} lease was taken over by another gateway; stopping this pass", _name);
                    await _lost.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            logger.LogWarning("Could not renew the {Lease} lease ({Reason}); stopping this pass", _name, ex.Message);
            await _lost.CancelAsync();
        }
    }
}

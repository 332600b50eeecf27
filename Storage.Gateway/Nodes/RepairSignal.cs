using System.Threading.Channels;

namespace Storage.Gateway.Nodes;

/// <summary>
/// Wakes healing before its next interval: raised when a node turns out to have lost its data, or a read finds a part
/// missing or corrupt. Several raises before healing wakes count as one.
/// </summary>
public sealed class RepairSignal
{
    private readonly Channel<bool> _raised = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Raise() => _raised.Writer.TryWrite(true);

    /// <summary>Completes at the next raise (or at once when one is pending), consuming it.</summary>
    public async Task WaitAsync(CancellationToken cancellationToken) => await _raised.Reader.ReadAsync(cancellationToken);
}

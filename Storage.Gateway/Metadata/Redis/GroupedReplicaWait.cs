namespace Storage.Gateway.Metadata.Redis;

/// <summary>
/// Redis' <c>WAIT</c> as group commit: one <c>WAIT</c> in flight at a time, and every write that finished while it was
/// in flight shares the next one. <c>WAIT</c> holds the connection until the replicas confirm, and on the multiplexer's
/// one connection concurrent writers' <c>WAIT</c>s would queue behind each other; a <c>WAIT</c> sent after a write's
/// reply covers that write (and everything before it on the connection), so one per round is enough.
/// </summary>
public sealed class GroupedReplicaWait(Func<Task<long>> wait)
{
    private readonly Lock _gate = new();
    private TaskCompletionSource<long>? _next;
    private bool _pumping;

    /// <summary>How many replicas confirmed a <c>WAIT</c> sent after this call.</summary>
    public Task<long> WaitAsync(CancellationToken cancellationToken)
    {
        Task<long> round;
        bool start;
        lock (_gate)
        {
            _next ??= new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            round = _next.Task;
            start = !_pumping;
            _pumping = true;
        }

        if (start)
        {
            _ = PumpAsync();
        }

        return round.WaitAsync(cancellationToken);
    }

    private async Task PumpAsync()
    {
        while (true)
        {
            TaskCompletionSource<long> round;
            lock (_gate)
            {
                if (_next is null)
                {
                    _pumping = false;
                    return;
                }

                round = _next;
                _next = null;
            }

            try
            {
                round.TrySetResult(await wait());
            }
            catch (Exception ex)
            {
                round.TrySetException(ex);
            }
        }
    }
}

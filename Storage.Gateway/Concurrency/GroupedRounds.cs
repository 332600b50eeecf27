namespace Storage.Gateway.Concurrency;

/// <summary>
/// Group commit for any call that settles everything before it: one round in flight at a time, and every caller that
/// arrived while it was in flight shares the next one (a round already running may have started before the caller's
/// write, so it never answers that caller). Used for Redis' <c>WAIT</c> (on the multiplexer's one connection,
/// concurrent writers' <c>WAIT</c>s would queue behind each other; one sent after a write's reply covers it) and for a
/// folder node's <c>syncfs</c> (one flush covers every write that finished before it).
/// </summary>
public sealed class GroupedRounds<T>(Func<Task<T>> round)
{
    private readonly Lock _gate = new();
    private TaskCompletionSource<T>? _next;
    private bool _pumping;

    /// <summary>The result of a round that began after this call.</summary>
    public Task<T> WaitAsync(CancellationToken cancellationToken)
    {
        Task<T> mine;
        bool start;
        lock (_gate)
        {
            _next ??= new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            mine = _next.Task;
            start = !_pumping;
            _pumping = true;
        }

        if (start)
        {
            _ = PumpAsync();
        }

        return mine.WaitAsync(cancellationToken);
    }

    private async Task PumpAsync()
    {
        while (true)
        {
            TaskCompletionSource<T> current;
            lock (_gate)
            {
                if (_next is null)
                {
                    _pumping = false;
                    return;
                }

                current = _next;
                _next = null;
            }

            try
            {
                current.TrySetResult(await round());
            }
            catch (Exception ex)
            {
                current.TrySetException(ex);
            }
        }
    }
}

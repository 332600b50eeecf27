namespace Storage.Gateway.Nodes;

/// <summary>
/// Group durability for one folder node, as group commit works for the SQLite metadata: a write that needs its data
/// and name on disk waits for a round, and one flush (<c>syncfs</c>) covers every write that finished before that
/// round began. A waiter joins the next round, never the one in progress (which may have started before its write),
/// so concurrent small writes share one flush instead of paying two each.
/// </summary>
internal sealed class FlushRounds(Action flush)
{
    private readonly Lock _gate = new();
    private TaskCompletionSource? _next;
    private bool _flushing;

    /// <summary>Completes when a flush that began after this call has finished; faults when that flush failed.</summary>
    public Task WaitAsync(CancellationToken cancellationToken)
    {
        Task round;
        var start = false;
        lock (_gate)
        {
            _next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            round = _next.Task;
            if (!_flushing)
            {
                _flushing = start = true;
            }
        }

        if (start)
        {
            // A blocking flush on a pool thread, as asynchronous file I/O on Linux is anyway.
            _ = Task.Run(Flush, CancellationToken.None);
        }

        return round.WaitAsync(cancellationToken);
    }

    private void Flush()
    {
        while (true)
        {
            TaskCompletionSource round;
            lock (_gate)
            {
                if (_next is null)
                {
                    _flushing = false;
                    return;
                }

                round = _next;
                _next = null;
            }

            try
            {
                flush();
                round.SetResult();
            }
            catch (Exception ex)
            {
                round.SetException(ex);
            }
        }
    }
}

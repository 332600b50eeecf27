using System.Diagnostics;
using System.Threading.Channels;

namespace Storage.CacheProg.Cache;

/// <summary>One put to copy to the remote: the body (unless the remote has it) and then the action entry; <paramref name="Done"/> learns whether it succeeded.</summary>
public sealed record UploadJob(byte[] ActionId, ActionEntry Entry, string BodyPath, TaskCompletionSource<bool>? Done = null);

/// <summary>
/// Background uploads: a bounded queue served by a fixed number of workers. A put never waits for the remote: when
/// the queue is full the upload is dropped and counted (the next build that puts it tries again). Uploads hold off
/// while a build is running (unless the backlog passes a high-water mark), so a build never competes with its own
/// uploads for CPU; they run at full concurrency once it ends (the worker) or at close (direct mode). Large bodies
/// the remote already has are not sent again; the action entry goes last, so a remote reader never sees an entry
/// without its body.
/// </summary>
public sealed class UploadQueue : IAsyncDisposable
{
    private readonly Channel<UploadJob> _jobs;
    private readonly RemoteTier _remote;
    private readonly CacheStats _stats;
    private readonly TextWriter _diagnostics;
    private readonly Task[] _workers;
    private readonly CancellationTokenSource _stopping = new();
    private readonly int _highWater;
    private int _pending;
    private readonly Lock _gate = new();
    private int _activeSessions;
    private bool _draining;

    /// <summary>Completed while uploads may run: no build is running, the queue is being drained, or the backlog is large.</summary>
    private TaskCompletionSource _open = NewGate(open: true);

    /// <summary>Bodies smaller than this are simply sent: asking first would cost as much as sending.</summary>
    private const long AskFirstAbove = 64 * 1024;

    private readonly TimeSpan _refreshAfter;

    public UploadQueue(RemoteTier remote, CacheProgOptions options, CacheStats stats, TextWriter diagnostics)
    {
        _remote = remote;
        _refreshAfter = options.RefreshAfter;
        _stats = stats;
        _diagnostics = diagnostics;
        _jobs = Channel.CreateBounded<UploadJob>(new BoundedChannelOptions(options.UploadQueueCapacity) { FullMode = BoundedChannelFullMode.Wait });
        stats.QueueDepth = () => Volatile.Read(ref _pending);
        _highWater = Math.Max(1, options.UploadQueueCapacity / 2);
        _workers = [.. Enumerable.Range(0, options.UploadConcurrency).Select(_ => Task.Run(WorkAsync))];
    }

    /// <summary>A build (protocol session) started: uploads wait for it unless the backlog is large.</summary>
    public void SessionStarted()
    {
        lock (_gate)
        {
            if (++_activeSessions == 1 && !_draining && Pending < _highWater)
            {
                _open = NewGate(open: false);
            }
        }
    }

    public void SessionEnded()
    {
        lock (_gate)
        {
            if (--_activeSessions == 0)
            {
                _open.TrySetResult();
            }
        }
    }

    /// <summary>Uploads queued or in progress.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>Queues the upload; false when the queue refused it (dropped, and counted so).</summary>
    public bool Enqueue(UploadJob job)
    {
        Counted();
        if (!_jobs.Writer.TryWrite(job))
        {
            Interlocked.Decrement(ref _pending);
            _stats.UploadDropped();
            job.Done?.TrySetResult(false);
            return false;
        }

        return true;
    }

    /// <summary>Queues a spooled upload, waiting for room: nobody waits on it, and it must not be dropped.</summary>
    public async Task EnqueueAsync(UploadJob job, CancellationToken cancellationToken)
    {
        Counted();
        try
        {
            await _jobs.Writer.WriteAsync(job, cancellationToken);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            Interlocked.Decrement(ref _pending);
            job.Done?.TrySetResult(false);
        }
    }

    /// <summary>Counts an upload in; a large backlog opens the gate even while a build runs.</summary>
    private void Counted()
    {
        if (Interlocked.Increment(ref _pending) >= _highWater)
        {
            lock (_gate)
            {
                _open.TrySetResult();
            }
        }
    }

    /// <summary>Waits until every queued upload is done or <paramref name="timeout"/> passes; true when all are done.</summary>
    public async Task<bool> DrainAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _draining = true;
            _open.TrySetResult();
        }

        var deadline = Stopwatch.StartNew();
        while (Pending > 0)
        {
            if (deadline.Elapsed >= timeout)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), cancellationToken);
        }

        return true;
    }

    public async ValueTask DisposeAsync()
    {
        _jobs.Writer.TryComplete();
        await _stopping.CancelAsync();
        await Task.WhenAll(_workers).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        while (_jobs.Reader.TryRead(out var abandoned))
        {
            abandoned.Done?.TrySetResult(false);
        }

        _stopping.Dispose();
    }

    private static TaskCompletionSource NewGate(bool open)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (open)
        {
            gate.SetResult();
        }

        return gate;
    }

    private async Task WorkAsync()
    {
        await foreach (var job in _jobs.Reader.ReadAllAsync(_stopping.Token).WithCancellation(_stopping.Token))
        {
            var succeeded = false;
            try
            {
                Task open;
                lock (_gate)
                {
                    open = _open.Task;
                }

                await open.WaitAsync(_stopping.Token);

                var started = Stopwatch.GetTimestamp();
                if (job.Entry.Size > AskFirstAbove && await _remote.BodyWrittenAsync(job.Entry.OutputID, _stopping.Token) is { } written)
                {
                    // Not sent again; but written again in place when as old as an entry a hit refreshes.
                    if (_refreshAfter > TimeSpan.Zero && DateTime.UtcNow - written > _refreshAfter)
                    {
                        await _remote.RefreshBodyAsync(job.Entry.OutputID, job.Entry.Size, _stopping.Token);
                    }

                    _stats.UploadSkipped();
                }
                else
                {
                    await _remote.UploadBodyAsync(job.Entry.OutputID, job.BodyPath, job.Entry.Size, _stopping.Token);
                }

                await _remote.UploadActionAsync(job.ActionId, job.Entry, job.BodyPath, _stopping.Token);
                _stats.Uploaded(job.Entry.Size, Stopwatch.GetElapsedTime(started));
                succeeded = true;
            }
            catch (Exception ex) when (ex is RemoteUnavailableException or FileNotFoundException or IOException)
            {
                _stats.Error("upload");
                if (_stats.Errors == 1)
                {
                    await _diagnostics.WriteLineAsync($"storage-cacheprog: upload failed ({ex.Message}); builds continue from the local tier.");
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            finally
            {
                Interlocked.Decrement(ref _pending);
                job.Done?.TrySetResult(succeeded);
            }
        }
    }
}

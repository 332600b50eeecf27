using System.Collections.Concurrent;
using System.Threading.Channels;
using Storage.CacheProg.Cache;

namespace Storage.CacheProg.Worker;

/// <summary>
/// The worker's side of the spool: uploads what direct-mode builds on its local tier hand over, as each spool file
/// appears (inotify) and, at start, what earlier workers left. Only files for this worker's remote are taken. A file
/// not fully uploaded (the remote failed) is tried again every <see cref="RetryAfter"/> while the worker runs, and does
/// not keep an idle worker alive: it stays in the spool for the next one. One older than <see cref="Abandoned"/> is
/// given up, since its builds' entries have long been offered again or trimmed.
/// </summary>
public sealed class SpoolUploads(CacheService cache, UploadSpool spool, string destination, ILogger<SpoolUploads> logger) : BackgroundService
{
    private static readonly TimeSpan Abandoned = TimeSpan.FromDays(1);
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, bool> _failed = new(StringComparer.Ordinal);
    private readonly Channel<string> _found = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private int _busy;

    /// <summary>Spool files being uploaded now.</summary>
    public int Busy => Volatile.Read(ref _busy);

    /// <summary>Spool files for this worker that it has not tried yet (what an idle worker must not leave behind).</summary>
    public bool HasUntried() => spool.Pending(destination).Any(path => !_failed.ContainsKey(path));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var watcher = new FileSystemWatcher(spool.Folder, "*" + UploadSpool.Extension) { NotifyFilter = NotifyFilters.FileName };
        watcher.Renamed += (_, e) => _found.Writer.TryWrite(e.FullPath);
        watcher.Created += (_, e) => _found.Writer.TryWrite(e.FullPath);
        watcher.EnableRaisingEvents = true;
        foreach (var path in spool.Pending(destination))
        {
            _found.Writer.TryWrite(path);
        }

        var inProgress = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            await foreach (var path in _found.Reader.ReadAllAsync(stoppingToken))
            {
                bool taken;
                lock (inProgress)
                {
                    taken = inProgress.Add(path);
                }

                if (taken && UploadSpool.Read(path) is { } spooled && spooled.Destination == destination)
                {
                    Interlocked.Increment(ref _busy);
                    _ = Task.Run(
                        async () =>
                        {
                            await UploadAsync(spooled, stoppingToken);
                            lock (inProgress)
                            {
                                inProgress.Remove(path);
                            }
                        },
                        CancellationToken.None);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: what is left stays in the spool for the next worker.
        }
    }

    private async Task UploadAsync(SpooledUploads spooled, CancellationToken stoppingToken)
    {
        try
        {
            if (File.Exists(spooled.Path) && DateTime.UtcNow - File.GetLastWriteTimeUtc(spooled.Path) > Abandoned)
            {
                File.Delete(spooled.Path);
                logger.LogWarning("Gave up the spooled uploads {Path}, older than {Age}", spooled.Path, Abandoned);
                return;
            }

            if (await cache.UploadSpooledAsync(spooled, stoppingToken))
            {
                _failed.TryRemove(spooled.Path, out _);
                logger.LogDebug("{Count} spooled uploads from {Path} done", spooled.ActionIds.Count, spooled.Path);
                return;
            }

            _failed[spooled.Path] = true;
            logger.LogWarning("Not every upload of {Path} succeeded; trying again in {Delay}", spooled.Path, RetryAfter);
            _ = RetryLaterAsync(spooled.Path, stoppingToken);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            logger.LogDebug(ex, "Spooled uploads {Path} left for later", spooled.Path);
        }
        finally
        {
            Interlocked.Decrement(ref _busy);
        }
    }

    private async Task RetryLaterAsync(string path, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(RetryAfter, stoppingToken);
            _found.Writer.TryWrite(path);
        }
        catch (OperationCanceledException)
        {
            // The worker is stopping; the next one takes the file.
        }
    }
}

using System.Threading.Channels;
using Storage.CacheProg.Cache;

namespace Storage.CacheProg.Worker;

/// <summary>
/// The worker's side of the spool: uploads what direct-mode builds on its local tier hand over, as each spool file
/// appears (inotify) and, at start, what earlier workers left. Only files for this worker's remote are taken; one
/// older than <see cref="Abandoned"/> is given up, since its builds' entries have long been offered again or trimmed.
/// </summary>
public sealed class SpoolUploads(CacheService cache, UploadSpool spool, string destination, ILogger<SpoolUploads> logger) : BackgroundService
{
    private static readonly TimeSpan Abandoned = TimeSpan.FromDays(1);

    private int _busy;

    /// <summary>Spool files being uploaded now.</summary>
    public int Busy => Volatile.Read(ref _busy);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var found = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
        using var watcher = new FileSystemWatcher(spool.Folder, "*" + UploadSpool.Extension) { NotifyFilter = NotifyFilters.FileName };
        watcher.Renamed += (_, e) => found.Writer.TryWrite(e.FullPath);
        watcher.Created += (_, e) => found.Writer.TryWrite(e.FullPath);
        watcher.EnableRaisingEvents = true;
        foreach (var path in spool.Pending(destination))
        {
            found.Writer.TryWrite(path);
        }

        var taken = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            await foreach (var path in found.Reader.ReadAllAsync(stoppingToken))
            {
                if (taken.Add(path) && UploadSpool.Read(path) is { } spooled)
                {
                    Interlocked.Increment(ref _busy);
                    _ = Task.Run(() => UploadAsync(spooled, stoppingToken), CancellationToken.None);
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
            if (spooled.Destination != destination)
            {
                return;
            }

            if (DateTime.UtcNow - File.GetLastWriteTimeUtc(spooled.Path) > Abandoned)
            {
                File.Delete(spooled.Path);
                logger.LogWarning("Gave up the spooled uploads {Path}, older than {Age}", spooled.Path, Abandoned);
                return;
            }

            var uploaded = await cache.UploadSpooledAsync(spooled, stoppingToken);
            logger.Log(
                uploaded ? LogLevel.Debug : LogLevel.Warning,
                "{Count} spooled uploads from {Path}: {Outcome}",
                spooled.ActionIds.Count,
                spooled.Path,
                uploaded ? "done" : "not all succeeded; kept for the next worker");
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
}

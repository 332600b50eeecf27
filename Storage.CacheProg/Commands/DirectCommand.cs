using Storage.CacheProg.Cache;
using Storage.CacheProg.Protocol;
using Storage.CacheProg.Worker;

namespace Storage.CacheProg.Commands;

/// <summary>
/// No command: what <c>GOCACHEPROG=storage-cacheprog</c> runs. The protocol on stdin/stdout in this process. Its puts
/// are uploaded after the build by the folder's worker, started if none runs (the go command is let go first, so it
/// never waits for them); with <c>--no-worker</c> (the default in CI), or when no worker can take them, this process
/// uploads them itself, for up to the close timeout. Statistics go to stderr and the stats history.
/// </summary>
public static class DirectCommand
{
    public static async Task<int> RunAsync(CacheProgOptions options, bool quiet, CancellationToken cancellationToken)
    {
        await using var cache = new CacheService(options, Console.Error, spoolUploads: true);
        bool closed;
        await using (var stdin = new InlineReadStream(Console.OpenStandardInput()))
        await using (var stdout = Console.OpenStandardOutput())
        {
            closed = await new ProtocolSession(cache, Console.Error, inlineWrites: true).RunAsync(stdin, stdout, cancellationToken);
        }

        try
        {
            await FinishAsync(cache, options, quiet, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The build has its answers; what went wrong after them is reported in one line, never as a crash.
            await Console.Error.WriteLineAsync($"storage-cacheprog: after the build: {ex.Message}");
        }
        finally
        {
            StandardOutput.Detach();
        }

        return closed ? 0 : 1;
    }

    private static async Task FinishAsync(CacheService cache, CacheProgOptions options, bool quiet, CancellationToken cancellationToken)
    {
        var spooled = cache.SpoolListed(new UploadSpool(cache.Local.Root), forWorkers: options.StartWorker);
        if (spooled is not null && !options.StartWorker && !await UploadHereAsync(cache, spooled, options, cancellationToken))
        {
            // Asked to upload here, the build waited up to the close timeout; what is left goes to a worker later.
            UploadSpool.HandToWorkers(spooled);
        }

        if (!quiet)
        {
            await Console.Error.WriteLineAsync(cache.Stats.Summary());
        }

        StandardOutput.Detach();
        if (spooled is not null && options.StartWorker && !await new WorkerLauncher(options, cache.Local.Root, Console.Error).EnsureRunningAsync(cancellationToken))
        {
            await UploadHereAsync(cache, spooled, options, cancellationToken);
        }

        StatsHistory.Append(options.CacheDirectory, cache.Stats.ToRecord());
        await cache.TrimAsync();
    }

    /// <summary>Uploads the spool here, for up to the close timeout; true when every upload succeeded.</summary>
    private static async Task<bool> UploadHereAsync(CacheService cache, SpooledUploads spooled, CacheProgOptions options, CancellationToken cancellationToken)
    {
        try
        {
            if (await cache.UploadSpooledAsync(spooled, cancellationToken).WaitAsync(options.CloseTimeout, cancellationToken))
            {
                return true;
            }

            await Console.Error.WriteLineAsync("storage-cacheprog: not every upload succeeded; the rest stay in the spool for a worker.");
        }
        catch (TimeoutException)
        {
            await Console.Error.WriteLineAsync($"storage-cacheprog: {cache.PendingUploads} uploads still pending after {options.CloseTimeout.TotalSeconds:0} s; they stay in the spool for a worker.");
        }

        return false;
    }
}

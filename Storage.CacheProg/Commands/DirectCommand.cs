using Storage.CacheProg.Cache;
using Storage.CacheProg.Protocol;
using Storage.CacheProg.Worker;

namespace Storage.CacheProg.Commands;

/// <summary>
/// No command: what <c>GOCACHEPROG=storage-cacheprog</c> runs. The protocol on stdin/stdout in this process. Its puts
/// are uploaded after the build by the folder's worker, started if none runs (the go command is let go first, so it
/// never waits for them); with <c>--no-worker</c>, or when no worker can take them, this process uploads them itself,
/// for up to the close timeout. Statistics go to stderr and the stats history.
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

        var spooled = cache.SpoolListed(new UploadSpool(cache.Local.Root));
        if (spooled is not null && !options.StartWorker)
        {
            // Asked to upload here: the build waits for them, up to the close timeout, as it waits for close.
            await UploadHereAsync(cache, spooled, options, cancellationToken);
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
        return closed ? 0 : 1;
    }

    private static async Task UploadHereAsync(CacheService cache, SpooledUploads spooled, CacheProgOptions options, CancellationToken cancellationToken)
    {
        try
        {
            if (!await cache.UploadSpooledAsync(spooled, cancellationToken).WaitAsync(options.CloseTimeout, cancellationToken))
            {
                await Console.Error.WriteLineAsync($"storage-cacheprog: not every upload succeeded; the rest stay in {spooled.Path} for a worker.");
            }
        }
        catch (TimeoutException)
        {
            await Console.Error.WriteLineAsync($"storage-cacheprog: {cache.PendingUploads} uploads still pending after {options.CloseTimeout.TotalSeconds:0} s; they stay in {spooled.Path} for a worker.");
        }
    }
}

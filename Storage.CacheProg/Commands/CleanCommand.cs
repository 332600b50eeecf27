using System.CommandLine;
using Storage.CacheProg.Cache;

namespace Storage.CacheProg.Commands;

/// <summary><c>storage-cacheprog clean [--prefix P] [--dry-run]</c>: deletes the remote cache's objects under the prefix.</summary>
public static class CleanCommand
{
    private static readonly Option<bool> DryRun = new("--dry-run") { Description = "Only count what would be deleted" };

    public static Command Create(Func<ParseResult, CacheProgOptions> options)
    {
        var command = new Command("clean", "Empty the remote cache (everything under the prefix)") { DryRun };
        command.SetAction((parse, cancellationToken) => RunAsync(options(parse), parse.GetValue(DryRun), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CacheProgOptions options, bool dryRun, CancellationToken cancellationToken)
    {
        if (!options.RemoteEnabled)
        {
            await Console.Error.WriteLineAsync("storage-cacheprog clean: no remote configured (--endpoint/S3_ENDPOINT and --bucket/S3_BUCKET_NAME).");
            return 2;
        }

        using var remote = new RemoteTier(options);
        var batch = new List<string>(1000);
        long objects = 0;
        long bytes = 0;
        await foreach (var (key, size) in remote.ListAsync(options.Prefix, cancellationToken))
        {
            objects++;
            bytes += size;
            batch.Add(key);
            if (batch.Count == 1000 && !dryRun)
            {
                await remote.DeleteAsync(batch, cancellationToken);
                batch.Clear();
            }
        }

        if (batch.Count > 0 && !dryRun)
        {
            await remote.DeleteAsync(batch, cancellationToken);
        }

        await Console.Out.WriteLineAsync($"{(dryRun ? "Would delete" : "Deleted")} {objects} objects, {CacheProgCommandLine.Megabytes(bytes)}, under '{options.Prefix}' in {options.Bucket} at {options.Endpoint}.");
        return 0;
    }
}

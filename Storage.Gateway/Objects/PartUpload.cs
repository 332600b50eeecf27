using System.IO.Pipelines;
using Storage.Gateway.Nodes;

namespace Storage.Gateway.Objects;

/// <summary>
/// Writes one part produced block by block (rebuilt from parity, or copied) onto a node through a bounded pipe, so
/// memory stays a few blocks whatever the part's size. When anything fails the node's copy is removed again.
/// </summary>
public static class PartUpload
{
    /// <exception cref="NodeWriteException">The target node failed.</exception>
    public static async Task WriteAsync(
        IStorageNode target, string key, long length, int blockSize, Func<PipeWriter, CancellationToken, Task> produce, ILogger logger, CancellationToken cancellationToken)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4L * blockSize, resumeWriterThreshold: blockSize, useSynchronizationContext: false));
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var upload = UploadAsync(target, key, pipe.Reader, length, abort.Token);
        try
        {
            await produce(pipe.Writer, abort.Token);
            await pipe.Writer.CompleteAsync();
            await upload;
        }
        catch (Exception ex)
        {
            await abort.CancelAsync();
            await pipe.Writer.CompleteAsync(ex);
            await upload.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            await DeleteQuietlyAsync(target, key, logger);
            if (upload.Exception?.InnerException is { } nodeFailure && ex is not DataUnavailableException && !cancellationToken.IsCancellationRequested)
            {
                throw new NodeWriteException(target.Id, nodeFailure);
            }

            throw;
        }
    }

    public static async Task DeleteQuietlyAsync(IStorageNode node, string key, ILogger logger)
    {
        try
        {
            await node.DeleteAsync(key, CancellationToken.None);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or UnauthorizedAccessException)
        {
            logger.LogDebug(ex, "Could not remove {Key} on {Node}; the sweeper retries", key, node.Id);
        }
    }

    private static async Task UploadAsync(IStorageNode target, string key, PipeReader reader, long length, CancellationToken cancellationToken)
    {
        try
        {
            await using var content = reader.AsStream(leaveOpen: true);
            await target.PutAsync(key, content, length, cancellationToken);
            await reader.CompleteAsync();
        }
        catch (Exception ex)
        {
            await reader.CompleteAsync(ex);
            throw;
        }
    }
}

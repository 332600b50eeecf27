using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Storage.Gateway.Metadata.Sqlite;

/// <summary>
/// Group commit for SQLite: every write goes through one writer loop, which runs all writes waiting at that
/// moment in a single transaction (one fsync), each inside its own savepoint so a failing write is rolled back
/// alone. Callers are answered only after COMMIT, so an acknowledged write is durable. This replaces SQLite's
/// own lock contention, which Microsoft.Data.Sqlite resolves by sleeping and retrying (hundreds of ms at p99).
/// After each transaction, committed or not, and before any of its callers is answered, <c>afterTransaction</c> runs
/// (the store's record cache forgets what the transaction changed). The loop keeps one connection with its prepared
/// statements from batch to batch, and opens a new one after a batch fails.
/// </summary>
internal sealed class SqliteWriteBatcher : IAsyncDisposable
{
    private const int MaxBatch = 256;

    private readonly Channel<PendingWrite> _queue = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<CancellationToken, Task<SqliteConnection>> _open;
    private readonly Action _afterTransaction;
    private readonly Task _loop;

    public SqliteWriteBatcher(Func<CancellationToken, Task<SqliteConnection>> open, Action afterTransaction)
    {
        _open = open;
        _afterTransaction = afterTransaction;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>A write: its statements run in the batch's transaction (<see cref="SqliteStatements.Transaction"/>).</summary>
    public delegate Task<T> Work<T>(SqliteStatements db, CancellationToken cancellationToken);

    public async Task<T> ExecuteAsync<T>(Work<T> work, CancellationToken cancellationToken)
    {
        var pending = new PendingWrite<T>(work, cancellationToken);
        ObjectDisposedException.ThrowIf(!_queue.Writer.TryWrite(pending), this);

        return await pending.Completion.Task.WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop;
    }

    private async Task RunAsync()
    {
        var batch = new List<PendingWrite>(MaxBatch);
        SqliteStatements? writer = null;
        while (await _queue.Reader.WaitToReadAsync())
        {
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var write))
            {
                if (!write.CancellationToken.IsCancellationRequested)
                {
                    batch.Add(write);
                }
                else
                {
                    write.Cancel();
                }
            }

            if (batch.Count > 0)
            {
                writer = await CommitBatchAsync(writer, batch);
                batch.Clear();
            }
        }

        if (writer is not null)
        {
            await writer.DisposeAsync();
        }
    }

    /// <summary>Runs and commits the batch; returns the connection to use for the next one (null after a failure).</summary>
    private async Task<SqliteStatements?> CommitBatchAsync(SqliteStatements? writer, List<PendingWrite> batch)
    {
        try
        {
            writer ??= new SqliteStatements(await _open(CancellationToken.None));
            await using (var transaction = writer.Connection.BeginTransaction(deferred: false))
            {
                writer.Transaction = transaction;
                foreach (var write in batch)
                {
                    await write.RunInSavepointAsync(writer, transaction);
                }

                await transaction.CommitAsync();
            }

            writer.Transaction = null;
        }
        catch (Exception ex)
        {
            if (writer is not null)
            {
                // A new SQLite handle for the next batch, not this one back from the pool.
                SqliteConnection.ClearPool(writer.Connection);
                await writer.DisposeAsync();
                writer = null;
            }

            _afterTransaction();

            // Nothing of the batch is durable: every caller learns so.
            foreach (var write in batch)
            {
                write.Fail(ex);
            }

            return writer;
        }

        _afterTransaction();
        foreach (var write in batch)
        {
            write.Publish();
        }

        return writer;
    }

    private abstract class PendingWrite(CancellationToken cancellationToken)
    {
        public CancellationToken CancellationToken { get; } = cancellationToken;

        public abstract Task RunInSavepointAsync(SqliteStatements db, SqliteTransaction transaction);

        /// <summary>Answers the caller after COMMIT: its result, or the error its own work raised.</summary>
        public abstract void Publish();

        public abstract void Fail(Exception error);

        public abstract void Cancel();
    }

    private sealed class PendingWrite<T>(Work<T> work, CancellationToken cancellationToken) : PendingWrite(cancellationToken)
    {
        private T? _result;
        private Exception? _error;

        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task RunInSavepointAsync(SqliteStatements db, SqliteTransaction transaction)
        {
            await transaction.SaveAsync("write");
            try
            {
                _result = await work(db, CancellationToken);
                await transaction.ReleaseAsync("write");
            }
            catch (Exception ex) when (ex is not SqliteException { SqliteErrorCode: SQLitePCL.raw.SQLITE_FULL or SQLitePCL.raw.SQLITE_IOERR })
            {
                await transaction.RollbackAsync("write");
                await transaction.ReleaseAsync("write");
                _error = ex;
            }
        }

        public override void Publish()
        {
            if (_error is null)
            {
                Completion.TrySetResult(_result!);
            }
            else
            {
                Completion.TrySetException(_error);
            }
        }

        public override void Fail(Exception error) => Completion.TrySetException(error);

        public override void Cancel() => Completion.TrySetCanceled(CancellationToken);
    }
}

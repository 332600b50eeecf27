using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace Storage.Gateway.Metadata.Sqlite;

/// <summary>
/// Open read connections that keep their prepared statements (<see cref="SqliteStatements"/>). A reader serves one
/// query at a time; idle readers beyond <see cref="MaxIdle"/> are closed.
/// </summary>
internal sealed class SqliteReadPool(Func<CancellationToken, Task<SqliteConnection>> open) : IAsyncDisposable
{
    private const int MaxIdle = 32;

    private readonly ConcurrentBag<SqliteStatements> _idle = [];

    // ConcurrentBag.Count visits every thread's list under its lock: too dear for the hot path this pool is for.
    private int _idleCount;
    private volatile bool _disposed;

    /// <summary>Runs one read-only statement and maps every row it returns.</summary>
    public async Task<List<T>> QueryAsync<T>(Func<SqliteDataReader, T> map, string sql, (string Name, object Value)[] parameters, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var reader = TryTakeIdle() ?? new SqliteStatements(await open(cancellationToken));
        var reusable = false;
        try
        {
            var results = await reader.QueryAsync(map, sql, parameters, cancellationToken);
            reusable = true;
            return results;
        }
        finally
        {
            // A reader whose query failed is not trusted again; one returned after disposal is closed.
            if (reusable && !_disposed && Volatile.Read(ref _idleCount) < MaxIdle)
            {
                _idle.Add(reader);
                Interlocked.Increment(ref _idleCount);

                // Disposal may have emptied the bag between the check and the add.
                if (_disposed)
                {
                    await CloseIdleAsync();
                }
            }
            else
            {
                await reader.DisposeAsync();
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _disposed = true;
        return CloseIdleAsync();
    }

    private SqliteStatements? TryTakeIdle()
    {
        if (!_idle.TryTake(out var reader))
        {
            return null;
        }

        Interlocked.Decrement(ref _idleCount);
        return reader;
    }

    private async ValueTask CloseIdleAsync()
    {
        while (TryTakeIdle() is { } reader)
        {
            await reader.DisposeAsync();
        }
    }
}

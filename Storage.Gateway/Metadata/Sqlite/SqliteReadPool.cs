using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace Storage.Gateway.Metadata.Sqlite;

/// <summary>
/// Open read connections that keep their prepared statements. Microsoft.Data.Sqlite prepares a statement per command
/// object (its pool keeps connections, not statements), so without this every object look-up would parse and plan
/// its SQL again: a tenth of a 4 KiB GET's CPU. A reader serves one query at a time; idle readers beyond
/// <see cref="MaxIdle"/> are closed.
/// </summary>
internal sealed class SqliteReadPool(Func<CancellationToken, Task<SqliteConnection>> open) : IAsyncDisposable
{
    private const int MaxIdle = 32;

    private readonly ConcurrentBag<Reader> _idle = [];

    // ConcurrentBag.Count visits every thread's list under its lock: too dear for the hot path this pool is for.
    private int _idleCount;
    private volatile bool _disposed;

    /// <summary>Runs one read-only statement and maps every row it returns.</summary>
    public async Task<List<T>> QueryAsync<T>(Func<SqliteDataReader, T> map, string sql, (string Name, object Value)[] parameters, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var reader = TryTakeIdle() ?? new Reader(await open(cancellationToken));
        var reusable = false;
        try
        {
            var command = reader.Prepared(sql, parameters);
            var results = new List<T>();
            await using (var rows = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await rows.ReadAsync(cancellationToken))
                {
                    results.Add(map(rows));
                }
            }

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

    private Reader? TryTakeIdle()
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

    /// <summary>One open connection and the statements prepared on it, by SQL text.</summary>
    private sealed class Reader(SqliteConnection connection) : IAsyncDisposable
    {
        private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

        public SqliteCommand Prepared(string sql, (string Name, object Value)[] parameters)
        {
            if (_commands.TryGetValue(sql, out var command))
            {
                foreach (var (name, value) in parameters)
                {
                    command.Parameters[name].Value = value;
                }

                return command;
            }

            command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value);
            }

            command.Prepare();
            _commands.Add(sql, command);
            return command;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var command in _commands.Values)
            {
                await command.DisposeAsync();
            }

            await connection.DisposeAsync();
        }
    }
}

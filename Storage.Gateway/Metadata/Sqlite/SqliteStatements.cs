using Microsoft.Data.Sqlite;

namespace Storage.Gateway.Metadata.Sqlite;

/// <summary>
/// One open connection and the statements prepared on it, by SQL text. Microsoft.Data.Sqlite prepares a statement per
/// command object (its pool keeps connections, not statements), so without this every statement would be parsed and
/// planned again each time it runs: a tenth of a 4 KiB GET's CPU, and most of the writer loop's, which runs a small
/// PUT's half a dozen statements one write after another. Used by one caller at a time (a reader of
/// <see cref="SqliteReadPool"/>, or the writer loop of <see cref="SqliteWriteBatcher"/>).
/// </summary>
internal sealed class SqliteStatements(SqliteConnection connection) : IAsyncDisposable
{
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    /// <summary>The transaction every statement runs in until it ends (the writer's), or null.</summary>
    public SqliteTransaction? Transaction { get; set; }

    public SqliteConnection Connection => connection;

    public async Task<int> ExecuteAsync(string sql, (string Name, object Value)[] parameters, CancellationToken cancellationToken) =>
        await Prepared(sql, parameters).ExecuteNonQueryAsync(cancellationToken);

    /// <summary>
    /// Runs SQL that runs once (schema set-up): not kept, and not prepared ahead, which would plan a script's every
    /// statement before the first has created the tables the later ones name.
    /// </summary>
    public async Task ExecuteOnceAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = Transaction;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Runs a statement and maps every row it returns.</summary>
    public async Task<List<T>> QueryAsync<T>(Func<SqliteDataReader, T> map, string sql, (string Name, object Value)[] parameters, CancellationToken cancellationToken)
    {
        var results = new List<T>();
        await using var rows = await Prepared(sql, parameters).ExecuteReaderAsync(cancellationToken);
        while (await rows.ReadAsync(cancellationToken))
        {
            results.Add(map(rows));
        }

        return results;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var command in _commands.Values)
        {
            await command.DisposeAsync();
        }

        await connection.DisposeAsync();
    }

    private SqliteCommand Prepared(string sql, (string Name, object Value)[] parameters)
    {
        if (_commands.TryGetValue(sql, out var command))
        {
            // One SQL text, one set of parameters: a call naming fewer would run with the last call's values.
            if (command.Parameters.Count != parameters.Length)
            {
                throw new InvalidOperationException($"The statement was prepared with {command.Parameters.Count} parameters and is given {parameters.Length}: {sql}");
            }

            foreach (var (name, value) in parameters)
            {
                command.Parameters[name].Value = value;
            }
        }
        else
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value);
            }

            try
            {
                command.Prepare();
            }
            catch
            {
                command.Dispose();
                throw;
            }

            _commands.Add(sql, command);
        }

        command.Transaction = Transaction;
        return command;
    }
}

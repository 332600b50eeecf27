using System.Globalization;
using Microsoft.Data.Sqlite;
using Storage.Gateway.Metadata;
using Storage.Gateway.Metadata.Sqlite;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Metadata;

public sealed class SqliteMetadataStoreTests : MetadataStoreContract, IDisposable
{
    private readonly TempDirectory _directory = new("sqlite-metadata");

    public void Dispose() => _directory.Dispose();

    protected override async Task<IMetadataStore> CreateStoreAsync()
    {
        var store = new SqliteMetadataStore(Path.Combine(_directory.Path, $"{Guid.NewGuid():N}.db"));
        await store.InitializeAsync(default);
        return store;
    }

    [Fact]
    public async Task Metadata_survives_reopening_the_file()
    {
        var path = Path.Combine(_directory.Path, "reopen.db");
        await using (var first = new SqliteMetadataStore(path))
        {
            await first.InitializeAsync(default);
            await first.CreateBucketAsync(new BucketRecord("kept", DateTimeOffset.UnixEpoch), default);
        }

        await using var second = new SqliteMetadataStore(path);
        await second.InitializeAsync(default);
        Assert.NotNull(await second.GetBucketAsync("kept", default));
    }

    [Fact]
    public async Task A_second_store_on_an_open_file_is_refused_until_the_first_is_closed()
    {
        var path = Path.Combine(_directory.Path, "shared.db");
        var first = new SqliteMetadataStore(path);
        await first.InitializeAsync(default);
        await first.CreateBucketAsync(new BucketRecord("b", DateTimeOffset.UnixEpoch), default);

        await using (var second = new SqliteMetadataStore(path))
        {
            var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => second.InitializeAsync(default));
            Assert.Contains("in use by another gateway process", refused.Message, StringComparison.Ordinal);
        }

        await first.DisposeAsync();
        await using var third = new SqliteMetadataStore(path);
        await third.InitializeAsync(default);
        Assert.NotNull(await third.GetBucketAsync("b", default));
    }

    [Theory]
    [InlineData(SqliteMetadataStore.DefaultRecordCacheBytes)]
    [InlineData(0L)]
    public async Task Readers_racing_commits_never_see_an_older_record_than_the_last_acknowledged(long cacheBytes)
    {
        // Readers hammer one key while commits replace it. A cache that let a reader put back what it read before a
        // commit would serve an older record after that commit was acknowledged.
        await using var store = new SqliteMetadataStore(Path.Combine(_directory.Path, $"race-{cacheBytes}.db"), cacheBytes);
        await store.InitializeAsync(default);
        await store.CreateBucketAsync(new BucketRecord("b", DateTimeOffset.UnixEpoch), default);
        static ObjectRecord Version(int n) => TestData.Record("b", "hot", size: 4) with { ETag = n.ToString("D6", CultureInfo.InvariantCulture), Segments = [], Inline = new byte[8] };

        await store.CommitObjectAsync(Version(0), DateTimeOffset.UtcNow, default);
        var acknowledged = 0;
        var stale = 0;
        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var floor = Volatile.Read(ref acknowledged);
                var read = await store.GetObjectAsync("b", "hot", default);
                if (int.Parse(read!.ETag, CultureInfo.InvariantCulture) < floor)
                {
                    Interlocked.Increment(ref stale);
                }
            }
        })).ToArray();

        for (var n = 1; n <= 300; n++)
        {
            await store.CommitObjectAsync(Version(n), DateTimeOffset.UtcNow, default);
            Volatile.Write(ref acknowledged, n);
            Assert.Equal(n, int.Parse((await store.GetObjectAsync("b", "hot", default))!.ETag, CultureInfo.InvariantCulture));
        }

        await stop.CancelAsync();
        await Task.WhenAll(readers);
        Assert.Equal(0, stale);
    }

    [Fact]
    public async Task The_read_pool_serves_concurrent_queries_recovers_from_a_failed_one_and_refuses_after_disposal()
    {
        var path = Path.Combine(_directory.Path, "pool.db");
        await using (var store = new SqliteMetadataStore(path))
        {
            await store.InitializeAsync(default);
            await store.CreateBucketAsync(new BucketRecord("b", DateTimeOffset.UnixEpoch), default);
        }

        var pool = new SqliteReadPool(async ct =>
        {
            var connection = new SqliteConnection($"Data Source={path}");
            await connection.OpenAsync(ct);
            return connection;
        });
        const string Sql = "SELECT name FROM buckets WHERE name = $name";
        var answers = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() =>
            pool.QueryAsync(r => r.GetString(0), Sql, [("$name", i % 2 == 0 ? "b" : "missing")], default))));
        Assert.All(answers.Where((_, i) => i % 2 == 0), a => Assert.Equal(["b"], a));
        Assert.All(answers.Where((_, i) => i % 2 == 1), Assert.Empty);

        await Assert.ThrowsAsync<SqliteException>(() => pool.QueryAsync(r => r.GetString(0), "SELECT name FROM no_such_table", [], default));
        Assert.Equal(["b"], await pool.QueryAsync(r => r.GetString(0), Sql, [("$name", "b")], default));

        await pool.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pool.QueryAsync(r => r.GetString(0), Sql, [("$name", "b")], default));
    }

    [Fact]
    public async Task A_file_from_before_inline_objects_gains_their_column_and_keeps_its_records()
    {
        var path = Path.Combine(_directory.Path, "old.db");
        var old = TestData.Record("b", "old");
        await using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = """
                CREATE TABLE buckets (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE objects (bucket TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (bucket, key)) WITHOUT ROWID;
                INSERT INTO buckets VALUES ('b', 0);
                INSERT INTO objects VALUES ('b', 'old', $record);
                """;
            command.Parameters.AddWithValue("$record", MetadataJsonContext.Serialize(old));
            await command.ExecuteNonQueryAsync();
        }

        await using var store = new SqliteMetadataStore(path);
        await store.InitializeAsync(default);
        Assert.Equal(old.ETag, (await store.GetObjectAsync("b", "old", default))!.ETag);
        var small = TestData.Record("b", "small", size: 3) with { Segments = [], Inline = [1, 2, 3, 4, 5, 6, 7] };
        await store.CommitObjectAsync(small, DateTimeOffset.UtcNow, default);
        Assert.Equal(small.Inline, (await store.GetObjectAsync("b", "small", default))!.Inline);
    }
}

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

    [Fact]
    public async Task Inline_bytes_are_kept_once_per_version_moved_with_it_and_freed_with_it()
    {
        var path = Path.Combine(_directory.Path, "inline.db");
        await using var store = new SqliteMetadataStore(path);
        await store.InitializeAsync(default);
        var now = DateTimeOffset.UtcNow;
        static ObjectRecord Small(string bucket, string key, byte fill, string? versionId = null) =>
            TestData.Record(bucket, key, size: 4) with { Segments = [], Inline = [fill, fill, fill, fill], VersionId = versionId };

        await store.CreateBucketAsync(new BucketRecord("plain", now), default);
        await store.CommitObjectAsync(Small("plain", "a", 1), now, default);
        await store.CommitObjectAsync(Small("plain", "a", 2), now, default);
        await store.CommitObjectAsync(Small("plain", "b", 3), now, default);
        await store.DeleteObjectAsync("plain", "b", now, default);

        await store.CreateBucketAsync(new BucketRecord("kept", now), default);
        await store.SetBucketDocumentAsync("kept", VersioningDocument.Name, nameof(BucketVersioning.Enabled), default);
        foreach (var (fill, version) in new[] { ((byte)11, "v1"), ((byte)12, "v2"), ((byte)13, "v3") })
        {
            await store.CommitObjectAsync(Small("kept", "k", fill, version), now, default);
        }

        await store.CommitObjectAsync(new ObjectRecord("kept", "k", 0, string.Empty, now, ObjectAttributes.None, [], VersionId: "m4", IsDeleteMarker: true), now, default);
        await store.DeleteObjectVersionAsync("kept", "k", "m4", now, default);
        await store.DeleteObjectVersionAsync("kept", "k", "v2", now, default);
        await store.SetObjectTagsAsync("kept", "k", null, new Dictionary<string, string> { ["t"] = "1" }, default);
        await store.CommitObjectAsync(Small("kept", "k", 14, "v5"), now, default);
        await store.DeleteObjectVersionAsync("kept", "k", "v5", now, default);

        await store.CreateBucketAsync(new BucketRecord("paused", now), default);
        await store.SetBucketDocumentAsync("paused", VersioningDocument.Name, nameof(BucketVersioning.Enabled), default);
        await store.CommitObjectAsync(Small("paused", "p", 21, "p1"), now, default);
        await store.SetBucketDocumentAsync("paused", VersioningDocument.Name, nameof(BucketVersioning.Suspended), default);
        await store.CommitObjectAsync(Small("paused", "p", 22), now, default);
        await store.CommitObjectAsync(Small("paused", "p", 23), now, default);
        await store.SetBucketDocumentAsync("paused", VersioningDocument.Name, nameof(BucketVersioning.Enabled), default);
        await store.CommitObjectAsync(Small("paused", "p", 25, "p4"), now, default);
        await store.SetBucketDocumentAsync("paused", VersioningDocument.Name, nameof(BucketVersioning.Suspended), default);
        await store.CommitObjectAsync(Small("paused", "p", 24), now, default);
        await store.CommitObjectAsync(new ObjectRecord("paused", "p", 0, string.Empty, now, ObjectAttributes.None, [], IsDeleteMarker: true), now, default);

        // What is left: plain/a (2), kept/k v3 (current again, tagged) and v1, paused/p's p1 and p4 behind a null marker.
        Assert.Equal(new byte[] { 2, 2, 2, 2 }, (await store.GetObjectAsync("plain", "a", default))!.Inline);
        Assert.Equal(new byte[] { 13, 13, 13, 13 }, (await store.GetObjectAsync("kept", "k", default))!.Inline);
        Assert.Equal(new byte[] { 11, 11, 11, 11 }, (await store.GetObjectVersionAsync("kept", "k", "v1", default))!.Inline);
        Assert.Null(await store.GetObjectAsync("paused", "p", default));
        Assert.True((await store.GetObjectVersionAsync("paused", "p", null, default))!.IsDeleteMarker);
        Assert.Equal(new byte[] { 21, 21, 21, 21 }, (await store.GetObjectVersionAsync("paused", "p", "p1", default))!.Inline);
        Assert.Equal(new byte[] { 25, 25, 25, 25 }, (await store.GetObjectVersionAsync("paused", "p", "p4", default))!.Inline);

        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False;Mode=ReadOnly");
        await connection.OpenAsync();
        async Task<long> CountAsync(string sql)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            return (long)(await command.ExecuteScalarAsync())!;
        }

        const string Named = "SELECT inline_id FROM objects WHERE inline_id IS NOT NULL UNION ALL SELECT inline_id FROM versions WHERE inline_id IS NOT NULL";
        Assert.Equal(5, await CountAsync("SELECT COUNT(*) FROM inline_data"));
        Assert.Equal(5, await CountAsync($"SELECT COUNT(*) FROM ({Named})"));
        Assert.Equal(5, await CountAsync($"SELECT COUNT(DISTINCT inline_id) FROM ({Named}) JOIN inline_data ON id = inline_id"));
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM objects WHERE inline IS NOT NULL"));
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM versions WHERE inline IS NOT NULL"));
    }

    [Fact]
    public async Task Rows_that_hold_their_own_inline_bytes_keep_serving_them_and_keep_them_when_kept_as_versions()
    {
        // The layout before inline_data: each row carried its bytes.
        var path = Path.Combine(_directory.Path, "row-bytes.db");
        var current = TestData.Record("b", "k", size: 3) with { Segments = [], VersionId = "old2" };
        var noncurrent = TestData.Record("b", "k", size: 3) with { Segments = [], VersionId = "old1" };
        await using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = """
                CREATE TABLE buckets (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE objects (bucket TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL, inline BLOB, PRIMARY KEY (bucket, key)) WITHOUT ROWID;
                CREATE TABLE versions (bucket TEXT NOT NULL, key TEXT NOT NULL, rank INTEGER NOT NULL, version_id TEXT NOT NULL, record TEXT NOT NULL, inline BLOB, PRIMARY KEY (bucket, key, rank));
                CREATE TABLE bucket_documents (bucket TEXT NOT NULL, name TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY (bucket, name)) WITHOUT ROWID;
                INSERT INTO buckets VALUES ('b', 0);
                INSERT INTO bucket_documents VALUES ('b', 'versioning', 'Enabled');
                INSERT INTO objects VALUES ('b', 'k', $current, x'020202');
                INSERT INTO versions VALUES ('b', 'k', -1, 'old1', $noncurrent, x'010101');
                """;
            command.Parameters.AddWithValue("$current", MetadataJsonContext.SerializeRecord(current));
            command.Parameters.AddWithValue("$noncurrent", MetadataJsonContext.SerializeRecord(noncurrent));
            await command.ExecuteNonQueryAsync();
        }

        await using var store = new SqliteMetadataStore(path);
        await store.InitializeAsync(default);
        Assert.Equal(new byte[] { 2, 2, 2 }, (await store.GetObjectAsync("b", "k", default))!.Inline);
        Assert.Equal(new byte[] { 1, 1, 1 }, (await store.GetObjectVersionAsync("b", "k", "old1", default))!.Inline);

        await store.CommitObjectAsync(current with { VersionId = "new3", Inline = [3, 3, 3] }, DateTimeOffset.UtcNow, default);
        Assert.Equal(new byte[] { 3, 3, 3 }, (await store.GetObjectAsync("b", "k", default))!.Inline);
        Assert.Equal(new byte[] { 2, 2, 2 }, (await store.GetObjectVersionAsync("b", "k", "old2", default))!.Inline);
        await store.DeleteObjectVersionAsync("b", "k", "new3", DateTimeOffset.UtcNow, default);
        Assert.Equal(new byte[] { 2, 2, 2 }, (await store.GetObjectAsync("b", "k", default))!.Inline);
    }
}

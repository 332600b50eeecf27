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
        var first = new SqliteMetadataStore(path);
        await first.InitializeAsync(default);
        await first.CreateBucketAsync(new BucketRecord("kept", DateTimeOffset.UnixEpoch), default);

        var second = new SqliteMetadataStore(path);
        await second.InitializeAsync(default);
        Assert.NotNull(await second.GetBucketAsync("kept", default));
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

        var store = new SqliteMetadataStore(path);
        await store.InitializeAsync(default);
        Assert.Equal(old.ETag, (await store.GetObjectAsync("b", "old", default))!.ETag);
        var small = TestData.Record("b", "small", size: 3) with { Segments = [], Inline = [1, 2, 3, 4, 5, 6, 7] };
        await store.CommitObjectAsync(small, DateTimeOffset.UtcNow, default);
        Assert.Equal(small.Inline, (await store.GetObjectAsync("b", "small", default))!.Inline);
    }
}

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
}

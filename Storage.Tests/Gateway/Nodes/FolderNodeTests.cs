using Storage.Gateway.Nodes;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Nodes;

public sealed class FolderNodeTests : StorageNodeContract
{
    private readonly TempDirectory _root = new("folder-node");

    protected override ValueTask DisposeNodeAsync()
    {
        _root.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_short_put_leaves_neither_the_part_nor_a_temporary_file()
    {
        await Assert.ThrowsAsync<IOException>(() => Node.PutAsync("parts/aa/short.1", new MemoryStream(new byte[10]), 11, default));
        Assert.Empty(Directory.GetFiles(Path.Combine(_root.Path, "node"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_missing_folder_fails_the_probe()
    {
        Assert.NotNull(await Node.ProbeAsync(default));
        Directory.Delete(Path.Combine(_root.Path, "node"), recursive: true);
        await Assert.ThrowsAsync<DirectoryNotFoundException>(() => Node.ProbeAsync(default));
    }

    [Fact]
    public async Task An_emptied_folder_is_prepared_again_by_the_probe()
    {
        await Node.PutAsync("parts/aa/x.0", new MemoryStream(new byte[10]), 10, default);
        var folder = Path.Combine(_root.Path, "node");
        Directory.Delete(folder, recursive: true);
        Directory.CreateDirectory(folder);
        Assert.NotNull(await Node.ProbeAsync(default));
        await Node.PutAsync("parts/aa/y.0", new MemoryStream(new byte[10]), 10, default);
        Assert.Equal(["parts/aa/y.0"], (await Node.ListAsync("parts/", default).ToListAsync()).Select(p => p.Key));
    }

    [Fact]
    public void Flushing_a_folder_works_and_a_missing_folder_is_an_io_error()
    {
        DiskFlush.Directory(_root.Path);
        Assert.Throws<IOException>(() => DiskFlush.Directory(Path.Combine(_root.Path, "no-such-folder")));
    }

    [Fact]
    public async Task A_part_larger_than_two_write_back_ranges_is_stored_whole()
    {
        // Three 4 MiB write-back ranges and an odd remainder: the ranges started and waited for cover every byte once.
        var body = TestData.Bytes((9 * 1024 * 1024) + 12_345, 7);
        await Node.PutAsync("parts/aa/large.0", new MemoryStream(body), body.Length, default);
        await using var read = await Node.OpenReadAsync("parts/aa/large.0", 0, body.Length, default);
        var copy = new MemoryStream();
        await read.CopyToAsync(copy);
        Assert.Equal(body, copy.ToArray());
    }

    protected override Task<IStorageNode> CreateNodeAsync() =>
        Task.FromResult<IStorageNode>(new FolderNode("n1", Path.Combine(_root.Path, "node")));
}

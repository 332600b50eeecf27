using System.Text;
using Storage.Gateway.Nodes;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Nodes;

public sealed class FolderNodeTests : IAsyncLifetime
{
    private readonly TempDirectory _root = new("folder-node");
    private readonly FolderNode _node;

    public FolderNodeTests() => _node = new FolderNode("n1", Path.Combine(_root.Path, "node"));

    public Task InitializeAsync() => _node.CreateAsync(default);

    public Task DisposeAsync()
    {
        _root.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Put_ranged_get_stat_list_and_delete_round_trip()
    {
        var data = TestData.Bytes(10_000, 1);
        await _node.PutAsync("parts/ab/abcd.0", new MemoryStream(data), data.Length, default);

        await using (var stream = await _node.OpenReadAsync("parts/ab/abcd.0", 5000, 100, default))
        {
            var slice = new byte[100];
            await stream.ReadExactlyAsync(slice);
            Assert.Equal(data.AsSpan(5000, 100).ToArray(), slice);
        }

        Assert.Equal(10_000, (await _node.StatAsync("parts/ab/abcd.0", default))!.Length);
        var listed = await _node.ListAsync("parts/", default).ToListAsync();
        Assert.Equal(["parts/ab/abcd.0"], listed.Select(p => p.Key));

        await _node.DeleteAsync("parts/ab/abcd.0", default);
        await _node.DeleteAsync("parts/ab/abcd.0", default);
        Assert.Null(await _node.StatAsync("parts/ab/abcd.0", default));
        await Assert.ThrowsAsync<PartNotFoundException>(() => _node.OpenReadAsync("parts/ab/abcd.0", 0, 1, default));
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("parts/../../escape")]
    [InlineData("/etc/passwd")]
    [InlineData("parts//x")]
    [InlineData("parts/./x")]
    [InlineData("parts\\x")]
    [InlineData("")]
    [InlineData("parts/x y")]
    public async Task Keys_that_could_escape_the_folder_are_refused(string key)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _node.PutAsync(key, new MemoryStream([1]), 1, default));
        await Assert.ThrowsAsync<ArgumentException>(() => _node.OpenReadAsync(key, 0, 1, default));
        await Assert.ThrowsAsync<ArgumentException>(() => _node.DeleteAsync(key, default));
        Assert.DoesNotContain(Directory.GetFiles(_root.Path, "*", SearchOption.AllDirectories), f => !f.Contains("/node/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_put_that_fails_midway_leaves_neither_the_part_nor_a_temporary_file()
    {
        var failing = new FailingStream(Encoding.ASCII.GetBytes(new string('x', 5000)));
        await Assert.ThrowsAsync<IOException>(() => _node.PutAsync("parts/aa/bad.1", failing, -1, default));
        Assert.Null(await _node.StatAsync("parts/aa/bad.1", default));
        Assert.Empty(Directory.GetFiles(Path.Combine(_root.Path, "node"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_put_shorter_than_declared_is_refused_and_leaves_nothing()
    {
        await Assert.ThrowsAsync<IOException>(() => _node.PutAsync("parts/aa/short.1", new MemoryStream(new byte[10]), 11, default));
        Assert.Null(await _node.StatAsync("parts/aa/short.1", default));
    }

    [Fact]
    public async Task A_put_replaces_an_existing_part_whole()
    {
        await _node.PutAsync("parts/aa/p.0", new MemoryStream(new byte[100]), 100, default);
        await _node.PutAsync("parts/aa/p.0", new MemoryStream(new byte[7]), 7, default);
        Assert.Equal(7, (await _node.StatAsync("parts/aa/p.0", default))!.Length);
    }

    [Fact]
    public async Task A_missing_folder_fails_the_probe()
    {
        await _node.ProbeAsync(default);
        Directory.Delete(Path.Combine(_root.Path, "node"), recursive: true);
        await Assert.ThrowsAsync<DirectoryNotFoundException>(() => _node.ProbeAsync(default));
    }

    private sealed class FailingStream(byte[] prefix) : MemoryStream(prefix)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Position < Length ? base.ReadAsync(buffer, cancellationToken) : throw new IOException("connection reset");
    }
}

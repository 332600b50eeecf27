using Storage.Gateway.Nodes;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Nodes;

/// <summary>The node contract against a real foreign S3 server (s3rver standing in for MinIO).</summary>
public sealed class S3NodeTests : StorageNodeContract
{
    private S3Server _server = null!;
    private S3Node? _node;

    /// <summary>s3rver writes an aborted upload's object after the failed request ends, racing the node's clean-up delete.</summary>
    protected override bool AbortedUploadsMayLeaveTruncatedObjects => true;

    protected override async ValueTask DisposeNodeAsync()
    {
        _node?.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task A_stopped_server_fails_the_probe_and_reads_fail_as_io_errors()
    {
        await Node.PutAsync("parts/ee/x.0", new MemoryStream(new byte[10]), 10, default);
        await Node.ProbeAsync(default);
        await _server.StopAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => Node.ProbeAsync(default));
        await Assert.ThrowsAnyAsync<IOException>(() => Node.OpenReadAsync("parts/ee/x.0", 0, 10, default));
    }

    [Fact]
    public void Connection_strings_never_show_their_keys()
    {
        var options = S3NodeOptions.Parse("Endpoint=http://minio:9000;AccessKey=admin;SecretKey=very-secret");
        Assert.Equal("http://minio:9000/storage-parts", options.Address);
        Assert.DoesNotContain("very-secret", options.ToString(), StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => S3NodeOptions.Parse("Endpoint=ftp://x;AccessKey=a;SecretKey=b"));
        Assert.Throws<FormatException>(() => S3NodeOptions.Parse("Endpoint=http://x:9000;AccessKey=a"));
    }

    protected override async Task<IStorageNode> CreateNodeAsync()
    {
        _server = await S3Server.StartAsync();
        _node = new S3Node("s3node", S3NodeOptions.Parse(_server.ConnectionString));
        return _node;
    }
}

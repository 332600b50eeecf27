using System.Net;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Api;

public sealed class AtomicityTests : GatewayTest
{
    [Fact]
    public async Task Readers_during_overwrites_see_one_complete_version_never_a_mix()
    {
        byte[][] versions = [TestData.Bytes(2_500_000, 1), TestData.Bytes(1_700_001, 2), TestData.Bytes(90_000, 3)];
        (await Gateway.Client.PutAsync("/object/contended", new ByteArrayContent(versions[0]))).EnsureSuccessStatusCode();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        var writer = Task.Run(async () =>
        {
            for (var i = 1; !stop.IsCancellationRequested; i++)
            {
                (await Gateway.Client.PutAsync("/object/contended", new ByteArrayContent(versions[i % versions.Length]))).EnsureSuccessStatusCode();
            }
        });
        var reads = 0;
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var body = await Gateway.Client.GetByteArrayAsync("/object/contended");
                Assert.Contains(versions, v => v.AsSpan().SequenceEqual(body));
                Interlocked.Increment(ref reads);
            }
        })).ToArray();
        await Task.WhenAll([writer, .. readers]);
        Assert.True(reads > 10, $"only {reads} reads completed");
    }

    [Fact]
    public async Task Parts_of_an_upload_that_crashed_before_committing_are_swept()
    {
        // What a crash leaves: a write intent, parts on the nodes, and no object record.
        var metadata = Gateway.Service<IMetadataStore>();
        var registry = Gateway.Service<NodeRegistry>();
        var segment = new Segment(Guid.NewGuid().ToString("N"), 0, 1, 2, 4096, ["node1", "node2", "node3"]);
        await metadata.RegisterWriteAsync(ReclaimEntry.ForSegments("b", [segment], DateTimeOffset.UtcNow.AddSeconds(-1), accounted: false), default);
        for (var shard = 0; shard < 3; shard++)
        {
            registry.TryGet(segment.Nodes[shard], out var node);
            await node.Node.PutAsync(PartKeys.For(segment.Id, shard), new MemoryStream(new byte[100]), 100, default);
        }

        // Above the inline limit, so that the committed object has parts of its own beside the crashed upload's.
        (await Gateway.Client.PutAsync("/object/keeper", new ByteArrayContent(TestData.Bytes(5000, 1)))).EnsureSuccessStatusCode();
        Assert.Equal(6, Gateway.PartFiles().Count);

        using var sweep = await Gateway.Client.PostAsync("/admin/sweep", null);
        Assert.Equal(HttpStatusCode.OK, sweep.StatusCode);
        Assert.Equal(3, Gateway.PartFiles().Count);
        Assert.DoesNotContain(Gateway.PartFiles(), p => p.Contains(segment.Id, StringComparison.Ordinal));
        Assert.Equal(TestData.Bytes(5000, 1), await Gateway.Client.GetByteArrayAsync("/object/keeper"));
        Assert.Empty(await metadata.GetDueReclaimsAsync(DateTimeOffset.UtcNow.AddYears(1), 10, default));
    }
}

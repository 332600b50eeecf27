using System.Net;
using System.Net.Http.Headers;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Objects;

/// <summary>
/// Objects made of several segments (what multipart uploads produce) read back whole and by ranges that cross
/// segment boundaries, with segments of different shapes (striped and replicated) and a lost node.
/// </summary>
public sealed class MultiSegmentReadTests : GatewayTest
{
    [Fact]
    public async Task Ranges_across_segment_boundaries_read_exactly()
    {
        byte[][] pieces = [TestData.Bytes(2_000_003, 1), TestData.Bytes(70_000, 2), TestData.Bytes(1_572_864, 3)];
        var writer = Gateway.Service<SegmentWriter>();
        var segments = new List<Segment>();
        foreach (var piece in pieces)
        {
            segments.Add((await writer.WriteAsync("objects", "multi", new MemoryStream(piece), piece.Length, expectedMd5: null, inlineLimit: 0, default)).Segment!);
        }

        var whole = pieces.SelectMany(p => p).ToArray();
        await Gateway.Service<IMetadataStore>().CommitObjectAsync(
            new ObjectRecord("objects", "multi", whole.Length, "multipart-etag-3", DateTimeOffset.UtcNow, ObjectAttributes.None, segments),
            DateTimeOffset.UtcNow,
            default);
        Assert.Equal(1, segments[1].DataShards);
        Assert.Equal(6, segments[2].DataShards);

        Assert.Equal(whole, await Gateway.Client.GetByteArrayAsync("/object/multi"));
        foreach (var (from, to) in new[] { (1_999_990L, 2_000_010L), (2_000_003L, 2_070_002L), (2_069_999L, 2_070_004L), (100L, (long)whole.Length - 100), (0L, (long)whole.Length - 1) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/object/multi");
            request.Headers.Range = new RangeHeaderValue(from, to);
            using var response = await Gateway.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal(whole[(int)from..((int)to + 1)], await response.Content.ReadAsByteArrayAsync());
        }

        Directory.Delete(Gateway.NodePath(segments[2].Nodes[0]), recursive: true);
        Assert.Equal(whole, await Gateway.Client.GetByteArrayAsync("/object/multi"));
    }
}

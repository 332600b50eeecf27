using System.Net;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Api;

/// <summary>Objects survive losing or corrupting the parts of any two of the eight nodes; a third loss fails cleanly.</summary>
public sealed class DurabilityTests : GatewayTest
{
    private static readonly int[] Sizes = [0, 17, 5_000, 131_072, 400_000, 1_572_864, 3_000_001];
    private readonly Dictionary<string, byte[]> _objects = [];

    protected override async Task SeedAsync()
    {
        for (var i = 0; i < Sizes.Length; i++)
        {
            var data = TestData.Bytes(Sizes[i], i);
            _objects[$"obj{i}"] = data;
            (await Gateway.Client.PutAsync($"/object/obj{i}", new ByteArrayContent(data))).EnsureSuccessStatusCode();
        }
    }

    [Fact]
    public async Task Every_object_reads_back_after_deleting_the_parts_of_any_two_nodes()
    {
        foreach (var pair in NodePairs())
        {
            var moved = pair.Select(HideParts).ToArray();
            try
            {
                await AssertAllReadBackAsync($"parts of {string.Join("+", pair)} deleted");
            }
            finally
            {
                foreach (var restore in moved)
                {
                    restore();
                }
            }
        }
    }

    [Fact]
    public async Task Every_object_reads_back_after_corrupting_the_parts_of_any_two_nodes()
    {
        foreach (var pair in NodePairs())
        {
            var corrupted = pair.SelectMany(PartsOf).Select(part => (Path: part, Original: File.ReadAllBytes(part))).ToArray();
            foreach (var part in corrupted)
            {
                FlipByte(part.Path);
            }

            try
            {
                await AssertAllReadBackAsync($"parts of {string.Join("+", pair)} corrupted");
            }
            finally
            {
                // Reads report the corrupt parts and the gateway may have restored some already; either way the original goes back.
                foreach (var part in corrupted)
                {
                    await File.WriteAllBytesAsync(part.Path, part.Original);
                }
            }
        }
    }

    [Fact]
    public async Task Losing_three_nodes_gives_a_clear_503_for_striped_objects_and_never_a_500()
    {
        foreach (var node in new[] { "node1", "node4", "node7" })
        {
            Directory.Delete(Gateway.NodePath(node), recursive: true);
        }

        var unavailable = 0;
        foreach (var (id, data) in _objects)
        {
            using var response = await Gateway.Client.GetAsync($"/object/{id}");
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                unavailable++;
                var problem = await response.Content.ReadAsStringAsync();
                Assert.Contains("intact parts", problem, StringComparison.Ordinal);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
            }
            else
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(data, await response.Content.ReadAsByteArrayAsync());
            }
        }

        // The four striped objects span all eight nodes, so each lost three parts.
        Assert.True(unavailable >= 4, $"{unavailable} objects were unavailable");
    }

    [Theory]
    [InlineData(1_000_000)]
    [InlineData(100)] // an inline object needs no node, and is refused all the same: the store is writable as a whole
    public async Task With_fewer_than_six_nodes_writes_are_refused_with_503_and_nothing_is_stored(int size)
    {
        foreach (var node in new[] { "node1", "node2", "node3" })
        {
            Directory.Delete(Gateway.NodePath(node), recursive: true);
        }

        // The monitor would notice on its next probe; the test does not wait for it.
        await Gateway.Service<Storage.Gateway.Nodes.NodeMonitor>().RefreshAsync(default);
        var partsBefore = Gateway.PartFiles().Count;
        using var put = await Gateway.Client.PutAsync("/object/refused", new ByteArrayContent(TestData.Bytes(size, 1)));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, put.StatusCode);
        Assert.Contains("at least 6", await put.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await Gateway.Client.GetAsync("/object/refused")).StatusCode);
        Assert.Equal(partsBefore, Gateway.PartFiles().Count);

        using var health = await Gateway.Client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
    }

    private async Task AssertAllReadBackAsync(string situation)
    {
        foreach (var (id, data) in _objects)
        {
            using var response = await Gateway.Client.GetAsync($"/object/{id}");
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{id} ({data.Length} bytes), {situation}: {response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            var body = await response.Content.ReadAsByteArrayAsync();
            Assert.True(data.AsSpan().SequenceEqual(body), $"{id} differs, {situation}");
        }
    }

    private static IEnumerable<string[]> NodePairs() =>
        from a in Enumerable.Range(1, 8)
        from b in Enumerable.Range(a + 1, 8 - a)
        select new[] { $"node{a}", $"node{b}" };

    private Action HideParts(string node)
    {
        var parts = Path.Combine(Gateway.NodePath(node), "parts");
        var hidden = Path.Combine(Gateway.NodePath(node), "hidden");
        if (!Directory.Exists(parts))
        {
            return () => { };
        }

        Directory.Move(parts, hidden);
        return () =>
        {
            // Reads report the missing parts and the gateway may have restored some already (the same bytes).
            if (Directory.Exists(parts))
            {
                Directory.Delete(parts, recursive: true);
            }

            Directory.Move(hidden, parts);
        };
    }

    private string[] PartsOf(string node)
    {
        var parts = Path.Combine(Gateway.NodePath(node), "parts");
        return Directory.Exists(parts) ? Directory.GetFiles(parts, "*", SearchOption.AllDirectories) : [];
    }

    private static void FlipByte(string path)
    {
        // Shared access: the gateway may still be closing its read handle from the previous request.
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        var position = file.Length / 2;
        file.Position = position;
        var value = file.ReadByte();
        file.Position = position;
        file.WriteByte((byte)(value ^ 0x5A));
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Storage.Gateway.Metadata;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Api;

public sealed class ObjectApiTests : GatewayTest
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1000)]
    [InlineData(128 * 1024 - 1)]
    [InlineData(128 * 1024)]
    [InlineData(1_000_001)]
    [InlineData(6 * 256 * 1024 * 3)]
    [InlineData(5_000_017)]
    public async Task Put_then_get_returns_the_exact_bytes(int size)
    {
        var data = TestData.Bytes(size, size);
        using var put = await Gateway.Client.PutAsync("/object/abc123", new ByteArrayContent(data));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var etag = Convert.ToHexStringLower(MD5.HashData(data));
        Assert.Equal($"\"{etag}\"", put.Headers.ETag!.Tag);

        using var get = await Gateway.Client.GetAsync("/object/abc123");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(data, await get.Content.ReadAsByteArrayAsync());
        Assert.Equal(size, get.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task Striped_objects_have_six_data_and_two_parity_parts_on_eight_distinct_nodes()
    {
        var data = TestData.Bytes(1_000_000, 42);
        (await Gateway.Client.PutAsync("/object/striped", new ByteArrayContent(data))).EnsureSuccessStatusCode();
        var parts = Gateway.PartFiles();
        Assert.Equal(8, parts.Count);
        Assert.Equal(8, parts.Select(p => p.Split(Path.DirectorySeparatorChar).SkipWhile(s => s != "nodes").Skip(1).First()).Distinct().Count());
        Assert.All(parts, p => Assert.Equal(166_667 + 4, new FileInfo(p).Length));
    }

    [Fact]
    public async Task Small_objects_are_stored_as_three_full_copies()
    {
        var data = TestData.Bytes(5000, 5);
        (await Gateway.Client.PutAsync("/object/small", new ByteArrayContent(data))).EnsureSuccessStatusCode();
        var parts = Gateway.PartFiles();
        Assert.Equal(3, parts.Count);
        Assert.All(parts, p => Assert.Equal(data, File.ReadAllBytes(p)[..5000]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4096)]
    public async Task Objects_up_to_the_inline_limit_live_in_their_record_and_not_on_the_nodes(int size)
    {
        var data = TestData.Bytes(size, 6);
        (await Gateway.Client.PutAsync("/object/tiny", new ByteArrayContent(data))).EnsureSuccessStatusCode();
        Assert.Empty(Gateway.PartFiles());
        var record = await Gateway.Service<IMetadataStore>().GetObjectAsync("objects", "tiny", default);
        Assert.Equal(data, record!.Inline![..size]);
        Assert.Empty(record.Segments);

        Assert.Equal(data, await Gateway.Client.GetByteArrayAsync("/object/tiny"));
        using var ranged = new HttpRequestMessage(HttpMethod.Get, "/object/tiny") { Headers = { Range = new RangeHeaderValue(size / 2, size - 1) } };
        using var partial = await Gateway.Client.SendAsync(ranged);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(data[(size / 2)..], await partial.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task One_byte_over_the_inline_limit_goes_to_the_nodes()
    {
        (await Gateway.Client.PutAsync("/object/over", new ByteArrayContent(TestData.Bytes(4097, 7)))).EnsureSuccessStatusCode();
        Assert.Equal(3, Gateway.PartFiles().Count);
        Assert.Null((await Gateway.Service<IMetadataStore>().GetObjectAsync("objects", "over", default))!.Inline);
    }

    [Fact]
    public async Task Inline_bytes_that_do_not_match_their_checksum_are_refused_not_served()
    {
        var data = TestData.Bytes(100, 8);
        (await Gateway.Client.PutAsync("/object/rotten", new ByteArrayContent(data))).EnsureSuccessStatusCode();
        var metadata = Gateway.Service<IMetadataStore>();
        var record = (await metadata.GetObjectAsync("objects", "rotten", default))!;
        var damaged = record.Inline!.ToArray();
        damaged[50] ^= 0x10;
        await metadata.CommitObjectAsync(record with { Inline = damaged }, DateTimeOffset.UtcNow, default);

        using var get = await Gateway.Client.GetAsync("/object/rotten");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, get.StatusCode);
        Assert.Contains("do not match their checksum", await get.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A range that does not cover the damaged byte is refused too: the whole block is checked, as in a part.
        using var ranged = new HttpRequestMessage(HttpMethod.Get, "/object/rotten") { Headers = { Range = new RangeHeaderValue(0, 9) } };
        using var partial = await Gateway.Client.SendAsync(ranged);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, partial.StatusCode);
    }

    [Fact]
    public async Task A_large_object_overwritten_by_an_inline_one_has_its_parts_reclaimed()
    {
        (await Gateway.Client.PutAsync("/object/shrinks", new ByteArrayContent(TestData.Bytes(1_000_000, 9)))).EnsureSuccessStatusCode();
        Assert.Equal(8, Gateway.PartFiles().Count);
        var small = TestData.Bytes(10, 10);
        (await Gateway.Client.PutAsync("/object/shrinks", new ByteArrayContent(small))).EnsureSuccessStatusCode();
        Assert.Equal(small, await Gateway.Client.GetByteArrayAsync("/object/shrinks"));

        var sweep = await (await Gateway.Client.PostAsync("/admin/sweep", null)).Content.ReadFromJsonAsync<SweepResult>();
        Assert.Equal(1, sweep!.Reclaimed);
        Assert.Empty(Gateway.PartFiles());
        Assert.Equal(small, await Gateway.Client.GetByteArrayAsync("/object/shrinks"));
    }

    [Fact]
    public async Task Bytes_left_in_the_inline_column_never_shadow_a_segmented_version()
    {
        // What a version without inline objects leaves when it overwrites an inline one: its record, the old column.
        // Written behind the gateway's back before anything read the key, so no cached record stands in for the row.
        var data = TestData.Bytes(5000, 11);
        (await Gateway.Client.PutAsync("/object/shadow", new ByteArrayContent(data))).EnsureSuccessStatusCode();
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(Gateway.DataPath, "metadata.db")};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "UPDATE objects SET inline = $stale WHERE key = 'shadow'";
            command.Parameters.AddWithValue("$stale", new byte[] { 1, 2, 3, 4, 5 });
            Assert.Equal(1, await command.ExecuteNonQueryAsync());
        }

        Assert.Equal(data, await Gateway.Client.GetByteArrayAsync("/object/shadow"));
    }

    [Fact]
    public async Task Overwrite_replaces_the_object_and_reclaims_the_old_parts()
    {
        (await Gateway.Client.PutAsync("/object/over", new ByteArrayContent(TestData.Bytes(700_000, 1)))).EnsureSuccessStatusCode();
        var replacement = TestData.Bytes(300_000, 2);
        (await Gateway.Client.PutAsync("/object/over", new ByteArrayContent(replacement))).EnsureSuccessStatusCode();
        Assert.Equal(replacement, await Gateway.Client.GetByteArrayAsync("/object/over"));

        var sweep = await (await Gateway.Client.PostAsync("/admin/sweep", null)).Content.ReadFromJsonAsync<SweepResult>();
        Assert.Equal(1, sweep!.Reclaimed);
        Assert.Equal(8, Gateway.PartFiles().Count);
    }

    [Fact]
    public async Task Head_and_ranged_get_and_delete()
    {
        var data = TestData.Bytes(2_000_000, 3);
        using (var content = new ByteArrayContent(data))
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            (await Gateway.Client.PutAsync("/object/ranged", content)).EnsureSuccessStatusCode();
        }

        using var head = await Gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/object/ranged"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(2_000_000, head.Content.Headers.ContentLength);
        Assert.Equal("image/png", head.Content.Headers.ContentType!.MediaType);

        foreach (var (from, to) in new[] { (0L, 0L), (1_572_860L, 1_572_870L), (1_999_990L, 1_999_999L), (393_210L, 1_600_000L) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/object/ranged");
            request.Headers.Range = new RangeHeaderValue(from, to);
            using var ranged = await Gateway.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.PartialContent, ranged.StatusCode);
            Assert.Equal(data[(int)from..((int)to + 1)], await ranged.Content.ReadAsByteArrayAsync());
            Assert.Equal($"bytes {from}-{to}/2000000", ranged.Content.Headers.ContentRange!.ToString());
        }

        using (var beyond = new HttpRequestMessage(HttpMethod.Get, "/object/ranged"))
        {
            beyond.Headers.Range = new RangeHeaderValue(5_000_000, null);
            using var response = await Gateway.Client.SendAsync(beyond);
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
        }

        Assert.Equal(HttpStatusCode.NoContent, (await Gateway.Client.DeleteAsync("/object/ranged")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Gateway.Client.GetAsync("/object/ranged")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Gateway.Client.DeleteAsync("/object/ranged")).StatusCode);
        await Gateway.Client.PostAsync("/admin/sweep", null);
        Assert.Empty(Gateway.PartFiles());
    }

    [Fact]
    public async Task A_missing_object_is_a_404_problem()
    {
        using var response = await Gateway.Client.GetAsync("/object/missing1");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains("missing1", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/object/abc-def")]
    [InlineData("/object/abcdefghijklmnopqrstuvwxyz1234567")]
    [InlineData("/object/")]
    [InlineData("/object/a/b")]
    [InlineData("/object/%C3%A9t%C3%A9")]
    [InlineData("/object/a%20b")]
    public async Task Invalid_ids_are_rejected_with_400_and_nothing_is_stored(string path)
    {
        using var put = await Gateway.Client.PutAsync(path, new ByteArrayContent(TestData.Bytes(300_000, 1)));
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains("1 to 32 letters", await put.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Client.GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Client.DeleteAsync(path)).StatusCode);
        Assert.Empty(Gateway.PartFiles());
    }

    [Fact]
    public async Task The_longest_valid_id_is_accepted()
    {
        var id = new string('Z', 32);
        (await Gateway.Client.PutAsync($"/object/{id}", new ByteArrayContent([1, 2, 3]))).EnsureSuccessStatusCode();
        Assert.Equal([1, 2, 3], await Gateway.Client.GetByteArrayAsync($"/object/{id}"));
    }

    [Fact]
    public async Task A_truncated_body_is_rejected_and_nothing_is_stored()
    {
        // The client half-closes: it sent all it will, but can still read the answer.
        var status = await RawHttp.SendTruncatedPutAsync(Gateway.BaseAddress, "/object/truncated", declaredLength: 3_000_000, sentBytes: 1_000_000);
        Assert.Equal(400, status);
        Assert.Equal(HttpStatusCode.NotFound, (await Gateway.Client.GetAsync("/object/truncated")).StatusCode);
        Assert.Empty(Gateway.PartFiles());
        Assert.DoesNotContain(
            Directory.GetFiles(Path.Combine(Gateway.DataPath, "nodes"), "*", SearchOption.AllDirectories),
            file => Path.GetFileName(file) != Storage.Gateway.Nodes.NodeIdentity.MarkerKey);
    }

    [Fact]
    public async Task A_body_with_broken_chunked_framing_gets_a_400_and_nothing_is_stored()
    {
        var status = await RawHttp.SendMalformedChunkedPutAsync(Gateway.BaseAddress, "/object/badchunks", validBytes: 2_000_000);
        Assert.Equal(400, status);
        Assert.Equal(HttpStatusCode.NotFound, (await Gateway.Client.GetAsync("/object/badchunks")).StatusCode);
        Assert.Empty(Gateway.PartFiles());
    }

    [Fact]
    public async Task A_chunked_body_without_content_length_is_stored()
    {
        var data = TestData.Bytes(3_333_333, 8);
        using var content = new StreamContent(new NonSeekableStream(data));
        using var put = await Gateway.Client.PutAsync("/object/chunked", content);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(data, await Gateway.Client.GetByteArrayAsync("/object/chunked"));
    }

    private sealed record SweepResult(int Reclaimed);

    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}

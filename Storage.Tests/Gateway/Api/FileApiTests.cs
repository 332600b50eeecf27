using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Api;

public sealed class FileApiTests : GatewayTest
{
    [Theory]
    [InlineData(0, "empty.bin")]
    [InlineData(12_345, "report.pdf")]
    [InlineData(4_000_003, "Ünïcødé photo 📷.jpg")]
    public async Task Upload_returns_a_uuid_and_download_returns_exact_bytes_name_and_type(int size, string fileName)
    {
        var data = TestData.Bytes(size, size);
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(data);
        file.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
        form.Add(new StringContent("ignored"), "comment");
        form.Add(file, "file", fileName);

        using var put = await Gateway.Client.PutAsync("/api/file", form);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var body = await put.Content.ReadFromJsonAsync<Dictionary<string, string>>();
        Assert.Equal(["id"], body!.Keys);
        Assert.True(Guid.TryParse(body["id"], out _));

        using var get = await Gateway.Client.GetAsync($"/api/file/{body["id"]}");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(data, await get.Content.ReadAsByteArrayAsync());
        Assert.Equal("image/jpeg", get.Content.Headers.ContentType!.MediaType);
        Assert.Equal(fileName, get.Content.Headers.ContentDisposition!.FileNameStar ?? get.Content.Headers.ContentDisposition.FileName!.Trim('"'));

        Assert.Equal(HttpStatusCode.NoContent, (await Gateway.Client.DeleteAsync($"/api/file/{body["id"]}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Gateway.Client.GetAsync($"/api/file/{body["id"]}")).StatusCode);
    }

    [Fact]
    public async Task A_form_without_a_file_field_is_rejected_and_nothing_is_stored()
    {
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(TestData.Bytes(500_000, 1)), "attachment", "a.bin");
        form.Add(new StringContent("x"), "file");
        using var put = await Gateway.Client.PutAsync("/api/file", form);
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains("'file'", await put.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(Gateway.PartFiles());
    }

    [Fact]
    public async Task A_body_that_is_not_multipart_is_rejected()
    {
        using var put = await Gateway.Client.PutAsync("/api/file", new ByteArrayContent([1, 2, 3]));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, put.StatusCode);
        Assert.Empty(Gateway.PartFiles());
    }

    [Fact]
    public async Task A_multipart_body_cut_off_before_its_closing_boundary_is_rejected_and_nothing_is_stored()
    {
        const string Boundary = "cutoffboundary";
        byte[] body = [.. FilePartHead(Boundary), .. TestData.Bytes(2_000_000, 4)];
        using var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", $"multipart/form-data; boundary={Boundary}");
        using var put = await Gateway.Client.PutAsync("/api/file", content);
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Empty(Gateway.PartFiles());
    }

    [Fact]
    public async Task A_connection_dropped_mid_upload_stores_nothing()
    {
        const string Boundary = "dropboundary";
        var status = await RawHttp.SendTruncatedPutAsync(Gateway.BaseAddress, "/api/file", declaredLength: 5_000_000, sentBytes: 0, contentType: $"multipart/form-data; boundary={Boundary}", body: [.. FilePartHead(Boundary), .. TestData.Bytes(1_500_000, 2)]);
        Assert.Equal(400, status);
        Assert.Empty(Gateway.PartFiles());
    }

    [Theory]
    [InlineData("--otherboundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n\r\nbytes\r\n--otherboundary--\r\n")]
    [InlineData("just some bytes without any boundary line")]
    [InlineData("")]
    public async Task A_body_that_does_not_use_the_declared_boundary_is_a_400_and_stores_nothing(string body)
    {
        using var content = new StringContent(body);
        content.Headers.Remove("Content-Type");
        content.Headers.TryAddWithoutValidation("Content-Type", "multipart/form-data; boundary=declaredboundary");
        using var put = await Gateway.Client.PutAsync("/api/file", content);
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains("multipart", await put.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        Assert.Empty(Gateway.PartFiles());
    }

    /// <summary>The opening of a form part named "file", as a browser would send it.</summary>
    private static byte[] FilePartHead(string boundary) =>
        Encoding.ASCII.GetBytes($"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n");

    [Theory]
    [InlineData("not-a-uuid")]
    [InlineData("12345")]
    public async Task Invalid_file_ids_are_400(string id)
    {
        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Client.GetAsync($"/api/file/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Client.DeleteAsync($"/api/file/{id}")).StatusCode);
    }
}

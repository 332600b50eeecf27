using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Gateway.Objects.Integrity;
using Storage.Gateway.Security;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.S3;

/// <summary>
/// Signatures and bodies at the wire level: odd keys, tampered bodies and chunks, wrong keys, skewed clocks,
/// expired URLs, anonymous access. Every refusal is checked to have stored nothing.
/// </summary>
public sealed class S3SignatureTests(S3Gateway gateway) : IClassFixture<S3Gateway>
{
    private static readonly string EmptySha256 = Convert.ToHexStringLower(SHA256.HashData([]));

    private readonly AmazonS3Client _s3 = gateway.Client();

    /// <summary>Connects to the gateway whatever host name the URL carries (for virtual-hosted-style requests).</summary>
    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(IPAddress.Loopback, gateway.BaseAddress.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        },
    });

    public static TheoryData<string> OddKeys =>
        ["with space", "ключ/ü 🙂", "a+b", "a//b", "../up/../x", "c:d", "x/./y", "trailing/", "per%cent", "semi;colon=eq&amp", "~tilde*star'quote"];

    [Theory]
    [MemberData(nameof(OddKeys))]
    public async Task Keys_with_any_characters_sign_store_list_and_read_back_through_the_sdk(string key)
    {
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "odd/" + key, ContentBody = key });
        using (var get = await _s3.GetObjectAsync("objects", "odd/" + key))
        {
            Assert.Equal(key, await new StreamReader(get.ResponseStream).ReadToEndAsync());
        }

        var listed = await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "objects", Prefix = "odd/" + key });
        Assert.Contains("odd/" + key, listed.S3Objects.Select(o => o.Key));
    }

    [Theory]
    [MemberData(nameof(OddKeys))]
    public async Task Keys_with_any_characters_verify_when_sent_exactly_as_written(string key)
    {
        var path = "/objects/raw/" + string.Join('/', key.Split('/').Select(SigV4.Encode));
        using var put = await SendAsync(HttpMethod.Put, path, Encoding.UTF8.GetBytes(key));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        using var get = await SendAsync(HttpMethod.Get, path);
        Assert.Equal(key, await get.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_wrong_secret_or_unknown_key_is_refused_and_stores_nothing()
    {
        var wrongSecret = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => gateway.Client(secret: S3Gateway.Secret + "x").PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "refused/secret", ContentBody = "x" }));
        Assert.Equal(("SignatureDoesNotMatch", HttpStatusCode.Forbidden), (wrongSecret.ErrorCode, wrongSecret.StatusCode));
        var unknown = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => gateway.Client(accessKey: "AKIDUNKNOWN").PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "refused/key", ContentBody = "x" }));
        Assert.Equal(("InvalidAccessKeyId", HttpStatusCode.Forbidden), (unknown.ErrorCode, unknown.StatusCode));
        await AssertAbsentAsync("refused/secret");
        await AssertAbsentAsync("refused/key");
    }

    [Fact]
    public async Task A_body_that_does_not_match_its_signed_hash_is_refused_and_leaves_no_parts()
    {
        var body = TestData.Bytes(2_000_000, 11);
        var signedHash = Convert.ToHexStringLower(SHA256.HashData(body));
        body[1_500_000] ^= 1;
        var partsBefore = gateway.Host.PartFiles().Count;
        using var response = await SendAsync(HttpMethod.Put, "/objects/refused/tampered", body, payloadHash: signedHash);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("<Code>XAmzContentSHA256Mismatch</Code>", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await AssertAbsentAsync("refused/tampered");
        Assert.Equal(partsBefore, gateway.Host.PartFiles().Count);
    }

    [Fact]
    public async Task A_skewed_clock_is_refused()
    {
        using var response = await SendAsync(HttpMethod.Put, "/objects/refused/skewed", [1, 2, 3], signedAt: DateTimeOffset.UtcNow.AddMinutes(-20));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("<Code>RequestTimeTooSkewed</Code>", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await AssertAbsentAsync("refused/skewed");
    }

    [Fact]
    public async Task An_expired_presigned_url_is_refused()
    {
        var url = await _s3.GetPreSignedURLAsync(new GetPreSignedUrlRequest { BucketName = "objects", Key = "refused/expired", Expires = DateTime.UtcNow.AddSeconds(1), Verb = HttpVerb.PUT, Protocol = Protocol.HTTP });
        await Task.Delay(TimeSpan.FromSeconds(2.2));
        using var http = new HttpClient();
        using var response = await http.PutAsync(url, new StringContent("late"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("expired", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await AssertAbsentAsync("refused/expired");
    }

    [Fact]
    public async Task Signed_chunks_verify_and_a_tampered_chunk_stores_nothing()
    {
        var data = TestData.Bytes(200_000, 12);
        using (var good = await SendChunkedAsync("/objects/chunked/good", data, signChunks: true, trailer: null))
        {
            Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        }

        using (var get = await SendAsync(HttpMethod.Get, "/objects/chunked/good"))
        {
            Assert.Equal(data, await get.Content.ReadAsByteArrayAsync());
        }

        using var tampered = await SendChunkedAsync("/objects/chunked/tampered", data, signChunks: true, trailer: null, tamper: true);
        Assert.Equal(HttpStatusCode.Forbidden, tampered.StatusCode);
        Assert.Contains("<Code>SignatureDoesNotMatch</Code>", await tampered.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await AssertAbsentAsync("chunked/tampered");
    }

    [Fact]
    public async Task Data_after_the_final_chunk_is_refused_and_stores_nothing()
    {
        using var response = await SendChunkedAsync("/objects/chunked/trailing-garbage", TestData.Bytes(70_000, 14), signChunks: true, trailer: null, appended: "extra"u8.ToArray());
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("data follows the final chunk", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await AssertAbsentAsync("chunked/trailing-garbage");
    }

    [Theory]
    [InlineData("CRC32", true)]
    [InlineData("CRC32C", false)]
    [InlineData("CRC64NVME", true)]
    [InlineData("SHA1", false)]
    [InlineData("SHA256", true)]
    public async Task Trailing_checksums_are_verified_stored_and_returned(string algorithm, bool signChunks)
    {
        var data = TestData.Bytes(150_000, 13);
        using var checksum = PayloadChecksum.Create(algorithm)!;
        checksum.Append(data);
        var value = checksum.GetBase64();
        var key = $"chunked/trailer-{algorithm}";
        using (var good = await SendChunkedAsync("/objects/" + key, data, signChunks, (algorithm, value)))
        {
            Assert.Equal(HttpStatusCode.OK, good.StatusCode);
            Assert.Equal(value, good.Headers.GetValues(PayloadChecksum.HeaderFor(algorithm)).Single());
        }

        using (var head = await SendAsync(HttpMethod.Head, "/objects/" + key, headers: new() { ["x-amz-checksum-mode"] = "ENABLED" }))
        {
            Assert.Equal(value, head.Headers.GetValues(PayloadChecksum.HeaderFor(algorithm)).Single());
        }

        var wrong = Convert.ToBase64String(checksum.GetValue().Select(b => (byte)~b).ToArray());
        using var bad = await SendChunkedAsync("/objects/chunked/bad-" + algorithm, data, signChunks, (algorithm, wrong));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("<Code>BadDigest</Code>", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await AssertAbsentAsync("chunked/bad-" + algorithm);
    }

    [Fact]
    public async Task A_checksum_header_and_content_md5_are_verified()
    {
        var data = Encoding.UTF8.GetBytes("checksummed body");
        var crc = Convert.ToBase64String(BitConverter.GetBytes((uint)ReflectedCrc.Crc32.Compute(data)).Reverse().ToArray());
        using (var good = await SendAsync(HttpMethod.Put, "/objects/headers/crc", data, headers: new() { ["x-amz-checksum-crc32"] = crc }))
        {
            Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        }

        using (var badCrc = await SendAsync(HttpMethod.Put, "/objects/headers/bad-crc", data, headers: new() { ["x-amz-checksum-crc32"] = "AAAAAA==" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, badCrc.StatusCode);
        }

        using (var badMd5 = await SendAsync(HttpMethod.Put, "/objects/headers/bad-md5", data, headers: new() { ["Content-MD5"] = Convert.ToBase64String(MD5.HashData([1])) }))
        {
            Assert.Contains("<Code>BadDigest</Code>", await badMd5.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await AssertAbsentAsync("headers/bad-crc");
        await AssertAbsentAsync("headers/bad-md5");
    }

    [Fact]
    public async Task Anonymous_requests_are_refused_except_reads_of_a_public_read_bucket()
    {
        await _s3.PutBucketAsync(S3Gateway.PublicBucket);
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = S3Gateway.PublicBucket, Key = "open", ContentBody = "for everyone" });
        await _s3.PutObjectAsync(new PutObjectRequest { BucketName = "objects", Key = "closed", ContentBody = "private" });
        using var anonymous = new HttpClient { BaseAddress = gateway.BaseAddress };

        Assert.Equal("for everyone", await anonymous.GetStringAsync($"/{S3Gateway.PublicBucket}/open"));
        Assert.Contains("<Key>open</Key>", await anonymous.GetStringAsync($"/{S3Gateway.PublicBucket}?list-type=2"), StringComparison.Ordinal);
        using var closed = await anonymous.GetAsync("/objects/closed");
        Assert.Equal(HttpStatusCode.Forbidden, closed.StatusCode);
        Assert.Contains("<Code>AccessDenied</Code>", await closed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var write = await anonymous.PutAsync($"/{S3Gateway.PublicBucket}/intruder", new StringContent("x"));
        Assert.Equal(HttpStatusCode.Forbidden, write.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync("/")).StatusCode);
    }

    [Fact]
    public async Task Malformed_documents_and_part_order_are_reported_in_s3_xml()
    {
        using (var malformed = await SendAsync(HttpMethod.Post, "/objects?delete", Encoding.UTF8.GetBytes("<Delete><Object><Key>x</Key>")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
            Assert.Equal("application/xml", malformed.Content.Headers.ContentType?.MediaType);
            Assert.Contains("<Code>MalformedXML</Code>", await malformed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var upload = await _s3.InitiateMultipartUploadAsync("objects", "xml/order");
        var part1 = await _s3.UploadPartAsync(new UploadPartRequest { BucketName = "objects", Key = "xml/order", UploadId = upload.UploadId, PartNumber = 1, InputStream = new MemoryStream(new byte[10]) });
        var part2 = await _s3.UploadPartAsync(new UploadPartRequest { BucketName = "objects", Key = "xml/order", UploadId = upload.UploadId, PartNumber = 2, InputStream = new MemoryStream(new byte[10]) });
        var document = $"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>{part2.ETag}</ETag></Part><Part><PartNumber>1</PartNumber><ETag>{part1.ETag}</ETag></Part></CompleteMultipartUpload>";
        using var outOfOrder = await SendAsync(HttpMethod.Post, $"/objects/xml/order?uploadId={upload.UploadId}", Encoding.UTF8.GetBytes(document));
        Assert.Equal(HttpStatusCode.BadRequest, outOfOrder.StatusCode);
        Assert.Contains("<Code>InvalidPartOrder</Code>", await outOfOrder.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var badNumber = await SendAsync(HttpMethod.Put, $"/objects/xml/order?partNumber=10001&uploadId={upload.UploadId}", [1]);
        Assert.Contains("<Code>InvalidArgument</Code>", await badNumber.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Virtual_hosted_style_addresses_the_bucket_by_host()
    {
        var host = $"objects.{S3Gateway.VirtualHostDomain}";
        using (var put = await SendAsync(HttpMethod.Put, "/virtual/key", Encoding.UTF8.GetBytes("by host"), host: host))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using var get = await _s3.GetObjectAsync("objects", "virtual/key");
        Assert.Equal("by host", await new StreamReader(get.ResponseStream).ReadToEndAsync());
        using var list = await SendAsync(HttpMethod.Get, "/?list-type=2&prefix=virtual%2F", host: host);
        Assert.Contains("<Key>virtual/key</Key>", await list.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private async Task AssertAbsentAsync(string key) =>
        Assert.Equal("NoSuchKey", (await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => _s3.GetObjectMetadataAsync("objects", key))).ErrorCode is "NoSuchKey" or "NotFound" ? "NoSuchKey" : "present");

    /// <summary>A request signed with the gateway's own signer, its path sent exactly as given (no dot-segment removal).</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string pathAndQuery, byte[]? body = null, string? payloadHash = null, DateTimeOffset? signedAt = null, Dictionary<string, string>? headers = null, string? host = null)
    {
        using var request = Request(method, pathAndQuery, host);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
        }

        foreach (var (name, value) in headers ?? [])
        {
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content!.Headers.TryAddWithoutValidation(name, value);
            }
        }

        SigV4.Sign(request, S3Gateway.AccessKey, S3Gateway.Secret, S3Gateway.Region, signedAt ?? DateTimeOffset.UtcNow, payloadHash ?? (body is null ? EmptySha256 : Convert.ToHexStringLower(SHA256.HashData(body))));
        return await _http.SendAsync(request);
    }

    /// <summary>An aws-chunked PUT: 64 KiB chunks, signed (chained from the request signature) or not, with an optional checksum trailer.</summary>
    private async Task<HttpResponseMessage> SendChunkedAsync(string path, byte[] data, bool signChunks, (string Algorithm, string Value)? trailer, bool tamper = false, byte[]? appended = null)
    {
        var mode = (signChunks, trailer is not null) switch
        {
            (true, false) => SignatureVerifier.StreamingSigned,
            (true, true) => SignatureVerifier.StreamingSignedTrailer,
            _ => SignatureVerifier.StreamingUnsignedTrailer,
        };
        using var request = Request(HttpMethod.Put, path, null);
        var now = DateTimeOffset.UtcNow;
        SigV4.Sign(request, S3Gateway.AccessKey, S3Gateway.Secret, S3Gateway.Region, now, mode);
        var signature = request.Headers.GetValues("Authorization").Single().Split("Signature=")[1];
        var amzDate = request.Headers.GetValues("x-amz-date").Single();
        var scope = SigV4.Scope(amzDate[..8], S3Gateway.Region);
        var key = SigV4.SigningKey(S3Gateway.Secret, amzDate[..8], S3Gateway.Region);

        var body = new MemoryStream();
        void Write(string text) => body.Write(Encoding.ASCII.GetBytes(text));
        string ChunkSignature(ReadOnlySpan<byte> chunk)
        {
            signature = SigV4.Sign(key, SigV4.StringToSign("AWS4-HMAC-SHA256-PAYLOAD", amzDate, scope, $"{signature}\n{EmptySha256}\n{Convert.ToHexStringLower(SHA256.HashData(chunk))}"));
            return signature;
        }

        foreach (var chunk in data.Chunk(64 * 1024).Append([]))
        {
            Write($"{chunk.Length:x}{(signChunks ? ";chunk-signature=" + ChunkSignature(chunk) : string.Empty)}\r\n");
            var sent = chunk.ToArray();
            if (tamper && sent.Length > 0)
            {
                sent[0] ^= 0xFF;
            }

            body.Write(sent);
            if (chunk.Length > 0 || trailer is null)
            {
                Write("\r\n");
            }
        }

        if (trailer is { } checksum)
        {
            var (algorithm, value) = checksum;
            var line = $"{PayloadChecksum.HeaderFor(algorithm)}:{value}";
            Write(line + "\r\n");
            if (signChunks)
            {
                var trailerSignature = SigV4.Sign(key, SigV4.StringToSign("AWS4-HMAC-SHA256-TRAILER", amzDate, scope, $"{signature}\n{SigV4.Sha256Hex(line + "\n")}"));
                Write($"x-amz-trailer-signature:{trailerSignature}\r\n");
            }

            Write("\r\n");
            request.Headers.TryAddWithoutValidation("x-amz-trailer", PayloadChecksum.HeaderFor(algorithm));
        }

        body.Write(appended ?? []);
        request.Content = new ByteArrayContent(body.ToArray());
        request.Content.Headers.ContentEncoding.Add("aws-chunked");
        request.Headers.TryAddWithoutValidation("x-amz-decoded-content-length", data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return await _http.SendAsync(request);
    }

    private HttpRequestMessage Request(HttpMethod method, string pathAndQuery, string? host)
    {
        var authority = $"{host ?? gateway.BaseAddress.Host}:{gateway.BaseAddress.Port}";
        var uri = new Uri($"http://{authority}{pathAndQuery}", new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        return new HttpRequestMessage(method, uri);
    }

}

using System.Net;
using System.Xml.Linq;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Tests.Fixtures;
using static Storage.Tests.Fixtures.ScopedKeysGateway;

namespace Storage.Tests.Gateway.S3;

/// <summary>
/// Bucket CORS (rules through AWSSDK.S3, preflights and actual requests over HTTP as a browser sends them) and browser
/// form uploads signed by AWSSDK.S3's CreatePresignedPost: what the policy allows is stored, anything else stores nothing.
/// </summary>
public sealed class CorsAndFormUploadTests(ScopedKeysGateway gateway) : IClassFixture<ScopedKeysGateway>
{
    private const string Page = "http://app.example.test";

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Cors_rules_answer_preflights_and_requests_exactly_as_configured()
    {
        using var admin = gateway.Client(Administrator);
        await admin.PutBucketAsync("cors-site");
        await admin.PutObjectAsync(new PutObjectRequest { BucketName = "cors-site", Key = "data.json", ContentBody = "{}" });
        using var http = new HttpClient { BaseAddress = gateway.BaseAddress };
        using (var before = await SendAsync(http, Preflight("/cors-site/data.json", "GET")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, before.StatusCode);
        }

        await admin.PutCORSConfigurationAsync(new PutCORSConfigurationRequest
        {
            BucketName = "cors-site",
            Configuration = new CORSConfiguration
            {
                Rules =
                [
                    new CORSRule { Id = "app", AllowedOrigins = [Page, "https://*.example.org"], AllowedMethods = ["GET", "PUT"], AllowedHeaders = ["content-type", "x-amz-*"], ExposeHeaders = ["ETag"], MaxAgeSeconds = 600 },
                ],
            },
        });
        var rules = (await admin.GetCORSConfigurationAsync("cors-site")).Configuration.Rules;
        Assert.Equal(("app", 2, 600), (rules.Single().Id, rules.Single().AllowedOrigins.Count, rules.Single().MaxAgeSeconds));

        using (var allowed = await SendAsync(http, Preflight("/cors-site/data.json", "PUT", "Content-Type, X-Amz-Date")))
        {
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
            Assert.Equal(Page, Header(allowed, "Access-Control-Allow-Origin"));
            Assert.Equal("GET, PUT", Header(allowed, "Access-Control-Allow-Methods"));
            Assert.Equal("content-type, x-amz-date", Header(allowed, "Access-Control-Allow-Headers"));
            Assert.Equal("600", Header(allowed, "Access-Control-Max-Age"));
        }

        using (var wrongMethod = await SendAsync(http, Preflight("/cors-site/data.json", "DELETE")))
        using (var wrongHeader = await SendAsync(http, Preflight("/cors-site/data.json", "PUT", "x-custom")))
        using (var wrongOrigin = await SendAsync(http, Preflight("/cors-site/data.json", "GET", origin: "http://evil.test")))
        {
            Assert.Equal([HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden], new[] { wrongMethod.StatusCode, wrongHeader.StatusCode, wrongOrigin.StatusCode });
            Assert.Null(Header(wrongOrigin, "Access-Control-Allow-Origin"));
        }

        using (var wildcard = await SendAsync(http, Preflight("/cors-site/data.json", "GET", origin: "https://cdn.example.org")))
        {
            Assert.Equal("https://cdn.example.org", Header(wildcard, "Access-Control-Allow-Origin"));
        }

        // An actual request carries the headers too, on an error as well (a page can read why it was refused); CORS grants nothing.
        var get = new HttpRequestMessage(HttpMethod.Get, "/cors-site/data.json");
        get.Headers.Add("Origin", Page);
        using (var refused = await SendAsync(http, get))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal(Page, Header(refused, "Access-Control-Allow-Origin"));
            Assert.Equal("ETag", Header(refused, "Access-Control-Expose-Headers"));
        }

        await admin.DeleteCORSConfigurationAsync("cors-site");
        using var after = await SendAsync(http, Preflight("/cors-site/data.json", "GET"));
        Assert.Equal(HttpStatusCode.Forbidden, after.StatusCode);
    }

    [Theory]
    [InlineData("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>", "InvalidRequest")]
    [InlineData("<CORSConfiguration><CORSRule><AllowedOrigin>http://*.*.test</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>", "InvalidRequest")]
    [InlineData("<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>", "MalformedXML")]
    [InlineData("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>*</ExposeHeader></CORSRule></CORSConfiguration>", "InvalidRequest")]
    [InlineData("<CORSConfiguration/>", "MalformedXML")]
    public async Task Cors_rules_S3_would_refuse_are_refused_and_nothing_is_stored(string document, string code)
    {
        using var admin = gateway.Client(Administrator);
        await admin.PutBucketAsync("cors-bad");
        try
        {
            using var http = new HttpClient { BaseAddress = gateway.BaseAddress };
            using var put = new HttpRequestMessage(HttpMethod.Put, new Uri(gateway.BaseAddress, "/cors-bad?cors")) { Content = new StringContent(document) };
            Storage.Gateway.Security.SigV4.Sign(put, Administrator.AccessKey, Administrator.Secret, "us-east-1", DateTimeOffset.UtcNow, Storage.Gateway.Security.SigV4.Sha256Hex(document));
            using var refused = await http.SendAsync(put, Cancellation);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal(code, XElement.Parse(await refused.Content.ReadAsStringAsync(Cancellation)).Element("Code")!.Value);
            var none = await Assert.ThrowsAsync<AmazonS3Exception>(() => admin.GetCORSConfigurationAsync("cors-bad"));
            Assert.Equal("NoSuchCORSConfiguration", none.ErrorCode);
        }
        finally
        {
            await admin.DeleteBucketAsync("cors-bad");
        }
    }

    [Fact]
    public async Task A_form_upload_within_its_policy_is_stored_and_answered_as_asked()
    {
        using var admin = gateway.Client(Administrator);
        await admin.PutBucketAsync("forms");
        var post = await PresignedPostAsync(admin, "forms", "uploads/${filename}", 1, 1024, ["starts-with", "$Content-Type", "text/"], ["eq", "$success_action_status", "201"]);
        using var http = new HttpClient { BaseAddress = gateway.BaseAddress };
        using var answer = await http.PostAsync(post.Url, Form(post, "report.txt", "hello from a form", ("Content-Type", "text/plain"), ("success_action_status", "201")), Cancellation);
        var body = await answer.Content.ReadAsStringAsync(Cancellation);
        Assert.True(answer.StatusCode == HttpStatusCode.Created, body);
        var document = XElement.Parse(body);
        Assert.Equal("uploads/report.txt", document.Elements().Single(e => e.Name.LocalName == "Key").Value);

        using var stored = await admin.GetObjectAsync("forms", "uploads/report.txt");
        Assert.Equal("text/plain", stored.Headers.ContentType);
        Assert.Equal("hello from a form", await new StreamReader(stored.ResponseStream).ReadToEndAsync(Cancellation));
    }

    [Fact]
    public async Task A_form_upload_that_breaks_its_policy_stores_nothing()
    {
        using var admin = gateway.Client(Administrator);
        await admin.PutBucketAsync("forms-strict");
        var post = await PresignedPostAsync(admin, "forms-strict", "in/${filename}", 1, 10);
        using var http = new HttpClient { BaseAddress = gateway.BaseAddress };

        async Task<(HttpStatusCode, string)> PostAsync(HttpContent form)
        {
            using var answer = await http.PostAsync(post.Url, form, Cancellation);
            return (answer.StatusCode, XElement.Parse(await answer.Content.ReadAsStringAsync(Cancellation)).Element("Code")!.Value);
        }

        Assert.Equal((HttpStatusCode.BadRequest, "EntityTooLarge"), await PostAsync(Form(post, "big.bin", new string('x', 11))));
        Assert.Equal((HttpStatusCode.BadRequest, "EntityTooSmall"), await PostAsync(Form(post, "empty.bin", string.Empty)));
        Assert.Equal((HttpStatusCode.Forbidden, "AccessDenied"), await PostAsync(Form(post, "extra.bin", "ok", ("x-amz-meta-owner", "me"))));
        Assert.Equal((HttpStatusCode.BadRequest, "MaxPostPreDataLengthExceeded"), await PostAsync(Form(post, "huge.bin", "ok", ("x-ignore-padding", new string('p', 64 * 1024)))));
        var elsewhere = new CreatePresignedPostResponse { Url = post.Url, Fields = new Dictionary<string, string>(post.Fields) { ["key"] = "out/escaped.bin" } };
        Assert.Equal((HttpStatusCode.Forbidden, "AccessDenied"), await PostAsync(Form(elsewhere, "escaped.bin", "ok")));
        var forged = new CreatePresignedPostResponse { Url = post.Url, Fields = new Dictionary<string, string>(post.Fields) { ["x-amz-signature"] = new string('0', 64) } };
        Assert.Equal((HttpStatusCode.Forbidden, "SignatureDoesNotMatch"), await PostAsync(Form(forged, "forged.bin", "ok")));

        // Signed by a key that may not write the bucket: the form is genuine, the grant is missing.
        using var reader = gateway.Client(Reader);
        var readers = await PresignedPostAsync(reader, "forms-strict", "in/${filename}", 1, 10);
        Assert.Equal((HttpStatusCode.Forbidden, "AccessDenied"), await PostAsync(Form(readers, "reader.bin", "ok")));

        Assert.Empty((await admin.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "forms-strict" })).S3Objects ?? []);
        using var good = await http.PostAsync(post.Url, Form(post, "fits.bin", "fits"), Cancellation);
        Assert.Equal(HttpStatusCode.NoContent, good.StatusCode);
        Assert.Equal(["in/fits.bin"], (await admin.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "forms-strict" })).S3Objects.Select(o => o.Key));
    }

    /// <summary>AWSSDK.S3's presigned POST: the key template, a content-length-range and any further conditions.</summary>
    public static Task<CreatePresignedPostResponse> PresignedPostAsync(AmazonS3Client s3, string bucket, string key, long min, long max, params string[][] conditions)
    {
        var request = new CreatePresignedPostRequest { BucketName = bucket, Key = key, Expires = DateTime.UtcNow.AddMinutes(10), Conditions = [S3PostCondition.ContentLengthRange(min, max), S3PostCondition.StartsWith("key", key.Replace("${filename}", string.Empty, StringComparison.Ordinal))] };
        foreach (var condition in conditions)
        {
            request.Conditions.Add(condition[0] == "eq" ? S3PostCondition.ExactMatch(condition[1].TrimStart('$'), condition[2]) : S3PostCondition.StartsWith(condition[1].TrimStart('$'), condition[2]));
        }

        return s3.CreatePresignedPostAsync(request);
    }

    private static MultipartFormDataContent Form(CreatePresignedPostResponse post, string fileName, string content, params (string Name, string Value)[] extra)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, value) in post.Fields.Select(f => (f.Key, f.Value)).Concat(extra))
        {
            form.Add(new StringContent(value), name);
        }

        form.Add(new StringContent(content), "file", fileName);
        return form;
    }

    private static HttpRequestMessage Preflight(string path, string method, string? headers = null, string origin = Page)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", method);
        if (headers is not null)
        {
            request.Headers.Add("Access-Control-Request-Headers", headers);
        }

        return request;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpRequestMessage request)
    {
        using (request)
        {
            return await http.SendAsync(request, Cancellation);
        }
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values) ? string.Join(", ", values) : null;
}

using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.AspNetCore.Http;
using Microsoft.Playwright;
using Storage.Tests.Fixtures;
using static Storage.Tests.Fixtures.ScopedKeysGateway;

namespace Storage.Tests.Gateway.S3;

/// <summary>
/// A web page on another origin (served by the test's own Kestrel) uploads to the store from headless Chromium with a
/// presigned PUT and a presigned POST form, reads both back through CORS, and a form breaking its policy stores nothing.
/// </summary>
public sealed class BrowserUploadTests(ScopedKeysGateway gateway) : IClassFixture<ScopedKeysGateway>
{
    private const string Chromium = "/usr/bin/chromium";
    private const string Bucket = "browser";

    private const string Page = """
        <!doctype html><title>upload</title>
        <script>
        async function run(c) {
          const form = (file, name) => {
            const data = new FormData();
            for (const [k, v] of Object.entries(c.fields)) data.append(k, v);
            data.append('file', new Blob([file], { type: 'text/plain' }), name);
            return data;
          };
          const put = await fetch(c.putUrl, { method: 'PUT', body: 'from a presigned PUT' });
          const post = await fetch(c.postUrl, { method: 'POST', body: form('from a presigned POST', 'form.txt') });
          const refused = await fetch(c.postUrl, { method: 'POST', body: form('x'.repeat(2000), 'big.txt') });
          return {
            put: put.status, putEtag: put.headers.get('ETag'), post: post.status,
            refused: refused.status, refusedBody: await refused.text(),
            readPut: await (await fetch(c.getPut)).text(), readPost: await (await fetch(c.getPost)).text(),
          };
        }
        </script>
        """;

    [Fact]
    public async Task A_page_uploads_with_presigned_put_and_post_and_reads_back_through_cors()
    {
        if (!File.Exists(Chromium))
        {
            Assert.Skip($"BROWSER UPLOAD TEST NOT RUN: {Chromium} is missing (.ci/test.sh installs Debian's chromium).");
        }

        // The page on its own Kestrel: another port is another origin, so every request to the store is cross-origin.
        await using var site = await LoopbackServer.StartAsync(async context =>
        {
            context.Response.ContentType = "text/html";
            await context.Response.WriteAsync(Page);
        });
        var origin = site.BaseAddress.GetLeftPart(UriPartial.Authority);
        using var admin = gateway.Client(Administrator);
        await admin.PutBucketAsync(Bucket);
        await admin.PutCORSConfigurationAsync(new PutCORSConfigurationRequest
        {
            BucketName = Bucket,
            Configuration = new CORSConfiguration { Rules = [new CORSRule { AllowedOrigins = [origin], AllowedMethods = ["GET", "PUT", "POST"], AllowedHeaders = ["*"], ExposeHeaders = ["ETag"] }] },
        });

        var post = await CorsAndFormUploadTests.PresignedPostAsync(admin, Bucket, "post/${filename}", 1, 1024);
        string Presigned(string key, HttpVerb verb) =>
            admin.GetPreSignedURL(new GetPreSignedUrlRequest { BucketName = Bucket, Key = key, Verb = verb, Expires = DateTime.UtcNow.AddMinutes(10), Protocol = Protocol.HTTP });
        var config = new Dictionary<string, object>
        {
            ["putUrl"] = Presigned("put.txt", HttpVerb.PUT),
            ["postUrl"] = post.Url,
            ["fields"] = post.Fields,
            ["getPut"] = Presigned("put.txt", HttpVerb.GET),
            ["getPost"] = Presigned("post/form.txt", HttpVerb.GET),
        };

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync();
        await page.GotoAsync(origin + "/");
        var result = await page.EvaluateAsync<JsonElement>("c => run(c)", config);

        Assert.Equal(200, result.GetProperty("put").GetInt32());
        Assert.False(string.IsNullOrEmpty(result.GetProperty("putEtag").GetString()), "ETag is exposed to the page");
        Assert.Equal(204, result.GetProperty("post").GetInt32());
        Assert.Equal(400, result.GetProperty("refused").GetInt32());
        Assert.Contains("EntityTooLarge", result.GetProperty("refusedBody").GetString(), StringComparison.Ordinal);
        Assert.Equal("from a presigned PUT", result.GetProperty("readPut").GetString());
        Assert.Equal("from a presigned POST", result.GetProperty("readPost").GetString());
        Assert.Equal(["post/form.txt", "put.txt"], (await admin.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket })).S3Objects.Select(o => o.Key).Order(StringComparer.Ordinal));
    }
}

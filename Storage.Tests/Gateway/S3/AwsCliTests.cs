using System.Security.Cryptography;
using System.Text.Json;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.S3;

/// <summary>The gateway driven by the AWS CLI (installed by the test command): high-level s3 commands and s3api calls.</summary>
public sealed class AwsCliTests(S3Gateway gateway) : IClassFixture<S3Gateway>
{
    [Fact]
    public async Task Copy_up_and_down_of_50_MiB_goes_multipart_and_round_trips()
    {
        using var folder = new TempDirectory("aws-cli");
        var original = Path.Combine(folder.Path, "big.bin");
        await File.WriteAllBytesAsync(original, TestData.Bytes(50 * 1024 * 1024, 21));
        await AwsAsync("s3", "mb", "s3://cli-big");
        await AwsAsync("s3", "cp", original, "s3://cli-big/dir/big file.bin");

        var head = JsonDocument.Parse(await AwsAsync("s3api", "head-object", "--bucket", "cli-big", "--key", "dir/big file.bin")).RootElement;
        Assert.Equal(50 * 1024 * 1024, head.GetProperty("ContentLength").GetInt64());
        Assert.Matches("^\"[0-9a-f]{32}-[0-9]+\"$", head.GetProperty("ETag").GetString());

        var listing = await AwsAsync("s3", "ls", "s3://cli-big/dir/");
        Assert.Contains("52428800 big file.bin", listing, StringComparison.Ordinal);

        var downloaded = Path.Combine(folder.Path, "back.bin");
        await AwsAsync("s3", "cp", "s3://cli-big/dir/big file.bin", downloaded);
        Assert.Equal(await HashAsync(original), await HashAsync(downloaded));
    }

    [Fact]
    public async Task Object_tags_are_put_read_and_deleted_through_s3api()
    {
        await AwsAsync("s3", "mb", "s3://cli-tags");
        await AwsAsync("s3api", "put-object", "--bucket", "cli-tags", "--key", "k", "--tagging", "team=ops&stage=ci");
        await AwsAsync("s3api", "put-object-tagging", "--bucket", "cli-tags", "--key", "k", "--tagging", "TagSet=[{Key=owner,Value=build cache}]");
        var tags = JsonDocument.Parse(await AwsAsync("s3api", "get-object-tagging", "--bucket", "cli-tags", "--key", "k")).RootElement.GetProperty("TagSet");
        Assert.Equal(("owner", "build cache"), (tags[0].GetProperty("Key").GetString(), tags[0].GetProperty("Value").GetString()));
        Assert.Equal(1, tags.GetArrayLength());

        var (refused, output) = await TryAwsAsync("s3api", "put-object-tagging", "--bucket", "cli-tags", "--key", "k", "--tagging", "TagSet=[{Key=aws:x,Value=v}]");
        Assert.False(refused == 0, output);
        Assert.Contains("InvalidTag", output, StringComparison.Ordinal);

        await AwsAsync("s3api", "delete-object-tagging", "--bucket", "cli-tags", "--key", "k");
        Assert.Equal(0, JsonDocument.Parse(await AwsAsync("s3api", "get-object-tagging", "--bucket", "cli-tags", "--key", "k")).RootElement.GetProperty("TagSet").GetArrayLength());
    }

    [Fact]
    public async Task A_lifecycle_rule_is_put_read_and_deleted_through_s3api_and_shows_on_head()
    {
        await AwsAsync("s3", "mb", "s3://cli-rules");
        const string rules = """{"Rules":[{"ID":"expire-cache","Status":"Enabled","Filter":{"Prefix":"cache/"},"Expiration":{"Days":14}}]}""";
        await AwsAsync("s3api", "put-bucket-lifecycle-configuration", "--bucket", "cli-rules", "--lifecycle-configuration", rules);
        var rule = JsonDocument.Parse(await AwsAsync("s3api", "get-bucket-lifecycle-configuration", "--bucket", "cli-rules")).RootElement.GetProperty("Rules")[0];
        Assert.Equal(("expire-cache", "cache/", 14), (rule.GetProperty("ID").GetString(), rule.GetProperty("Filter").GetProperty("Prefix").GetString(), rule.GetProperty("Expiration").GetProperty("Days").GetInt32()));

        await AwsAsync("s3api", "put-object", "--bucket", "cli-rules", "--key", "cache/entry");
        var head = JsonDocument.Parse(await AwsAsync("s3api", "head-object", "--bucket", "cli-rules", "--key", "cache/entry")).RootElement;
        Assert.Contains("rule-id=\"expire-cache\"", head.GetProperty("Expiration").GetString(), StringComparison.Ordinal);

        await AwsAsync("s3api", "delete-bucket-lifecycle", "--bucket", "cli-rules");
        var (missing, output) = await TryAwsAsync("s3api", "get-bucket-lifecycle-configuration", "--bucket", "cli-rules");
        Assert.False(missing == 0, output);
        Assert.Contains("NoSuchLifecycleConfiguration", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sync_ls_and_rm_manage_a_tree()
    {
        using var folder = new TempDirectory("aws-sync");
        Directory.CreateDirectory(Path.Combine(folder.Path, "sub", "deeper"));
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "top.txt"), "top");
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "sub", "a b+c.txt"), "spaced");
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "sub", "deeper", "ключ.txt"), "unicode");
        await AwsAsync("s3", "mb", "s3://cli-sync");
        await AwsAsync("s3", "sync", folder.Path, "s3://cli-sync/tree");

        var recursive = await AwsAsync("s3", "ls", "--recursive", "s3://cli-sync/tree/");
        Assert.Contains("tree/top.txt", recursive, StringComparison.Ordinal);
        Assert.Contains("tree/sub/a b+c.txt", recursive, StringComparison.Ordinal);
        Assert.Contains("tree/sub/deeper/ключ.txt", recursive, StringComparison.Ordinal);
        Assert.Contains("PRE sub/", await AwsAsync("s3", "ls", "s3://cli-sync/tree/"), StringComparison.Ordinal);

        // A second sync finds nothing to do: sizes and times match what the listing reports.
        Assert.Equal(string.Empty, (await AwsAsync("s3", "sync", folder.Path, "s3://cli-sync/tree")).Trim());

        await AwsAsync("s3", "rm", "--recursive", "s3://cli-sync/tree");
        Assert.Equal(string.Empty, (await TryAwsAsync("s3", "ls", "--recursive", "s3://cli-sync/")).Output.Trim());
        await AwsAsync("s3", "rb", "s3://cli-sync");
        Assert.DoesNotContain("cli-sync", await AwsAsync("s3", "ls"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Api_calls_cover_metadata_copy_listing_deletes_and_uploads()
    {
        using var folder = new TempDirectory("aws-api");
        var file = Path.Combine(folder.Path, "doc.txt");
        await File.WriteAllTextAsync(file, "document body");
        await AwsAsync("s3api", "create-bucket", "--bucket", "cli-api");
        Assert.DoesNotContain("Enabled", await AwsAsync("s3api", "get-bucket-versioning", "--bucket", "cli-api"), StringComparison.Ordinal);
        await AwsAsync("s3api", "get-bucket-location", "--bucket", "cli-api");
        await AwsAsync("s3api", "head-bucket", "--bucket", "cli-api");

        await AwsAsync("s3api", "put-object", "--bucket", "cli-api", "--key", "doc", "--body", file, "--content-type", "text/plain", "--metadata", "owner=ops");
        var head = JsonDocument.Parse(await AwsAsync("s3api", "head-object", "--bucket", "cli-api", "--key", "doc")).RootElement;
        Assert.Equal("text/plain", head.GetProperty("ContentType").GetString());
        Assert.Equal("ops", head.GetProperty("Metadata").GetProperty("owner").GetString());
        Assert.Equal($"\"{Convert.ToHexStringLower(MD5.HashData(await File.ReadAllBytesAsync(file)))}\"", head.GetProperty("ETag").GetString());

        await AwsAsync("s3api", "copy-object", "--bucket", "cli-api", "--key", "copy", "--copy-source", "cli-api/doc");
        var listed = JsonDocument.Parse(await AwsAsync("s3api", "list-objects-v2", "--bucket", "cli-api", "--max-keys", "1")).RootElement;
        Assert.Equal("copy", listed.GetProperty("Contents")[0].GetProperty("Key").GetString());

        var range = Path.Combine(folder.Path, "range.txt");
        await AwsAsync("s3api", "get-object", "--bucket", "cli-api", "--key", "copy", "--range", "bytes=0-7", range);
        Assert.Equal("document", await File.ReadAllTextAsync(range));

        var upload = JsonDocument.Parse(await AwsAsync("s3api", "create-multipart-upload", "--bucket", "cli-api", "--key", "pending")).RootElement.GetProperty("UploadId").GetString()!;
        Assert.Contains(upload, await AwsAsync("s3api", "list-multipart-uploads", "--bucket", "cli-api"), StringComparison.Ordinal);
        await AwsAsync("s3api", "abort-multipart-upload", "--bucket", "cli-api", "--key", "pending", "--upload-id", upload);

        var deleted = JsonDocument.Parse(await AwsAsync("s3api", "delete-objects", "--bucket", "cli-api", "--delete", "{\"Objects\":[{\"Key\":\"doc\"},{\"Key\":\"copy\"}]}")).RootElement;
        Assert.Equal(2, deleted.GetProperty("Deleted").GetArrayLength());
        await AwsAsync("s3api", "delete-bucket", "--bucket", "cli-api");

        var (exitCode, missing) = await TryAwsAsync("s3api", "head-bucket", "--bucket", "cli-api");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("404", missing, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Versions_are_kept_listed_read_by_id_and_hidden_by_a_delete_marker_through_s3api()
    {
        using var folder = new TempDirectory("aws-versions");
        await AwsAsync("s3api", "create-bucket", "--bucket", "cli-versions");
        await AwsAsync("s3api", "put-bucket-versioning", "--bucket", "cli-versions", "--versioning-configuration", "Status=Enabled");
        Assert.Equal("Enabled", JsonDocument.Parse(await AwsAsync("s3api", "get-bucket-versioning", "--bucket", "cli-versions")).RootElement.GetProperty("Status").GetString());
        var ids = new List<string>();
        foreach (var text in new[] { "first", "second" })
        {
            var file = Path.Combine(folder.Path, text);
            await File.WriteAllTextAsync(file, text);
            ids.Add(JsonDocument.Parse(await AwsAsync("s3api", "put-object", "--bucket", "cli-versions", "--key", "doc", "--body", file)).RootElement.GetProperty("VersionId").GetString()!);
        }

        var deleted = JsonDocument.Parse(await AwsAsync("s3api", "delete-object", "--bucket", "cli-versions", "--key", "doc")).RootElement;
        Assert.True(deleted.GetProperty("DeleteMarker").GetBoolean());
        var (exitCode, hidden) = await TryAwsAsync("s3api", "head-object", "--bucket", "cli-versions", "--key", "doc");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("404", hidden, StringComparison.Ordinal);

        var listing = JsonDocument.Parse(await AwsAsync("s3api", "list-object-versions", "--bucket", "cli-versions")).RootElement;
        Assert.Equal(Enumerable.Reverse(ids), listing.GetProperty("Versions").EnumerateArray().Select(v => v.GetProperty("VersionId").GetString()));
        Assert.Equal(deleted.GetProperty("VersionId").GetString(), listing.GetProperty("DeleteMarkers")[0].GetProperty("VersionId").GetString());

        var old = Path.Combine(folder.Path, "old");
        await AwsAsync("s3api", "get-object", "--bucket", "cli-versions", "--key", "doc", "--version-id", ids[0], old);
        Assert.Equal("first", await File.ReadAllTextAsync(old));
    }

    [Fact]
    public async Task Objects_are_stored_with_sse_s3_and_sse_c_and_read_back_through_the_cli()
    {
        using var folder = new TempDirectory("aws-cli-sse");
        var original = Path.Combine(folder.Path, "doc.bin");
        await File.WriteAllBytesAsync(original, TestData.Bytes(200_000, 23));
        var key = Path.Combine(folder.Path, "key.bin");
        await File.WriteAllBytesAsync(key, RandomNumberGenerator.GetBytes(32));
        await AwsAsync("s3", "mb", "s3://cli-sse");

        await AwsAsync("s3", "cp", original, "s3://cli-sse/s3.bin", "--sse", "AES256");
        var head = JsonDocument.Parse(await AwsAsync("s3api", "head-object", "--bucket", "cli-sse", "--key", "s3.bin")).RootElement;
        Assert.Equal("AES256", head.GetProperty("ServerSideEncryption").GetString());

        await AwsAsync("s3", "cp", original, "s3://cli-sse/c.bin", "--sse-c", "AES256", "--sse-c-key", $"fileb://{key}");
        var (refused, output) = await TryAwsAsync("s3", "cp", "s3://cli-sse/c.bin", Path.Combine(folder.Path, "nokey.bin"));
        Assert.False(refused == 0, output);
        var back = Path.Combine(folder.Path, "back.bin");
        await AwsAsync("s3", "cp", "s3://cli-sse/c.bin", back, "--sse-c", "AES256", "--sse-c-key", $"fileb://{key}");
        Assert.Equal(await HashAsync(original), await HashAsync(back));
    }

    private Task<string> AwsAsync(params string[] arguments) =>
        CommandLine.RunCheckedAsync("aws", [.. Common, .. arguments], Environment, TimeSpan.FromMinutes(3));

    private Task<(int ExitCode, string Output)> TryAwsAsync(params string[] arguments) =>
        CommandLine.RunAsync("aws", [.. Common, .. arguments], Environment, TimeSpan.FromMinutes(3));

    private string[] Common => ["--endpoint-url", gateway.BaseAddress.ToString().TrimEnd('/'), "--output", "json"];

    /// <summary>The gateway's credentials and no user configuration.</summary>
    private static Dictionary<string, string?> Environment => new()
    {
        ["AWS_ACCESS_KEY_ID"] = S3Gateway.AccessKey,
        ["AWS_SECRET_ACCESS_KEY"] = S3Gateway.Secret,
        ["AWS_DEFAULT_REGION"] = S3Gateway.Region,
        ["AWS_CONFIG_FILE"] = "/nonexistent/aws-config",
        ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/aws-credentials",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
        ["AWS_PAGER"] = string.Empty,
    };

    private static async Task<string> HashAsync(string path)
    {
        await using var file = File.OpenRead(path);
        return Convert.ToHexString(await SHA256.HashDataAsync(file));
    }
}

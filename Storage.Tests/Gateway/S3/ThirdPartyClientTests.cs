using System.Security.Cryptography;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.S3;

/// <summary>s3cmd and rclone (both from Debian, installed by the test command) against the gateway, unchanged.</summary>
public sealed class ThirdPartyClientTests(S3Gateway gateway) : IClassFixture<S3Gateway>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task S3cmd_creates_uploads_multipart_lists_downloads_and_removes()
    {
        using var folder = new TempDirectory("s3cmd");
        var original = Path.Combine(folder.Path, "big.bin");
        await File.WriteAllBytesAsync(original, TestData.Bytes(20 * 1024 * 1024, 31));
        var host = $"{gateway.BaseAddress.Host}:{gateway.BaseAddress.Port}";
        string[] common = ["--access_key", S3Gateway.AccessKey, "--secret_key", S3Gateway.Secret, "--host", host, "--host-bucket", host, "--no-ssl", "--region", S3Gateway.Region, "-c", "/dev/null", "--multipart-chunk-size-mb", "5"];
        Task<string> S3cmd(params string[] arguments) => CommandLine.RunCheckedAsync("s3cmd", [.. common, .. arguments], new Dictionary<string, string?>(), Timeout);

        await S3cmd("mb", "s3://s3cmd-bucket");
        await S3cmd("put", original, "s3://s3cmd-bucket/dir/big file.bin");
        Assert.Contains("20971520", await S3cmd("ls", "s3://s3cmd-bucket/dir/"), StringComparison.Ordinal);
        var back = Path.Combine(folder.Path, "back.bin");
        var download = await S3cmd("get", "s3://s3cmd-bucket/dir/big file.bin", back);
        Assert.DoesNotContain("MD5 signatures do not match", download, StringComparison.Ordinal);
        Assert.Equal(SHA256.HashData(await File.ReadAllBytesAsync(original)), SHA256.HashData(await File.ReadAllBytesAsync(back)));
        await S3cmd("del", "s3://s3cmd-bucket/dir/big file.bin");
        await S3cmd("rb", "s3://s3cmd-bucket");
    }

    [Fact]
    public async Task Rclone_syncs_multipart_and_checks_hashes()
    {
        using var folder = new TempDirectory("rclone");
        Directory.CreateDirectory(Path.Combine(folder.Path, "sub"));
        await File.WriteAllBytesAsync(Path.Combine(folder.Path, "sub", "big.bin"), TestData.Bytes(12 * 1024 * 1024, 32));
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "a b+c.txt"), "small");
        var environment = new Dictionary<string, string?>
        {
            ["RCLONE_CONFIG_GW_TYPE"] = "s3",
            ["RCLONE_CONFIG_GW_PROVIDER"] = "Other",
            ["RCLONE_CONFIG_GW_ACCESS_KEY_ID"] = S3Gateway.AccessKey,
            ["RCLONE_CONFIG_GW_SECRET_ACCESS_KEY"] = S3Gateway.Secret,
            ["RCLONE_CONFIG_GW_ENDPOINT"] = gateway.BaseAddress.ToString().TrimEnd('/'),
            ["RCLONE_CONFIG_GW_REGION"] = S3Gateway.Region,

            // rclone's AWS SDK refuses a custom CA bundle on its own transport; plain http needs none.
            ["AWS_CA_BUNDLE"] = null,
        };
        Task<string> Rclone(params string[] arguments) =>
            CommandLine.RunCheckedAsync("rclone", ["--config", "/dev/null", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", .. arguments], environment, Timeout);

        await Rclone("mkdir", "gw:rclone-bucket");
        await Rclone("sync", folder.Path, "gw:rclone-bucket/tree");
        var listing = await Rclone("ls", "gw:rclone-bucket");
        Assert.Contains("tree/sub/big.bin", listing, StringComparison.Ordinal);
        Assert.Contains("tree/a b+c.txt", listing, StringComparison.Ordinal);
        Assert.Contains("0 differences found", await Rclone("check", folder.Path, "gw:rclone-bucket/tree"), StringComparison.Ordinal);
        await Rclone("purge", "gw:rclone-bucket");
        Assert.DoesNotContain("rclone-bucket", await Rclone("lsd", "gw:"), StringComparison.Ordinal);
    }
}

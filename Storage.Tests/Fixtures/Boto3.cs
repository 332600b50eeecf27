using System.Text.Json;

namespace Storage.Tests.Fixtures;

/// <summary>
/// Runs a Python script against the gateway with boto3 (the client most S3 users have), as a real client process.
/// The script gets <c>s3</c>, a path-style client with the gateway's test credentials and no retries (so an error is
/// seen once, as sent), and <c>error(call)</c>, the S3 error code a call fails with (None if it succeeds). It reports
/// by <c>result(value)</c>, which the test reads back as JSON.
/// </summary>
public static class Boto3
{
    private const string Marker = "BOTO3-RESULT:";

    private const string Prelude = """
        import base64, hashlib, json, os, sys, zlib
        import boto3
        from botocore.config import Config
        from botocore.exceptions import ClientError
        s3 = boto3.client('s3', endpoint_url=os.environ['S3_ENDPOINT'], aws_access_key_id=os.environ['S3_ACCESS_KEY'],
            aws_secret_access_key=os.environ['S3_SECRET_KEY'], region_name='us-east-1',
            config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1, 'mode': 'standard'}))
        def error(call):
            try:
                call()
                return None
            except ClientError as e:
                return e.response['Error']['Code']
        def result(value):
            print('BOTO3-RESULT:' + json.dumps(value))

        """;

    public static async Task<JsonElement> RunAsync(S3Gateway gateway, string script)
    {
        using var folder = new TempDirectory("boto3");
        var file = Path.Combine(folder.Path, "script.py");
        await File.WriteAllTextAsync(file, Prelude + script);
        var output = await CommandLine.RunCheckedAsync("python3", [file], new Dictionary<string, string?>
        {
            ["S3_ENDPOINT"] = gateway.BaseAddress.ToString(),
            ["S3_ACCESS_KEY"] = S3Gateway.AccessKey,
            ["S3_SECRET_KEY"] = S3Gateway.Secret,
        }, TimeSpan.FromMinutes(2));
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith(Marker, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"The script reported nothing: {output}");
        return JsonDocument.Parse(line[Marker.Length..]).RootElement.Clone();
    }
}

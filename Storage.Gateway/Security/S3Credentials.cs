using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;

namespace Storage.Gateway.Security;

/// <summary>
/// The access keys that may sign S3 requests: those configured under <c>Storage:S3:Credentials</c>, or, when none
/// are, one pair generated on first start into <c>s3-credentials.json</c> in the data folder (owner-only
/// permissions), so the embedded default is secure without configuration. Secrets are never logged.
/// </summary>
public sealed class S3Credentials
{
    public const string FileName = "s3-credentials.json";

    private readonly Dictionary<string, string> _secrets;

    public S3Credentials(IOptions<StorageOptions> options, ILogger<S3Credentials> logger)
    {
        var settings = options.Value;
        var configured = settings.S3.Credentials;
        if (configured.Count > 0)
        {
            _secrets = configured.ToDictionary(c => c.AccessKey, c => c.SecretKey, StringComparer.Ordinal);
            return;
        }

        var path = Path.Combine(settings.DataPath, FileName);
        var generated = LoadOrCreate(path);
        _secrets = new Dictionary<string, string>(StringComparer.Ordinal) { [generated.AccessKey] = generated.SecretKey };
        logger.LogInformation("S3 access key {AccessKey}; its secret is in {Path} (set Storage:S3:Credentials to choose your own)", generated.AccessKey, path);
    }

    public bool TryGetSecret(string accessKey, out string secret) => _secrets.TryGetValue(accessKey, out secret!);

    private static S3Credential LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            using var existing = File.OpenRead(path);
            return JsonSerializer.Deserialize(existing, CredentialFileContext.Default.S3Credential)
                ?? throw new InvalidDataException($"{path} holds no credentials.");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var credential = new S3Credential
        {
            AccessKey = "GK" + Convert.ToHexString(RandomNumberGenerator.GetBytes(10)),
            SecretKey = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)),
        };
        var temporary = path + ".tmp";
        var fileOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var file = new FileStream(temporary, fileOptions))
        {
            JsonSerializer.Serialize(file, credential, CredentialFileContext.Default.S3Credential);
        }

        File.Move(temporary, path);
        return credential;
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(S3Credential))]
internal sealed partial class CredentialFileContext : System.Text.Json.Serialization.JsonSerializerContext;

using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;

namespace Storage.Gateway.Security;

/// <summary>
/// The access keys that may sign S3 requests, with their grants: those configured under <c>Storage:S3:Credentials</c>,
/// or, when none are, one administrator pair generated on first start into <c>s3-credentials.json</c> in the data
/// folder (owner-only permissions), so the embedded default is secure without configuration. Secrets are never logged.
/// </summary>
public sealed class S3Credentials
{
    public const string FileName = "s3-credentials.json";

    private readonly Dictionary<string, (string Secret, KeyGrants Grants)> _keys;

    public S3Credentials(IOptions<StorageOptions> options, ILogger<S3Credentials> logger)
    {
        var settings = options.Value;
        var configured = settings.S3.Credentials;
        if (configured.Count > 0)
        {
            _keys = configured.ToDictionary(c => c.AccessKey, c => (c.SecretKey, KeyGrants.From(c)), StringComparer.Ordinal);
            return;
        }

        var path = Path.Combine(settings.DataPath, FileName);
        var generated = LoadOrCreate(path);
        _keys = new(StringComparer.Ordinal) { [generated.AccessKey] = (generated.SecretKey, KeyGrants.Administrator) };
        logger.LogInformation("S3 access key {AccessKey} (administrator); its secret is in {Path} (set Storage:S3:Credentials to choose your own)", generated.AccessKey, path);
    }

    public bool TryGetSecret(string accessKey, out string secret)
    {
        var found = _keys.TryGetValue(accessKey, out var key);
        secret = key.Secret;
        return found;
    }

    /// <summary>The grants of a key that signed a request (so one known to exist).</summary>
    public KeyGrants GrantsOf(string accessKey) => _keys[accessKey].Grants;

    private static GeneratedCredential LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            return Load(path);
        }

        var credential = new GeneratedCredential(
            "GK" + Convert.ToHexString(RandomNumberGenerator.GetBytes(10)),
            Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));
        return OwnerOnlyFile.Create(path, file => JsonSerializer.Serialize(file, credential, CredentialFileContext.Default.GeneratedCredential))
            ? credential
            : Load(path);
    }

    private static GeneratedCredential Load(string path)
    {
        using var existing = File.OpenRead(path);
        return JsonSerializer.Deserialize(existing, CredentialFileContext.Default.GeneratedCredential)
            ?? throw new InvalidDataException($"{path} holds no credentials.");
    }
}

/// <summary>The generated key pair as its file holds it (the key is an administrator).</summary>
internal sealed record GeneratedCredential(string AccessKey, string SecretKey)
{
    public override string ToString() => $"{AccessKey} (secret hidden)";
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(GeneratedCredential))]
internal sealed partial class CredentialFileContext : System.Text.Json.Serialization.JsonSerializerContext;

using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;

namespace Storage.Gateway.Objects.Encryption;

/// <summary>
/// The master keys (key-encryption keys) of SSE-S3: the active one wraps new objects' data keys, every configured one
/// unwraps the data keys it wrapped, so rotation is "add a key, make it active, keep the old one while objects use it".
/// Keys are never logged.
/// </summary>
public sealed class MasterKeys
{
    public const string GeneratedFileName = "encryption-keys.json";

    private readonly Dictionary<string, byte[]> _keys;

    public MasterKeys(IOptions<EncryptionOptions> options, IOptions<StorageOptions> storage, ILogger<MasterKeys> logger)
    {
        var settings = options.Value;
        KeyFileDocument document;
        if (settings.Keys.Count > 0)
        {
            document = new KeyFileDocument(settings.ActiveKey, settings.Keys);
        }
        else
        {
            var path = settings.KeyFile ?? Path.Combine(storage.Value.DataPath, GeneratedFileName);
            document = settings.KeyFile is null && !File.Exists(path) ? Generate(path, logger) : Read(path);
        }

        _keys = document.Keys.ToDictionary(k => k.Key, k => Decode(k.Key, k.Value), StringComparer.Ordinal);
        ActiveId = document.Active ?? (_keys.Count == 1 ? _keys.Keys.Single() : throw new InvalidOperationException("Storage:Encryption has several keys: name the one new objects use in ActiveKey."));
        if (!_keys.ContainsKey(ActiveId))
        {
            throw new InvalidOperationException($"Storage:Encryption's active key '{ActiveId}' is not one of its keys.");
        }
    }

    public string ActiveId { get; }

    public byte[] Active => _keys[ActiveId];

    /// <exception cref="InvalidDataException">No key has this id (it was removed while objects still use it).</exception>
    public byte[] Get(string id) => _keys.TryGetValue(id, out var key) ? key
        : throw new InvalidDataException($"The master key '{id}' that wrapped this object's data key is not configured (Storage:Encryption:Keys).");

    private static byte[] Decode(string id, string base64)
    {
        try
        {
            var key = Convert.FromBase64String(base64);
            return key.Length == 32 ? key : throw new FormatException();
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"The master key '{id}' must be base64 of 32 bytes (openssl rand -base64 32).");
        }
    }

    private static KeyFileDocument Read(string path)
    {
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
        {
            throw new InvalidOperationException($"The key file {path} is readable or writable by others: chmod 600 it.");
        }

        using var file = File.OpenRead(path);
        var document = JsonSerializer.Deserialize(file, KeyFileContext.Default.KeyFileDocument);
        return document is { Keys.Count: > 0 } ? document : throw new InvalidOperationException($"The key file {path} holds no keys.");
    }

    private static KeyFileDocument Generate(string path, ILogger logger)
    {
        // A random id: another data folder's generated key (a replica configured apart) is then named as missing, not tried.
        var id = "k-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var document = new KeyFileDocument(id, new Dictionary<string, string> { [id] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) });
        if (!OwnerOnlyFile.Create(path, file => JsonSerializer.Serialize(file, document, KeyFileContext.Default.KeyFileDocument)))
        {
            return Read(path);
        }
        logger.LogInformation("Generated the master key for encryption at rest into {Path} (owner-only); keep a copy: objects encrypted with it cannot be read without it", path);
        return document;
    }
}

/// <summary>The key file: the active key's id and every key by id (base64).</summary>
public sealed record KeyFileDocument(string? Active, Dictionary<string, string> Keys)
{
    public override string ToString() => $"{Keys.Count} keys (hidden), active {Active}";
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(KeyFileDocument))]
internal sealed partial class KeyFileContext : JsonSerializerContext;

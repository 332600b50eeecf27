using System.ComponentModel.DataAnnotations;

namespace Storage.Gateway.Objects.Encryption;

/// <summary>
/// Encryption at rest (<c>Storage:Encryption</c>): the master keys that wrap SSE-S3 objects' data keys. Keys come from
/// <see cref="Keys"/> or an owner-only <see cref="KeyFile"/>; with neither, one key is generated on first start into
/// <c>&lt;DataPath&gt;/encryption-keys.json</c> (owner-only), as the S3 credentials are.
/// </summary>
public sealed class EncryptionOptions
{
    public const string Section = "Storage:Encryption";

    /// <summary>Master keys by id (base64 of 32 random bytes): new objects use <see cref="ActiveKey"/>, the others still open theirs.</summary>
    public Dictionary<string, string> Keys { get; set; } = [];

    /// <summary>The key new data keys are wrapped with; required when there are several.</summary>
    public string? ActiveKey { get; set; }

    /// <summary>A JSON file <c>{"active": "id", "keys": {"id": "base64"}}</c>, readable by its owner only.</summary>
    public string? KeyFile { get; set; }

    /// <summary>Plaintext bytes per AES-GCM block: a ranged read decrypts from the block it starts in.</summary>
    [Range(4096, 1024 * 1024)]
    public int BlockSize { get; set; } = 64 * 1024;
}

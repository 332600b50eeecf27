using System.Security.Cryptography;
using System.Text;

namespace Storage.Gateway.Objects.Encryption;

/// <summary>
/// Per-part data keys: 32 random bytes, stored only wrapped (AES-256-GCM under a master key or a client's key, with a
/// random nonce, bound to their mode so an SSE-S3 key can never pass for an SSE-C one): nonce ‖ ciphertext ‖ tag.
/// </summary>
public static class DataKeys
{
    private const int NonceBytes = 12;
    private const int TagBytes = 16;
    private const int KeyBytes = 32;

    public static byte[] New() => RandomNumberGenerator.GetBytes(KeyBytes);

    public static byte[] Wrap(byte[] dataKey, byte[] wrappingKey, string mode)
    {
        var wrapped = new byte[NonceBytes + KeyBytes + TagBytes];
        var nonce = wrapped.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(wrappingKey, TagBytes);
        aes.Encrypt(nonce, dataKey, wrapped.AsSpan(NonceBytes, KeyBytes), wrapped.AsSpan(NonceBytes + KeyBytes), Context(mode));
        return wrapped;
    }

    /// <summary>The data key; null when <paramref name="wrappingKey"/> is not the key that wrapped it (a wrong client key).</summary>
    public static byte[]? Unwrap(byte[] wrapped, byte[] wrappingKey, string mode)
    {
        if (wrapped.Length != NonceBytes + KeyBytes + TagBytes)
        {
            throw new InvalidDataException("A stored data key has the wrong length.");
        }

        var dataKey = new byte[KeyBytes];
        using var aes = new AesGcm(wrappingKey, TagBytes);
        try
        {
            aes.Decrypt(wrapped.AsSpan(0, NonceBytes), wrapped.AsSpan(NonceBytes, KeyBytes), wrapped.AsSpan(NonceBytes + KeyBytes), dataKey, Context(mode));
            return dataKey;
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
    }

    /// <summary>
    /// A value that proves a later request carries the same client key without storing the key or a hash of it: a
    /// constant wrapped under the key (an SSE-C upload keeps one, so each part must come with the upload's key).
    /// </summary>
    public static byte[] KeyCheck(byte[] customerKey) => Wrap(new byte[KeyBytes], customerKey, UploadCheck);

    public static bool Matches(byte[] keyCheck, byte[] customerKey) => Unwrap(keyCheck, customerKey, UploadCheck) is not null;

    private const string UploadCheck = "upload key check";

    private static byte[] Context(string mode) => Encoding.ASCII.GetBytes("storage data key " + mode);
}

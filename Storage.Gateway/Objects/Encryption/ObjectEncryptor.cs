using Microsoft.Extensions.Options;
using Storage.Gateway.Metadata;

namespace Storage.Gateway.Objects.Encryption;

/// <summary>What a write asks for: no encryption, SSE-S3, or SSE-C with the client's 32-byte key (never logged or stored).</summary>
public sealed class EncryptionRequest
{
    private EncryptionRequest(string? mode, byte[]? customerKey)
    {
        Mode = mode;
        CustomerKey = customerKey;
    }

    /// <summary>Stored as sent, whatever the bucket's default (parts of an upload that was not encrypted).</summary>
    public static EncryptionRequest Plain { get; } = new(null, null);

    public static EncryptionRequest ServerSide { get; } = new(ObjectEncryption.ServerSide, null);

    /// <summary>Null: not encrypted.</summary>
    public string? Mode { get; }

    public byte[]? CustomerKey { get; }

    public static EncryptionRequest Customer(byte[] key) => new(ObjectEncryption.CustomerKey, key);

    public override string ToString() => Mode ?? "plain";
}

/// <summary>An SSE-C object was read without its key (400).</summary>
public sealed class EncryptionKeyRequiredException()
    : Exception("The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.");

/// <summary>An SSE-C object was read with another key than it was written with (403).</summary>
public sealed class WrongEncryptionKeyException()
    : Exception("Access Denied: the encryption key provided is not the one this object was stored with.");

/// <summary>A client key was given for an object not stored with one (400).</summary>
public sealed class EncryptionNotApplicableException()
    : Exception("The encryption parameters are not applicable to this object.");

/// <summary>
/// Turns writes into ciphertext with a fresh data key per part, and opens the data keys of stored objects: SSE-S3's
/// with the master keys, SSE-C's only with the client's key (a wrong one fails to unwrap: 403, nothing read).
/// </summary>
public sealed class ObjectEncryptor(MasterKeys masterKeys, IOptions<EncryptionOptions> options)
{
    public int BlockSize => options.Value.BlockSize;

    /// <summary>
    /// A part's ciphertext stream and the envelope that records its (wrapped) data key; the plain data key lives only
    /// inside the stream's cipher. The plaintext's MD5 is
    /// computed for SSE-S3 (its ETag) and to check a Content-MD5; an SSE-C object's ETag is its ciphertext's MD5.
    /// </summary>
    public (EncryptingStream Ciphertext, ObjectEncryption Envelope) Encrypt(EncryptionRequest request, Stream plaintext, long? length, byte[]? expectedMd5)
    {
        var mode = request.Mode ?? throw new ArgumentException("A plain request is not encrypted.", nameof(request));
        var dataKey = DataKeys.New();
        var wrapped = request.CustomerKey is { } customer
            ? new WrappedDataKey(null, DataKeys.Wrap(dataKey, customer, mode))
            : new WrappedDataKey(masterKeys.ActiveId, DataKeys.Wrap(dataKey, masterKeys.Active, mode));
        var digest = request.CustomerKey is null;
        return (new EncryptingStream(plaintext, dataKey, BlockSize, length, digest, expectedMd5), new ObjectEncryption(mode, [wrapped], BlockSize));
    }

    /// <summary>Every part's data key of a stored object.</summary>
    /// <exception cref="EncryptionKeyRequiredException">An SSE-C object without <paramref name="customerKey"/>.</exception>
    /// <exception cref="WrongEncryptionKeyException">An SSE-C object with another key.</exception>
    /// <exception cref="EncryptionNotApplicableException">A client key for an object that has none.</exception>
    public IReadOnlyList<byte[]> OpenKeys(ObjectEncryption envelope, byte[]? customerKey)
    {
        if (envelope.IsCustomerKey != customerKey is not null)
        {
            throw envelope.IsCustomerKey ? new EncryptionKeyRequiredException() : new EncryptionNotApplicableException();
        }

        return [.. envelope.DataKeys.Select(key => DataKeys.Unwrap(key.Wrapped, customerKey ?? masterKeys.Get(key.MasterKeyId!), envelope.Mode)
            ?? (customerKey is null ? throw new InvalidDataException("A data key does not open with its master key.") : throw new WrongEncryptionKeyException()))];
    }
}

using System.Net;
using System.Security.Cryptography;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects.Encryption;

namespace Storage.Gateway.Api.S3;

/// <summary>
/// S3's encryption headers: SSE-S3 (<c>x-amz-server-side-encryption: AES256</c>) and SSE-C (the client's key, its MD5
/// checked, in <c>x-amz-server-side-encryption-customer-*</c>, or <c>x-amz-copy-source-…</c> for a copy's source), with
/// S3's errors; SSE-KMS is refused (501: there is no key-management service). The client's key is never logged or stored.
/// </summary>
public static class S3Encryption
{
    private const string Algorithm = "AES256";
    private const string ServerSideHeader = "x-amz-server-side-encryption";
    private const string CustomerPrefix = "x-amz-server-side-encryption-customer-";
    private const string CopySourcePrefix = "x-amz-copy-source-server-side-encryption-customer-";

    private static readonly string[] KmsHeaders =
        ["x-amz-server-side-encryption-aws-kms-key-id", "x-amz-server-side-encryption-context", "x-amz-server-side-encryption-bucket-key-enabled"];

    /// <summary>Operations that take SSE-S3 (or SSE-KMS, refused) in <c>x-amz-server-side-encryption</c>.</summary>
    private static readonly string[] EncryptingOperations = ["PutObject", "CopyObject", "CreateMultipartUpload"];

    /// <summary>Operations that take a client's key for the object they write or read.</summary>
    private static readonly string[] CustomerKeyOperations =
        ["PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload", "GetObject", "HeadObject"];

    private static readonly string[] CopyingOperations = ["CopyObject", "UploadPartCopy"];

    /// <summary>Refuses encryption headers an operation cannot honour, before it runs (a client asking for encryption must get it or an error).</summary>
    public static void RefuseWhereNotApplicable(S3Context context, string operation)
    {
        foreach (var name in context.Request.Headers.Keys)
        {
            if (KmsHeaders.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                throw S3Exception.NotImplemented($"SSE-KMS ({name.ToLowerInvariant()})");
            }

            var applies = name.Equals(ServerSideHeader, StringComparison.OrdinalIgnoreCase) ? EncryptingOperations.Contains(operation)
                : name.StartsWith(CustomerPrefix, StringComparison.OrdinalIgnoreCase) ? CustomerKeyOperations.Contains(operation)
                : !name.StartsWith(CopySourcePrefix, StringComparison.OrdinalIgnoreCase) || CopyingOperations.Contains(operation);
            if (!applies)
            {
                throw S3Exception.InvalidArgument($"The {name.ToLowerInvariant()} header does not apply to {operation}.");
            }
        }
    }

    /// <summary>What a write asks for: SSE-S3, SSE-C, or nothing (null: the bucket's default decides).</summary>
    public static EncryptionRequest? Requested(S3Context context)
    {
        var customer = CustomerKey(context);
        switch (context.Header(ServerSideHeader))
        {
            case null:
                return customer is null ? null : EncryptionRequest.Customer(customer);
            case Algorithm when customer is null:
                return EncryptionRequest.ServerSide;
            case Algorithm:
                throw S3Exception.InvalidArgument("Server Side Encryption with Customer provided key is incompatible with the encryption method specified.");
            case "aws:kms" or "aws:kms:dsse":
                throw S3Exception.NotImplemented("SSE-KMS (x-amz-server-side-encryption: aws:kms); use AES256 or a customer key");
            default:
                throw S3Exception.InvalidArgument("The encryption method specified is not supported (x-amz-server-side-encryption is AES256).");
        }
    }

    /// <summary>The client's key for the object itself, or (<paramref name="copySource"/>) for a copy's source; null when none is given.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5351", Justification = "S3's protocol: the key's MD5 guards against a key damaged in transit, not against an attacker.")]
    public static byte[]? CustomerKey(S3Context context, bool copySource = false)
    {
        var prefix = copySource ? CopySourcePrefix : CustomerPrefix;
        var (algorithm, key, md5) = (context.Header(prefix + "algorithm"), context.Header(prefix + "key"), context.Header(prefix + "key-MD5"));
        if (algorithm is null && key is null && md5 is null)
        {
            return null;
        }

        if (algorithm is null || key is null || md5 is null)
        {
            throw S3Exception.InvalidArgument($"Requests specifying Server Side Encryption with Customer provided keys must provide {prefix}algorithm, {prefix}key and {prefix}key-MD5.");
        }

        if (algorithm != Algorithm)
        {
            throw new S3Exception(400, "InvalidEncryptionAlgorithmError", "The encryption request you specified is not valid. The valid value is AES256.");
        }

        // Sent in the clear to anything but this machine, the key would be anyone's on the way.
        var remote = context.Http.Connection.RemoteIpAddress;
        if (!context.Request.IsHttps && (remote is null || !IPAddress.IsLoopback(remote)))
        {
            throw S3Exception.InvalidRequest("Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.");
        }

        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(key);
        }
        catch (FormatException)
        {
            throw S3Exception.InvalidArgument("The secret key was invalid for the specified algorithm.");
        }

        if (bytes.Length != 32)
        {
            throw S3Exception.InvalidArgument("The secret key was invalid for the specified algorithm.");
        }

        if (Convert.ToBase64String(MD5.HashData(bytes)) != md5)
        {
            throw S3Exception.InvalidArgument("The calculated MD5 hash of the key did not match the hash that was provided.");
        }

        return bytes;
    }

    /// <summary>S3's answer headers about a stored object's encryption (SSE-C: the key's MD5 the client sent, never anything of the key kept).</summary>
    public static void WriteHeaders(S3Context context, ObjectEncryption? encryption)
    {
        if (encryption is null)
        {
            return;
        }

        var headers = context.Response.Headers;
        if (encryption.IsCustomerKey)
        {
            headers[CustomerPrefix + "algorithm"] = Algorithm;
            if (context.Header(CustomerPrefix + "key-MD5") is { } md5)
            {
                headers[CustomerPrefix + "key-MD5"] = md5;
            }
        }
        else
        {
            headers[ServerSideHeader] = Algorithm;
        }
    }
}

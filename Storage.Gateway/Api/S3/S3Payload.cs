using System.Globalization;
using System.Text.RegularExpressions;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects.Integrity;
using Storage.Gateway.Security;

namespace Storage.Gateway.Api.S3;

/// <summary>
/// A request body as the object layer should see it: aws-chunked framing decoded, chunk signatures, the payload
/// hash and any <c>x-amz-checksum-*</c> (header or trailer) verified while it streams, Content-MD5 handed to the
/// writer. Every check fails the read before the body's end, so a bad body never becomes a committed object.
/// </summary>
public sealed partial class S3Payload : IDisposable
{
    private readonly AwsChunkedStream? _chunked;
    private readonly List<IDisposable> _owned = [];
    private DigestVerifyingStream? _checksum;

    private S3Payload(Stream stream, long? length, AwsChunkedStream? chunked)
    {
        Stream = stream;
        Length = length;
        _chunked = chunked;
    }

    public Stream Stream { get; private set; }

    /// <summary>The decoded length the client declared (Content-Length, or x-amz-decoded-content-length for aws-chunked).</summary>
    public long? Length { get; }

    /// <summary>The Content-MD5 the client sent, decoded.</summary>
    public byte[]? ContentMd5 { get; private set; }

    /// <summary>The checksum the client sent, once the body has been read and it verified.</summary>
    public ObjectChecksum? VerifiedChecksum => _checksum is { Verified: true } c ? new ObjectChecksum(c.Digest.Algorithm, c.Digest.GetBase64()) : null;

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Hex();

    /// <summary>
    /// The request's body. <c>checksumsDescribeBody</c> is false where S3 gives <c>x-amz-checksum-*</c> headers another
    /// meaning (on CompleteMultipartUpload they are the finished object's checksum); the body is then verified by its
    /// payload hash and Content-MD5 only.
    /// </summary>
    public static S3Payload Open(S3Context context, bool checksumsDescribeBody = true)
    {
        var request = context.Request;
        Stream body = new ClientBodyStream(request.Body);
        var mode = context.Signing?.PayloadHash ?? SigV4.UnsignedPayload;
        S3Payload payload;
        switch (mode)
        {
            case SignatureVerifier.StreamingSigned or SignatureVerifier.StreamingSignedTrailer or SignatureVerifier.StreamingUnsignedTrailer:
                var decodedLength = context.Header("x-amz-decoded-content-length");
                if (!long.TryParse(decodedLength, NumberStyles.None, CultureInfo.InvariantCulture, out var length))
                {
                    throw new S3Exception(411, "MissingContentLength", "An aws-chunked body needs x-amz-decoded-content-length.");
                }

                var chunked = new AwsChunkedStream(body, mode == SignatureVerifier.StreamingUnsignedTrailer ? null : context.Signing, mode != SignatureVerifier.StreamingSigned, length);
                payload = new S3Payload(chunked, length, chunked);
                payload._owned.Add(chunked);
                break;
            case SigV4.UnsignedPayload:
                payload = new S3Payload(body, request.ContentLength, null);
                break;
            case var hex when Sha256Hex().IsMatch(hex):
                var sha256 = new DigestVerifyingStream(body, PayloadChecksum.Create("SHA256")!, () => Convert.FromHexString(hex), "x-amz-content-sha256");
                payload = new S3Payload(sha256, request.ContentLength, null);
                payload._owned.Add(sha256);
                break;
            case var other when other.StartsWith("STREAMING-", StringComparison.Ordinal):
                throw S3Exception.NotImplemented($"The payload signing mode {other}");
            default:
                throw new S3Exception(400, "InvalidArgument", $"x-amz-content-sha256 '{mode}' is neither a SHA-256 nor a known payload mode.");
        }

        try
        {
            if (checksumsDescribeBody)
            {
                payload.AddChecksum(context);
            }
            payload.ContentMd5 = ContentMd5Of(context.Header("Content-MD5"));
        }
        catch
        {
            payload.Dispose();
            throw;
        }

        return payload;
    }

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
    }

    /// <summary>The algorithm of the body checksum the request announces (a header, or the trailer it names), if any.</summary>
    public static string? AnnouncedChecksum(S3Context context)
    {
        var trailer = context.Header("x-amz-trailer")?.Trim().ToLowerInvariant();
        return PayloadChecksum.Algorithms.FirstOrDefault(a => context.Request.Headers.ContainsKey(PayloadChecksum.HeaderFor(a)) || PayloadChecksum.HeaderFor(a) == trailer);
    }

    private void AddChecksum(S3Context context)
    {
        var headers = PayloadChecksum.Algorithms.Where(a => context.Request.Headers.ContainsKey(PayloadChecksum.HeaderFor(a))).ToArray();
        var trailer = context.Header("x-amz-trailer")?.Trim().ToLowerInvariant();
        if (headers.Length + (trailer is null ? 0 : 1) > 1)
        {
            throw S3Exception.InvalidRequest("Expecting a single x-amz-checksum- header; multiple checksum types are not allowed.");
        }

        if (headers.Length == 1)
        {
            var algorithm = headers[0];
            var value = Base64(context.Header(PayloadChecksum.HeaderFor(algorithm))!, algorithm);
            Verify(algorithm, () => value);
        }
        else if (trailer is not null)
        {
            if (_chunked is null)
            {
                throw S3Exception.InvalidRequest("x-amz-trailer needs an aws-chunked body.");
            }

            var algorithm = PayloadChecksum.Algorithms.FirstOrDefault(a => PayloadChecksum.HeaderFor(a) == trailer)
                ?? throw S3Exception.InvalidArgument($"The trailer '{trailer}' is not a supported checksum.");
            var chunked = _chunked;
            Verify(algorithm, () => chunked.Trailers.TryGetValue(trailer, out var value) ? Base64(value, algorithm) : null);
        }
    }

    private void Verify(string algorithm, Func<byte[]?> expected)
    {
        _checksum = new DigestVerifyingStream(Stream, PayloadChecksum.Create(algorithm)!, expected, $"{algorithm} checksum");
        _owned.Add(_checksum);
        Stream = _checksum;
    }

    private static byte[] Base64(string value, string algorithm)
    {
        var bytes = new byte[64];
        return Convert.TryFromBase64String(value.Trim(), bytes, out var written)
            ? bytes[..written]
            : throw S3Exception.InvalidRequest($"Value for x-amz-checksum-{algorithm.ToLowerInvariant()} header is invalid.");
    }

    private static byte[]? ContentMd5Of(string? header)
    {
        if (header is null)
        {
            return null;
        }

        var md5 = new byte[16];
        return Convert.TryFromBase64String(header.Trim(), md5, out var written) && written == 16
            ? md5
            : throw new S3Exception(400, "InvalidDigest", "The Content-MD5 you specified is not valid.");
    }
}

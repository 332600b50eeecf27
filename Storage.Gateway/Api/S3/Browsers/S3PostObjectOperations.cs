using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Storage.Gateway.Api.S3.Access;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;
using Storage.Gateway.Security;

namespace Storage.Gateway.Api.S3.Browsers;

/// <summary>
/// PostObject: a browser form (<c>multipart/form-data</c>) that uploads a file to a bucket under a signed policy. The
/// fields before the file are read and checked — signature, expiration, every condition, no field the policy does not
/// name, the key's grant — before a byte is stored; the file streams into the store, refused as soon as it leaves the
/// policy's size range, so a form that breaks its policy stores nothing. Fields after the file are ignored, as in S3.
/// </summary>
public sealed class S3PostObjectOperations(ObjectStore store, SignatureVerifier verifier, S3Authorizer authorizer, IOptions<StorageOptions> options, TimeProvider time)
{
    /// <summary>S3's limit on a form's fields (the file excluded), names and values together.</summary>
    private const int MaxFieldBytes = 20 * 1024;

    /// <summary>More sections than a form has fields S3 knows of: the rest would only cost memory before the signature is checked.</summary>
    private const int MaxFields = 64;

    private const int MaxKeyBytes = 1024;

    private static readonly string[] StoredHeaders =
    [
        HeaderNames.ContentType, HeaderNames.CacheControl, HeaderNames.ContentDisposition, HeaderNames.ContentEncoding,
        HeaderNames.ContentLanguage, HeaderNames.Expires,
    ];

    public async Task PostAsync(S3Context context)
    {
        var bucket = context.Bucket!;
        if (!MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var mediaType) || !mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            || HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value is not { Length: > 0 } boundary)
        {
            throw new S3Exception(412, "PreconditionFailed", "Bucket POST must be of the enclosure-type multipart/form-data.");
        }

        var reader = new MultipartReader(boundary, context.Request.Body) { HeadersLengthLimit = 4 * 1024, HeadersCountLimit = 4 };
        var (fields, file, fileName) = await ReadFieldsAsync(reader, context.Aborted);
        var (policy, accessKey) = Authenticate(fields);
        var key = fields.GetValueOrDefault("key") is { Length: > 0 } template
            ? template.Replace("${filename}", fileName, StringComparison.Ordinal)
            : throw S3Exception.InvalidArgument("Bucket POST must contain a field named 'key'.");
        if (key.Length == 0)
        {
            throw S3Exception.InvalidArgument("The key is empty: '${filename}' needs the file part to name a file.");
        }

        if (Encoding.UTF8.GetByteCount(key) > MaxKeyBytes || key.Contains('\0', StringComparison.Ordinal))
        {
            throw new S3Exception(400, "KeyTooLongError", "Your key is too long, or holds U+0000.");
        }

        var checkedFields = new Dictionary<string, string>(fields, StringComparer.Ordinal) { ["bucket"] = bucket, ["key"] = key };
        policy.Check(checkedFields, time.GetUtcNow());
        var publicBucket = options.Value.S3.PublicReadBuckets.Contains(bucket);
        foreach (var (name, value) in fields)
        {
            S3Api.RefuseEncryptionParameter(name, "a browser form's field (the bucket's default encryption applies)");
            S3Api.RefuseUnsupported(name, value, publicBucket);
            if (name is "tagging" or "content-md5" || name.StartsWith("x-amz-checksum-", StringComparison.Ordinal))
            {
                throw S3Exception.NotImplemented($"The '{name}' field of a browser form upload");
            }
        }

        await authorizer.AuthorizeUploadAsync(context, accessKey, key);

        var written = await store.WriteAsync(bucket, key, new LengthRangeStream(file, policy.MinLength, policy.MaxLength), length: null, expectedMd5: null, encryption: null, context.Aborted);
        var record = await store.CommitAsync(bucket, key, written, Attributes(fields), checksum: null, WriteCondition.None, context.Aborted);
        await S3ObjectOperations.WriteVersionIdAsync(context, store, record);
        S3Encryption.WriteHeaders(context, record.Encryption);
        await AnswerAsync(context, fields, record);
    }

    /// <summary>The form's fields up to its file (names lower-case, as S3 compares them), and the file section.</summary>
    private static async Task<(Dictionary<string, string> Fields, Stream File, string FileName)> ReadFieldsAsync(MultipartReader reader, CancellationToken cancellationToken)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var total = 0;
        while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.DispositionType.Equals("form-data", StringComparison.OrdinalIgnoreCase)
                || HeaderUtilities.RemoveQuotes(disposition.Name).Value?.ToLowerInvariant() is not { Length: > 0 } name)
            {
                throw new S3Exception(400, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data.");
            }

            if (name == "file")
            {
                var fileName = Path.GetFileName(HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value ?? string.Empty);
                return (fields, section.Body, fileName);
            }

            // Read no further than the fields' limit allows: this is before the signature is checked.
            total += Encoding.UTF8.GetByteCount(name);
            var text = await ReadFieldAsync(section.Body, MaxFieldBytes - total, cancellationToken);
            total += Encoding.UTF8.GetByteCount(text);
            if (fields.Count == MaxFields || !fields.TryAdd(name, text))
            {
                throw S3Exception.InvalidArgument(fields.Count == MaxFields ? $"A form has at most {MaxFields} fields before its file." : $"The field '{name}' appears more than once.");
            }
        }

        throw S3Exception.InvalidArgument("POST requires exactly one file upload per request.");
    }

    /// <summary>A field's value as UTF-8, refused as soon as it passes <paramref name="limit"/> bytes.</summary>
    private static async Task<string> ReadFieldAsync(Stream body, int limit, CancellationToken cancellationToken)
    {
        var buffer = new byte[Math.Max(0, limit) + 1];
        var filled = 0;
        int read;
        while ((read = await body.ReadAsync(buffer.AsMemory(filled), cancellationToken)) > 0)
        {
            filled += read;
            if (filled == buffer.Length)
            {
                throw new S3Exception(400, "MaxPostPreDataLengthExceeded", $"Your POST request fields preceding the upload file were too large (over {MaxFieldBytes} bytes).");
            }
        }

        return Encoding.UTF8.GetString(buffer, 0, filled);
    }

    /// <summary>The form's signature (SigV4 over the base64 policy); an unsigned form is refused (403), since no bucket here takes anonymous writes.</summary>
    private (PostPolicy Policy, string AccessKey) Authenticate(Dictionary<string, string> fields)
    {
        if (!fields.ContainsKey("policy") && !fields.ContainsKey("x-amz-signature"))
        {
            throw S3Exception.AccessDenied("Access Denied: an unsigned form cannot write here (sign its policy with SigV4, as presigned POST does).");
        }

        string Required(string name) => fields.GetValueOrDefault(name) is { Length: > 0 } value
            ? value
            : throw S3Exception.InvalidArgument($"Bucket POST must contain a field named '{name}'.");

        if (Required("x-amz-algorithm") != SigV4.Algorithm)
        {
            throw S3Exception.InvalidArgument($"x-amz-algorithm must be {SigV4.Algorithm}.");
        }

        var encoded = Required("policy");
        var accessKey = verifier.VerifyPostPolicy(Required("x-amz-credential"), Required("x-amz-date"), encoded, Required("x-amz-signature"));
        return (PostPolicy.Parse(encoded), accessKey);
    }

    private static ObjectAttributes Attributes(Dictionary<string, string> fields)
    {
        var headers = new HeaderDictionary();
        foreach (var (name, value) in fields)
        {
            if (StoredHeaders.Contains(name, StringComparer.OrdinalIgnoreCase) || name.StartsWith(S3ObjectHeaders.MetaPrefix, StringComparison.Ordinal))
            {
                headers[name] = value;
            }
        }

        return S3ObjectHeaders.AttributesFrom(headers);
    }

    /// <summary>S3's answers: a redirect (303) when asked for one, else <c>success_action_status</c> 200, 201 (with a PostResponse document) or 204.</summary>
    private static async Task AnswerAsync(S3Context context, Dictionary<string, string> fields, ObjectRecord record)
    {
        var response = context.Response;
        var etag = $"\"{record.ETag}\"";
        var location = $"{context.Request.Scheme}://{context.Request.Host}/{Uri.EscapeDataString(record.Bucket)}/{string.Join('/', record.Key.Split('/').Select(Uri.EscapeDataString))}";
        response.Headers.ETag = etag;
        response.Headers.Location = location;

        if ((fields.GetValueOrDefault("success_action_redirect") ?? fields.GetValueOrDefault("redirect")) is { } redirect
            && Uri.TryCreate(redirect, UriKind.Absolute, out var target) && target.Scheme is "http" or "https")
        {
            response.StatusCode = StatusCodes.Status303SeeOther;
            response.Headers.Location = QueryHelpers.AddQueryString(redirect, new Dictionary<string, string?> { ["bucket"] = record.Bucket, ["key"] = record.Key, ["etag"] = etag });
            return;
        }

        switch (fields.GetValueOrDefault("success_action_status"))
        {
            case "200":
                response.StatusCode = StatusCodes.Status200OK;
                break;
            case "201":
                await S3Xml.WriteAsync(response, S3Xml.Element("PostResponse",
                    S3Xml.Element("Location", location), S3Xml.Element("Bucket", record.Bucket), S3Xml.Element("Key", record.Key), S3Xml.Element("ETag", etag)), context.Aborted, StatusCodes.Status201Created);
                break;
            default:
                response.StatusCode = StatusCodes.Status204NoContent;
                break;
        }
    }
}

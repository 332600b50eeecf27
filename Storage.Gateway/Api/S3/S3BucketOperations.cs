using System.Globalization;
using System.Xml.Linq;
using Microsoft.Extensions.Options;
using Storage.Gateway.Api.S3.Access;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;
using Storage.Gateway.Objects.Multipart;

namespace Storage.Gateway.Api.S3;

/// <summary>ListBuckets, CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation and Get/PutBucketVersioning.</summary>
public sealed class S3BucketOperations(IMetadataStore metadata, MultipartUploads uploads, ObjectStore store, BucketPolicies policies, Browsers.S3CorsOperations cors, Objects.Encryption.BucketEncryptionDefaults encryption, IOptions<StorageOptions> options, TimeProvider time)
{
    public const string Owner = "storage";

    private const int MaxConfigurationBytes = 64 * 1024;

    private const int MaxBucketsPerPage = 10_000;

    public async Task ListBucketsAsync(S3Context context)
    {
        var maxBuckets = context.Query("max-buckets") is { } maxText
            ? int.TryParse(maxText, NumberStyles.None, CultureInfo.InvariantCulture, out var max) && max is >= 1 and <= MaxBucketsPerPage
                ? max
                : throw S3Exception.InvalidArgument($"max-buckets must be a whole number from 1 to {MaxBucketsPerPage}.")
            : (int?)null;
        var prefix = context.Query("prefix") ?? string.Empty;
        var after = context.Query("continuation-token") is { } token ? ContinuationToken.Decode(token) : null;

        // Bucket names are ASCII, so ordinal order is S3's order; a store has few buckets, so they are paged in memory.
        // A leading dot, never valid in S3, marks the gateway's hidden buckets (multipart uploads' companions).
        // A key sees the buckets it has a grant on.
        var buckets = (await metadata.ListBucketsAsync(context.Aborted))
            .Where(b => !b.Name.StartsWith('.') && context.Grants!.AccessTo(b.Name) is not null && b.Name.StartsWith(prefix, StringComparison.Ordinal) && (after is null || string.CompareOrdinal(b.Name, after) > 0))
            .OrderBy(b => b.Name, StringComparer.Ordinal)
            .ToList();
        var shown = maxBuckets is { } limit ? buckets.Take(limit).ToList() : buckets;
        await S3Xml.WriteAsync(context.Response, S3Xml.Element("ListAllMyBucketsResult",
            S3Xml.Owner(Owner),
            S3Xml.Element("Buckets", shown.Select(b => S3Xml.Element("Bucket", S3Xml.Element("Name", b.Name), S3Xml.Element("CreationDate", S3Xml.Timestamp(b.CreatedAt))))),
            shown.Count < buckets.Count ? S3Xml.Element("ContinuationToken", ContinuationToken.Encode(shown[^1].Name)) : null,
            prefix.Length > 0 ? S3Xml.Element("Prefix", prefix) : null),
            context.Aborted);
    }

    public async Task CreateBucketAsync(S3Context context)
    {
        var name = context.Bucket!;
        if (!BucketNames.IsValid(name))
        {
            throw new S3Exception(400, "InvalidBucketName", $"'{name}' is not a valid bucket name. {BucketNames.Rules}");
        }

        // An optional CreateBucketConfiguration; its LocationConstraint must be this gateway's region.
        using (var payload = S3Payload.Open(context))
        {
            if (context.Request.ContentLength is > 0 || context.Header("x-amz-decoded-content-length") is not (null or "0"))
            {
                var configuration = await S3Xml.ReadAsync(payload.Stream, MaxConfigurationBytes, context.Aborted);
                var location = configuration.ChildValue("LocationConstraint");
                if (location is { Length: > 0 } && location != options.Value.S3.Region)
                {
                    throw new S3Exception(400, "InvalidLocationConstraint", $"The location constraint '{location}' is not this server's region '{options.Value.S3.Region}'.");
                }
            }
        }

        policies.Forget(name);
        cors.Forget(name);
        encryption.Forget(name);
        if (!await metadata.CreateBucketAsync(new BucketRecord(name, time.GetUtcNow()), context.Aborted))
        {
            throw new S3Exception(409, "BucketAlreadyOwnedByYou", $"The bucket '{name}' already exists.");
        }

        context.Response.Headers.Location = "/" + name;
    }

    public async Task DeleteBucketAsync(S3Context context)
    {
        switch (await metadata.DeleteBucketAsync(context.Bucket!, context.Aborted))
        {
            case BucketDeleteResult.NotFound:
                throw S3Exception.NoSuchBucket(context.Bucket!);
            case BucketDeleteResult.NotEmpty:
                throw new S3Exception(409, "BucketNotEmpty", "The bucket you tried to delete is not empty.");
            default:
                policies.Forget(context.Bucket!);
                cors.Forget(context.Bucket!);
                encryption.Forget(context.Bucket!);
                await uploads.ForgetBucketAsync(context.Bucket!, context.Aborted);
                context.Response.StatusCode = StatusCodes.Status204NoContent;
                break;
        }
    }

    public async Task HeadBucketAsync(S3Context context)
    {
        await RequireAsync(context);
        context.Response.Headers["x-amz-bucket-region"] = options.Value.S3.Region;
    }

    public async Task GetLocationAsync(S3Context context)
    {
        await RequireAsync(context);

        // S3 reports us-east-1 as an empty constraint; clients map it back.
        var region = options.Value.S3.Region;
        await S3Xml.WriteAsync(context.Response, S3Xml.Element("LocationConstraint", region == "us-east-1" ? null : region), context.Aborted);
    }

    /// <summary>An unversioned bucket answers an empty configuration, as S3 does for a bucket that never had versioning.</summary>
    public async Task GetVersioningAsync(S3Context context)
    {
        var bucket = await metadata.GetBucketAsync(context.Bucket!, context.Aborted) ?? throw S3Exception.NoSuchBucket(context.Bucket!);
        await S3Xml.WriteAsync(context.Response, S3Xml.Element("VersioningConfiguration",
            bucket.Versioning == BucketVersioning.Unversioned ? null : S3Xml.Element("Status", bucket.Versioning.ToString())), context.Aborted);
    }

    /// <summary>
    /// Enabled or Suspended; there is no way back to unversioned (as in S3). MFA delete needs a device this store has
    /// not, so asking for it is refused rather than ignored.
    /// </summary>
    public async Task PutVersioningAsync(S3Context context)
    {
        XElement document;
        using (var payload = S3Payload.Open(context))
        {
            document = await S3Xml.ReadAsync(payload.Stream, MaxConfigurationBytes, context.Aborted);
        }

        if (document.Name.LocalName != "VersioningConfiguration")
        {
            throw S3Exception.MalformedXml("the root element is VersioningConfiguration.");
        }

        if (document.ChildValue("MfaDelete") is { } mfa && mfa != "Disabled")
        {
            throw mfa == "Enabled" ? S3Exception.NotImplemented("MFA delete") : S3Exception.MalformedXml("MfaDelete is Enabled or Disabled.");
        }

        var status = document.ChildValue("Status");
        if (status is not (nameof(BucketVersioning.Enabled) or nameof(BucketVersioning.Suspended)))
        {
            throw S3Exception.MalformedXml("Status is Enabled or Suspended.");
        }

        if (!await metadata.SetBucketDocumentAsync(context.Bucket!, VersioningDocument.Name, status, context.Aborted))
        {
            throw S3Exception.NoSuchBucket(context.Bucket!);
        }

        // Other gateways learn it from their next write to the bucket (every write looks the bucket up first).
        store.ForgetVersioning(context.Bucket!);
    }

    public async Task RequireAsync(S3Context context)
    {
        if (await metadata.GetBucketAsync(context.Bucket!, context.Aborted) is null)
        {
            throw S3Exception.NoSuchBucket(context.Bucket!);
        }
    }
}

using System.Diagnostics;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;
using Storage.Gateway.Api.S3.Access;
using Storage.Gateway.Api.S3.Browsers;
using Storage.Gateway.Hosting;
using Storage.Gateway.Maintenance;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;
using Storage.Gateway.Objects.Encryption;
using Storage.Gateway.Objects.Multipart;
using Storage.Gateway.Security;

namespace Storage.Gateway.Api.S3;

/// <summary>
/// The S3 front door: every request whose first path segment is not one of the gateway's own APIs (or whose host
/// names a bucket) is authenticated, routed to its S3 operation by method and sub-resource, and answered in S3's
/// wire format, errors included.
/// </summary>
public sealed class S3Api(
    SignatureVerifier verifier,
    S3BucketOperations buckets,
    S3ObjectOperations objects,
    S3ListOperations lists,
    S3MultipartOperations multipart,
    S3TaggingOperations tagging,
    S3LifecycleOperations lifecycle,
    S3PolicyOperations policy,
    S3CorsOperations cors,
    S3BucketEncryptionOperations encryption,
    S3PostObjectOperations forms,
    S3Authorizer authorizer,
    GatewayInstance instance,
    IOptions<StorageOptions> options,
    ILogger<S3Api> logger)
{
    /// <summary>Sub-resources S3 has and this server does not; they get 501 rather than being mistaken for plain requests.</summary>
    private static readonly string[] UnsupportedSubresources =
    [
        "acl", "policyStatus", "object-lock", "replication", "website", "logging",
        "notification", "ownershipControls", "publicAccessBlock", "accelerate", "requestPayment", "analytics", "metrics", "inventory",
        "intelligent-tiering", "retention", "legal-hold", "torrent", "restore", "select", "attributes",
    ];

    /// <summary>Canned ACLs that change nothing on a single-owner store whose buckets are private.</summary>
    private static readonly string[] CannedAclsWithoutEffect = ["private", "bucket-owner-full-control", "bucket-owner-read"];

    public async Task HandleAsync(S3Context context)
    {
        SetRequestHeaders(context);
        if (context.Http.Features.Get<IStatusCodePagesFeature>() is { } statusPages)
        {
            statusPages.Enabled = false;
        }

        try
        {
            if (context.Bucket is { } bucket && !BucketNames.IsValid(bucket))
            {
                throw new S3Exception(400, "InvalidBucketName", $"'{bucket}' is not a valid bucket name. {BucketNames.Rules}");
            }

            context.CorsHeaders = await cors.ResponseHeadersAsync(context);
            context.CorsHeaders?.Invoke(context.Response);
            if (HttpMethods.IsOptions(context.Request.Method) && context.Bucket is not null)
            {
                await cors.PreflightAsync(context);
                return;
            }

            context.Signing = verifier.Verify(context.Request, context.RawPath, context.RawQuery);
            var route = Route(context);
            context.Operation = route.Operation;
            S3Encryption.RefuseWhereNotApplicable(context, route.Operation);
            if (Activity.Current is { } activity)
            {
                // S3 has no route templates: the operation is the low-cardinality name a route would give.
                activity.DisplayName = $"S3 {route.Operation}";
                activity.SetTag("http.route", activity.DisplayName);
                activity.SetTag("s3.operation", route.Operation);
                activity.SetTag("s3.bucket", context.Bucket);

                // Who signed (the access key is an identifier, not a secret): traces show which client did what.
                activity.SetTag("s3.access_key", context.Signing?.AccessKey);
            }

            if (route.Needs is { } needs)
            {
                await authorizer.AuthorizeAsync(context, route.Action, needs);
            }

            await route.Handler();
        }
        catch (OperationCanceledException) when (context.Aborted.IsCancellationRequested)
        {
            context.Http.Abort();
        }
        catch (Exception ex)
        {
            await FailAsync(context, ex);
        }
    }

    private S3Route Route(S3Context context)
    {
        var method = context.Request.Method;
        if (context.RawQuery.Length > 0 && UnsupportedSubresources.FirstOrDefault(context.Has) is { } subresource)
        {
            throw S3Exception.NotImplemented($"The '{subresource}' sub-resource");
        }

        RefuseWhatIsNotImplemented(context);
        if (context.Bucket is null)
        {
            return HttpMethods.IsGet(method)
                ? new("ListBuckets", S3Actions.ListAllMyBuckets, S3Access.Read, () => buckets.ListBucketsAsync(context))
                : throw MethodNotAllowed(method);
        }

        if (context.Key is null)
        {
            if (context.Has("tagging"))
            {
                throw S3Exception.NotImplemented("Bucket tagging (the 'tagging' sub-resource of a bucket)");
            }

            return method switch
            {
                "PUT" when context.Has("lifecycle") => new("PutBucketLifecycleConfiguration", S3Actions.PutLifecycleConfiguration, S3Access.Admin, () => lifecycle.PutAsync(context)),
                "GET" when context.Has("lifecycle") => new("GetBucketLifecycleConfiguration", S3Actions.GetLifecycleConfiguration, S3Access.Read, () => lifecycle.GetAsync(context)),
                "DELETE" when context.Has("lifecycle") => new("DeleteBucketLifecycle", S3Actions.PutLifecycleConfiguration, S3Access.Admin, () => lifecycle.DeleteAsync(context)),
                _ when context.Has("lifecycle") => throw MethodNotAllowed(method),
                "PUT" when context.Has("policy") => new("PutBucketPolicy", S3Actions.PutBucketPolicy, S3Access.Admin, () => policy.PutAsync(context)),
                "GET" when context.Has("policy") => new("GetBucketPolicy", S3Actions.GetBucketPolicy, S3Access.Admin, () => policy.GetAsync(context)),
                "DELETE" when context.Has("policy") => new("DeleteBucketPolicy", S3Actions.DeleteBucketPolicy, S3Access.Admin, () => policy.DeleteAsync(context)),
                _ when context.Has("policy") => throw MethodNotAllowed(method),
                "PUT" when context.Has("cors") => new("PutBucketCors", S3Actions.PutBucketCors, S3Access.Admin, () => cors.PutAsync(context)),
                "GET" when context.Has("cors") => new("GetBucketCors", S3Actions.GetBucketCors, S3Access.Read, () => cors.GetAsync(context)),
                "DELETE" when context.Has("cors") => new("DeleteBucketCors", S3Actions.PutBucketCors, S3Access.Admin, () => cors.DeleteAsync(context)),
                _ when context.Has("cors") => throw MethodNotAllowed(method),
                "PUT" when context.Has("encryption") => new("PutBucketEncryption", S3Actions.PutEncryptionConfiguration, S3Access.Admin, () => encryption.PutAsync(context)),
                "GET" when context.Has("encryption") => new("GetBucketEncryption", S3Actions.GetEncryptionConfiguration, S3Access.Read, () => encryption.GetAsync(context)),
                "DELETE" when context.Has("encryption") => new("DeleteBucketEncryption", S3Actions.PutEncryptionConfiguration, S3Access.Admin, () => encryption.DeleteAsync(context)),
                _ when context.Has("encryption") => throw MethodNotAllowed(method),
                "PUT" when context.Has("versioning") => new("PutBucketVersioning", S3Actions.PutBucketVersioning, S3Access.Admin, () => buckets.PutVersioningAsync(context)),
                "PUT" => new("CreateBucket", S3Actions.CreateBucket, S3Access.Admin, () => buckets.CreateBucketAsync(context)),
                "DELETE" => new("DeleteBucket", S3Actions.DeleteBucket, S3Access.Admin, () => buckets.DeleteBucketAsync(context)),
                "HEAD" => new("HeadBucket", S3Actions.ListBucket, S3Access.Read, () => buckets.HeadBucketAsync(context)),
                "GET" when context.Has("location") => new("GetBucketLocation", S3Actions.GetBucketLocation, S3Access.Read, () => buckets.GetLocationAsync(context)),
                "GET" when context.Has("versioning") => new("GetBucketVersioning", S3Actions.GetBucketVersioning, S3Access.Read, () => buckets.GetVersioningAsync(context)),
                "GET" when context.Has("versions") => new("ListObjectVersions", S3Actions.ListBucketVersions, S3Access.Read, () => lists.ListVersionsAsync(context)),
                "GET" when context.Has("uploads") => new("ListMultipartUploads", S3Actions.ListBucketMultipartUploads, S3Access.Read, () => multipart.ListUploadsAsync(context)),
                "GET" when context.Query("list-type") == "2" => new("ListObjectsV2", S3Actions.ListBucket, S3Access.Read, () => lists.ListV2Async(context)),
                "GET" => new("ListObjects", S3Actions.ListBucket, S3Access.Read, () => lists.ListV1Async(context)),
                "POST" when context.Has("delete") => new("DeleteObjects", S3Actions.DeleteObject, S3Access.Write, () => objects.DeleteObjectsAsync(context)),
                "POST" => new("PostObject", S3Actions.PutObject, null, () => forms.PostAsync(context)),
                _ => throw MethodNotAllowed(method),
            };
        }

        if (context.Query("versionId") is { } version && !ObjectStore.IsVersionId(version))
        {
            throw S3Exception.InvalidArgument("Invalid version id specified.");
        }

        if (context.Has("lifecycle") || context.Has("policy") || context.Has("cors") || context.Has("encryption"))
        {
            throw S3Exception.NotImplemented("The 'lifecycle', 'policy', 'cors' and 'encryption' sub-resources of an object (they belong to buckets)");
        }

        var copy = context.Request.Headers.ContainsKey("x-amz-copy-source");
        return method switch
        {
            "GET" when context.Has("tagging") => new("GetObjectTagging", S3Actions.GetObjectTagging, S3Access.Read, () => tagging.GetAsync(context)),
            "PUT" when context.Has("tagging") => new("PutObjectTagging", S3Actions.PutObjectTagging, S3Access.Write, () => tagging.PutAsync(context)),
            "DELETE" when context.Has("tagging") => new("DeleteObjectTagging", S3Actions.DeleteObjectTagging, S3Access.Write, () => tagging.DeleteAsync(context)),
            "PUT" when context.Has("uploadId") && copy => new("UploadPartCopy", S3Actions.PutObject, S3Access.Write, () => multipart.UploadPartCopyAsync(context)),
            "PUT" when context.Has("uploadId") => new("UploadPart", S3Actions.PutObject, S3Access.Write, () => multipart.UploadPartAsync(context)),
            "PUT" when copy => new("CopyObject", S3Actions.PutObject, S3Access.Write, () => objects.CopyObjectAsync(context)),
            "PUT" => new("PutObject", S3Actions.PutObject, S3Access.Write, () => objects.PutObjectAsync(context)),
            "GET" when context.Has("uploadId") => new("ListParts", S3Actions.ListMultipartUploadParts, S3Access.Read, () => multipart.ListPartsAsync(context)),
            "GET" => new("GetObject", S3Actions.GetObject, S3Access.Read, () => objects.GetObjectAsync(context, headOnly: false)),
            "HEAD" => new("HeadObject", S3Actions.GetObject, S3Access.Read, () => objects.GetObjectAsync(context, headOnly: true)),
            "DELETE" when context.Has("uploadId") => new("AbortMultipartUpload", S3Actions.AbortMultipartUpload, S3Access.Write, () => multipart.AbortAsync(context)),
            "DELETE" => new("DeleteObject", S3Actions.DeleteObject, S3Access.Write, () => objects.DeleteObjectAsync(context)),
            "POST" when context.Has("uploads") => new("CreateMultipartUpload", S3Actions.PutObject, S3Access.Write, () => multipart.CreateAsync(context)),
            "POST" when context.Has("uploadId") => new("CompleteMultipartUpload", S3Actions.PutObject, S3Access.Write, () => multipart.CompleteAsync(context)),
            _ => throw MethodNotAllowed(method),
        };
    }

    /// <summary>
    /// Requests this server cannot honour are refused, never served as if the header were absent: a client that
    /// asked for encryption or for an access grant must not believe it got it.
    /// </summary>
    private void RefuseWhatIsNotImplemented(S3Context context)
    {
        var publicBucket = context.Bucket is { } bucket && options.Value.S3.PublicReadBuckets.Contains(bucket);

        // Presigned URLs may carry request headers as query parameters: they are refused the same way (and encryption
        // parameters, which are read from headers only, are refused there).
        foreach (var name in context.Request.Headers.Keys)
        {
            RefuseUnsupported(name, context.Header(name), publicBucket);
        }

        foreach (var name in context.RawQuery.Length > 0 ? context.Request.Query.Keys : [])
        {
            RefuseEncryptionParameter(name, "a query parameter (send it as a header)");
            RefuseUnsupported(name, context.Query(name), publicBucket);
        }

        // A presigned URL's tags would otherwise be ignored: the tag set is read from the header only.
        if (context.RawQuery.Length > 0 && context.Request.Query.ContainsKey("x-amz-tagging"))
        {
            throw S3Exception.NotImplemented("x-amz-tagging as a query parameter (send it as a header)");
        }
    }

    /// <summary>Encryption is read from headers: the same names anywhere else would be ignored, so they are refused.</summary>
    public static void RefuseEncryptionParameter(string name, string where)
    {
        if (name.StartsWith("x-amz-server-side-encryption", StringComparison.OrdinalIgnoreCase)
            || name.StartsWith("x-amz-copy-source-server-side-encryption", StringComparison.OrdinalIgnoreCase))
        {
            throw S3Exception.NotImplemented($"Server-side encryption as {where} ({name.ToLowerInvariant()})");
        }
    }

    /// <summary>Refuses a header (or a browser form's field) asking for what this server does not have.</summary>
    public static void RefuseUnsupported(string name, string? value, bool publicBucket)
    {
        if (name.StartsWith("x-amz-grant-", StringComparison.OrdinalIgnoreCase))
        {
            throw S3Exception.NotImplemented($"Access grants ({name.ToLowerInvariant()})");
        }

        if (name.StartsWith("x-amz-object-lock-", StringComparison.OrdinalIgnoreCase)
            || (name.Equals("x-amz-bucket-object-lock-enabled", StringComparison.OrdinalIgnoreCase) && !string.Equals(value, "false", StringComparison.OrdinalIgnoreCase))
            || name.Equals("x-amz-website-redirect-location", StringComparison.OrdinalIgnoreCase))
        {
            throw S3Exception.NotImplemented($"The {name.ToLowerInvariant()} header");
        }

        if (name.Equals("x-amz-storage-class", StringComparison.OrdinalIgnoreCase) && value != "STANDARD")
        {
            throw S3Exception.NotImplemented("A storage class other than STANDARD (every object is erasure-coded across the nodes)");
        }

        if ((name.Equals("x-amz-acl", StringComparison.OrdinalIgnoreCase) || name.Equals("acl", StringComparison.OrdinalIgnoreCase))
            && !(CannedAclsWithoutEffect.Contains(value) || (value == "public-read" && publicBucket)))
        {
            throw S3Exception.NotImplemented("This canned ACL (buckets are private; public read is a bucket policy or the S3:PublicReadBuckets setting)");
        }
    }

    private void SetRequestHeaders(S3Context context)
    {
        context.Response.Headers["x-amz-request-id"] = context.RequestId;
        context.Response.Headers["x-amz-id-2"] = instance.HostId;
    }

    private static S3Exception MethodNotAllowed(string method) =>
        new(405, "MethodNotAllowed", $"The specified method {method} is not allowed against this resource.");

    private async Task FailAsync(S3Context context, Exception exception)
    {
        if (context.Aborted.IsCancellationRequested)
        {
            // The client went away mid-request (its body read failed because of that): nobody to answer, nothing to drain.
            logger.LogDebug(exception, "S3 {Operation} {Resource}: the client disconnected", context.Operation, context.Resource);
            context.Http.Abort();
            return;
        }

        var error = exception switch
        {
            S3Exception s3 => s3,
            BucketNotFoundException => S3Exception.NoSuchBucket(context.Bucket ?? string.Empty),
            WriteConditionFailedException { KeyExists: false } => new S3Exception(409, "ConditionalRequestConflict", "The object was deleted while this conditional write was in progress; retry it."),
            WriteConditionFailedException => S3Exception.PreconditionFailed("Another write to this key won while this conditional write was in progress: the condition no longer holds."),
            ContentDigestMismatchException { Digest: "x-amz-content-sha256" } => new S3Exception(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed."),
            ContentDigestMismatchException digest => new S3Exception(400, "BadDigest", $"The {digest.Digest} you specified did not match the calculated one. Nothing was stored."),
            BodyLengthMismatchException or InvalidRequestBodyException => new S3Exception(400, "IncompleteBody", exception.Message),
            BadHttpRequestException bad => new S3Exception(bad.StatusCode, "InvalidRequest", bad.Message),
            RangeNotSatisfiableException => new S3Exception(416, "InvalidRange", "The requested range is not satisfiable."),
            VersioningChangedException => new S3Exception(503, "ServiceUnavailable", "The bucket's versioning kept changing during this write; retry it."),
            EncryptionKeyRequiredException or EncryptionNotApplicableException => S3Exception.InvalidRequest(exception.Message),
            WrongEncryptionKeyException => S3Exception.AccessDenied(exception.Message),
            StorageUnavailableException => new S3Exception(503, "ServiceUnavailable", exception.Message),
            _ => new S3Exception(500, "InternalError", "We encountered an internal error; it has been logged. Please try again."),
        };

        if (error.Status >= 500)
        {
            var level = error.Status == 500 ? LogLevel.Error : LogLevel.Warning;
            logger.Log(level, exception, "S3 {Operation} {Resource} failed ({RequestId}): {Code}", context.Operation, context.Resource, context.RequestId, error.Code);
        }
        else
        {
            logger.LogDebug("S3 {Operation} {Resource} refused ({RequestId}): {Code} {Message}", context.Operation, context.Resource, context.RequestId, error.Code, error.Message);
        }

        if (context.Response.HasStarted)
        {
            context.Http.Abort();
            return;
        }

        context.Response.Clear();
        SetRequestHeaders(context);
        context.CorsHeaders?.Invoke(context.Response);
        foreach (var (name, value) in error.Headers ?? new Dictionary<string, string>())
        {
            context.Response.Headers[name] = value;
        }

        if (error.Status == 503)
        {
            context.Response.Headers.RetryAfter = "5";
        }

        if (HttpMethods.IsHead(context.Request.Method))
        {
            context.Response.StatusCode = error.Status;
            return;
        }

        await S3Xml.WriteAsync(context.Response, S3Xml.Error(error, context), CancellationToken.None, error.Status);
    }
}

/// <summary>
/// An S3 operation as the router found it: its name, the action it is authorized as, the access it needs (null: the
/// operation authenticates itself, as a browser form carries its own signature), and its handler.
/// </summary>
public sealed record S3Route(string Operation, string Action, S3Access? Needs, Func<Task> Handler);

public static class S3ApiExtensions
{
    public static IServiceCollection AddS3Api(this IServiceCollection services)
    {
        services.AddSingleton<S3Credentials>();
        services.AddSingleton<SignatureVerifier>();
        services.AddSingleton<MultipartUploads>();
        services.AddSingleton<S3BucketOperations>();
        services.AddSingleton<S3ObjectOperations>();
        services.AddSingleton<S3ListOperations>();
        services.AddSingleton<S3MultipartOperations>();
        services.AddSingleton<S3TaggingOperations>();
        services.AddSingleton<S3LifecycleOperations>();
        services.AddSingleton<BucketPolicies>();
        services.AddSingleton<S3Authorizer>();
        services.AddSingleton<S3PolicyOperations>();
        services.AddSingleton<S3CorsOperations>();
        services.AddSingleton<S3BucketEncryptionOperations>();
        services.AddSingleton<S3PostObjectOperations>();
        services.AddSingleton<S3Api>();
        return services;
    }

    /// <summary>Serves S3 requests; everything else continues to the gateway's own APIs.</summary>
    public static IApplicationBuilder UseS3Api(this IApplicationBuilder app)
    {
        var api = app.ApplicationServices.GetRequiredService<S3Api>();
        var domain = app.ApplicationServices.GetRequiredService<IOptions<StorageOptions>>().Value.S3.VirtualHostDomain;
        return app.Use(async (http, next) =>
        {
            if (S3Context.From(http, domain) is { } context)
            {
                await api.HandleAsync(context);
                return;
            }

            await next(http);
        });
    }
}

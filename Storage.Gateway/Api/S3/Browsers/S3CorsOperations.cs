using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;

namespace Storage.Gateway.Api.S3.Browsers;

/// <summary>
/// PutBucketCors, GetBucketCors, DeleteBucketCors; the preflight <c>OPTIONS</c>; and the <c>Access-Control-*</c> headers
/// of a browser's actual request, exactly as the bucket's rules say (S3's rule matching: the first rule whose origin,
/// method and headers match). CORS never grants access: it only lets a page read what its request was allowed.
/// </summary>
public sealed class S3CorsOperations(IMetadataStore metadata, IOptions<StorageOptions> options, TimeProvider time)
{
    public const string DocumentName = "cors";

    private readonly BucketDocumentCache<CorsConfiguration> _cache = new(metadata, options, time, DocumentName, CorsConfiguration.Parse);

    public async Task PutAsync(S3Context context)
    {
        var bucket = context.Bucket!;
        CorsConfiguration configuration;
        using (var payload = S3Payload.Open(context))
        {
            configuration = CorsConfiguration.Parse(await S3Xml.ReadAsync(payload.Stream, CorsConfiguration.MaxDocumentBytes, context.Aborted));
        }

        if (!await _cache.SetAsync(bucket, configuration, configuration.Render().ToString(System.Xml.Linq.SaveOptions.DisableFormatting), context.Aborted))
        {
            throw S3Exception.NoSuchBucket(bucket);
        }
    }

    public async Task GetAsync(S3Context context)
    {
        var bucket = context.Bucket!;
        if (await metadata.GetBucketDocumentAsync(bucket, DocumentName, context.Aborted) is not { } document)
        {
            throw await metadata.GetBucketAsync(bucket, context.Aborted) is null
                ? S3Exception.NoSuchBucket(bucket)
                : new S3Exception(404, "NoSuchCORSConfiguration", "The CORS configuration does not exist.");
        }

        await S3Xml.WriteAsync(context.Response, CorsConfiguration.Parse(bucket, document).Render(), context.Aborted);
    }

    public async Task DeleteAsync(S3Context context)
    {
        if (!await _cache.SetAsync(context.Bucket!, null, null, context.Aborted))
        {
            throw S3Exception.NoSuchBucket(context.Bucket!);
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    public void Forget(string bucket) => _cache.Forget(bucket);

    /// <summary>A preflight request (unsigned, as browsers send it): 200 with what the matching rule allows, or 403.</summary>
    public async Task PreflightAsync(S3Context context)
    {
        var origin = context.Header("Origin") ?? throw S3Exception.InvalidRequest("Insufficient information. Origin request header needed.");
        var method = context.Header("Access-Control-Request-Method") ?? throw S3Exception.InvalidRequest("Invalid Access-Control-Request-Method: null");
        var requested = (context.Header("Access-Control-Request-Headers") ?? string.Empty)
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(h => h.ToLowerInvariant())
            .ToList();
        var headers = context.Response.Headers;
        headers.Vary = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";
        var configuration = await _cache.GetAsync(context.Bucket!, context.Aborted)
            ?? throw new S3Exception(403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.");
        var (rule, pattern) = configuration.Match(origin, method, requested)
            ?? throw new S3Exception(403, "AccessForbidden", "CORSResponse: This CORS request is not allowed. The Origin, Access-Control-Request-Method or Access-Control-Request-Headers are not allowed by the bucket's CORS rules.");
        Allow(context.Response, rule, pattern, origin);
        if (requested.Count > 0)
        {
            headers.AccessControlAllowHeaders = string.Join(", ", requested);
        }

        if (rule.MaxAgeSeconds is { } age)
        {
            headers.AccessControlMaxAge = age.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// The CORS headers of an actual request from a page (one with <c>Origin</c>), set before the operation runs and
    /// again on an error answer, so a page can read why it was refused. Nothing for requests without an Origin.
    /// </summary>
    public async ValueTask<Action<HttpResponse>?> ResponseHeadersAsync(S3Context context)
    {
        if (context.Bucket is not { } bucket || context.Header("Origin") is not { } origin
            || await _cache.GetAsync(bucket, context.Aborted) is not { } configuration)
        {
            return null;
        }

        var match = configuration.Match(origin, context.Request.Method, []);
        return response =>
        {
            response.Headers.Vary = "Origin";
            if (match is { } found)
            {
                Allow(response, found.Rule, found.Origin, origin);
            }
        };
    }

    private static void Allow(HttpResponse response, CorsRule rule, string pattern, string origin)
    {
        var headers = response.Headers;
        headers.AccessControlAllowOrigin = pattern == "*" ? "*" : origin;
        headers.AccessControlAllowMethods = string.Join(", ", rule.Methods);
        if (pattern != "*")
        {
            headers.AccessControlAllowCredentials = "true";
        }

        if (rule.ExposeHeaders.Count > 0)
        {
            headers.AccessControlExposeHeaders = string.Join(", ", rule.ExposeHeaders);
        }
    }
}

using System.Text;
using Storage.Gateway.Api.S3.Access;
using Storage.Gateway.Metadata;

namespace Storage.Gateway.Api.S3;

/// <summary>PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy: S3's JSON, checked whole (see <see cref="BucketPolicy"/>) before it is stored.</summary>
public sealed class S3PolicyOperations(BucketPolicies policies, IMetadataStore metadata)
{
    public async Task PutAsync(S3Context context)
    {
        var bucket = context.Bucket!;
        string document;
        using (var payload = S3Payload.Open(context))
        using (var bytes = await S3Xml.ReadDocumentAsync(payload.Stream, BucketPolicy.MaxBytes, context.Aborted))
        {
            try
            {
                document = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.GetBuffer(), 0, (int)bytes.Length);
            }
            catch (DecoderFallbackException)
            {
                throw new S3Exception(400, "MalformedPolicy", "Policies must be valid JSON in UTF-8.");
            }
        }

        if (!await policies.SetAsync(bucket, BucketPolicy.Parse(bucket, document), context.Aborted))
        {
            throw S3Exception.NoSuchBucket(bucket);
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    public async Task GetAsync(S3Context context)
    {
        var bucket = context.Bucket!;
        if (await metadata.GetBucketDocumentAsync(bucket, BucketPolicies.DocumentName, context.Aborted) is not { } document)
        {
            throw await metadata.GetBucketAsync(bucket, context.Aborted) is null
                ? S3Exception.NoSuchBucket(bucket)
                : new S3Exception(404, "NoSuchBucketPolicy", "The bucket policy does not exist.");
        }

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(document, context.Aborted);
    }

    public async Task DeleteAsync(S3Context context)
    {
        if (!await policies.SetAsync(context.Bucket!, null, context.Aborted))
        {
            throw S3Exception.NoSuchBucket(context.Bucket!);
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }
}

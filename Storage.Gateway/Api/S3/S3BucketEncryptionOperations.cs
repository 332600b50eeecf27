using System.Xml.Linq;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects.Encryption;

namespace Storage.Gateway.Api.S3;

/// <summary>PutBucketEncryption, GetBucketEncryption, DeleteBucketEncryption: a bucket's default encryption, SSE-S3 (AES256) only.</summary>
public sealed class S3BucketEncryptionOperations(BucketEncryptionDefaults defaults, IMetadataStore metadata)
{
    private const int MaxDocumentBytes = 64 * 1024;

    public async Task PutAsync(S3Context context)
    {
        XElement document;
        using (var payload = S3Payload.Open(context))
        {
            document = await S3Xml.ReadAsync(payload.Stream, MaxDocumentBytes, context.Aborted);
        }

        Parse(document);
        if (!await defaults.SetAsync(context.Bucket!, encrypt: true, context.Aborted))
        {
            throw S3Exception.NoSuchBucket(context.Bucket!);
        }
    }

    public async Task GetAsync(S3Context context)
    {
        var bucket = context.Bucket!;
        if (await metadata.GetBucketAsync(bucket, context.Aborted) is null)
        {
            throw S3Exception.NoSuchBucket(bucket);
        }

        if (!await defaults.IsSetAsync(bucket, context.Aborted))
        {
            throw new S3Exception(404, "ServerSideEncryptionConfigurationNotFoundError", "The server side encryption configuration was not found.");
        }

        await S3Xml.WriteAsync(context.Response, S3Xml.Element("ServerSideEncryptionConfiguration",
            S3Xml.Element("Rule",
                S3Xml.Element("ApplyServerSideEncryptionByDefault", S3Xml.Element("SSEAlgorithm", BucketEncryptionDefaults.Algorithm)),
                S3Xml.Element("BucketKeyEnabled", "false"))), context.Aborted);
    }

    public async Task DeleteAsync(S3Context context)
    {
        if (!await defaults.SetAsync(context.Bucket!, encrypt: false, context.Aborted))
        {
            throw S3Exception.NoSuchBucket(context.Bucket!);
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    /// <summary>One rule applying AES256; SSE-KMS (and its bucket keys) is refused, since there is no key-management service.</summary>
    private static void Parse(XElement document)
    {
        var rules = document.Children("Rule").ToList();
        if (document.Name.LocalName != "ServerSideEncryptionConfiguration" || rules.Count != 1)
        {
            throw S3Exception.MalformedXml("a ServerSideEncryptionConfiguration holds one Rule.");
        }

        var byDefault = rules[0].Children("ApplyServerSideEncryptionByDefault").SingleOrDefault()
            ?? throw S3Exception.MalformedXml("the Rule needs ApplyServerSideEncryptionByDefault.");
        switch (byDefault.ChildValue("SSEAlgorithm"))
        {
            case BucketEncryptionDefaults.Algorithm when byDefault.ChildValue("KMSMasterKeyID") is null:
                break;
            case "aws:kms" or "aws:kms:dsse" or BucketEncryptionDefaults.Algorithm:
                throw S3Exception.NotImplemented("SSE-KMS as a bucket's default encryption");
            default:
                throw S3Exception.MalformedXml("SSEAlgorithm is AES256.");
        }

        if (string.Equals(rules[0].ChildValue("BucketKeyEnabled"), "true", StringComparison.OrdinalIgnoreCase))
        {
            throw S3Exception.NotImplemented("S3 Bucket Keys (BucketKeyEnabled, an SSE-KMS feature)");
        }
    }
}

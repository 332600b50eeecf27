namespace Storage.Gateway.Api.S3.Access;

/// <summary>
/// The IAM action names the S3 operations here are authorized as (S3's own names, so a bucket policy written for S3
/// means the same here), and which of them a bucket may open to anonymous readers.
/// </summary>
public static class S3Actions
{
    public const string ListAllMyBuckets = "s3:ListAllMyBuckets";
    public const string CreateBucket = "s3:CreateBucket";
    public const string DeleteBucket = "s3:DeleteBucket";
    public const string ListBucket = "s3:ListBucket";
    public const string ListBucketVersions = "s3:ListBucketVersions";
    public const string ListBucketMultipartUploads = "s3:ListBucketMultipartUploads";
    public const string GetBucketLocation = "s3:GetBucketLocation";
    public const string GetBucketVersioning = "s3:GetBucketVersioning";
    public const string PutBucketVersioning = "s3:PutBucketVersioning";
    public const string GetLifecycleConfiguration = "s3:GetLifecycleConfiguration";
    public const string PutLifecycleConfiguration = "s3:PutLifecycleConfiguration";
    public const string GetBucketPolicy = "s3:GetBucketPolicy";
    public const string PutBucketPolicy = "s3:PutBucketPolicy";
    public const string DeleteBucketPolicy = "s3:DeleteBucketPolicy";
    public const string GetBucketCors = "s3:GetBucketCORS";
    public const string PutBucketCors = "s3:PutBucketCORS";
    public const string GetEncryptionConfiguration = "s3:GetEncryptionConfiguration";
    public const string PutEncryptionConfiguration = "s3:PutEncryptionConfiguration";
    public const string GetObject = "s3:GetObject";
    public const string GetObjectVersion = "s3:GetObjectVersion";
    public const string PutObject = "s3:PutObject";
    public const string DeleteObject = "s3:DeleteObject";
    public const string DeleteObjectVersion = "s3:DeleteObjectVersion";
    public const string GetObjectTagging = "s3:GetObjectTagging";
    public const string GetObjectVersionTagging = "s3:GetObjectVersionTagging";
    public const string PutObjectTagging = "s3:PutObjectTagging";
    public const string PutObjectVersionTagging = "s3:PutObjectVersionTagging";
    public const string DeleteObjectTagging = "s3:DeleteObjectTagging";
    public const string DeleteObjectVersionTagging = "s3:DeleteObjectVersionTagging";
    public const string AbortMultipartUpload = "s3:AbortMultipartUpload";
    public const string ListMultipartUploadParts = "s3:ListMultipartUploadParts";

    /// <summary>Every action, for expanding a policy's wildcards: true for the object-level ones (their resource is <c>bucket/key</c>).</summary>
    public static readonly IReadOnlyDictionary<string, bool> All = new[]
    {
        ListAllMyBuckets, CreateBucket, DeleteBucket, ListBucket, ListBucketVersions, ListBucketMultipartUploads, GetBucketLocation,
        GetBucketVersioning, PutBucketVersioning, GetLifecycleConfiguration, PutLifecycleConfiguration, GetBucketPolicy, PutBucketPolicy,
        DeleteBucketPolicy, GetBucketCors, PutBucketCors, GetEncryptionConfiguration, PutEncryptionConfiguration,
    }.Select(action => KeyValuePair.Create(action, false)).Concat(new[]
    {
        GetObject, GetObjectVersion, PutObject, DeleteObject, DeleteObjectVersion, GetObjectTagging, GetObjectVersionTagging,
        PutObjectTagging, PutObjectVersionTagging, DeleteObjectTagging, DeleteObjectVersionTagging, AbortMultipartUpload,
        ListMultipartUploadParts,
    }.Select(action => KeyValuePair.Create(action, true))).ToDictionary(StringComparer.Ordinal);

    /// <summary>
    /// What "public read" means, both for <c>Storage:S3:PublicReadBuckets</c> and for what a policy may allow anyone:
    /// reading objects and listing them. Everything else a policy could allow is refused (see <see cref="BucketPolicy"/>).
    /// </summary>
    public static readonly IReadOnlySet<string> PublicRead = new HashSet<string>(StringComparer.Ordinal)
    {
        GetObject, GetObjectVersion, ListBucket, ListBucketVersions, GetBucketLocation,
    };

    /// <summary>The policy's own actions, which its statements never deny: an administrator can always repair a policy.</summary>
    public static bool IsPolicyAction(string action) => action is GetBucketPolicy or PutBucketPolicy or DeleteBucketPolicy;

    /// <summary>S3 authorizes an operation on a named version as its own action.</summary>
    public static string OnVersion(string action) => action switch
    {
        GetObject => GetObjectVersion,
        DeleteObject => DeleteObjectVersion,
        GetObjectTagging => GetObjectVersionTagging,
        PutObjectTagging => PutObjectVersionTagging,
        DeleteObjectTagging => DeleteObjectVersionTagging,
        _ => action,
    };
}

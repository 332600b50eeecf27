using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Security;

namespace Storage.Gateway.Api.S3.Access;

/// <summary>
/// Decides every S3 request before its operation runs: the bucket policy's explicit deny refuses it whoever signed;
/// otherwise the signing key's grant on the bucket, or the bucket being open to anonymous readers (the policy, or
/// <c>Storage:S3:PublicReadBuckets</c>), lets it through; anything else is 403 AccessDenied. Nothing is decided by
/// the operation itself, so a new operation cannot forget to check.
/// </summary>
public sealed class S3Authorizer(S3Credentials credentials, BucketPolicies policies, IOptions<StorageOptions> options)
{
    /// <summary>Authorizes the request's own operation (on its bucket and key); remembers its grants and policy on the context.</summary>
    /// <exception cref="S3Exception">403 AccessDenied.</exception>
    public async ValueTask AuthorizeAsync(S3Context context, string action, S3Access needs)
    {
        context.Grants = context.Signing is { } signing ? credentials.GrantsOf(signing.AccessKey) : null;
        if (context.Bucket is not { } bucket)
        {
            // ListBuckets: any key may list, and sees the buckets it has a grant on.
            _ = context.Grants ?? throw SignRequest();
            return;
        }

        context.Policy = await policies.GetAsync(bucket, context.Aborted);
        var named = context.Key is not null && context.Has("versionId") ? S3Actions.OnVersion(action) : action;
        Check(context.Grants, context.Policy, bucket, context.Key, named, needs);
    }

    /// <summary>Authorizes a browser form's upload of <paramref name="key"/>, signed (in the form) by <paramref name="accessKey"/>.</summary>
    public async ValueTask AuthorizeUploadAsync(S3Context context, string accessKey, string key)
    {
        context.Grants = credentials.GrantsOf(accessKey);
        context.Policy = await policies.GetAsync(context.Bucket!, context.Aborted);
        Check(context.Grants, context.Policy, context.Bucket!, key, S3Actions.PutObject, S3Access.Write);
    }

    /// <summary>Authorizes reading another object in the same request (a copy's source).</summary>
    public async ValueTask AuthorizeReadAsync(S3Context context, string bucket, string key, bool versionNamed)
    {
        var policy = bucket == context.Bucket ? context.Policy : await policies.GetAsync(bucket, context.Aborted);
        Check(context.Grants, policy, bucket, key, versionNamed ? S3Actions.GetObjectVersion : S3Actions.GetObject, S3Access.Read);
    }

    /// <summary>Whether the bucket policy denies one key of a batch (DeleteObjects reports it as that key's AccessDenied).</summary>
    public static bool Denies(S3Context context, string action, string key) =>
        context.Policy?.Evaluate(action, $"{context.Bucket}/{key}") == PolicyDecision.Deny;

    private void Check(KeyGrants? grants, BucketPolicy? policy, string bucket, string? key, string action, S3Access needs)
    {
        var decision = policy is null || S3Actions.IsPolicyAction(action)
            ? PolicyDecision.None
            : policy.Evaluate(action, key is null ? bucket : $"{bucket}/{key}");
        if (decision == PolicyDecision.Deny)
        {
            throw S3Exception.AccessDenied($"Access Denied: the bucket policy of '{bucket}' denies {action} here.");
        }

        if (grants?.Allows(bucket, needs) == true || decision == PolicyDecision.Allow
            || (S3Actions.PublicRead.Contains(action) && options.Value.S3.PublicReadBuckets.Contains(bucket)))
        {
            return;
        }

        throw grants is null
            ? SignRequest()
            : S3Exception.AccessDenied($"Access Denied: this access key has no {needs} grant on the bucket '{bucket}'.");
    }

    private static S3Exception SignRequest() => S3Exception.AccessDenied("Access Denied: sign the request with AWS Signature Version 4.");
}

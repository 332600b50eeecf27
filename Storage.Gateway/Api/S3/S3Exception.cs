namespace Storage.Gateway.Api.S3;

/// <summary>An S3 error: the HTTP status, S3's error code and a message for the client (sent as S3's XML error document).</summary>
public sealed class S3Exception(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string Code { get; } = code;

    /// <summary>Headers the error answer carries (a delete marker's <c>x-amz-delete-marker</c> and <c>x-amz-version-id</c>).</summary>
    public IReadOnlyDictionary<string, string>? Headers { get; init; }

    public static S3Exception NoSuchBucket(string bucket) => new(404, "NoSuchBucket", $"The bucket '{bucket}' does not exist.");

    public static S3Exception NoSuchKey(string key) => new(404, "NoSuchKey", $"The key '{key}' does not exist.");

    public static S3Exception NoSuchUpload(string uploadId) =>
        new(404, "NoSuchUpload", $"The upload '{uploadId}' does not exist: it was completed, aborted, expired or never created.");

    public static S3Exception InvalidArgument(string message) => new(400, "InvalidArgument", message);

    public static S3Exception InvalidRequest(string message) => new(400, "InvalidRequest", message);

    public static S3Exception MalformedXml(string message) => new(400, "MalformedXML", $"The XML you provided was not well-formed or did not validate: {message}");

    public static S3Exception AccessDenied(string message) => new(403, "AccessDenied", message);

    public static S3Exception SignatureDoesNotMatch(string message) => new(403, "SignatureDoesNotMatch", message);

    public static S3Exception AuthorizationHeaderMalformed(string message) => new(400, "AuthorizationHeaderMalformed", message);

    public static S3Exception AuthorizationQueryParametersError(string message) => new(400, "AuthorizationQueryParametersError", message);

    public static S3Exception PreconditionFailed(string message = "At least one of the preconditions you specified did not hold.") => new(412, "PreconditionFailed", message);

    public static S3Exception NotImplemented(string what) => new(501, "NotImplemented", $"{what} is not implemented by this server.");
}

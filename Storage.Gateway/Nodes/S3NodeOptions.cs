namespace Storage.Gateway.Nodes;

/// <summary>
/// An S3-compatible node in MinIO's connection-string format
/// <c>Endpoint=http://host:port;AccessKey=…;SecretKey=…[;Bucket=…]</c>. The bucket holding the parts defaults to
/// <see cref="DefaultBucket"/> and is created when missing.
/// </summary>
public sealed record S3NodeOptions(Uri Endpoint, string AccessKey, string SecretKey, string Bucket)
{
    public const string DefaultBucket = "storage-parts";

    public static S3NodeOptions Parse(string connectionString)
    {
        var values = connectionString
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(pair => pair.Split('=', 2, StringSplitOptions.TrimEntries))
            .ToDictionary(
                pair => pair[0],
                pair => pair.Length == 2 ? pair[1] : throw new FormatException($"'{pair[0]}' in an S3 node connection string has no value."),
                StringComparer.OrdinalIgnoreCase);
        string Required(string name) => values.TryGetValue(name, out var value) && value.Length > 0
            ? value
            : throw new FormatException($"The S3 node connection string has no {name}.");
        if (!Uri.TryCreate(Required("Endpoint"), UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
        {
            throw new FormatException("The S3 node Endpoint must be an absolute http:// or https:// URL.");
        }

        return new S3NodeOptions(endpoint, Required("AccessKey"), Required("SecretKey"), values.GetValueOrDefault("Bucket", DefaultBucket));
    }

    /// <summary>What the admin view and logs show: never the keys.</summary>
    public string Address => $"{Endpoint.GetLeftPart(UriPartial.Authority)}/{Bucket}";

    public override string ToString() => Address;
}

using System.Text.RegularExpressions;
using Storage.Gateway.Metadata;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Api.S3;

/// <summary>PutObjectTagging, GetObjectTagging, DeleteObjectTagging (of the current version or one named by versionId), and S3's rules for a tag set wherever one is sent.</summary>
public sealed partial class S3TaggingOperations(ObjectStore store)
{
    private const int MaxKeyLength = 128;
    private const int MaxValueLength = 256;
    private const int MaxDocumentBytes = 64 * 1024;

    public async Task GetAsync(S3Context context)
    {
        var (bucket, key) = S3ObjectOperations.Target(context);
        var record = await S3ObjectOperations.ReadVersionAsync(context, store, bucket, key);
        await S3ObjectOperations.WriteVersionIdAsync(context, store, record);
        var tags = record.Attributes.Tags ?? new Dictionary<string, string>();
        await S3Xml.WriteAsync(context.Response, S3Xml.Element("Tagging", S3Xml.Element("TagSet",
            tags.Select(t => S3Xml.Element("Tag", S3Xml.Element("Key", t.Key), S3Xml.Element("Value", t.Value))))), context.Aborted);
    }

    public async Task PutAsync(S3Context context)
    {
        var (bucket, key) = S3ObjectOperations.Target(context);
        System.Xml.Linq.XElement document;
        using (var payload = S3Payload.Open(context))
        {
            document = await S3Xml.ReadAsync(payload.Stream, MaxDocumentBytes, context.Aborted);
        }

        var sets = document.Children("TagSet").ToList();
        if (document.Name.LocalName != "Tagging" || sets.Count != 1)
        {
            throw S3Exception.MalformedXml("a Tagging document holds one TagSet.");
        }

        var pairs = new List<(string Key, string Value)>();
        foreach (var tag in sets[0].Elements())
        {
            if (tag.Name.LocalName != "Tag" || tag.ChildValue("Key") is not { } name || tag.ChildValue("Value") is not { } value)
            {
                throw S3Exception.MalformedXml("a TagSet holds Tag elements, each with a Key and a Value.");
            }

            pairs.Add((name, value));
        }

        await SetAsync(context, bucket, key, Validated(pairs));
    }

    public async Task DeleteAsync(S3Context context)
    {
        var (bucket, key) = S3ObjectOperations.Target(context);
        await SetAsync(context, bucket, key, null);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    /// <summary>The tag set of an <c>x-amz-tagging</c> header (URL-encoded <c>key=value&amp;…</c>); null when there is none.</summary>
    public static IReadOnlyDictionary<string, string>? FromHeader(HttpRequest request) => FromHeader(request.Headers);

    public static IReadOnlyDictionary<string, string>? FromHeader(IHeaderDictionary headers)
    {
        var header = headers["x-amz-tagging"].ToString();
        if (header.Length == 0)
        {
            return null;
        }

        var pairs = new List<(string, string)>();
        foreach (var pair in header.Split('&'))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            pairs.Add((Unescape(equals < 0 ? pair : pair[..equals]), equals < 0 ? string.Empty : Unescape(pair[(equals + 1)..])));
        }

        return Validated(pairs);
    }

    /// <summary>S3's limits on a tag set: at most 10 tags, unique keys of 1 to 128 characters, values up to 256, no <c>aws:</c> keys.</summary>
    private static Dictionary<string, string>? Validated(IReadOnlyList<(string Key, string Value)> pairs)
    {
        if (pairs.Count > ObjectAttributes.MaxTags)
        {
            throw InvalidTag($"Object tags cannot be greater than {ObjectAttributes.MaxTags}.");
        }

        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in pairs)
        {
            if (key.Length is 0 or > MaxKeyLength || !AllowedCharacters().IsMatch(key))
            {
                throw InvalidTag($"The TagKey you have provided is invalid: 1 to {MaxKeyLength} letters, digits, spaces and + - = . _ : / @.");
            }

            if (value.Length > MaxValueLength || !AllowedCharacters().IsMatch(value))
            {
                throw InvalidTag($"The TagValue you have provided is invalid: up to {MaxValueLength} letters, digits, spaces and + - = . _ : / @.");
            }

            if (key.StartsWith("aws:", StringComparison.OrdinalIgnoreCase))
            {
                throw InvalidTag("Your TagKey cannot be prefixed with aws:.");
            }

            if (!tags.TryAdd(key, value))
            {
                throw InvalidTag("Cannot provide multiple Tags with the same key.");
            }
        }

        return tags.Count > 0 ? tags : null;
    }

    private async Task SetAsync(S3Context context, string bucket, string key, IReadOnlyDictionary<string, string>? tags)
    {
        var tagged = context.Query("versionId") is { } versionId
            ? await store.SetTagsAsync(bucket, key, S3ObjectOperations.VersionIdFrom(versionId), tags, context.Aborted)
            : await store.SetTagsAsync(bucket, key, tags, context.Aborted);

        // Not there (or a delete marker): the same answer as a read of that version.
        await S3ObjectOperations.WriteVersionIdAsync(context, store, tagged ?? await S3ObjectOperations.ReadVersionAsync(context, store, bucket, key));
    }

    private static string Unescape(string text)
    {
        try
        {
            return Uri.UnescapeDataString(text.Replace('+', ' '));
        }
        catch (UriFormatException)
        {
            throw InvalidTag("The x-amz-tagging header is not URL-encoded key=value pairs.");
        }
    }

    private static S3Exception InvalidTag(string message) => new(400, "InvalidTag", message);

    [GeneratedRegex(@"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$")]
    private static partial Regex AllowedCharacters();
}

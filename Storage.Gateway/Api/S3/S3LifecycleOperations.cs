using System.Globalization;
using System.Xml.Linq;
using Storage.Gateway.Lifecycle;
using Storage.Gateway.Metadata;

namespace Storage.Gateway.Api.S3;

/// <summary>
/// PutBucketLifecycleConfiguration, GetBucketLifecycleConfiguration, DeleteBucketLifecycle: S3's rule document, checked
/// whole before anything is stored (S3's MalformedXML, InvalidArgument and InvalidRequest), and the
/// <c>x-amz-expiration</c> header of a version a rule selects.
/// </summary>
public sealed class S3LifecycleOperations(BucketLifecycles lifecycles, IMetadataStore metadata)
{
    private const int MaxDocumentBytes = 1024 * 1024;
    private const int MaxIdLength = 255;
    private const int MaxNewerNoncurrentVersions = 100;

    public async Task PutAsync(S3Context context)
    {
        var bucket = context.Bucket!;
        XElement document;
        using (var payload = S3Payload.Open(context))
        {
            document = await S3Xml.ReadAsync(payload.Stream, MaxDocumentBytes, context.Aborted);
        }

        if (!await lifecycles.SetAsync(bucket, Parse(document), context.Aborted))
        {
            throw S3Exception.NoSuchBucket(bucket);
        }
    }

    public async Task GetAsync(S3Context context)
    {
        var bucket = context.Bucket!;
        if (await metadata.GetBucketAsync(bucket, context.Aborted) is null)
        {
            throw S3Exception.NoSuchBucket(bucket);
        }

        var rules = await lifecycles.GetAsync(bucket, context.Aborted)
            ?? throw new S3Exception(404, "NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist.");
        await S3Xml.WriteAsync(context.Response, S3Xml.Element("LifecycleConfiguration", rules.Rules.Select(Render)), context.Aborted);
    }

    public async Task DeleteAsync(S3Context context)
    {
        if (!await lifecycles.SetAsync(context.Bucket!, null, context.Aborted))
        {
            throw S3Exception.NoSuchBucket(context.Bucket!);
        }

        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    /// <summary>S3's <c>x-amz-expiration</c> for a version one of its bucket's rules selects.</summary>
    public async Task WriteExpirationAsync(S3Context context, ObjectRecord version)
    {
        if (await lifecycles.ExpiryOfAsync(version, context.Aborted) is { } expiry)
        {
            context.Response.Headers["x-amz-expiration"] = string.Create(CultureInfo.InvariantCulture, $"expiry-date=\"{expiry.At.UtcDateTime:r}\", rule-id=\"{HeaderId(expiry.Rule.Id)}\"");
        }
    }

    /// <summary>A rule ID as a quoted header value can carry it: RFC 2047-encoded unless plain ASCII, quotes escaped.</summary>
    private static string HeaderId(string id) => HeaderValues.EncodeWords(id).Replace("\"", "\\\"", StringComparison.Ordinal);

    public static LifecycleConfiguration Parse(XElement document)
    {
        if (document.Name.LocalName != "LifecycleConfiguration")
        {
            throw S3Exception.MalformedXml("the document is a LifecycleConfiguration.");
        }

        var rules = document.Elements().Select(rule => rule.Name.LocalName == "Rule" ? ParseRule(rule) : throw S3Exception.MalformedXml($"a LifecycleConfiguration holds Rule elements, not {rule.Name.LocalName}.")).ToList();
        if (rules.Count is 0 or > LifecycleConfiguration.MaxRules)
        {
            throw S3Exception.MalformedXml($"a LifecycleConfiguration holds 1 to {LifecycleConfiguration.MaxRules} rules.");
        }

        if (rules.GroupBy(r => r.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } duplicate)
        {
            throw S3Exception.InvalidArgument($"Rule ID '{duplicate.Key}' is used by more than one rule: rule IDs must be unique.");
        }

        return new LifecycleConfiguration(rules);
    }

    private static LifecycleRule ParseRule(XElement rule)
    {
        string[] known = ["ID", "Filter", "Prefix", "Status", "Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"];
        foreach (var child in rule.Elements())
        {
            if (child.Name.LocalName is "Transition" or "NoncurrentVersionTransition")
            {
                throw S3Exception.NotImplemented($"Lifecycle {child.Name.LocalName} (there is one storage class)");
            }

            if (!known.Contains(child.Name.LocalName) || rule.Children(child.Name.LocalName).Count() > 1)
            {
                throw S3Exception.MalformedXml($"a Rule holds at most one each of {string.Join(", ", known)}; '{child.Name.LocalName}' is unexpected.");
            }
        }

        var id = rule.ChildValue("ID") ?? Guid.NewGuid().ToString("N");
        if (id.Length is 0 or > MaxIdLength || !HeaderValues.IsText(id))
        {
            throw S3Exception.InvalidArgument($"A rule ID is 1 to {MaxIdLength} characters, none of them control characters.");
        }

        var enabled = rule.ChildValue("Status") switch
        {
            "Enabled" => true,
            "Disabled" => false,
            _ => throw S3Exception.MalformedXml("a Rule's Status is Enabled or Disabled."),
        };
        var (filter, legacy) = (rule.Children("Filter").FirstOrDefault(), rule.ChildValue("Prefix")) switch
        {
            ({ } element, null) => (ParseFilter(element), false),
            (null, { } prefix) => (new LifecycleFilter(prefix), true),
            _ => throw S3Exception.MalformedXml("a Rule has a Filter or (the older form) a Prefix, not both or neither."),
        };

        int? days = null, noncurrentDays = null, newer = null, abortDays = null;
        DateTimeOffset? date = null;
        bool? deleteMarker = null;
        if (rule.Children("Expiration").FirstOrDefault() is { } expiration)
        {
            var given = expiration.Elements().Select(e => e.Name.LocalName).ToList();
            if (given.Count != 1 || given[0] is not ("Days" or "Date" or "ExpiredObjectDeleteMarker"))
            {
                throw S3Exception.MalformedXml("an Expiration holds exactly one of Days, Date and ExpiredObjectDeleteMarker.");
            }

            days = expiration.ChildValue("Days") is { } text ? PositiveDays(text, "Days", "Expiration") : null;
            date = expiration.ChildValue("Date") is { } dateText ? Midnight(dateText) : null;
            deleteMarker = expiration.ChildValue("ExpiredObjectDeleteMarker") switch
            {
                null => null,
                "true" => true,
                "false" => false,
                _ => throw S3Exception.MalformedXml("ExpiredObjectDeleteMarker is true or false."),
            };
        }

        if (rule.Children("NoncurrentVersionExpiration").FirstOrDefault() is { } noncurrent)
        {
            noncurrentDays = noncurrent.ChildValue("NoncurrentDays") is { } text
                ? PositiveDays(text, "NoncurrentDays", "NoncurrentVersionExpiration")
                : throw S3Exception.MalformedXml("a NoncurrentVersionExpiration holds NoncurrentDays.");
            newer = noncurrent.ChildValue("NewerNoncurrentVersions") is { } newerText
                ? int.TryParse(newerText, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= MaxNewerNoncurrentVersions
                    ? n
                    : throw S3Exception.InvalidArgument($"NewerNoncurrentVersions must be a whole number from 1 to {MaxNewerNoncurrentVersions}.")
                : null;
        }

        if (rule.Children("AbortIncompleteMultipartUpload").FirstOrDefault() is { } abort)
        {
            abortDays = abort.ChildValue("DaysAfterInitiation") is { } text
                ? PositiveDays(text, "DaysAfterInitiation", "AbortIncompleteMultipartUpload")
                : throw S3Exception.MalformedXml("an AbortIncompleteMultipartUpload holds DaysAfterInitiation.");
            if (filter.Tags is not null || filter.SizeGreaterThan is not null || filter.SizeLessThan is not null)
            {
                throw S3Exception.InvalidRequest("AbortIncompleteMultipartUpload cannot be used with a tag or object size filter: an upload in progress has neither.");
            }
        }

        if (deleteMarker is not null && filter.Tags is not null)
        {
            throw S3Exception.InvalidRequest("ExpiredObjectDeleteMarker cannot be specified with a tag filter.");
        }

        if (days is null && date is null && deleteMarker is null && noncurrentDays is null && abortDays is null)
        {
            throw S3Exception.InvalidRequest("At least one action needs to be specified in a rule.");
        }

        return new LifecycleRule(id, enabled, filter, days, date, deleteMarker, noncurrentDays, newer, abortDays, legacy);
    }

    private static LifecycleFilter ParseFilter(XElement filter)
    {
        var predicates = filter.Elements().ToList();
        if (predicates.Count > 1)
        {
            throw S3Exception.MalformedXml("a Filter holds one of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan and And; combine them with And.");
        }

        if (predicates.Count == 0)
        {
            return new LifecycleFilter();
        }

        var and = predicates[0].Name.LocalName == "And";
        var parts = and ? predicates[0].Elements().ToList() : predicates;
        if (and && parts.Count == 0)
        {
            throw S3Exception.MalformedXml("an And holds at least one predicate.");
        }

        string prefix = string.Empty;
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        long? above = null, below = null;
        foreach (var part in parts)
        {
            switch (part.Name.LocalName)
            {
                case "Prefix" when parts.Count(p => p.Name.LocalName == "Prefix") == 1:
                    prefix = part.Value;
                    break;
                case "Tag" when part.ChildValue("Key") is { } key && part.ChildValue("Value") is { } value:
                    if (!tags.TryAdd(key, value))
                    {
                        throw S3Exception.InvalidArgument($"The filter names the tag '{key}' twice.");
                    }

                    break;
                case "ObjectSizeGreaterThan" when above is null:
                    above = Size(part.Value);
                    break;
                case "ObjectSizeLessThan" when below is null:
                    below = Size(part.Value);
                    break;
                default:
                    throw S3Exception.MalformedXml($"'{part.Name.LocalName}' is not a filter predicate here (Prefix once, Tag with Key and Value, ObjectSizeGreaterThan and ObjectSizeLessThan once each).");
            }
        }

        if (tags.Count > ObjectAttributes.MaxTags)
        {
            throw S3Exception.InvalidArgument($"A filter names at most {ObjectAttributes.MaxTags} tags.");
        }

        if (above is { } a && below is { } b && a >= b)
        {
            throw S3Exception.InvalidArgument("ObjectSizeGreaterThan must be less than ObjectSizeLessThan.");
        }

        return new LifecycleFilter(prefix, tags.Count > 0 ? tags : null, above, below, and);
    }

    private static XElement Render(LifecycleRule rule)
    {
        var filter = rule.Filter;
        object?[] predicates =
        [
            filter.Prefix.Length > 0 || !filter.And ? S3Xml.Element("Prefix", filter.Prefix) : null,
            filter.Tags?.Select(t => S3Xml.Element("Tag", S3Xml.Element("Key", t.Key), S3Xml.Element("Value", t.Value))),
            filter.SizeGreaterThan is { } above ? S3Xml.Element("ObjectSizeGreaterThan", above) : null,
            filter.SizeLessThan is { } below ? S3Xml.Element("ObjectSizeLessThan", below) : null,
        ];
        var single = !filter.And && filter.Prefix.Length == 0 && (filter.Tags is not null || filter.SizeGreaterThan is not null || filter.SizeLessThan is not null)
            ? predicates.Skip(1)
            : predicates;
        return S3Xml.Element("Rule",
            S3Xml.Element("ID", rule.Id),
            rule.LegacyPrefix ? S3Xml.Element("Prefix", filter.Prefix) : S3Xml.Element("Filter", filter.And ? S3Xml.Element("And", predicates) : single),
            S3Xml.Element("Status", rule.Enabled ? "Enabled" : "Disabled"),
            rule.ExpirationDays is not null || rule.ExpirationDate is not null || rule.ExpiredObjectDeleteMarker is not null
                ? S3Xml.Element("Expiration",
                    rule.ExpirationDays is { } days ? S3Xml.Element("Days", days) : null,
                    rule.ExpirationDate is { } date ? S3Xml.Element("Date", S3Xml.Timestamp(date)) : null,
                    rule.ExpiredObjectDeleteMarker is { } marker ? S3Xml.Element("ExpiredObjectDeleteMarker", marker ? "true" : "false") : null)
                : null,
            rule.NoncurrentDays is { } noncurrent
                ? S3Xml.Element("NoncurrentVersionExpiration", S3Xml.Element("NoncurrentDays", noncurrent),
                    rule.NewerNoncurrentVersions is { } newer ? S3Xml.Element("NewerNoncurrentVersions", newer) : null)
                : null,
            rule.AbortIncompleteUploadDays is { } abort
                ? S3Xml.Element("AbortIncompleteMultipartUpload", S3Xml.Element("DaysAfterInitiation", abort))
                : null);
    }

    private static int PositiveDays(string text, string name, string action) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var days) && days > 0
            ? days
            : throw S3Exception.InvalidArgument($"'{name}' for {action} action must be a positive integer.");

    private static long Size(string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var size)
            ? size
            : throw S3Exception.InvalidArgument("An object size filter is a whole number of bytes.");

    private static DateTimeOffset Midnight(string text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var date) && date.UtcTicks % TimeSpan.TicksPerDay == 0
            ? date
            : throw S3Exception.InvalidArgument("'Date' must be at midnight GMT, in ISO 8601 (2030-01-01T00:00:00.000Z).");
}

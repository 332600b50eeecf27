using System.Text.Json;
using System.Text.Json.Serialization;
using Storage.Gateway.Metadata;

namespace Storage.Gateway.Lifecycle;

/// <summary>A bucket's lifecycle rules (S3's <c>LifecycleConfiguration</c>), as validated by the S3 door and stored with the bucket.</summary>
public sealed record LifecycleConfiguration(IReadOnlyList<LifecycleRule> Rules)
{
    /// <summary>S3's limit on the rules of one bucket.</summary>
    public const int MaxRules = 1000;

    /// <summary>
    /// When the version expires by the earliest of the enabled rules that select it, and which rule that is; null when
    /// none does. <paramref name="day"/> is the length of a rule's day: with a real day, as S3, an expiry by age falls at
    /// the next midnight UTC after the version's last change plus the days; with a shorter one (tests), exactly then.
    /// </summary>
    public (DateTimeOffset At, LifecycleRule Rule)? ExpiryOf(ObjectRecord version, TimeSpan day)
    {
        (DateTimeOffset At, LifecycleRule Rule)? earliest = null;
        foreach (var rule in Rules)
        {
            if (rule.Enabled && rule.Filter.Selects(version) && rule.ExpiryOf(version, day) is { } at && (earliest is null || at < earliest.Value.At))
            {
                earliest = (at, rule);
            }
        }

        return earliest;
    }

    /// <summary>
    /// When the noncurrent version expires by the earliest enabled rule that selects it: <paramref name="noncurrentSince"/>
    /// is when it stopped being current (its successor's creation), <paramref name="newerNoncurrent"/> how many noncurrent
    /// versions of its key are newer (a rule may keep that many). Null when no rule expires it.
    /// </summary>
    public DateTimeOffset? NoncurrentExpiryOf(ObjectRecord version, DateTimeOffset noncurrentSince, int newerNoncurrent, TimeSpan day) =>
        Rules.Where(r => r.Enabled && r.Filter.Selects(version))
            .Select(r => r.NoncurrentExpiryOf(noncurrentSince, newerNoncurrent, day))
            .Where(at => at is not null)
            .Min();

    /// <summary>Whether an enabled rule removes <paramref name="marker"/> once it is its key's only version (an expired object delete marker).</summary>
    public bool RemovesExpiredDeleteMarker(ObjectRecord marker) =>
        Rules.Any(r => r.Enabled && r.ExpiredObjectDeleteMarker == true && r.Filter.Selects(marker));

    /// <summary>Whether any enabled rule acts on versions of keys (rather than only aborting uploads).</summary>
    public bool ActsOnVersions => Rules.Any(r => r.Enabled && (r.ExpiresVersions || r.NoncurrentDays is not null || r.ExpiredObjectDeleteMarker == true));

    public string ToJson() => JsonSerializer.Serialize(this, LifecycleJsonContext.Default.LifecycleConfiguration);

    public static LifecycleConfiguration FromJson(string json) =>
        JsonSerializer.Deserialize(json, LifecycleJsonContext.Default.LifecycleConfiguration) ?? throw new JsonException("An empty lifecycle configuration.");
}

/// <summary>
/// One rule: what it selects and what it does. <see cref="ExpirationDays"/> or <see cref="ExpirationDate"/> expire current
/// versions (in a versioned bucket: a delete marker hides them); <see cref="NoncurrentDays"/> removes versions that long
/// noncurrent, keeping the <see cref="NewerNoncurrentVersions"/> newest; <see cref="ExpiredObjectDeleteMarker"/> removes a
/// delete marker left as its key's only version; <see cref="AbortIncompleteUploadDays"/> aborts multipart uploads begun
/// that long ago.
/// </summary>
public sealed record LifecycleRule(
    string Id,
    bool Enabled,
    LifecycleFilter Filter,
    int? ExpirationDays = null,
    DateTimeOffset? ExpirationDate = null,
    bool? ExpiredObjectDeleteMarker = null,
    int? NoncurrentDays = null,
    int? NewerNoncurrentVersions = null,
    int? AbortIncompleteUploadDays = null,
    bool LegacyPrefix = false)
{
    public DateTimeOffset? ExpiryOf(ObjectRecord version, TimeSpan day) =>
        ExpirationDate ?? (ExpirationDays is { } days ? After(version.LastModified, days, day) : null);

    /// <summary>When a version noncurrent since <paramref name="since"/>, with <paramref name="newer"/> newer noncurrent ones, expires by this rule; null when it does not.</summary>
    public DateTimeOffset? NoncurrentExpiryOf(DateTimeOffset since, int newer, TimeSpan day) =>
        NoncurrentDays is { } days && (NewerNoncurrentVersions is not { } kept || newer >= kept) ? After(since, days, day) : null;

    /// <summary>Whether the rule expires current versions (rather than only aborting uploads).</summary>
    public bool ExpiresVersions => ExpirationDays is not null || ExpirationDate is not null;

    /// <summary>Uploads begun before this moment are due to be aborted by this rule at <paramref name="now"/>; null when it aborts none.</summary>
    public DateTimeOffset? AbortCutoff(DateTimeOffset now, TimeSpan day)
    {
        if (AbortIncompleteUploadDays is not { } days)
        {
            return null;
        }

        var from = IsRealDay(day) ? new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero) : now;
        return (double)day.Ticks * days < (from - DateTimeOffset.MinValue).Ticks ? from - (day * days) : null;
    }

    private static bool IsRealDay(TimeSpan day) => day == TimeSpan.FromDays(1);

    /// <summary><paramref name="days"/> after <paramref name="start"/>; beyond the calendar's end (a rule of millions of days), never.</summary>
    private static DateTimeOffset After(DateTimeOffset start, int days, TimeSpan day)
    {
        if ((double)day.Ticks * days >= (DateTimeOffset.MaxValue - start).Ticks - TimeSpan.TicksPerDay)
        {
            return DateTimeOffset.MaxValue;
        }

        var at = start + (day * days);
        return IsRealDay(day) && at.UtcTicks % TimeSpan.TicksPerDay != 0
            ? new DateTimeOffset(at.UtcDateTime.Date.AddDays(1), TimeSpan.Zero)
            : at;
    }
}

/// <summary>What a rule selects: keys under <see cref="Prefix"/>, with every one of <see cref="Tags"/>, and sizes strictly between the bounds.</summary>
public sealed record LifecycleFilter(
    string Prefix = "",
    IReadOnlyDictionary<string, string>? Tags = null,
    long? SizeGreaterThan = null,
    long? SizeLessThan = null,
    bool And = false)
{
    public bool Selects(ObjectRecord version) =>
        version.Key.StartsWith(Prefix, StringComparison.Ordinal)
        && (SizeGreaterThan is not { } above || version.Size > above)
        && (SizeLessThan is not { } below || version.Size < below)
        && (Tags is null || Tags.All(tag => version.Attributes.Tags?.TryGetValue(tag.Key, out var value) == true && value == tag.Value));
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LifecycleConfiguration))]
internal sealed partial class LifecycleJsonContext : JsonSerializerContext;

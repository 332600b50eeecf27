using System.ComponentModel.DataAnnotations;

namespace Storage.Gateway.Lifecycle;

/// <summary>The lifecycle expirer (<c>Storage:Lifecycle</c>).</summary>
public sealed class LifecycleOptions : IValidatableObject
{
    public const string Section = "Storage:Lifecycle";

    /// <summary>How often the expirer goes through the buckets that have rules.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The length of a rule's "day". A real day (the default) expires at midnight UTC as S3 does; S3 test suites run
    /// with seconds per day, and so do ours.
    /// </summary>
    public TimeSpan DayLength { get; set; } = TimeSpan.FromDays(1);

    /// <summary>At most this many objects expired per second per gateway, so a rule that selects millions never starves clients.</summary>
    [Range(1, 1_000_000)]
    public int MaxExpirationsPerSecond { get; set; } = 200;

    /// <summary>
    /// How long a gateway answers <c>x-amz-expiration</c> from the rules it last read; a change made through another
    /// gateway shows in its answers within this time (the expirer itself always reads the stored rules).
    /// </summary>
    public TimeSpan RulesCacheTime { get; set; } = TimeSpan.FromSeconds(10);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Interval <= TimeSpan.Zero || DayLength <= TimeSpan.Zero || RulesCacheTime < TimeSpan.Zero)
        {
            yield return new ValidationResult("Interval and DayLength must be positive, RulesCacheTime not negative.", [nameof(Interval), nameof(DayLength), nameof(RulesCacheTime)]);
        }
    }
}

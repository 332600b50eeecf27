using Storage.Gateway.Lifecycle;
using Storage.Gateway.Metadata;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Lifecycle;

/// <summary>What a rule selects and when it expires it: S3's midnight rounding with a real day, exact times with a short one.</summary>
public sealed class LifecycleRulesTests
{
    private static readonly DateTimeOffset Written = new(2026, 12, 3, 7, 30, 0, TimeSpan.Zero);

    [Fact]
    public void With_a_real_day_a_version_expires_at_the_midnight_utc_after_its_days_and_with_a_short_day_exactly()
    {
        var rules = new LifecycleConfiguration([new LifecycleRule("r", true, new LifecycleFilter(), ExpirationDays: 2)]);
        var version = TestData.Record("b", "k", 10, Written);

        Assert.Equal(new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero), rules.ExpiryOf(version, TimeSpan.FromDays(1))!.Value.At);
        Assert.Equal(Written.AddSeconds(2), rules.ExpiryOf(version, TimeSpan.FromSeconds(1))!.Value.At);

        // Days beyond the calendar's end never come (rather than failing every read that asks when).
        var forever = new LifecycleConfiguration([new LifecycleRule("r", true, new LifecycleFilter(), ExpirationDays: int.MaxValue, AbortIncompleteUploadDays: int.MaxValue)]);
        Assert.Equal(DateTimeOffset.MaxValue, forever.ExpiryOf(version, TimeSpan.FromDays(1))!.Value.At);
        Assert.Null(forever.Rules[0].AbortCutoff(Written, TimeSpan.FromDays(1)));
        var aborts = new LifecycleRule("u", true, new LifecycleFilter(), AbortIncompleteUploadDays: 2);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero), aborts.AbortCutoff(Written, TimeSpan.FromDays(1)));
        Assert.Equal(Written.AddSeconds(-2), aborts.AbortCutoff(Written, TimeSpan.FromSeconds(1)));

        var midnight = version with { LastModified = new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero) };
        Assert.Equal(new DateTimeOffset(2026, 12, 5, 0, 0, 0, TimeSpan.Zero), rules.ExpiryOf(midnight, TimeSpan.FromDays(1))!.Value.At);
    }

    [Fact]
    public void The_earliest_enabled_rule_that_selects_a_version_decides_and_filters_combine()
    {
        var plain = TestData.Record("b", "logs/app.log", 500, Written);
        var tagged = plain with { Attributes = plain.Attributes with { Tags = new Dictionary<string, string> { ["class"] = "temp", ["team"] = "ops" } } };
        LifecycleRule[] rules =
        [
            new("late", true, new LifecycleFilter("logs/"), ExpirationDays: 30),
            new("disabled", false, new LifecycleFilter("logs/"), ExpirationDays: 1),
            new("tagged-small", true, new LifecycleFilter("logs/", new Dictionary<string, string> { ["class"] = "temp" }, SizeLessThan: 1000, And: true), ExpirationDays: 7),
            new("big", true, new LifecycleFilter(SizeGreaterThan: 500), ExpirationDays: 2),
            new("other-prefix", true, new LifecycleFilter("tmp/"), ExpirationDays: 1),
            new("abort-only", true, new LifecycleFilter(), AbortIncompleteUploadDays: 1),
        ];
        var configuration = new LifecycleConfiguration(rules);
        var day = TimeSpan.FromSeconds(1);

        Assert.Equal("tagged-small", configuration.ExpiryOf(tagged, day)!.Value.Rule.Id);
        Assert.Equal("late", configuration.ExpiryOf(tagged with { Attributes = ObjectAttributes.None }, day)!.Value.Rule.Id);
        Assert.Equal("big", configuration.ExpiryOf(tagged with { Size = 501 }, day)!.Value.Rule.Id);
        Assert.Null(configuration.ExpiryOf(tagged with { Key = "data/x" }, day));

        // Round trips through its stored form unchanged.
        var stored = LifecycleConfiguration.FromJson(configuration.ToJson());
        Assert.Equal(configuration.ToJson(), stored.ToJson());
        Assert.Equal("tagged-small", stored.ExpiryOf(tagged, day)!.Value.Rule.Id);
    }
}

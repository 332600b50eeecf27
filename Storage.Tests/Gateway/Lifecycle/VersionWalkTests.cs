using Storage.Gateway.Lifecycle;
using Storage.Gateway.Metadata;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Lifecycle;

/// <summary>How the expirer judges a version listing: noncurrent ages from successors, kept newer versions, lone markers, relisted keys.</summary>
public sealed class VersionWalkTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 3, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Day = TimeSpan.FromSeconds(1);

    private static readonly LifecycleConfiguration Rules = new(
    [
        new LifecycleRule("old", true, new LifecycleFilter("v/"), NoncurrentDays: 2, NewerNoncurrentVersions: 2),
        new LifecycleRule("markers", true, new LifecycleFilter("m/"), ExpiredObjectDeleteMarker: true, NoncurrentDays: 1),
    ]);

    [Fact]
    public void Noncurrent_versions_age_from_their_successor_and_the_newest_ones_are_kept()
    {
        // v/a: current at t=10, noncurrent ones written at t=8, 6, 4, 2 (so noncurrent since 10, 8, 6, 4).
        var listing = Key("v/a", current: true, 10, 8, 6, 4, 2);
        var actions = Judge(new VersionWalk(Rules, Day, Start.AddSeconds(11)), listing);

        // Two newer noncurrent versions are kept whatever their age; of the rest, those noncurrent for 2 s by t=11.
        Assert.Equal(["v/a 4 RemoveNoncurrent", "v/a 2 RemoveNoncurrent"], actions);
    }

    [Fact]
    public void A_key_listed_again_from_its_latest_version_is_judged_afresh_and_no_version_is_counted_twice()
    {
        var walk = new VersionWalk(Rules, Day, Start.AddSeconds(100));
        var listing = Key("v/a", current: true, 10, 8, 6, 4, 2);

        // A page ended after the third version, which a client removed before the next page was read: the key is listed
        // again from its latest, and the two newest noncurrent versions left are kept, not counted on from the first page.
        var first = Judge(walk, listing[..3]);
        var again = Judge(walk, [listing[0], listing[1], listing[3], listing[4]], end: true);
        Assert.Empty(first);
        Assert.Equal(["v/a 2 RemoveNoncurrent"], again);
    }

    [Fact]
    public void A_delete_marker_alone_is_removed_as_such_and_a_noncurrent_one_by_its_age()
    {
        var walk = new VersionWalk(Rules, Day, Start.AddSeconds(100));
        ObjectVersion[] listing =
        [
            new(Marker("m/alone", 5), IsLatest: true),
            new(Marker("m/backed", 7), IsLatest: true),
            new(Version("m/backed", 6), IsLatest: false),
            new(Version("m/current", 9), IsLatest: true),
            new(Marker("m/current", 8), IsLatest: false),
            new(Version("m/current", 3), IsLatest: false),
        ];
        Assert.Equal(
            ["m/alone 5 RemoveLoneMarker", "m/backed 6 RemoveNoncurrent", "m/current 8 RemoveNoncurrent", "m/current 3 RemoveNoncurrent"],
            Judge(walk, listing, end: true));
    }

    private static ObjectVersion[] Key(string key, bool current, params int[] written) =>
        [.. written.Select((t, i) => new ObjectVersion(Version(key, t), IsLatest: current && i == 0))];

    private static ObjectRecord Version(string key, int second) =>
        TestData.Record("b", key, 10, Start.AddSeconds(second)) with { VersionId = second.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    private static ObjectRecord Marker(string key, int second) =>
        new("b", key, 0, string.Empty, Start.AddSeconds(second), ObjectAttributes.None, [], VersionId: second.ToString(System.Globalization.CultureInfo.InvariantCulture), IsDeleteMarker: true);

    private static string[] Judge(VersionWalk walk, IEnumerable<ObjectVersion> listing, bool end = false) =>
        [.. listing.SelectMany(walk.Judge).Concat(end ? walk.End() : []).Select(a => $"{a.Version.Key} {a.Version.VersionId} {a.Kind}")];
}

using Storage.Gateway.Metadata;

namespace Storage.Gateway.Lifecycle;

/// <summary>What the rules do to one version.</summary>
public sealed record LifecycleAction(ObjectRecord Version, LifecycleActionKind Kind);

public enum LifecycleActionKind
{
    /// <summary>Expire the current version (in a versioned bucket a delete marker hides it).</summary>
    Expire,

    /// <summary>Remove a noncurrent version (or noncurrent delete marker) for good.</summary>
    RemoveNoncurrent,

    /// <summary>Remove a delete marker that is its key's only version.</summary>
    RemoveLoneMarker,
}

/// <summary>
/// Judges a version listing (key order, each key's newest first) against the rules, one entry at a time and across
/// pages: a noncurrent version became noncurrent when its successor (the entry before it) was written, and how many newer
/// noncurrent versions its key has is counted on the way; a latest delete marker is known to be its key's only version
/// once the next key begins.
/// </summary>
public sealed class VersionWalk(LifecycleConfiguration rules, TimeSpan day, DateTimeOffset now)
{
    private LifecycleConfiguration _rules = rules;

    private string? _key;
    private DateTimeOffset? _successorWritten;
    private int _newerNoncurrent;
    private ObjectRecord? _loneMarker;

    public IEnumerable<LifecycleAction> Judge(ObjectVersion entry)
    {
        var version = entry.Record;
        if (version.Key != _key)
        {
            foreach (var action in EndOfKey())
            {
                yield return action;
            }

            (_key, _successorWritten, _newerNoncurrent) = (version.Key, null, 0);
        }
        else if (entry.IsLatest)
        {
            // The key listed again from its latest version (the page's last version was removed before the next page
            // was asked for): judged afresh, so no version is counted twice.
            (_successorWritten, _newerNoncurrent, _loneMarker) = (null, 0, null);
        }
        else
        {
            _loneMarker = null;
        }

        if (entry.IsLatest)
        {
            if (version.IsDeleteMarker)
            {
                _loneMarker = _rules.RemovesExpiredDeleteMarker(version) ? version : null;
            }
            else if (_rules.ExpiryOf(version, day) is { } expiry && expiry.At <= now)
            {
                yield return new LifecycleAction(version, LifecycleActionKind.Expire);
            }
        }
        else
        {
            if (_rules.NoncurrentExpiryOf(version, _successorWritten ?? version.LastModified, _newerNoncurrent, day) <= now)
            {
                yield return new LifecycleAction(version, LifecycleActionKind.RemoveNoncurrent);
            }

            _newerNoncurrent++;
        }

        _successorWritten = version.LastModified;
    }

    /// <summary>Goes on judging by <paramref name="current"/> (the rules as changed during a long scan), where it is.</summary>
    public void Follow(LifecycleConfiguration current) => _rules = current;

    /// <summary>The end of the listing: the last key's lone delete marker, if any.</summary>
    public IEnumerable<LifecycleAction> End() => EndOfKey();

    private IEnumerable<LifecycleAction> EndOfKey()
    {
        if (_loneMarker is { } marker)
        {
            _loneMarker = null;
            yield return new LifecycleAction(marker, LifecycleActionKind.RemoveLoneMarker);
        }
    }
}

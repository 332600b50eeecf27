using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects.Erasure;

namespace Storage.Gateway.Objects;

/// <summary>
/// A read-only stream over bytes [offset, offset + length) of an object, fetched stripe by stripe across its
/// segments. While one stripe is consumed the next is already being fetched; <see cref="CopyToAsync"/> writes
/// straight from the block buffers. Memory is two blocks per part of the current segment, whatever the size.
/// </summary>
public sealed class ObjectReadStream : ReadOnlyStream
{
    private readonly ObjectRecord _record;
    private readonly ErasureCodecs _codecs;
    private readonly NodeRegistry _registry;
    private readonly StorageTelemetry _telemetry;
    private readonly DamagedParts _damaged;
    private readonly long _end;
    private long _position;
    private int _segmentIndex = -1;
    private long _segmentStart;
    private StripeFetcher? _fetcher;
    private StripeFetcher.FetchedStripe? _current;
    private long _currentStart;
    private long _currentEnd;
    private Task<StripeFetcher.FetchedStripe>? _next;

    public ObjectReadStream(ObjectRecord record, long offset, long length, ErasureCodecs codecs, NodeRegistry registry, StorageTelemetry telemetry, DamagedParts damaged)
    {
        _damaged = damaged;
        _record = record;
        _codecs = codecs;
        _registry = registry;
        _telemetry = telemetry;
        _position = offset;
        _end = offset + length;
    }

    /// <summary>Fetches the first stripe, so an unreadable object fails before a response has started.</summary>
    public async Task PrepareAsync(CancellationToken cancellationToken)
    {
        if (_position < _end)
        {
            await EnsureStripeAsync(cancellationToken);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var copied = 0;
        while (copied < buffer.Length && _position < _end)
        {
            await EnsureStripeAsync(cancellationToken);
            var chunk = TakeChunk(buffer.Length - copied);
            chunk.CopyTo(buffer[copied..]);
            copied += chunk.Length;
            if (_position >= _currentEnd)
            {
                break;
            }
        }

        return copied;
    }

    public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
    {
        while (_position < _end)
        {
            await EnsureStripeAsync(cancellationToken);
            await destination.WriteAsync(TakeChunk(int.MaxValue), cancellationToken);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await CloseSegmentAsync();
        await base.DisposeAsync();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            CloseSegmentAsync().AsTask().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }

    /// <summary>The bytes from the position to the end of its block (at most <paramref name="max"/>), consumed.</summary>
    private ReadOnlyMemory<byte> TakeChunk(int max)
    {
        var inStripe = (int)(_position - _currentStart);
        var block = _current!.BlockLength;
        var inBlock = inStripe % block;
        var count = (int)Math.Min(Math.Min(block - inBlock, _currentEnd - _position), max);
        _position += count;
        _telemetry.BytesRead.Add(count);
        return _current.DataBlock(inStripe / block).Slice(inBlock, count);
    }

    /// <summary>Makes the stripe holding the position current, then starts fetching the one after it.</summary>
    private async Task EnsureStripeAsync(CancellationToken cancellationToken)
    {
        if (_current is not null && _position >= _currentStart && _position < _currentEnd)
        {
            return;
        }

        if (_fetcher is null || _position - _segmentStart >= _fetcher.Layout.Size)
        {
            await OpenSegmentAsync();
        }

        var fetcher = _fetcher!;
        var layout = fetcher.Layout;
        var stripe = layout.StripeOf(_position - _segmentStart);
        if (_next is not null && _current is not null && _current.Stripe + 1 == stripe)
        {
            _current = await _next;
            _next = null;
        }
        else
        {
            await AbandonPrefetchAsync();
            var from = (int)(_position - _segmentStart - layout.StripeStart(stripe));
            _current = await fetcher.FetchAsync(stripe, from, StripeEnd(stripe), cancellationToken);
        }

        _currentStart = _segmentStart + layout.StripeStart(stripe);
        _currentEnd = _currentStart + StripeEnd(stripe);
        if (stripe < fetcher.LastStripe)
        {
            _next = fetcher.FetchAsync(stripe + 1, 0, StripeEnd(stripe + 1), cancellationToken);
        }
    }

    /// <summary>Where the wanted bytes of a stripe end, relative to the stripe's start.</summary>
    private int StripeEnd(long stripe)
    {
        var layout = _fetcher!.Layout;
        var stripeStart = layout.StripeStart(stripe);
        return (int)(Math.Min(stripeStart + layout.StripeDataLength(stripe), _end - _segmentStart) - stripeStart);
    }

    private async Task OpenSegmentAsync()
    {
        if (_fetcher is not null)
        {
            _segmentStart += _fetcher.Layout.Size;
            await CloseSegmentAsync();
        }

        while (true)
        {
            _segmentIndex++;
            var segment = _record.Segments[_segmentIndex];
            if (_position - _segmentStart < segment.Size)
            {
                var layout = StripeLayout.For(segment);
                var lastStripe = layout.StripeOf(Math.Min(segment.Size, _end - _segmentStart) - 1);
                _fetcher = new StripeFetcher(
                    segment, _codecs.Get(segment.DataShards, segment.ParityShards), _registry, _telemetry, lastStripe,
                    shard => _damaged.Report(new DamagedPart(_record.Bucket, _record.Key, _record.VersionId, segment.Id, shard, segment.Nodes[shard])));
                return;
            }

            _segmentStart += segment.Size;
        }
    }

    private async ValueTask CloseSegmentAsync()
    {
        await AbandonPrefetchAsync();
        _current = null;
        if (_fetcher is not null)
        {
            await _fetcher.DisposeAsync();
            _fetcher = null;
        }
    }

    /// <summary>Waits out a fetch nobody will use (its buffers and part streams must not be released under it).</summary>
    private async Task AbandonPrefetchAsync()
    {
        if (_next is { } next)
        {
            _next = null;
            await next.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
    }
}

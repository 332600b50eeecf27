using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects.Erasure;

namespace Storage.Gateway.Objects;

/// <summary>
/// A read-only stream over bytes [offset, offset + length) of an object, fetched stripe by stripe across its
/// segments. Memory is one block per part of the current segment, whatever the object's size.
/// </summary>
public sealed class ObjectReadStream : ReadOnlyStream
{
    private readonly ObjectRecord _record;
    private readonly ErasureCodecs _codecs;
    private readonly NodeRegistry _registry;
    private readonly StorageTelemetry _telemetry;
    private readonly long _end;
    private long _position;
    private int _segmentIndex = -1;
    private long _segmentStart;
    private StripeFetcher? _fetcher;
    private long _stripe = -1;
    private int _stripeFrom;
    private int _stripeTo;

    public ObjectReadStream(ObjectRecord record, long offset, long length, ErasureCodecs codecs, NodeRegistry registry, StorageTelemetry telemetry)
    {
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
        if (_position >= _end || buffer.IsEmpty)
        {
            return 0;
        }

        await EnsureStripeAsync(cancellationToken);
        var layout = _fetcher!.Layout;
        var inStripe = (int)(_position - _segmentStart - layout.StripeStart(_stripe));
        var block = layout.BlockLength(_stripe);
        var copied = 0;
        while (copied < buffer.Length && inStripe < _stripeTo)
        {
            var shard = inStripe / block;
            var inBlock = inStripe % block;
            var count = Math.Min(Math.Min(block - inBlock, _stripeTo - inStripe), buffer.Length - copied);
            _fetcher.DataBlock(shard).Slice(inBlock, count).CopyTo(buffer[copied..]);
            copied += count;
            inStripe += count;
        }

        _position += copied;
        _telemetry.BytesRead.Add(copied);
        return copied;
    }

    public override async ValueTask DisposeAsync()
    {
        if (_fetcher is not null)
        {
            await _fetcher.DisposeAsync();
            _fetcher = null;
        }

        await base.DisposeAsync();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _fetcher is not null)
        {
            _fetcher.DisposeAsync().AsTask().GetAwaiter().GetResult();
            _fetcher = null;
        }

        base.Dispose(disposing);
    }

    /// <summary>Positions on the stripe holding <see cref="_position"/>, fetching it when it is not the current one.</summary>
    private async Task EnsureStripeAsync(CancellationToken cancellationToken)
    {
        if (_fetcher is not null)
        {
            var inSegment = _position - _segmentStart;
            var layout = _fetcher.Layout;
            if (inSegment < layout.Size && layout.StripeOf(inSegment) == _stripe && inSegment - layout.StripeStart(_stripe) < _stripeTo)
            {
                return;
            }
        }

        await MoveToSegmentAsync();
        var segmentLayout = _fetcher!.Layout;
        var offset = _position - _segmentStart;
        _stripe = segmentLayout.StripeOf(offset);
        _stripeFrom = (int)(offset - segmentLayout.StripeStart(_stripe));
        var stripeEnd = segmentLayout.StripeStart(_stripe) + segmentLayout.StripeDataLength(_stripe);
        _stripeTo = (int)(Math.Min(stripeEnd, _end - _segmentStart) - segmentLayout.StripeStart(_stripe));
        await _fetcher.FetchAsync(_stripe, _stripeFrom, _stripeTo, cancellationToken);
    }

    private async Task MoveToSegmentAsync()
    {
        if (_fetcher is not null && _position - _segmentStart < _fetcher.Layout.Size)
        {
            return;
        }

        if (_fetcher is not null)
        {
            _segmentStart += _fetcher.Layout.Size;
            await _fetcher.DisposeAsync();
            _fetcher = null;
        }
        else
        {
            _segmentStart = 0;
            _segmentIndex = -1;
        }

        // Skip to the segment holding _position.
        while (true)
        {
            _segmentIndex++;
            var segment = _record.Segments[_segmentIndex];
            if (_position - _segmentStart < segment.Size)
            {
                var layout = StripeLayout.For(segment);
                var lastStripe = layout.StripeOf(Math.Min(segment.Size, _end - _segmentStart) - 1);
                _fetcher = new StripeFetcher(segment, _codecs.Get(segment.DataShards, segment.ParityShards), _registry, _telemetry, lastStripe);
                return;
            }

            _segmentStart += segment.Size;
        }
    }
}

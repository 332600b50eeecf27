using System.Buffers;
using System.Diagnostics;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects.Erasure;

namespace Storage.Gateway.Objects;

/// <summary>
/// Reads the stripes of one segment: the data blocks a range needs, each checked against its CRC-32C; when a
/// block is missing or corrupt, enough other blocks (data or parity) to rebuild it. A part whose node fails is
/// not asked again during this read; a corrupt block costs only that block. Buffers are pooled: two blocks per part.
/// </summary>
public sealed class StripeFetcher : IAsyncDisposable
{
    private readonly Segment _segment;
    private readonly StripeLayout _layout;
    private readonly ReedSolomon _codec;
    private readonly NodeRegistry _registry;
    private readonly StorageTelemetry _telemetry;
    private readonly long _lastStripe;
    private readonly PartCursor[] _cursors;
    private readonly Action<int>? _onDamage;
    private readonly bool[] _damageReported;

    /// <summary>Two sets of block buffers, so one stripe can be fetched while the previous one is consumed.</summary>
    private readonly FetchedStripe[] _slots;

    /// <summary><paramref name="onDamage"/> is told, once per part, that a node which answered has the part missing, short or corrupt.</summary>
    public StripeFetcher(Segment segment, ReedSolomon codec, NodeRegistry registry, StorageTelemetry telemetry, long lastStripe, Action<int>? onDamage = null)
    {
        _onDamage = onDamage;
        _damageReported = new bool[segment.Nodes.Count];
        _segment = segment;
        _layout = StripeLayout.For(segment);
        _codec = codec;
        _registry = registry;
        _telemetry = telemetry;
        _lastStripe = lastStripe;
        _cursors = [.. Enumerable.Range(0, segment.Nodes.Count).Select(shard => new PartCursor(segment.Nodes[shard], PartKeys.For(segment.Id, shard)))];
        _slots = [new FetchedStripe(segment.Nodes.Count, segment.BlockSize), new FetchedStripe(segment.Nodes.Count, segment.BlockSize)];
    }

    public StripeLayout Layout => _layout;

    public long LastStripe => _lastStripe;

    /// <summary>
    /// Makes the data blocks that hold stripe bytes [<paramref name="from"/>, <paramref name="to"/>) valid, in
    /// the slot of this stripe's parity (even/odd). Stripes must be fetched one at a time, in order.
    /// </summary>
    /// <exception cref="DataUnavailableException">Too few intact parts remain.</exception>
    public async Task<FetchedStripe> FetchAsync(long stripe, int from, int to, CancellationToken cancellationToken)
    {
        var slot = _slots[stripe % 2];
        slot.Reset(stripe, _layout.BlockLength(stripe));
        var block = slot.BlockLength;
        var firstNeeded = from / block;
        var lastNeeded = (to - 1) / block;
        await ReadShardsAsync(slot, Enumerable.Range(firstNeeded, lastNeeded - firstNeeded + 1), cancellationToken);
        if (Enumerable.Range(firstNeeded, lastNeeded - firstNeeded + 1).All(shard => slot.Valid[shard]))
        {
            return slot;
        }

        // Rebuild: read further parts, data first (cheapest to decode), until DataShards blocks are intact.
        await ReadUntilDecodableAsync(slot, Enumerable.Range(0, _cursors.Length).Where(shard => shard < firstNeeded || shard > lastNeeded), cancellationToken);
        using var activity = StorageTelemetry.Source.StartActivity("stripe.reconstruct");
        _codec.Reconstruct(slot.Shards, slot.Valid, dataOnly: true);
        _telemetry.Reconstructions.Add(1);
        return slot;
    }

    /// <summary>Computes the block of <paramref name="shard"/> for a stripe from the other parts, without reading that part.</summary>
    /// <exception cref="DataUnavailableException">Too few intact parts remain.</exception>
    public async Task<ReadOnlyMemory<byte>> RebuildShardAsync(long stripe, int shard, CancellationToken cancellationToken)
    {
        var slot = _slots[0];
        slot.Reset(stripe, _layout.BlockLength(stripe));
        await ReadUntilDecodableAsync(slot, Enumerable.Range(0, _cursors.Length).Where(s => s != shard), cancellationToken);
        _codec.Reconstruct(slot.Shards, slot.Valid);
        return slot.Shards[shard];
    }

    /// <summary>Reads parts in the given order, in parallel batches, until DataShards blocks of the slot are intact.</summary>
    private async Task ReadUntilDecodableAsync(FetchedStripe slot, IEnumerable<int> order, CancellationToken cancellationToken)
    {
        var candidates = new Queue<int>(order);
        while (slot.ValidCount < _codec.DataShards)
        {
            var wanted = _codec.DataShards - slot.ValidCount;
            var batch = new List<int>();
            while (batch.Count < wanted && candidates.TryDequeue(out var shard))
            {
                if (!_cursors[shard].Failed)
                {
                    batch.Add(shard);
                }
            }

            if (batch.Count == 0)
            {
                throw Unavailable(slot);
            }

            await ReadShardsAsync(slot, batch, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var cursor in _cursors)
        {
            await cursor.DisposeAsync();
        }

        foreach (var slot in _slots)
        {
            slot.Release();
        }
    }

    private Task ReadShardsAsync(FetchedStripe slot, IEnumerable<int> shards, CancellationToken cancellationToken) =>
        Task.WhenAll(shards.Where(shard => !_cursors[shard].Failed).Select(shard => ReadShardAsync(slot, shard, cancellationToken)));

    private async Task ReadShardAsync(FetchedStripe slot, int shard, CancellationToken cancellationToken)
    {
        var cursor = _cursors[shard];
        var stripe = slot.Stripe;
        var block = slot.BlockLength;
        var raw = slot.Raw(shard);
        try
        {
            if (!_registry.TryGet(cursor.NodeId, out var status) || status.State == NodeState.Down)
            {
                cursor.Fail($"node '{cursor.NodeId}' is down");
                return;
            }

            var offset = _layout.PartOffset(stripe);
            var end = _layout.PartOffset(_lastStripe) + _layout.BlockLength(_lastStripe) + StripeLayout.ChecksumBytes;
            try
            {
                await ReadBlockAsync(cursor, status.Node, offset, end - offset, raw, cancellationToken);
            }
            catch (Exception ex) when (ex is (IOException or HttpRequestException) and not (PartNotFoundException or EndOfStreamException) && !cancellationToken.IsCancellationRequested)
            {
                // Once more on a fresh connection: a node that closed a kept-alive connection as it was reused (or
                // dropped one) is still there, and with no spare part left that one hiccup would fail the whole read.
                Activity.Current?.AddEvent(new ActivityEvent("part read retried", tags: new ActivityTagsCollection { ["storage.node.id"] = cursor.NodeId, ["error"] = ex.Message }));
                await cursor.DisposeAsync();
                await ReadBlockAsync(cursor, status.Node, offset, end - offset, raw, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is PartNotFoundException or EndOfStreamException)
        {
            cursor.Fail(ex.Message);
            ReportDamage(shard);
            return;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HttpRequestException)
        {
            cursor.Fail(ex.Message);
            return;
        }

        if (StripeLayout.IsIntact(raw.Span, block))
        {
            slot.Valid[shard] = true;
        }
        else
        {
            ReportDamage(shard);
            _telemetry.CorruptBlocks.Add(1);
            Activity.Current?.AddEvent(new ActivityEvent("corrupt block", tags: new ActivityTagsCollection { ["storage.node.id"] = cursor.NodeId, ["storage.stripe"] = stripe }));
        }
    }

    private static async Task ReadBlockAsync(PartCursor cursor, IStorageNode node, long offset, long length, Memory<byte> block, CancellationToken cancellationToken)
    {
        var stream = await cursor.PositionAsync(node, offset, length, cancellationToken);
        await stream.ReadExactlyAsync(block, cancellationToken);
        cursor.Advance(block.Length);
    }

    private void ReportDamage(int shard)
    {
        if (_onDamage is not null && !_damageReported[shard])
        {
            _damageReported[shard] = true;
            _onDamage(shard);
        }
    }

    private DataUnavailableException Unavailable(FetchedStripe slot)
    {
        var failures = _cursors.Where(c => c.Failed).Select(c => $"{c.NodeId}: {c.Error!.TrimEnd('.')}").Distinct().ToArray();
        return new DataUnavailableException(
            $"Stripe {slot.Stripe} of segment {_segment.Id} has only {slot.ValidCount} intact parts of the {_codec.DataShards} needed " +
            $"({_segment.Nodes.Count} stored). Unavailable: {(failures.Length == 0 ? "corrupt blocks" : string.Join("; ", failures))}.");
    }

    /// <summary>One stripe's blocks (pooled), as read and, where needed, rebuilt.</summary>
    public sealed class FetchedStripe
    {
        private readonly byte[][] _blocks;

        internal FetchedStripe(int parts, int blockSize)
        {
            _blocks = [.. Enumerable.Range(0, parts).Select(_ => ArrayPool<byte>.Shared.Rent(blockSize + StripeLayout.ChecksumBytes))];
            Shards = new Memory<byte>[parts];
            Valid = new bool[parts];
        }

        public long Stripe { get; private set; } = -1;

        public int BlockLength { get; private set; }

        internal Memory<byte>[] Shards { get; }

        internal bool[] Valid { get; }

        internal int ValidCount => Valid.Count(v => v);

        /// <summary>The data block of <paramref name="shard"/>.</summary>
        public ReadOnlyMemory<byte> DataBlock(int shard) => Shards[shard];

        internal Memory<byte> Raw(int shard) => _blocks[shard].AsMemory(0, BlockLength + StripeLayout.ChecksumBytes);

        internal void Reset(long stripe, int blockLength)
        {
            Stripe = stripe;
            BlockLength = blockLength;
            for (var shard = 0; shard < _blocks.Length; shard++)
            {
                Shards[shard] = _blocks[shard].AsMemory(0, blockLength);
                Valid[shard] = false;
            }
        }

        internal void Release()
        {
            foreach (var block in _blocks)
            {
                ArrayPool<byte>.Shared.Return(block);
            }
        }
    }

    /// <summary>A sequential reader over one part, reopened only when a read does not continue where the last ended.</summary>
    private sealed class PartCursor(string nodeId, string key) : IAsyncDisposable
    {
        private Stream? _stream;
        private long _position = -1;

        public string NodeId { get; } = nodeId;

        public bool Failed => Error is not null;

        public string? Error { get; private set; }

        public async Task<Stream> PositionAsync(IStorageNode node, long offset, long length, CancellationToken cancellationToken)
        {
            if (_stream is not null && _position == offset)
            {
                return _stream;
            }

            await DisposeAsync();
            _stream = await node.OpenReadAsync(key, offset, length, cancellationToken);
            _position = offset;
            return _stream;
        }

        public void Advance(long bytes) => _position += bytes;

        public void Fail(string error) => Error ??= error;

        public async ValueTask DisposeAsync()
        {
            if (_stream is not null)
            {
                await _stream.DisposeAsync();
                _stream = null;
            }
        }
    }
}

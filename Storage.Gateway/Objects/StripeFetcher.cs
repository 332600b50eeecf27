using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects.Erasure;
using Storage.Gateway.Objects.Integrity;

namespace Storage.Gateway.Objects;

/// <summary>
/// Reads the stripes of one segment: the data blocks a range needs, each checked against its CRC-32C; when a
/// block is missing or corrupt, enough other blocks (data or parity) to rebuild it. A part whose node fails is
/// not asked again during this read; a corrupt block costs only that block. Buffers are pooled, one block per part.
/// </summary>
public sealed class StripeFetcher : IAsyncDisposable
{
    private readonly Segment _segment;
    private readonly StripeLayout _layout;
    private readonly ReedSolomon _codec;
    private readonly NodeRegistry _registry;
    private readonly StorageTelemetry _telemetry;
    private readonly long _lastStripe;
    private readonly byte[][] _blocks;
    private readonly PartCursor[] _cursors;
    private readonly Memory<byte>[] _shards;
    private readonly bool[] _valid;

    public StripeFetcher(Segment segment, ReedSolomon codec, NodeRegistry registry, StorageTelemetry telemetry, long lastStripe)
    {
        _segment = segment;
        _layout = StripeLayout.For(segment);
        _codec = codec;
        _registry = registry;
        _telemetry = telemetry;
        _lastStripe = lastStripe;
        var parts = segment.Nodes.Count;
        _blocks = new byte[parts][];
        _cursors = new PartCursor[parts];
        _shards = new Memory<byte>[parts];
        _valid = new bool[parts];
        for (var shard = 0; shard < parts; shard++)
        {
            _blocks[shard] = ArrayPool<byte>.Shared.Rent(segment.BlockSize + StripeLayout.ChecksumBytes);
            _cursors[shard] = new PartCursor(segment.Nodes[shard], PartKeys.For(segment.Id, shard));
        }
    }

    public StripeLayout Layout => _layout;

    /// <summary>The data block of <paramref name="shard"/> for the stripe last fetched.</summary>
    public ReadOnlyMemory<byte> DataBlock(int shard) => _shards[shard];

    /// <summary>
    /// Makes the data blocks that hold stripe bytes [<paramref name="from"/>, <paramref name="to"/>) valid.
    /// </summary>
    /// <exception cref="DataUnavailableException">Too few intact parts remain.</exception>
    public async Task FetchAsync(long stripe, int from, int to, CancellationToken cancellationToken)
    {
        var block = _layout.BlockLength(stripe);
        for (var shard = 0; shard < _shards.Length; shard++)
        {
            _shards[shard] = _blocks[shard].AsMemory(0, block);
            _valid[shard] = false;
        }

        var firstNeeded = from / block;
        var lastNeeded = (to - 1) / block;
        await ReadShardsAsync(stripe, Enumerable.Range(firstNeeded, lastNeeded - firstNeeded + 1), cancellationToken);
        var neededMissing = Enumerable.Range(firstNeeded, lastNeeded - firstNeeded + 1).Any(shard => !_valid[shard]);
        if (!neededMissing)
        {
            return;
        }

        // Rebuild: read further parts, data first (cheapest to decode), until DataShards blocks are intact.
        var candidates = new Queue<int>(Enumerable.Range(0, _shards.Length).Where(shard => shard < firstNeeded || shard > lastNeeded));
        while (_valid.Count(v => v) < _codec.DataShards)
        {
            var wanted = _codec.DataShards - _valid.Count(v => v);
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
                throw Unavailable(stripe);
            }

            await ReadShardsAsync(stripe, batch, cancellationToken);
        }

        using var activity = StorageTelemetry.Source.StartActivity("stripe.reconstruct");
        _codec.Reconstruct(_shards, _valid, dataOnly: true);
        _telemetry.Reconstructions.Add(1);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var cursor in _cursors)
        {
            await cursor.DisposeAsync();
        }

        foreach (var block in _blocks)
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    private Task ReadShardsAsync(long stripe, IEnumerable<int> shards, CancellationToken cancellationToken) =>
        Task.WhenAll(shards.Where(shard => !_cursors[shard].Failed).Select(shard => ReadShardAsync(stripe, shard, cancellationToken)));

    private async Task ReadShardAsync(long stripe, int shard, CancellationToken cancellationToken)
    {
        var cursor = _cursors[shard];
        var block = _shards[shard].Length;
        var raw = _blocks[shard].AsMemory(0, block + StripeLayout.ChecksumBytes);
        try
        {
            if (!_registry.TryGet(cursor.NodeId, out var status) || status.State == NodeState.Down)
            {
                cursor.Fail($"node '{cursor.NodeId}' is down");
                return;
            }

            var offset = _layout.PartOffset(stripe);
            var end = _layout.PartOffset(_lastStripe) + _layout.BlockLength(_lastStripe) + StripeLayout.ChecksumBytes;
            var stream = await cursor.PositionAsync(status.Node, offset, end - offset, cancellationToken);
            await stream.ReadExactlyAsync(raw, cancellationToken);
            cursor.Advance(raw.Length);
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or UnauthorizedAccessException or HttpRequestException)
        {
            cursor.Fail(ex.Message);
            return;
        }

        var expected = BinaryPrimitives.ReadUInt32LittleEndian(raw.Span[block..]);
        if (Crc32C.Compute(raw.Span[..block]) == expected)
        {
            _valid[shard] = true;
        }
        else
        {
            _telemetry.CorruptBlocks.Add(1);
            Activity.Current?.AddEvent(new ActivityEvent("corrupt block", tags: new ActivityTagsCollection { ["storage.node.id"] = cursor.NodeId, ["storage.stripe"] = stripe }));
        }
    }

    private DataUnavailableException Unavailable(long stripe)
    {
        var failures = _cursors.Where(c => c.Failed).Select(c => $"{c.NodeId}: {c.Error!.TrimEnd('.')}").Distinct().ToArray();
        return new DataUnavailableException(
            $"Stripe {stripe} of segment {_segment.Id} has only {_valid.Count(v => v)} intact parts of the {_codec.DataShards} needed " +
            $"({_segment.Nodes.Count} stored). Unavailable: {(failures.Length == 0 ? "corrupt blocks" : string.Join("; ", failures))}.");
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

using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects.Erasure;
using Storage.Gateway.Placement;

namespace Storage.Gateway.Objects;

/// <summary>
/// The bytes a <see cref="SegmentWriter"/> stored: the segment (null for an empty body or one kept inline), its size
/// and MD5, and, when the body is small enough to live in its metadata record, the bytes themselves as one stored
/// block (followed by their CRC-32C, as in a part).
/// </summary>
public sealed record WrittenSegment(Segment? Segment, long Size, byte[] Md5, byte[]? Inline = null, ObjectEncryption? Encryption = null);

/// <summary>
/// Streams a body into one segment: reads a stripe at a time into a pooled buffer, encodes parity, appends a
/// CRC-32C to every block and pushes the blocks through bounded pipes into one part per node, all parts in
/// parallel. Memory per upload is one stripe plus the pipes' bounded buffers, whatever the body's size.
/// A failure anywhere deletes what was written; a crash leaves a write intent that the sweeper reclaims.
/// </summary>
public sealed class SegmentWriter(
    PlacementService placement,
    NodeRegistry registry,
    IMetadataStore metadata,
    PartRebuilder rebuilder,
    ErasureCodecs codecs,
    StorageTelemetry telemetry,
    IOptions<StorageOptions> options,
    TimeProvider time,
    ILogger<SegmentWriter> logger)
{
    private readonly WriteContext _context = new(registry, metadata, placement, rebuilder, options.Value.Maintenance.AbandonedWriteAge, time, logger);

    /// <summary>
    /// Stores the body; a declared length or Content-MD5 (<paramref name="expectedMd5"/>) that does not match fails the
    /// write and keeps nothing. A body of at most <paramref name="inlineLimit"/> bytes (<c>InlineObjectLimit</c>, or a
    /// little more for ciphertext; 0: none) is not written to the nodes at all: it is returned for its metadata record to carry.
    /// Without <paramref name="digest"/> no MD5 is computed (the written segment's is empty): a caller that digests the
    /// body itself (the plaintext of an encrypted one) spares the CPU.
    /// </summary>
    public async Task<WrittenSegment> WriteAsync(string bucket, string key, Stream body, long? declaredLength, byte[]? expectedMd5, int inlineLimit, CancellationToken cancellationToken, bool digest = true)
    {
        var settings = options.Value;
        var stripeBytes = settings.DataShards * settings.BlockSize;

        // Two stripe buffers (the second only for multi-stripe bodies): MD5, the slowest step at about 0.8 GB/s,
        // digests one stripe on another core while the next is read from the client and the current one is
        // encoded and written.
        var data = new AlignedBuffer[2];
        data[0] = new AlignedBuffer(stripeBytes);
        var parity = new AlignedBuffer[settings.ParityShards];
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        var digesting = Task.CompletedTask;
        try
        {
            var current = data[0];
            var filled = await FillAsync(body, current.Memory, cancellationToken);
            if (filled == 0)
            {
                CheckDeclaredLength(declaredLength, 0);
                return new WrittenSegment(null, 0, digest ? CheckDigest(md5.GetHashAndReset(), expectedMd5) : []);
            }

            // A body shorter than the buffer has ended: one that small rides in its record, which is one durable write
            // where the nodes would cost an intent, three files and a commit, and is one read where they would cost two.
            // The store still takes it only while it takes any write (enough nodes up): writable as a whole or not at all.
            if (filled < stripeBytes && filled <= inlineLimit)
            {
                CheckDeclaredLength(declaredLength, filled);
                placement.EnsureWritable(settings.DataShards);
                var bytes = current.Memory.Span[..filled];
                md5.AppendData(bytes);
                var inlineDigest = digest ? CheckDigest(md5.GetHashAndReset(), expectedMd5) : [];
                var stored = new byte[filled + StripeLayout.ChecksumBytes];
                StripeLayout.WriteBlock(stored, bytes);
                telemetry.BytesWritten.Add(filled);
                return new WrittenSegment(null, filled, inlineDigest, stored);
            }

            var replicate = filled < stripeBytes && filled < settings.SmallObjectThreshold;
            var dataShards = replicate ? 1 : settings.DataShards;
            int BlockLength(int stripeFill) => stripeFill == stripeBytes ? settings.BlockSize : (stripeFill + dataShards - 1) / dataShards;

            for (var p = 0; p < parity.Length; p++)
            {
                parity[p] = new AlignedBuffer(BlockLength(filled));
            }

            var nodes = placement.Choose($"{bucket}/{key}", dataShards + settings.ParityShards, settings.DataShards);
            var segment = new Segment(Guid.NewGuid().ToString("N"), declaredLength ?? 0, dataShards, settings.ParityShards, settings.BlockSize, nodes);
            using var activity = StorageTelemetry.Source.StartActivity("segment.write");
            activity?.SetTag("storage.segment.id", segment.Id);
            activity?.SetTag("storage.segment.layout", $"{dataShards}+{settings.ParityShards}");

            await using var parts = await PartSinks.OpenAsync(bucket, key, segment, BlockLength(filled), _context, cancellationToken);
            var codec = codecs.Get(dataShards, settings.ParityShards);
            var shards = new Memory<byte>[codec.TotalShards];
            long total = 0;
            for (var stripe = 0; filled > 0; stripe++)
            {
                await digesting;
                var (digested, length) = (current, filled);
                digesting = !digest ? Task.CompletedTask
                    : filled < stripeBytes ? DigestInline(md5, digested, length)
                    : Task.Run(() => md5.AppendData(digested.Memory.Span[..length]), CancellationToken.None);
                total += filled;

                var block = BlockLength(filled);
                current.Memory.Span[filled..(block * dataShards)].Clear();
                for (var i = 0; i < dataShards; i++)
                {
                    shards[i] = current.Memory.Slice(i * block, block);
                }

                for (var p = 0; p < parity.Length; p++)
                {
                    shards[dataShards + p] = parity[p].Memory[..block];
                }

                codec.Encode(shards);
                await parts.WriteStripeAsync(shards, cancellationToken);
                if (filled < stripeBytes)
                {
                    break;
                }

                // The other buffer's digest finished before this stripe's started (awaited above).
                var next = (stripe + 1) % 2;
                if (!data[next].IsRented)
                {
                    data[next] = new AlignedBuffer(stripeBytes);
                }

                current = data[next];
                filled = await FillAsync(body, current.Memory, cancellationToken);
            }

            await digesting;
            CheckDeclaredLength(declaredLength, total);
            var md5Digest = digest ? CheckDigest(md5.GetHashAndReset(), expectedMd5) : [];
            segment = await parts.CompleteAsync(total, cancellationToken);
            telemetry.BytesWritten.Add(total);
            return new WrittenSegment(segment, total, md5Digest);
        }
        finally
        {
            // A digest may still be reading a buffer when an error unwinds: let it finish before returning buffers.
            await digesting.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            foreach (var buffer in data.Concat(parity).Where(b => b.IsRented))
            {
                buffer.Return();
            }
        }
    }

    private static Task DigestInline(IncrementalHash md5, AlignedBuffer data, int length)
    {
        md5.AppendData(data.Memory.Span[..length]);
        return Task.CompletedTask;
    }

    private static byte[] CheckDigest(byte[] md5, byte[]? expected) =>
        expected is null || md5.AsSpan().SequenceEqual(expected) ? md5 : throw new ContentDigestMismatchException("Content-MD5");

    private static void CheckDeclaredLength(long? declared, long received)
    {
        if (declared is { } expected && expected != received)
        {
            throw new BodyLengthMismatchException(expected, received);
        }
    }

    /// <summary>Reads until the buffer is full or the body ends; returns the bytes read.</summary>
    private static async Task<int> FillAsync(Stream body, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await body.ReadAsync(buffer[filled..], cancellationToken);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        return filled;
    }

    /// <summary>The services a write's part sinks use, gathered once.</summary>
    private sealed record WriteContext(
        NodeRegistry Registry,
        IMetadataStore Metadata,
        PlacementService Placement,
        PartRebuilder Rebuilder,
        TimeSpan IntentAge,
        TimeProvider Time,
        ILogger Logger);

    /// <summary>
    /// One bounded pipe and one node upload per part of a segment being written. A node that fails mid-write does not
    /// fail the write while at most ParityShards parts are lost: the other parts are completed, and each lost part is
    /// then computed from them onto a spare node before the write reports success, so a committed object always has
    /// every part durable on distinct nodes. More failures than that, or no spare node, fail the write (503).
    /// </summary>
    private sealed class PartSinks : IAsyncDisposable
    {
        private static readonly TimeSpan FailedWriteRecheck = TimeSpan.FromMinutes(1);

        private readonly string _bucket;
        private readonly string _key;
        private readonly WriteContext _context;
        private readonly Pipe[] _pipes;
        private readonly Task[] _uploads;
        private readonly NodeWriteException?[] _failures;
        private readonly CancellationTokenSource _abort;
        private readonly List<PartLocation> _stranded = [];
        private Segment _segment;
        private DateTimeOffset _intentRenewedAt;
        private bool _committed;

        private PartSinks(string bucket, string key, Segment segment, int blockBytes, WriteContext context, CancellationToken cancellationToken)
        {
            (_bucket, _key, _segment, _context) = (bucket, key, segment, context);
            _abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _intentRenewedAt = context.Time.GetUtcNow();
            var partLength = segment.Size > 0 ? StripeLayout.For(segment).PartLength : -1;

            // Room for about two blocks per part: the next stripe is read from the client while this one drains.
            // A block and its checksum fit one pipe segment, so a node writes each block with one call.
            var blockWithChecksum = blockBytes + StripeLayout.ChecksumBytes;
            var pipeOptions = new PipeOptions(
                pauseWriterThreshold: 2L * blockWithChecksum,
                resumeWriterThreshold: blockWithChecksum,
                minimumSegmentSize: blockWithChecksum,
                useSynchronizationContext: false);
            _pipes = new Pipe[segment.Nodes.Count];
            _uploads = new Task[segment.Nodes.Count];
            _failures = new NodeWriteException?[segment.Nodes.Count];
            for (var shard = 0; shard < _pipes.Length; shard++)
            {
                _pipes[shard] = new Pipe(pipeOptions);
                _uploads[shard] = UploadAsync(shard, partLength, _abort.Token);
            }
        }

        public static async Task<PartSinks> OpenAsync(string bucket, string key, Segment segment, int blockBytes, WriteContext context, CancellationToken cancellationToken)
        {
            await context.Metadata.RegisterWriteAsync(ReclaimEntry.ForSegments(bucket, [segment], context.Time.GetUtcNow() + context.IntentAge, accounted: false), cancellationToken);
            return new PartSinks(bucket, key, segment, blockBytes, context, cancellationToken);
        }

        public async Task WriteStripeAsync(Memory<byte>[] shards, CancellationToken cancellationToken)
        {
            for (var shard = 0; shard < shards.Length; shard++)
            {
                if (_failures[shard] is null)
                {
                    StripeLayout.WriteBlock(_pipes[shard].Writer, shards[shard].Span);
                }
            }

            for (var shard = 0; shard < shards.Length; shard++)
            {
                if (_failures[shard] is null)
                {
                    await FlushAsync(shard, cancellationToken);
                }
            }

            ThrowIfBeyondRepair();
            await RenewIntentIfDueAsync(cancellationToken);
        }

        /// <summary>
        /// Ends every part and waits until all are durable on their nodes, replacing parts whose node failed; returns the
        /// segment as stored (a replaced part's new node in place of the failed one).
        /// </summary>
        public async Task<Segment> CompleteAsync(long size, CancellationToken cancellationToken)
        {
            _segment = _segment with { Size = size };
            for (var shard = 0; shard < _pipes.Length; shard++)
            {
                if (_failures[shard] is null)
                {
                    await _pipes[shard].Writer.CompleteAsync();
                }
            }

            await Task.WhenAll(_uploads);
            ThrowIfBeyondRepair();
            for (var shard = 0; shard < _failures.Length; shard++)
            {
                if (_failures[shard] is { } failure)
                {
                    await ReplaceFailedPartAsync(shard, failure, cancellationToken);
                }
            }

            _committed = true;
            return _segment;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_committed)
            {
                await _abort.CancelAsync();
                foreach (var pipe in _pipes)
                {
                    await pipe.Writer.CompleteAsync(new OperationCanceledException("The write was abandoned."));
                }

                await Task.WhenAll(_uploads).ContinueWith(static _ => { }, TaskScheduler.Default);
                await DeletePartsAsync();
            }

            _abort.Dispose();
        }

        /// <summary>A flush that finds its part's upload ended (the node failed, or stopped reading early) records that part as failed.</summary>
        private async Task FlushAsync(int shard, CancellationToken cancellationToken)
        {
            try
            {
                if (!(await _pipes[shard].Writer.FlushAsync(cancellationToken)).IsCompleted)
                {
                    return;
                }
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // The upload completed the pipe with its node's error; the upload itself records it.
            }

            await _uploads[shard];
            _failures[shard] ??= new NodeWriteException(_segment.Nodes[shard], new IOException("The node stopped reading before the end of its part."));
        }

        private void ThrowIfBeyondRepair()
        {
            var failed = _failures.Where(f => f is not null).ToArray();
            if (failed.Length > _segment.ParityShards)
            {
                throw failed[0]!;
            }
        }

        private async Task UploadAsync(int shard, long partLength, CancellationToken cancellationToken)
        {
            await Task.Yield();
            var reader = _pipes[shard].Reader;
            var nodeId = _segment.Nodes[shard];
            try
            {
                if (!_context.Registry.TryGet(nodeId, out var status))
                {
                    throw new InvalidOperationException($"Node '{nodeId}' is not registered on this gateway.");
                }

                using var activity = StorageTelemetry.Source.StartActivity("node.put", ActivityKind.Client);
                activity?.SetTag("storage.node.id", nodeId);
                await using var content = reader.AsStream(leaveOpen: true);
                await status.Node.PutAsync(PartKeys.For(_segment.Id, shard), content, partLength, cancellationToken);
                await reader.CompleteAsync();
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                _context.Registry.ReportDown(nodeId, ex.Message);
                _context.Logger.LogWarning("Node {Node} failed while storing part {Shard} of segment {Segment}: {Reason}", nodeId, shard, _segment.Id, ex.Message);
                _failures[shard] = new NodeWriteException(nodeId, ex);
                await reader.CompleteAsync();
            }
            catch (Exception ex)
            {
                await reader.CompleteAsync(ex);
                throw;
            }
        }

        /// <summary>
        /// Computes the failed part from the parts already durable and stores it on a spare node (one the segment does
        /// not use); without one the write fails (503) and the client's retry is placed on the nodes still up. The
        /// failed node's remains are left to the sweeper. The write intent names the new part before it is written,
        /// so a crash in between leaves nothing unswept.
        /// </summary>
        private async Task ReplaceFailedPartAsync(int shard, NodeWriteException failure, CancellationToken cancellationToken)
        {
            var failedNode = _segment.Nodes[shard];
            var healthy = _segment.Nodes.Where((_, i) => _failures[i] is null).ToHashSet(StringComparer.Ordinal);
            var target = _context.Placement.RankUp($"{_bucket}/{_key}").FirstOrDefault(node => node != failedNode && !healthy.Contains(node))
                ?? throw new NodeWriteException(failedNode, new IOException($"{failure.InnerException?.Message} No spare node is up to take its part.", failure));
            var key = PartKeys.For(_segment.Id, shard);
            var remains = new PartLocation(failedNode, key, StripeLayout.For(_segment).PartLength);
            _stranded.Add(remains);
            var nodes = _segment.Nodes.ToArray();
            nodes[shard] = target;
            var replaced = _segment with { Nodes = nodes };
            await _context.Metadata.RegisterWriteAsync(Intent(replaced, _context.Time.GetUtcNow() + _context.IntentAge), cancellationToken);

            using var activity = StorageTelemetry.Source.StartActivity("part.replace");
            activity?.SetTag("storage.node.id", target);
            activity?.SetTag("storage.node.failed", failedNode);
            await _context.Rebuilder.RebuildOntoAsync(_segment, shard, target, cancellationToken);
            _segment = replaced;
            _failures[shard] = null;
            _context.Logger.LogInformation("Part {Shard} of segment {Segment} moved from failed node {Failed} to {Target}", shard, _segment.Id, failedNode, target);

            // What the failed node may still hold goes to the sweeper; the object's key lets it spare a part the
            // object's record uses again by then (a later move back onto that node).
            await _context.Metadata.RegisterWriteAsync(
                new ReclaimEntry($"{_segment.Id}.{shard}.{failedNode}", [remains], _context.Time.GetUtcNow() + FailedWriteRecheck, Accounted: false, _bucket, _key),
                cancellationToken);
        }

        /// <summary>The write intent: every part of the segment and whatever failed nodes may hold.</summary>
        private ReclaimEntry Intent(Segment segment, DateTimeOffset due) =>
            new(segment.Id, [.. new[] { segment }.Parts(), .. _stranded], due, Accounted: false, _bucket);

        private async Task RenewIntentIfDueAsync(CancellationToken cancellationToken)
        {
            var now = _context.Time.GetUtcNow();
            if (now - _intentRenewedAt < _context.IntentAge / 4)
            {
                return;
            }

            _intentRenewedAt = now;
            await _context.Metadata.RegisterWriteAsync(Intent(_segment, now + _context.IntentAge), cancellationToken);
        }

        /// <summary>
        /// Deletes what was written now, and leaves the write intent due a minute later, so the sweeper deletes again:
        /// some S3-compatible servers finish an aborted upload after the delete and would otherwise keep a stray part.
        /// </summary>
        private async Task DeletePartsAsync()
        {
            foreach (var part in new[] { _segment }.Parts().Concat(_stranded))
            {
                if (_context.Registry.TryGet(part.NodeId, out var status))
                {
                    await PartUpload.DeleteQuietlyAsync(status.Node, part.Key, _context.Logger);
                }
            }

            try
            {
                await _context.Metadata.RegisterWriteAsync(Intent(_segment, _context.Time.GetUtcNow() + FailedWriteRecheck), CancellationToken.None);
            }
            catch (Exception ex)
            {
                _context.Logger.LogWarning(ex, "Could not reschedule the sweep of abandoned segment {Segment}; its original deadline stands", _segment.Id);
            }
        }
    }
}

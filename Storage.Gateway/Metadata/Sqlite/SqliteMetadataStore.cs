using Microsoft.Data.Sqlite;

namespace Storage.Gateway.Metadata.Sqlite;

/// <summary>
/// The embedded metadata store: one SQLite file in WAL mode, used by one gateway process (several gateways share
/// Redis). Reads use pooled connections and never block, and object look-ups are answered from
/// <see cref="SqliteRecordCache"/> when they can be; every write runs through <see cref="SqliteWriteBatcher"/> (group
/// commit, one savepoint per write), so each multi-row change is atomic and a crash leaves either the old or the new
/// state.
/// </summary>
public sealed class SqliteMetadataStore : IMetadataStore, IAsyncDisposable
{
    private readonly string _connectionString;
    // A version's inline bytes live in a row of their own (inline_data), owned by the one objects or versions row that
    // names it: keeping a replaced version moves that reference, not the bytes. Rows written before inline_data hold
    // their bytes in their own inline column, which the reads fall back to.
    private const string SelectObject = """
        SELECT o.record, COALESCE(o.inline, d.bytes) FROM objects o LEFT JOIN inline_data d ON d.id = o.inline_id
        WHERE o.bucket = $bucket AND o.key = $key
        """;

    private const string SelectVersions = """
        SELECT v.record, COALESCE(v.inline, d.bytes) FROM versions v LEFT JOIN inline_data d ON d.id = v.inline_id
        WHERE v.bucket = $bucket AND v.key = $key
        """;

    private const string SelectVersion = SelectVersions + " AND v.version_id = $version";

    private const string SelectBucket = """
        SELECT name, created_at, (SELECT document FROM bucket_documents d WHERE d.bucket = b.name AND d.name = 'versioning') FROM buckets b
        """;

    /// <summary>What <see cref="SqliteRecordCache"/> may hold unless configured (<c>Storage:MetadataCacheBytes</c>).</summary>
    public const long DefaultRecordCacheBytes = 64L * 1024 * 1024;

    private readonly SqliteWriteBatcher _writes;
    private readonly SqliteReadPool _reads;
    private readonly SqliteRecordCache _records;

    // The records the writer's current transaction changes; only the writer loop touches it, one transaction at a time.
    private readonly List<(string Bucket, string Key)> _changedRecords = [];

    // Held from initialization to disposal: the record cache is only coherent while no other process writes the file.
    private ProcessLock? _processLock;

    public SqliteMetadataStore(string path, long recordCacheBytes = DefaultRecordCacheBytes)
    {
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        _records = new SqliteRecordCache(recordCacheBytes);
        _writes = new SqliteWriteBatcher(OpenAsync, ForgetChangedRecords);
        _reads = new SqliteReadPool(OpenAsync);
    }

    public string Path { get; }

    public async ValueTask DisposeAsync()
    {
        await _reads.DisposeAsync();
        await _writes.DisposeAsync();
        _records.Dispose();
        _processLock?.Dispose();
    }

    public override string ToString() => $"SQLite at {System.IO.Path.GetFullPath(Path)}";

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!);
        _processLock ??= LockForThisProcess(Path);
        await using var db = new SqliteStatements(await OpenAsync(cancellationToken));
        await db.ExecuteOnceAsync("""
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS buckets (
                name TEXT PRIMARY KEY,
                created_at INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS objects (
                bucket TEXT NOT NULL,
                key TEXT NOT NULL,
                record TEXT NOT NULL,
                inline BLOB,
                inline_id INTEGER,
                PRIMARY KEY (bucket, key)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS versions (
                bucket TEXT NOT NULL,
                key TEXT NOT NULL,
                rank INTEGER NOT NULL,
                version_id TEXT NOT NULL,
                record TEXT NOT NULL,
                inline BLOB,
                inline_id INTEGER,
                PRIMARY KEY (bucket, key, rank));
            CREATE TABLE IF NOT EXISTS inline_data (
                id INTEGER PRIMARY KEY,
                bytes BLOB NOT NULL);
            -- Led by the version id, whose first bytes are its time: a new version's entry lands at the index's end, not
            -- among its key's (a page of the index per PUT). Files before this have the (bucket, key, version_id) one.
            DROP INDEX IF EXISTS versions_by_id;
            CREATE UNIQUE INDEX IF NOT EXISTS versions_by_version_id ON versions (version_id, bucket, key);
            CREATE TABLE IF NOT EXISTS nodes (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                address TEXT NOT NULL,
                added_at INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS node_usage (
                node_id TEXT PRIMARY KEY,
                bytes_used INTEGER NOT NULL,
                part_count INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS reclaims (
                id TEXT PRIMARY KEY,
                parts TEXT NOT NULL,
                due INTEGER NOT NULL,
                accounted INTEGER NOT NULL,
                bucket TEXT,
                key TEXT);
            CREATE INDEX IF NOT EXISTS reclaims_by_due ON reclaims (due);
            CREATE TABLE IF NOT EXISTS leases (
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                expires INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS bucket_documents (
                bucket TEXT NOT NULL,
                name TEXT NOT NULL,
                document TEXT NOT NULL,
                PRIMARY KEY (bucket, name)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS node_epochs (
                node_id TEXT PRIMARY KEY,
                epoch TEXT NOT NULL,
                verified TEXT) WITHOUT ROWID;
            """, cancellationToken);

        // Files made before inline objects lack the columns that hold their bytes, or name them in inline_data.
        foreach (var (table, column, type) in new[] { ("objects", "inline", "BLOB"), ("objects", "inline_id", "INTEGER"), ("versions", "inline_id", "INTEGER") })
        {
            var columns = await db.QueryAsync(r => r.GetString(0), $"SELECT name FROM pragma_table_info('{table}')", [], cancellationToken);
            if (!columns.Contains(column))
            {
                await db.ExecuteOnceAsync($"ALTER TABLE {table} ADD COLUMN {column} {type}", cancellationToken);
            }
        }
    }

    public async Task PingAsync(CancellationToken cancellationToken)
    {
        await using var db = new SqliteStatements(await OpenAsync(cancellationToken));
        await db.ExecuteAsync("SELECT 1", [], cancellationToken);
    }

    public Task<bool> CreateBucketAsync(BucketRecord bucket, CancellationToken cancellationToken) =>
        WriteOneRowAsync(
            "INSERT INTO buckets (name, created_at) VALUES ($name, $created) ON CONFLICT DO NOTHING",
            [("$name", bucket.Name), ("$created", bucket.CreatedAt.ToUnixTimeMilliseconds())],
            cancellationToken);

    public async Task<BucketRecord?> GetBucketAsync(string name, CancellationToken cancellationToken)
    {
        var buckets = await _reads.QueryAsync(ReadBucket, SelectBucket + " WHERE name = $name", [("$name", name)], cancellationToken);
        return buckets.FirstOrDefault();
    }

    public async Task<IReadOnlyList<BucketRecord>> ListBucketsAsync(CancellationToken cancellationToken)
    {
        return await _reads.QueryAsync(ReadBucket, SelectBucket + " ORDER BY name", [], cancellationToken);
    }

    public Task<BucketDeleteResult> DeleteBucketAsync(string name, CancellationToken cancellationToken) =>
        _writes.ExecuteAsync((db, ct) => DeleteBucketAsync(db, name, ct), cancellationToken);

    public Task<bool> SetBucketDocumentAsync(string bucket, string name, string? document, CancellationToken cancellationToken) =>
        _writes.ExecuteAsync(async (db, ct) =>
        {
            if ((await db.QueryAsync(r => r.GetInt64(0), "SELECT 1 FROM buckets WHERE name = $bucket", [("$bucket", bucket)], ct)).Count == 0)
            {
                return false;
            }

            await db.ExecuteAsync(document is null
                    ? "DELETE FROM bucket_documents WHERE bucket = $bucket AND name = $name"
                    : "INSERT INTO bucket_documents (bucket, name, document) VALUES ($bucket, $name, $document) ON CONFLICT DO UPDATE SET document = excluded.document",
                [("$bucket", bucket), ("$name", name), ("$document", (object?)document ?? DBNull.Value)], ct);
            return true;
        }, cancellationToken);

    public async Task<string?> GetBucketDocumentAsync(string bucket, string name, CancellationToken cancellationToken) =>
        (await _reads.QueryAsync(r => r.GetString(0), "SELECT document FROM bucket_documents WHERE bucket = $bucket AND name = $name",
            [("$bucket", bucket), ("$name", name)], cancellationToken)).FirstOrDefault();

    public async Task<ObjectRecord?> GetObjectAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        if (_records.TryGet(bucket, key, out var cached))
        {
            return cached;
        }

        var version = _records.Version;
        var record = (await _reads.QueryAsync(ReadObject, SelectObject, [("$bucket", bucket), ("$key", key)], cancellationToken)).FirstOrDefault();
        _records.Offer(bucket, key, record, version);
        return record;
    }

    public Task<ObjectRecord?> CommitObjectAsync(ObjectRecord record, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken) =>
        _writes.ExecuteAsync((db, ct) => CommitObjectAsync(db, record, reclaimAt, condition, ct), cancellationToken);

    public Task<bool> CommitAssembledObjectAsync(ObjectRecord record, string sourceBucket, IReadOnlyList<AssembledSource> sources, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken) =>
        _writes.ExecuteAsync((db, ct) => CommitAssembledObjectAsync(db, record, sourceBucket, sources, reclaimAt, condition, ct), cancellationToken);

    public Task<ObjectRecord?> SetObjectTagsAsync(string bucket, string key, IReadOnlyDictionary<string, string>? tags, CancellationToken cancellationToken) =>
        _writes.ExecuteAsync((db, ct) => SetObjectTagsAsync(db, bucket, key, tags, ct), cancellationToken);

    public Task<ObjectRecord?> DeleteObjectAsync(string bucket, string key, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken) =>
        _writes.ExecuteAsync((db, ct) => DeleteObjectAsync(db, bucket, key, reclaimAt, condition, ct), cancellationToken);

    public Task<ObjectRecord?> SetObjectTagsAsync(string bucket, string key, string? versionId, IReadOnlyDictionary<string, string>? tags, CancellationToken cancellationToken) =>
        _writes.ExecuteAsync(async (db, ct) =>
        {
            switch (await FindVersionAsync(db, bucket, key, versionId, ct))
            {
                case null or { Version.IsDeleteMarker: true }:
                    return null;
                case { IsCurrent: true }:
                    return await SetObjectTagsAsync(db, bucket, key, tags, ct);
                case var (version, _):
                    var tagged = version with { Attributes = version.Attributes with { Tags = tags } };
                    await db.ExecuteAsync("UPDATE versions SET record = $record WHERE bucket = $bucket AND key = $key AND version_id = $version",
                        [("$record", MetadataJsonContext.SerializeRecord(tagged)), ("$bucket", bucket), ("$key", key), ("$version", version.VersionIdText)], ct);
                    return tagged;
            }
        }, cancellationToken);

    public async Task<ObjectRecord?> GetObjectVersionAsync(string bucket, string key, string? versionId, CancellationToken cancellationToken)
    {
        if (await GetObjectAsync(bucket, key, cancellationToken) is { } current && current.VersionId == versionId)
        {
            return current;
        }

        return (await _reads.QueryAsync(ReadObject, SelectVersion,
            [("$bucket", bucket), ("$key", key), ("$version", versionId ?? ObjectRecord.NullVersionId)], cancellationToken)).FirstOrDefault();
    }

    public Task<ObjectRecord?> DeleteObjectVersionAsync(string bucket, string key, string? versionId, DateTimeOffset reclaimAt, CancellationToken cancellationToken, bool onlyIfNoncurrent = false) =>
        _writes.ExecuteAsync(async (db, ct) =>
        {
            if (await FindVersionAsync(db, bucket, key, versionId, ct) is not var (version, isCurrent) || (isCurrent && onlyIfNoncurrent))
            {
                return null;
            }

            if (isCurrent)
            {
                await DeleteCurrentAsync(db, bucket, key, ct);
            }
            else
            {
                await RemoveNoncurrentAsync(db, version, ct);
            }

            await QueueReclaimAsync(db, version, reclaimAt, ct);
            await PromoteNewestAsync(db, bucket, key, ct);
            return version;
        }, cancellationToken);

    public async Task<IReadOnlyList<ObjectVersion>> ListObjectVersionsAsync(string bucket, string prefix, VersionCursor? after, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);

        // Every cursor on a key is past its current version, which comes first; the noncurrent ones continue after the
        // cursor's rank. When the cursor's version is gone (a client emptying the bucket page by page), the key is listed
        // again from its current version: removing a current version promotes the next, which must not be skipped.
        var afterRank = long.MaxValue;
        ObjectRecord? relisted = null;
        if (after is { AfterAllVersions: false })
        {
            var ranks = await _reads.QueryAsync(r => r.GetInt64(0), "SELECT rank FROM versions WHERE bucket = $bucket AND key = $key AND version_id = $version",
                [("$bucket", bucket), ("$key", after.Key), ("$version", after.VersionId ?? ObjectRecord.NullVersionId)], cancellationToken);
            afterRank = ranks.Count == 1 ? ranks[0] : long.MinValue;
            relisted = ranks.Count == 0 ? VersionListing.Relisted(await GetObjectAsync(bucket, after.Key, cancellationToken), after, prefix) : null;
        }

        var currents = await ListObjectsAsync(bucket, prefix, after?.Key, limit, cancellationToken);

        var noncurrents = await _reads.QueryAsync(
            r => (Key: r.GetString(0), Version: new ObjectVersion(MetadataJsonContext.Deserialize<ObjectRecord>(r.GetString(1)), r.GetInt64(2) != 0)),
            """
            SELECT v.key, v.record,
                v.rank = (SELECT MIN(m.rank) FROM versions m WHERE m.bucket = v.bucket AND m.key = v.key)
                AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.bucket = v.bucket AND o.key = v.key)
            FROM versions v
            WHERE v.bucket = $bucket AND v.key >= $prefix
                AND ($after IS NULL OR v.key > $after OR (v.key = $after AND v.rank > $rank))
            ORDER BY v.key, v.rank LIMIT $limit
            """,
            [("$bucket", bucket), ("$prefix", prefix), ("$after", (object?)after?.Key ?? DBNull.Value), ("$rank", afterRank), ("$limit", limit)],
            cancellationToken);
        return VersionListing.Merge(relisted is null ? currents : [relisted, .. currents], [.. noncurrents.Where(n => n.Key.StartsWith(prefix, StringComparison.Ordinal)).Select(n => n.Version)], limit);
    }

    public async Task<IReadOnlyList<ObjectRecord>> ListObjectsAsync(string bucket, string prefix, string? startAfter, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();

        // key >= prefix uses the primary key's range; the scan stops at the first key without the prefix.
        command.CommandText = """
            SELECT key, record FROM objects
            WHERE bucket = $bucket AND key >= $prefix AND ($after IS NULL OR key > $after)
            ORDER BY key LIMIT $limit
            """;
        command.Parameters.AddWithValue("$bucket", bucket);
        command.Parameters.AddWithValue("$prefix", prefix);
        command.Parameters.AddWithValue("$after", (object?)startAfter ?? DBNull.Value);
        command.Parameters.AddWithValue("$limit", limit);
        var records = new List<ObjectRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken) && reader.GetString(0).StartsWith(prefix, StringComparison.Ordinal))
        {
            records.Add(MetadataJsonContext.Deserialize<ObjectRecord>(reader.GetString(1)));
        }

        return records;
    }

    public Task RegisterWriteAsync(ReclaimEntry intent, CancellationToken cancellationToken) =>
        _writes.ExecuteAsync((db, ct) => UpsertReclaimAsync(db, intent, ct), cancellationToken);

    public async Task<IReadOnlyList<ReclaimEntry>> GetDueReclaimsAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        return await _reads.QueryAsync(
            r => new ReclaimEntry(r.GetString(0), MetadataJsonContext.Deserialize<IReadOnlyList<PartLocation>>(r.GetString(1)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)), r.GetInt64(3) != 0, r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5)),
            "SELECT id, parts, due, accounted, bucket, key FROM reclaims WHERE due <= $now ORDER BY due LIMIT $limit", [("$now", now.ToUnixTimeMilliseconds()), ("$limit", limit)], cancellationToken);
    }

    public Task CompleteReclaimAsync(ReclaimEntry entry, CancellationToken cancellationToken) =>
        _writes.ExecuteAsync((db, ct) => CompleteReclaimAsync(db, entry, ct), cancellationToken);

    public Task<bool> ReplacePartAsync(PartMove move, DateTimeOffset reclaimAt, CancellationToken cancellationToken) =>
        _writes.ExecuteAsync((db, ct) => ReplacePartAsync(db, move, reclaimAt, ct), cancellationToken);

    public Task<bool> TryAcquireLeaseAsync(string name, string holder, TimeSpan duration, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        return WriteOneRowAsync(
            """
            INSERT INTO leases (name, holder, expires) VALUES ($name, $holder, $expires)
            ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
            WHERE leases.holder = excluded.holder OR leases.expires <= $now
            """,
            [("$name", name), ("$holder", holder), ("$expires", (now + duration).ToUnixTimeMilliseconds()), ("$now", now.ToUnixTimeMilliseconds())],
            cancellationToken);
    }

    public Task ReleaseLeaseAsync(string name, string holder, CancellationToken cancellationToken) =>
        WriteOneRowAsync("DELETE FROM leases WHERE name = $name AND holder = $holder", [("$name", name), ("$holder", holder)], cancellationToken);

    public async Task<IReadOnlyDictionary<string, NodeEpoch>> GetNodeEpochsAsync(CancellationToken cancellationToken)
    {
        var epochs = await _reads.QueryAsync(r => new NodeEpoch(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2)),
            "SELECT node_id, epoch, verified FROM node_epochs", [], cancellationToken);
        return epochs.ToDictionary(e => e.NodeId, StringComparer.Ordinal);
    }

    public Task<bool> ChangeNodeEpochAsync(string nodeId, string? expected, string epoch, bool verified, CancellationToken cancellationToken) =>
        WriteOneRowAsync(
            expected is null
                ? "INSERT INTO node_epochs (node_id, epoch, verified) VALUES ($node, $epoch, $verified) ON CONFLICT DO NOTHING"
                : "UPDATE node_epochs SET epoch = $epoch, verified = $verified WHERE node_id = $node AND epoch = $expected",
            [("$node", nodeId), ("$epoch", epoch), ("$verified", verified ? epoch : DBNull.Value), ("$expected", (object?)expected ?? DBNull.Value)],
            cancellationToken);

    public Task<bool> MarkNodeVerifiedAsync(string nodeId, string epoch, CancellationToken cancellationToken) =>
        WriteOneRowAsync(
            "UPDATE node_epochs SET verified = $epoch WHERE node_id = $node AND epoch = $epoch",
            [("$node", nodeId), ("$epoch", epoch)],
            cancellationToken);

    public Task<bool> AddNodeAsync(NodeRecord node, CancellationToken cancellationToken) =>
        WriteOneRowAsync(
            "INSERT INTO nodes (id, kind, address, added_at) VALUES ($id, $kind, $address, $added) ON CONFLICT DO NOTHING",
            [("$id", node.Id), ("$kind", node.Kind), ("$address", node.Address), ("$added", node.AddedAt.ToUnixTimeMilliseconds())],
            cancellationToken);

    public async Task<IReadOnlyList<NodeRecord>> ListNodesAsync(CancellationToken cancellationToken)
    {
        return await _reads.QueryAsync(
            r => new NodeRecord(r.GetString(0), r.GetString(1), r.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3))),
            "SELECT id, kind, address, added_at FROM nodes ORDER BY added_at, id", [], cancellationToken);
    }

    public async Task<IReadOnlyDictionary<string, NodeUsage>> GetNodeUsageAsync(CancellationToken cancellationToken)
    {
        var usage = await _reads.QueryAsync(r => new NodeUsage(r.GetString(0), r.GetInt64(1), r.GetInt64(2)),
            "SELECT node_id, bytes_used, part_count FROM node_usage", [], cancellationToken);
        return usage.ToDictionary(u => u.NodeId, StringComparer.Ordinal);
    }

    private static async Task<BucketDeleteResult> DeleteBucketAsync(SqliteStatements db, string name, CancellationToken cancellationToken)
    {
        var hasObjects = await db.QueryAsync(r => r.GetInt64(0),
            "SELECT 1 FROM objects WHERE bucket = $name UNION ALL SELECT 1 FROM versions WHERE bucket = $name LIMIT 1", [("$name", name)], cancellationToken);
        if (hasObjects.Count > 0)
        {
            return BucketDeleteResult.NotEmpty;
        }

        var deleted = await db.ExecuteAsync("DELETE FROM buckets WHERE name = $name", [("$name", name)], cancellationToken);
        await db.ExecuteAsync("DELETE FROM bucket_documents WHERE bucket = $name", [("$name", name)], cancellationToken);
        return deleted == 1 ? BucketDeleteResult.Deleted : BucketDeleteResult.NotFound;
    }

    private async Task<ObjectRecord?> CommitObjectAsync(SqliteStatements db, ObjectRecord record, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken)
    {
        var previous = await ReplaceObjectAsync(db, record, reclaimAt, condition, cancellationToken);
        foreach (var segment in record.Segments)
        {
            await db.ExecuteAsync("DELETE FROM reclaims WHERE id = $id", [("$id", segment.Id)], cancellationToken);
        }

        await AddUsageAsync(db, record.Segments.Parts(), +1, cancellationToken);
        return previous;
    }

    private async Task<bool> CommitAssembledObjectAsync(SqliteStatements db, ObjectRecord record, string sourceBucket, IReadOnlyList<AssembledSource> sources, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken)
    {
        foreach (var source in sources)
        {
            var current = await GetObjectAsync(db, sourceBucket, source.Key, cancellationToken);
            if (current is null || (current.Segments.Count > 0 ? current.Segments[0].Id : null) != source.SegmentId)
            {
                return false;
            }
        }

        await ReplaceObjectAsync(db, record, reclaimAt, condition, cancellationToken);
        foreach (var source in sources)
        {
            await DeleteCurrentAsync(db, sourceBucket, source.Key, cancellationToken);
        }

        return true;
    }

    /// <summary>
    /// Writes the record (or delete marker) over any previous version, which is kept as a noncurrent version or, when
    /// versioning does not keep it, has its segments queued for deletion; returns that version.
    /// </summary>
    private async Task<ObjectRecord?> ReplaceObjectAsync(SqliteStatements db, ObjectRecord record, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken)
    {
        var bucket = (await db.QueryAsync(ReadBucket, SelectBucket + " WHERE name = $name", [("$name", record.Bucket)], cancellationToken)).FirstOrDefault()
            ?? throw new BucketNotFoundException(record.Bucket);
        VersioningChangedException.ThrowUnlessWritable(record, bucket.Versioning);
        var previous = await GetObjectAsync(db, record.Bucket, record.Key, cancellationToken);
        WriteConditionFailedException.ThrowUnlessAllowed(condition, previous);
        if (bucket.Versioning == BucketVersioning.Suspended && await GetNoncurrentAsync(db, record.Bucket, record.Key, null, cancellationToken) is { } nullVersion)
        {
            await RemoveNoncurrentAsync(db, nullVersion, cancellationToken);
            await QueueReclaimAsync(db, nullVersion, reclaimAt, cancellationToken);
        }

        if (previous is not null)
        {
            if (bucket.Versioning == BucketVersioning.Enabled || (bucket.Versioning == BucketVersioning.Suspended && previous.VersionId is not null))
            {
                await DemoteCurrentAsync(db, previous, cancellationToken);
            }
            else
            {
                await FreeInlineAsync(db, InlineOfCurrent, [("$bucket", record.Bucket), ("$key", record.Key)], cancellationToken);
                await QueueReclaimAsync(db, previous, reclaimAt, cancellationToken);
            }
        }

        if (record.IsDeleteMarker)
        {
            await ChangeRecordAsync(db, record.Bucket, record.Key,
                DeleteObjectRow, [("$bucket", record.Bucket), ("$key", record.Key)], cancellationToken);
            await db.ExecuteAsync(
                $"INSERT INTO versions (bucket, key, rank, version_id, record) VALUES ($bucket, $key, {NewestRank}, $version, $record)",
                [("$bucket", record.Bucket), ("$key", record.Key), ("$version", record.VersionIdText), ("$record", MetadataJsonContext.SerializeRecord(record))],
                cancellationToken);
            return previous;
        }

        object inlineId = record.Inline is { } inline
            ? (await db.QueryAsync(r => r.GetInt64(0), "INSERT INTO inline_data (bytes) VALUES ($bytes) RETURNING id", [("$bytes", inline)], cancellationToken))[0]
            : DBNull.Value;
        await ChangeRecordAsync(db, record.Bucket, record.Key,
            """
            INSERT INTO objects (bucket, key, record, inline, inline_id) VALUES ($bucket, $key, $record, NULL, $inline)
            ON CONFLICT (bucket, key) DO UPDATE SET record = excluded.record, inline = NULL, inline_id = excluded.inline_id
            """,
            [("$bucket", record.Bucket), ("$key", record.Key), ("$record", MetadataJsonContext.SerializeRecord(record)), ("$inline", inlineId)],
            cancellationToken);
        return previous;
    }

    /// <summary>The rank of a key's newest noncurrent version to be: ranks fall with age, so the smallest is the newest.</summary>
    private const string NewestRank = "(SELECT COALESCE(MIN(rank), 0) - 1 FROM versions WHERE bucket = $bucket AND key = $key)";

    private const string DeleteObjectRow = "DELETE FROM objects WHERE bucket = $bucket AND key = $key";

    private const string DeleteVersionRow = "DELETE FROM versions WHERE bucket = $bucket AND key = $key AND version_id = $version";

    private const string InlineOfCurrent = "SELECT inline_id FROM objects WHERE bucket = $bucket AND key = $key";

    private const string InlineOfVersion = "SELECT inline_id FROM versions WHERE bucket = $bucket AND key = $key AND version_id = $version";

    /// <summary>Files the current version as the key's newest noncurrent one, row to row: its inline bytes stay where they are.</summary>
    private static Task<int> DemoteCurrentAsync(SqliteStatements db, ObjectRecord current, CancellationToken cancellationToken) =>
        db.ExecuteAsync(
            $"""
            INSERT INTO versions (bucket, key, rank, version_id, record, inline, inline_id)
            SELECT bucket, key, {NewestRank}, $version, record, inline, inline_id FROM objects WHERE bucket = $bucket AND key = $key
            """,
            [("$bucket", current.Bucket), ("$key", current.Key), ("$version", current.VersionIdText)],
            cancellationToken);

    /// <summary>Removes a row's inline bytes (the row named by the query is going away, not moving).</summary>
    private static Task<int> FreeInlineAsync(SqliteStatements db, string inlineOf, (string Name, object Value)[] row, CancellationToken cancellationToken) =>
        db.ExecuteAsync($"DELETE FROM inline_data WHERE id = ({inlineOf})", row, cancellationToken);

    private async Task DeleteCurrentAsync(SqliteStatements db, string bucket, string key, CancellationToken cancellationToken)
    {
        (string, object)[] row = [("$bucket", bucket), ("$key", key)];
        await FreeInlineAsync(db, InlineOfCurrent, row, cancellationToken);
        await ChangeRecordAsync(db, bucket, key, DeleteObjectRow, row, cancellationToken);
    }

    private static async Task RemoveNoncurrentAsync(SqliteStatements db, ObjectRecord version, CancellationToken cancellationToken)
    {
        (string, object)[] row = [("$bucket", version.Bucket), ("$key", version.Key), ("$version", version.VersionIdText)];
        await FreeInlineAsync(db, InlineOfVersion, row, cancellationToken);
        await db.ExecuteAsync(DeleteVersionRow, row, cancellationToken);
    }

    private static async Task<ObjectRecord?> GetNoncurrentAsync(SqliteStatements db, string bucket, string key, string? versionId, CancellationToken cancellationToken) =>
        (await db.QueryAsync(ReadObject, SelectVersion,
            [("$bucket", bucket), ("$key", key), ("$version", versionId ?? ObjectRecord.NullVersionId)], cancellationToken)).FirstOrDefault();

    /// <summary>The version, current (first) or not.</summary>
    private static async Task<(ObjectRecord Version, bool IsCurrent)?> FindVersionAsync(SqliteStatements db, string bucket, string key, string? versionId, CancellationToken cancellationToken)
    {
        if (await GetObjectAsync(db, bucket, key, cancellationToken) is { } current && current.VersionId == versionId)
        {
            return (current, true);
        }

        return await GetNoncurrentAsync(db, bucket, key, versionId, cancellationToken) is { } noncurrent ? (noncurrent, false) : null;
    }

    private async Task<ObjectRecord?> SetObjectTagsAsync(SqliteStatements db, string bucket, string key, IReadOnlyDictionary<string, string>? tags, CancellationToken cancellationToken)
    {
        if (await GetObjectAsync(db, bucket, key, cancellationToken) is not { } current)
        {
            return null;
        }

        var tagged = current with { Attributes = current.Attributes with { Tags = tags } };
        await ChangeRecordAsync(db, bucket, key,
            "UPDATE objects SET record = $record WHERE bucket = $bucket AND key = $key",
            [("$record", MetadataJsonContext.SerializeRecord(tagged)), ("$bucket", bucket), ("$key", key)], cancellationToken);
        return tagged;
    }

    private async Task<ObjectRecord?> DeleteObjectAsync(SqliteStatements db, string bucket, string key, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken)
    {
        if ((await db.QueryAsync(ReadBucket, SelectBucket + " WHERE name = $name", [("$name", bucket)], cancellationToken)).FirstOrDefault() is { Versioning: not BucketVersioning.Unversioned } versioned)
        {
            throw new VersioningChangedException(versioned.Versioning);
        }

        var previous = await GetObjectAsync(db, bucket, key, cancellationToken);
        WriteConditionFailedException.ThrowUnlessAllowed(condition, previous);
        if (previous is null)
        {
            return null;
        }

        await DeleteCurrentAsync(db, bucket, key, cancellationToken);
        await QueueReclaimAsync(db, previous, reclaimAt, cancellationToken);
        return previous;
    }

    /// <summary>When the key has no current version and its newest noncurrent one is not a delete marker, that one becomes current.</summary>
    private async Task PromoteNewestAsync(SqliteStatements db, string bucket, string key, CancellationToken cancellationToken)
    {
        if (await GetObjectAsync(db, bucket, key, cancellationToken) is not null
            || (await db.QueryAsync(r => MetadataJsonContext.Deserialize<ObjectRecord>(r.GetString(0)),
                "SELECT record FROM versions WHERE bucket = $bucket AND key = $key ORDER BY rank LIMIT 1",
                [("$bucket", bucket), ("$key", key)], cancellationToken)).FirstOrDefault() is not { IsDeleteMarker: false } newest)
        {
            return;
        }

        // Row to row, as a demotion: the version's inline bytes move with it by reference.
        (string, object)[] row = [("$bucket", bucket), ("$key", key), ("$version", newest.VersionIdText)];
        await ChangeRecordAsync(db, bucket, key,
            "INSERT INTO objects (bucket, key, record, inline, inline_id) SELECT bucket, key, record, inline, inline_id FROM versions WHERE bucket = $bucket AND key = $key AND version_id = $version",
            row, cancellationToken);
        await db.ExecuteAsync(DeleteVersionRow, row, cancellationToken);
    }

    private static async Task<bool> CompleteReclaimAsync(SqliteStatements db, ReclaimEntry entry, CancellationToken cancellationToken)
    {
        var removed = await db.ExecuteAsync("DELETE FROM reclaims WHERE id = $id", [("$id", entry.Id)], cancellationToken);
        if (removed == 1 && entry.Accounted)
        {
            await AddUsageAsync(db, entry.Parts, -1, cancellationToken);
        }

        return removed == 1;
    }

    private async Task<bool> ReplacePartAsync(SqliteStatements db, PartMove move, DateTimeOffset reclaimAt, CancellationToken cancellationToken)
    {
        var record = await GetObjectAsync(db, move.Bucket, move.Key, cancellationToken);
        var current = record?.SegmentForMove(move) is not null;
        if (!current)
        {
            record = await GetNoncurrentAsync(db, move.Bucket, move.Key, move.VersionId, cancellationToken);
        }

        if (record?.SegmentForMove(move) is not { } segment)
        {
            return false;
        }

        var moved = record.WithPartMoved(move.SegmentId, move.Shard, move.ToNode);
        if (current)
        {
            await ChangeRecordAsync(
                db,
                move.Bucket,
                move.Key,
                "UPDATE objects SET record = $record WHERE bucket = $bucket AND key = $key",
                [("$record", MetadataJsonContext.SerializeRecord(moved)), ("$bucket", move.Bucket), ("$key", move.Key)],
                cancellationToken);
        }
        else
        {
            await db.ExecuteAsync("UPDATE versions SET record = $record WHERE bucket = $bucket AND key = $key AND version_id = $version",
                [("$record", MetadataJsonContext.SerializeRecord(moved)), ("$bucket", move.Bucket), ("$key", move.Key), ("$version", record.VersionIdText)], cancellationToken);
        }

        var old = segment.Part(move.Shard);
        await AddUsageAsync(db, [old with { NodeId = move.ToNode }], +1, cancellationToken);
        await UpsertReclaimAsync(db, ReclaimEntry.ForMove(move, old, reclaimAt), cancellationToken);
        return true;
    }

    private static async Task<ObjectRecord?> GetObjectAsync(SqliteStatements db, string bucket, string key, CancellationToken cancellationToken) =>
        (await db.QueryAsync(ReadObject, SelectObject, [("$bucket", bucket), ("$key", key)], cancellationToken)).FirstOrDefault();

    /// <summary>
    /// A record (column 0) with its inline bytes (column 1). The bytes live in a BLOB of their own, not in the JSON:
    /// no base64 to decode on a GET, and listings, which select only the JSON, never read them.
    /// </summary>
    private static ObjectRecord ReadObject(SqliteDataReader reader)
    {
        var record = MetadataJsonContext.Deserialize<ObjectRecord>(reader.GetString(0));
        return reader.IsDBNull(1) ? record : record with { Inline = reader.GetFieldValue<byte[]>(1) };
    }



    private static Task QueueReclaimAsync(SqliteStatements db, ObjectRecord replaced, DateTimeOffset reclaimAt, CancellationToken cancellationToken) =>
        replaced.Segments.Count == 0
            ? Task.CompletedTask
            : UpsertReclaimAsync(db, ReclaimEntry.ForSegments(replaced.Bucket, replaced.Segments, reclaimAt, accounted: true), cancellationToken);

    private static Task<int> UpsertReclaimAsync(SqliteStatements db, ReclaimEntry entry, CancellationToken cancellationToken) =>
        db.ExecuteAsync(
            """
            INSERT INTO reclaims (id, parts, due, accounted, bucket, key) VALUES ($id, $parts, $due, $accounted, $bucket, $key)
            ON CONFLICT (id) DO UPDATE SET parts = excluded.parts, due = excluded.due, accounted = excluded.accounted
            """,
            [
                ("$id", entry.Id),
                ("$parts", MetadataJsonContext.Serialize(entry.Parts)),
                ("$due", entry.Due.ToUnixTimeMilliseconds()),
                ("$accounted", entry.Accounted ? 1 : 0),
                ("$bucket", (object?)entry.Bucket ?? DBNull.Value),
                ("$key", (object?)entry.Key ?? DBNull.Value),
            ],
            cancellationToken);

    private static async Task AddUsageAsync(SqliteStatements db, IEnumerable<PartLocation> parts, int sign, CancellationToken cancellationToken)
    {
        foreach (var part in parts)
        {
            await db.ExecuteAsync(
                """
                INSERT INTO node_usage (node_id, bytes_used, part_count) VALUES ($node, $bytes, $parts)
                ON CONFLICT (node_id) DO UPDATE SET bytes_used = bytes_used + excluded.bytes_used, part_count = part_count + excluded.part_count
                """, [("$node", part.NodeId), ("$bytes", sign * part.Length), ("$parts", sign)], cancellationToken);
        }
    }

    private static BucketRecord ReadBucket(SqliteDataReader reader) =>
        new(reader.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)), VersioningDocument.Parse(reader.IsDBNull(2) ? null : reader.GetString(2)));

    /// <summary>One statement through the write batcher; true when it wrote a row (an insert or update that was not skipped).</summary>
    private Task<bool> WriteOneRowAsync(string sql, (string Name, object Value)[] parameters, CancellationToken cancellationToken) =>
        _writes.ExecuteAsync(async (db, ct) => await db.ExecuteAsync(sql, parameters, ct) == 1, cancellationToken);

    /// <summary>The one way a statement may change a row of <c>objects</c>: the cache learns of it after the transaction.</summary>
    private Task<int> ChangeRecordAsync(SqliteStatements db, string bucket, string key, string sql, (string Name, object Value)[] parameters, CancellationToken cancellationToken)
    {
        _changedRecords.Add((bucket, key));
        return db.ExecuteAsync(sql, parameters, cancellationToken);
    }

    /// <summary>Runs after each write transaction, before its callers are answered, so they read what they wrote.</summary>
    private void ForgetChangedRecords()
    {
        _records.Invalidate(_changedRecords);
        _changedRecords.Clear();
    }

    private static ProcessLock LockForThisProcess(string path) =>
        ProcessLock.TryTake(path + ".lock") ?? throw new InvalidOperationException(
            $"The SQLite metadata at {System.IO.Path.GetFullPath(path)} is in use by another gateway process. SQLite metadata serves one gateway; several gateways share Redis (ConnectionStrings:redis).");

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }
}

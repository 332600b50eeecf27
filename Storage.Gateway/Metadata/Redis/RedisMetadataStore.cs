using System.Globalization;
using System.Text;
using StackExchange.Redis;
using Storage.Gateway.Concurrency;

namespace Storage.Gateway.Metadata.Redis;

/// <summary>
/// Metadata in Redis, for any number of gateway replicas. Per bucket, a hash holds the object records and a
/// sorted set with equal scores holds the keys, so a listing page is one <c>ZRANGEBYLEX … LIMIT</c>: O(log N +
/// page) however many keys the bucket has. Every change that touches several keys is one Lua script (atomic in
/// Redis); commits and deletes compare the record they replace, and retry if another gateway got there first.
/// Everything a script touches shares the bucket's hash tag (<see cref="SlotTag"/>): its existence mark, records, key
/// index, reclaim queue and fill counters, and its multipart companion's records; so on Redis Cluster each bucket
/// lives in one hash slot and the buckets spread over the masters. What spans buckets (the reclaim queues, the fill
/// counters, the bucket list) is read per slot and merged.
/// Every call goes through StackExchange.Redis' multiplexer; its errors become <see cref="RedisUnavailableException"/>
/// (a 503 with the reason), since the store's callers only need to know that metadata could not be reached.
/// </summary>
public sealed partial class RedisMetadataStore(
    IConnectionMultiplexer redis,
    string keyPrefix = RedisMetadataStore.DefaultKeyPrefix,
    ReplicaAcknowledgement? acknowledgement = null,
    IConnectionMultiplexer? writes = null) : IMetadataStore
{
    public const string DefaultKeyPrefix = "storage:";

    private const int MaxCompareAndSwapAttempts = 32;

    // Writes (and their WAITs) go out on `writes` when given: WAIT holds its connection until replicas confirm, and
    // reads on the other connection need not queue behind it. A write's reply means Redis applied it, so a read on
    // either connection afterwards sees it.
    private readonly IConnectionMultiplexer _writer = writes ?? redis;

    private readonly ConnectionGeneration? _connections = acknowledgement is null ? null : new ConnectionGeneration(writes ?? redis);

    // 1 while a write's WAIT came back short: later answers may rest on it, so they wait too until a WAIT succeeds.
    private int _unconfirmed;

    private readonly GroupedRounds<long>? _replicaWait = acknowledgement is { } wait
        ? new GroupedRounds<long>(async () => (long)await CallAsync(
            writes ?? redis, db => db.ExecuteAsync("WAIT", wait.Replicas, (long)wait.Timeout.TotalMilliseconds), CancellationToken.None))
        : null;

    // The object scripts share one argument layout. KEYS: 1 the bucket's mark, 2 its records, 3 its key index,
    // 4 its slot's reclaims, 5 those by due time, 6-9 versioning (below), 10.. the script's own. ARGV: 1 bucket, 2 key, 3 new
    // record, 4 the record it must replace ('' for none), 5-7 the reclaim entry for the replaced parts (id, json, due; ''
    // for none), 8-15 versioning, 16.. its own,
    // and last the new version's inline bytes ('' for none). Inline bytes live in the records hash under the key
    // behind a 0xFF byte, which UTF-8 never holds: no listing or scan (which read the fields the key index names)
    // ever fetches them.
    // A conflict answers the current record, so the caller can plan again without reading it.
    //
    // Versioning: KEYS 6 the bucket's documents, 7 its noncurrent versions (field: key, a 0 byte and a rank; the inline
    // bytes behind 0xFF as above), 8 their index (the same members, so a key's versions sort together, newest first: ranks
    // fall with age), 9 each version's member by key, 0 byte and version id. ARGV 8 the versioning state planned for ('',
    // Enabled, Suspended; '=' rewrites the same version and skips versioning), 9 the new version's id, 10 '1' for a delete
    // marker, 11 the replaced version's id when it is kept as a noncurrent version ('' when reclaimed), 12 the key's
    // noncurrent null version expected (Suspended: it is replaced; '' for none), 13-15 the reclaim entry for its parts.
    // ARGV 4 and 11 both '*' (Enabled, unconditional writes): keep whatever is current, unseen, and answer it (KEPT).
    // Every check comes before the first write: a script that returns early must have changed nothing.
    private const string CheckTarget = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOBUCKET' end
        if ARGV[8] ~= '=' then
          local state = redis.call('HGET', KEYS[6], 'versioning') or ''
          if state ~= ARGV[8] then return 'VERSIONING:' .. state end
        end
        local current = redis.call('HGET', KEYS[2], ARGV[2])
        if ARGV[4] ~= '*' and (current or '') ~= ARGV[4] then return { 'CONFLICT', current } end
        local keptId, keptJson = ARGV[11], ARGV[4]
        if keptId == '*' then
          keptId, keptJson = '', current
          if current then
            keptId = cjson.decode(current).versionId
            if type(keptId) ~= 'string' then keptId = 'null' end
          end
        end
        local nullMember = false
        if ARGV[8] == 'Suspended' then
          nullMember = redis.call('HGET', KEYS[9], ARGV[2] .. '\0null')
          if ((nullMember and redis.call('HGET', KEYS[7], nullMember)) or '') ~= ARGV[12] then return { 'CONFLICT', current } end
        end

        """;

    private const string WriteTarget = """

        local key = ARGV[2]
        if nullMember then
          redis.call('HDEL', KEYS[7], nullMember, '\255' .. nullMember)
          redis.call('ZREM', KEYS[8], nullMember)
          redis.call('HDEL', KEYS[9], key .. '\0null')
          if ARGV[13] ~= '' then
            redis.call('HSET', KEYS[4], ARGV[13], ARGV[14])
            redis.call('ZADD', KEYS[5], ARGV[15], ARGV[13])
          end
        end
        local rank = false
        local function keep(id, json, inline)
          if not rank then
            local newest = redis.call('ZRANGEBYLEX', KEYS[8], '[' .. key .. '\0', '(' .. key .. '\1', 'LIMIT', 0, 1)
            rank = 4503599627370496
            if #newest > 0 then rank = tonumber(string.sub(newest[1], -16), 16) end
          end
          rank = rank - 1
          local member = key .. '\0' .. string.format('%016x', rank)
          redis.call('HSET', KEYS[7], member, json)
          if inline then redis.call('HSET', KEYS[7], '\255' .. member, inline) end
          redis.call('ZADD', KEYS[8], 0, member)
          redis.call('HSET', KEYS[9], key .. '\0' .. id, member)
        end
        if keptId ~= '' then keep(keptId, keptJson, redis.call('HGET', KEYS[2], '\255' .. key)) end
        if ARGV[10] == '1' then keep(ARGV[9], ARGV[3], false) end
        if ARGV[10] == '1' then
          redis.call('HDEL', KEYS[2], key, '\255' .. key)
          redis.call('ZREM', KEYS[3], key)
        else
          redis.call('HSET', KEYS[2], key, ARGV[3])
          redis.call('ZADD', KEYS[3], 0, key)
          if ARGV[#ARGV] ~= '' then
            redis.call('HSET', KEYS[2], '\255' .. key, ARGV[#ARGV])
          else
            redis.call('HDEL', KEYS[2], '\255' .. key)
          end
        end
        if ARGV[5] ~= '' then
          redis.call('HSET', KEYS[4], ARGV[5], ARGV[6])
          redis.call('ZADD', KEYS[5], ARGV[7], ARGV[5])
        end
        if ARGV[4] == '*' then return { 'KEPT', current } end
        return 'OK'
        """;

    /// <summary>
    /// Lua shared by the scripts that account parts: adds to the fill counters (byte and part hashes) what ARGV holds
    /// from index <c>at</c>: a node count, then node, bytes and parts for each node.
    /// </summary>
    private const string AddUsage = """
        local function add_usage(at, bytes, parts)
          for n = 0, tonumber(ARGV[at]) - 1 do
            local node = at + 1 + 3 * n
            redis.call('HINCRBY', bytes, ARGV[node], ARGV[node + 1])
            redis.call('HINCRBY', parts, ARGV[node], ARGV[node + 2])
          end
        end

        """;

    /// <summary>A commit: also removes the write intents of the new segments (ARGV 16..) and adds usage (KEYS 10, 11).</summary>
    private const string Commit = AddUsage + CheckTarget + """
        local i = 17
        for _ = 1, tonumber(ARGV[16]) do
          redis.call('HDEL', KEYS[4], ARGV[i])
          redis.call('ZREM', KEYS[5], ARGV[i])
          i = i + 1
        end
        add_usage(i, KEYS[10], KEYS[11])
        """ + WriteTarget;

    /// <summary>An assembled commit: first checks and removes the source records (KEYS 10, 11; ARGV 16.. key and segment id pairs).</summary>
    private const string Assemble = CheckTarget + """
        local sources = tonumber(ARGV[16])
        for i = 0, sources - 1 do
          local current = redis.call('HGET', KEYS[10], ARGV[17 + 2 * i])
          if not current then return 'CHANGED' end
          local segments = cjson.decode(current).segments
          local id = ''
          if segments and #segments > 0 then id = segments[1].id end
          if id ~= ARGV[18 + 2 * i] then return 'CHANGED' end
        end
        for i = 0, sources - 1 do
          redis.call('HDEL', KEYS[10], ARGV[17 + 2 * i], '\255' .. ARGV[17 + 2 * i])
          redis.call('ZREM', KEYS[11], ARGV[17 + 2 * i])
        end
        """ + WriteTarget;

    private const string Lease = """
        local holder = redis.call('GET', KEYS[1])
        if holder and holder ~= ARGV[1] then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """;

    private const string ReleaseLease = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """;

    /// <summary>KEYS: 1 epochs, 2 verified epochs. ARGV: 1 node, 2 expected epoch ('' for none), 3 new epoch, 4 '1' when verified at once.</summary>
    private const string ChangeEpoch = """
        if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2] then return 0 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
        if ARGV[4] == '1' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) else redis.call('HDEL', KEYS[2], ARGV[1]) end
        return 1
        """;

    private const string MarkVerified = """
        if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
        return 1
        """;

    /// <summary>An unversioned bucket's delete. KEYS: 1 records, 2 key index, 3 reclaims, 4 by due time, 5 documents.</summary>
    private const string Delete = """
        local state = redis.call('HGET', KEYS[5], 'versioning')
        if state then return 'VERSIONING:' .. state end
        local current = redis.call('HGET', KEYS[1], ARGV[1])
        if not current then return 'MISSING' end
        if current ~= ARGV[2] then return 'CONFLICT' end
        redis.call('HDEL', KEYS[1], ARGV[1], '\255' .. ARGV[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        if ARGV[3] ~= '' then
          redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
          redis.call('ZADD', KEYS[4], ARGV[5], ARGV[3])
        end
        return 'OK'
        """;

    /// <summary>KEYS: 1 the bucket's records. ARGV: 1 key, 2 the record it must replace, 3 the new one (the same version, its inline bytes untouched).</summary>
    private const string Rewrite = """
        local current = redis.call('HGET', KEYS[1], ARGV[1])
        if not current then return 'MISSING' end
        if current ~= ARGV[2] then return 'CONFLICT' end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
        return 'OK'
        """;

    /// <summary>
    /// KEYS: 1 the bucket's mark, 2 its key index, 3 its records (empty but for fields a gateway that knew no inline bytes
    /// may have left), 4 its documents, 5 its version index, 6 its noncurrent versions, 7 their ids.
    /// </summary>
    private const string DeleteBucket = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTFOUND' end
        if redis.call('ZCARD', KEYS[2]) > 0 or redis.call('ZCARD', KEYS[5]) > 0 then return 'NOTEMPTY' end
        redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[6], KEYS[7])
        return 'DELETED'
        """;

    /// <summary>
    /// Removes one version for good. KEYS: 1 records, 2 key index, 3 reclaims, 4 by due time, 5 noncurrent versions,
    /// 6 their index, 7 their ids. ARGV: 1 key, 2 version id, 3 the version's record as read, 4-6 its reclaim entry ('' for
    /// none), 7 '1' when it is the current version. The newest noncurrent version then becomes current if the key has
    /// none and it is not a delete marker.
    /// </summary>
    private const string DeleteVersion = """
        local key = ARGV[1]
        if ARGV[7] == '1' then
          if redis.call('HGET', KEYS[1], key) ~= ARGV[3] then return 'CONFLICT' end
          redis.call('HDEL', KEYS[1], key, '\255' .. key)
          redis.call('ZREM', KEYS[2], key)
        else
          local member = redis.call('HGET', KEYS[7], key .. '\0' .. ARGV[2])
          if not member or redis.call('HGET', KEYS[5], member) ~= ARGV[3] then return 'CONFLICT' end
          redis.call('HDEL', KEYS[5], member, '\255' .. member)
          redis.call('ZREM', KEYS[6], member)
          redis.call('HDEL', KEYS[7], key .. '\0' .. ARGV[2])
        end
        if ARGV[4] ~= '' then
          redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
          redis.call('ZADD', KEYS[4], ARGV[6], ARGV[4])
        end
        if redis.call('HEXISTS', KEYS[1], key) == 0 then
          local newest = redis.call('ZRANGEBYLEX', KEYS[6], '[' .. key .. '\0', '(' .. key .. '\1', 'LIMIT', 0, 1)
          if #newest > 0 then
            local json = redis.call('HGET', KEYS[5], newest[1])
            local version = cjson.decode(json)
            if not version.isDeleteMarker then
              local inline = redis.call('HGET', KEYS[5], '\255' .. newest[1])
              redis.call('HSET', KEYS[1], key, json)
              if inline then redis.call('HSET', KEYS[1], '\255' .. key, inline) end
              redis.call('ZADD', KEYS[2], 0, key)
              redis.call('HDEL', KEYS[5], newest[1], '\255' .. newest[1])
              redis.call('ZREM', KEYS[6], newest[1])
              redis.call('HDEL', KEYS[7], key .. '\0' .. (version.versionId or 'null'))
            end
          end
        end
        return 'OK'
        """;

    /// <summary>
    /// Rewrites a noncurrent version in place (its tags, or a part healing moved). KEYS: 1 noncurrent versions, 2 reclaims,
    /// 3 by due time, 4 usage bytes, 5 usage parts. ARGV: 1 member, 2 the record as read, 3 the new one, 4-6 a reclaim
    /// entry ('' for none), 7.. usage (node count, then node, bytes, parts).
    /// </summary>
    private const string RewriteVersion = AddUsage + """
        if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 'CONFLICT' end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
        if ARGV[4] ~= '' then
          redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
          redis.call('ZADD', KEYS[3], ARGV[6], ARGV[4])
        end
        add_usage(7, KEYS[4], KEYS[5])
        return 'OK'
        """;

    /// <summary>
    /// A page of noncurrent versions with, for each, whether it is its key's latest (the newest, of a key without a current
    /// version). KEYS: 1 their index, 2 noncurrent versions, 3 records. ARGV: 1-2 the index range, 3 the limit. Answers
    /// record and '1'/'0' pairs.
    /// </summary>
    private const string ListVersions = """
        local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
        local page = {}
        local previous = false
        for i, member in ipairs(members) do
          local key = string.sub(member, 1, #member - 17)
          local newest
          if i == 1 then
            local before = redis.call('ZREVRANGEBYLEX', KEYS[1], '(' .. member, '-', 'LIMIT', 0, 1)
            newest = #before == 0 or string.sub(before[1], 1, #before[1] - 17) ~= key
          else
            newest = previous ~= key
          end
          previous = key
          page[#page + 1] = redis.call('HGET', KEYS[2], member)
          page[#page + 1] = (newest and redis.call('HEXISTS', KEYS[3], key) == 0) and '1' or '0'
        end
        return page
        """;

    /// <summary>KEYS: 1 the bucket's mark, 2 its documents. ARGV: 1 name, 2 document ('' removes it).</summary>
    private const string SetDocument = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        if ARGV[2] == '' then redis.call('HDEL', KEYS[2], ARGV[1]) else redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
        return 1
        """;

    private const string Register = """
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
        return 1
        """;

    private const string Complete = AddUsage + """
        if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
        redis.call('ZREM', KEYS[2], ARGV[1])
        add_usage(2, KEYS[3], KEYS[4])
        return 1
        """;

    /// <summary>The layout version of the keys below; a store without one holds the layout before slots (or nothing).</summary>
    private const string CurrentLayout = "2";

    /// <summary>The slot of reclaim entries that name no bucket (written before entries did).</summary>
    private const string SharedTag = "~";

    private string Layout => keyPrefix + "layout";

    /// <summary>Every bucket's name and creation time: the list's index, checked against each bucket's own mark.</summary>
    private string BucketIndex => keyPrefix + "buckets";

    /// <summary>Every slot tag that ever held a bucket, so the reclaim queues and fill counters of each can be found.</summary>
    private string SlotTags => keyPrefix + "slots";

    private string Nodes => keyPrefix + "nodes";

    private string NodeEpochs => keyPrefix + "{node-epochs}";

    private string NodeVerified => keyPrefix + "{node-epochs}:verified";

    /// <summary>
    /// The hash tag of a bucket's keys: its name, except for a hidden companion <c>.&lt;purpose&gt;.&lt;bucket&gt;</c>
    /// (multipart uploads), which shares its bucket's, so a completion's one script stays in one slot. Bucket names
    /// never hold braces, so the tag is exactly this.
    /// </summary>
    public static string SlotTag(string? bucket) => bucket switch
    {
        null => SharedTag,
        ['.', ..] when bucket.IndexOf('.', 1) is var dot and > 0 && dot < bucket.Length - 1 => bucket[(dot + 1)..],
        _ => bucket,
    };

    /// <summary>
    /// The start of every key of a slot. Redis hashes only the first <c>{…}</c> of a key, so with a prefix that has a
    /// hash tag of its own every key lands in that one slot instead, which is how stores made before slots ran.
    /// </summary>
    private string Slot(string tag) => $"{keyPrefix}{{{tag}}}:";

    private string MarkOf(string bucket) => $"{Slot(SlotTag(bucket))}bucket:{bucket}";

    private string ObjectsOf(string bucket) => $"{Slot(SlotTag(bucket))}objects:{bucket}";

    private string KeysOf(string bucket) => $"{Slot(SlotTag(bucket))}keys:{bucket}";

    private string DocumentsOf(string bucket) => $"{Slot(SlotTag(bucket))}documents:{bucket}";

    private string VersionsOf(string bucket) => $"{Slot(SlotTag(bucket))}versions:{bucket}";

    private string VersionIndexOf(string bucket) => $"{Slot(SlotTag(bucket))}versions:index:{bucket}";

    private string VersionIdsOf(string bucket) => $"{Slot(SlotTag(bucket))}versions:ids:{bucket}";

    /// <summary>The versioning keys every object script takes as KEYS 6-9.</summary>
    private RedisKey[] VersioningKeys(string bucket) => [DocumentsOf(bucket), VersionsOf(bucket), VersionIndexOf(bucket), VersionIdsOf(bucket)];

    private string ReclaimsIn(string tag) => Slot(tag) + "reclaims";

    private string ReclaimsDueIn(string tag) => Slot(tag) + "reclaims:due";

    private string UsageBytesIn(string tag) => Slot(tag) + "usage:bytes";

    private string UsagePartsIn(string tag) => Slot(tag) + "usage:parts";

    /// <summary>
    /// Checks that Redis answers and can hold this layout, and brings a store of the layout before slots to it. On
    /// Redis Cluster every script must touch keys of one hash slot, which each bucket's tag gives; <c>WAIT</c> would
    /// be needed on each slot's master there, so <c>waitReplicas</c> is refused.
    /// </summary>
    /// <exception cref="InvalidOperationException">Redis Cluster with <c>waitReplicas</c>, or a layout newer than this version knows.</exception>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await PingAsync(cancellationToken);
        if (acknowledgement is not null && redis.GetServers().Any(server => server.ServerType == ServerType.Cluster))
        {
            throw new InvalidOperationException("waitReplicas is not supported on Redis Cluster: remove it from ConnectionStrings:redis.");
        }

        await UpgradeLayoutAsync(cancellationToken);
    }

    /// <summary>Whether every key lands in one slot, the prefix's own tag (Redis hashes only the part between the first '{' and the next '}' when it is not empty).</summary>
    public bool SpreadsOverSlots =>
        !(keyPrefix.IndexOf('{', StringComparison.Ordinal) is var open and >= 0
            && keyPrefix.IndexOf('}', open + 1) is var close and > 0
            && close > open + 1);

    public override string ToString() =>
        $"Redis at {string.Join(", ", redis.GetEndPoints().Select(e => e.ToString()))}, keys under '{keyPrefix}'{(SpreadsOverSlots ? ", a hash slot per bucket" : ", in the prefix's one hash slot")}";

    public Task PingAsync(CancellationToken cancellationToken) => CallAsync(db => db.PingAsync(), cancellationToken);

    /// <summary>
    /// The index always names every bucket that exists (it may name more, which listing filters out): the slot tag is
    /// recorded first (the bucket's reclaims must be findable from its first write), then the index, then the mark (the
    /// bucket exists from here: commits check it), then the index once more, against a delete of the same name that
    /// removed it meanwhile.
    /// </summary>
    public async Task<bool> CreateBucketAsync(BucketRecord bucket, CancellationToken cancellationToken)
    {
        var created = bucket.CreatedAt.ToUnixTimeMilliseconds();
        await WriteAsync(db => db.SetAddAsync(SlotTags, SlotTag(bucket.Name)), _ => true, cancellationToken);
        await WriteAsync(db => db.HashSetAsync(BucketIndex, bucket.Name, created), _ => true, cancellationToken);
        var added = await WriteAsync(db => db.StringSetAsync(MarkOf(bucket.Name), created, when: When.NotExists), added => added, cancellationToken);
        if (await GetBucketAsync(bucket.Name, cancellationToken) is { } current)
        {
            await WriteAsync(db => db.HashSetAsync(BucketIndex, bucket.Name, current.CreatedAt.ToUnixTimeMilliseconds()), _ => true, cancellationToken);
        }

        return added;
    }

    /// <summary>The mark and the versioning document, sent together: one round trip.</summary>
    public async Task<BucketRecord?> GetBucketAsync(string name, CancellationToken cancellationToken)
    {
        var (created, versioning) = await CallAsync(
            async db =>
            {
                var mark = db.StringGetAsync(MarkOf(name));
                var document = db.HashGetAsync(DocumentsOf(name), VersioningDocument.Name);
                return (await mark, await document);
            },
            cancellationToken);
        return created.IsNull ? null : new BucketRecord(name, FromMilliseconds(created!), VersioningDocument.Parse(versioning));
    }

    /// <summary>The index, less the names whose mark is gone (a delete cut off before it updated the index).</summary>
    public async Task<IReadOnlyList<BucketRecord>> ListBucketsAsync(CancellationToken cancellationToken)
    {
        var names = await CallAsync(db => db.HashKeysAsync(BucketIndex), cancellationToken);
        var buckets = await Task.WhenAll(names.Select(name => GetBucketAsync(name!, cancellationToken)));
        return [.. buckets.OfType<BucketRecord>().OrderBy(b => b.Name, StringComparer.Ordinal)];
    }

    public async Task<BucketDeleteResult> DeleteBucketAsync(string name, CancellationToken cancellationToken)
    {
        var result = (string?)await EvalAsync(DeleteBucket, [MarkOf(name), KeysOf(name), ObjectsOf(name), DocumentsOf(name), VersionIndexOf(name), VersionsOf(name), VersionIdsOf(name)], [], cancellationToken) switch
        {
            "DELETED" => BucketDeleteResult.Deleted,
            "NOTEMPTY" => BucketDeleteResult.NotEmpty,
            _ => BucketDeleteResult.NotFound,
        };
        if (result == BucketDeleteResult.Deleted)
        {
            await WriteAsync(db => db.HashDeleteAsync(BucketIndex, name), _ => true, cancellationToken);

            // Created again meanwhile: the index must name it.
            if (await GetBucketAsync(name, cancellationToken) is { } again)
            {
                await WriteAsync(db => db.HashSetAsync(BucketIndex, name, again.CreatedAt.ToUnixTimeMilliseconds()), _ => true, cancellationToken);
            }
        }

        return result;
    }

    /// <summary>The record and its inline bytes, in one HMGET.</summary>
    public async Task<bool> SetBucketDocumentAsync(string bucket, string name, string? document, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return (long)await EvalAsync(SetDocument, [MarkOf(bucket), DocumentsOf(bucket)], [name, document ?? string.Empty], cancellationToken) == 1;
    }

    public async Task<string?> GetBucketDocumentAsync(string bucket, string name, CancellationToken cancellationToken) =>
        await CallAsync(db => db.HashGetAsync(DocumentsOf(bucket), name), cancellationToken);

    public async Task<ObjectRecord?> GetObjectAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        var fields = await CallAsync(db => db.HashGetAsync(ObjectsOf(bucket), [key, InlineField(key)]), cancellationToken);
        var record = Parse(fields[0]);

        // A record that has segments, or bytes in its JSON (written before the field), is never shadowed by a field a
        // gateway that does not know it may have left behind.
        return record is { Inline: null, Segments.Count: 0 } && !fields[1].IsNull ? record with { Inline = (byte[])fields[1]! } : record;
    }

    public async Task<ObjectRecord?> CommitObjectAsync(ObjectRecord record, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken)
    {
        var json = MetadataJsonContext.SerializeRecord(record);

        // The condition is checked against the version read for the swap, which the script replaces only if unchanged.
        var (outcome, previous) = await SwapAsync(
            Commit,
            record,
            record.Bucket,
            record.Key,
            condition == WriteCondition.None ? SwapStart.Unconditional : condition.Allows(null) ? SwapStart.GuessAbsent : SwapStart.Read,
            reclaimAt,
            (replaced, kept) =>
            {
                WriteConditionFailedException.ThrowUnlessAllowed(condition, replaced);
                return CommitSwap(record.Bucket, json, kept ? null : ReclaimOf(record.Bucket, replaced, reclaimAt), [.. record.Segments.Select(s => s.Id)], record.Segments.Parts()) with { Inline = record.Inline };
            },
            cancellationToken);
        return outcome == SwapOutcome.Applied ? previous : throw new BucketNotFoundException(record.Bucket);
    }

    public async Task<bool> CommitAssembledObjectAsync(ObjectRecord record, string sourceBucket, IReadOnlyList<AssembledSource> sources, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken)
    {
        var json = MetadataJsonContext.SerializeRecord(record);
        RedisValue[] sourceArguments = [sources.Count, .. sources.SelectMany(s => new RedisValue[] { s.Key, s.SegmentId ?? string.Empty })];
        var (outcome, _) = await SwapAsync(
            Assemble,
            record,
            record.Bucket,
            record.Key,
            condition.Allows(null) ? SwapStart.GuessAbsent : SwapStart.Read,
            reclaimAt,
            (replaced, kept) =>
            {
                WriteConditionFailedException.ThrowUnlessAllowed(condition, replaced);
                return new Swap(json, kept ? null : ReclaimOf(record.Bucket, replaced, reclaimAt), [ObjectsOf(sourceBucket), KeysOf(sourceBucket)], sourceArguments);
            },
            cancellationToken);
        return outcome switch
        {
            SwapOutcome.Applied => true,
            SwapOutcome.NoBucket => throw new BucketNotFoundException(record.Bucket),
            _ => false,
        };
    }

    /// <summary>The current version if it holds the part; otherwise the noncurrent version the move names.</summary>
    public async Task<bool> ReplacePartAsync(PartMove move, DateTimeOffset reclaimAt, CancellationToken cancellationToken)
    {
        ReclaimEntry MovedAway(Segment segment) => ReclaimEntry.ForMove(move, segment.Part(move.Shard), reclaimAt);
        var (outcome, _) = await SwapAsync(
            Commit,
            version: null,
            move.Bucket,
            move.Key,
            SwapStart.Read,
            reclaimAt,
            (previous, _) => previous?.SegmentForMove(move) is { } segment
                ? CommitSwap(
                    move.Bucket,
                    MetadataJsonContext.SerializeRecord(previous!.WithPartMoved(move.SegmentId, move.Shard, move.ToNode)),
                    MovedAway(segment),
                    [],
                    [segment.Part(move.Shard) with { NodeId = move.ToNode }])
                : null,
            cancellationToken);
        if (outcome == SwapOutcome.Applied)
        {
            return true;
        }

        for (var attempt = 0; attempt < MaxCompareAndSwapAttempts; attempt++)
        {
            if (await NoncurrentAsync(move.Bucket, move.Key, move.VersionId, cancellationToken) is not { Member: { } member } found || found.Record.SegmentForMove(move) is not { } segment)
            {
                return false;
            }

            var moved = MetadataJsonContext.Serialize(found.Record.WithPartMoved(move.SegmentId, move.Shard, move.ToNode));
            if (await RewriteVersionAsync(move.Bucket, member, found.Json, moved, MovedAway(segment), [segment.Part(move.Shard) with { NodeId = move.ToNode }], cancellationToken))
            {
                return true;
            }
        }

        throw new RedisUnavailableException($"Moving a part of '{move.Bucket}/{move.Key}' lost {MaxCompareAndSwapAttempts} races in a row; try again.");
    }

    public async Task<ObjectRecord?> SetObjectTagsAsync(string bucket, string key, string? versionId, IReadOnlyDictionary<string, string>? tags, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxCompareAndSwapAttempts; attempt++)
        {
            switch (await FindVersionAsync(bucket, key, versionId, cancellationToken))
            {
                case null or { Record.IsDeleteMarker: true }:
                    return null;
                case var found:
                    // Serialized whole: a record written before the inline field keeps the bytes its JSON holds. Swapped
                    // against the very record found, so a version written meanwhile is never the one tagged.
                    var retagged = found.Record with { Attributes = found.Record.Attributes with { Tags = tags } };
                    var json = MetadataJsonContext.Serialize(retagged);
                    var done = found.Member is { } member
                        ? await RewriteVersionAsync(bucket, member, found.Json, json, null, [], cancellationToken)
                        : (string?)await EvalAsync(Rewrite, [ObjectsOf(bucket)], [key, found.Json, json], cancellationToken) == "OK";
                    if (done)
                    {
                        return retagged;
                    }

                    break;
            }
        }

        throw new RedisUnavailableException($"Tagging '{bucket}/{key}' lost {MaxCompareAndSwapAttempts} races in a row; try again.");
    }

    public async Task<ObjectRecord?> GetObjectVersionAsync(string bucket, string key, string? versionId, CancellationToken cancellationToken)
    {
        if (await GetObjectAsync(bucket, key, cancellationToken) is { } current && current.VersionId == versionId)
        {
            return current;
        }

        RedisValue member = await CallAsync(db => db.HashGetAsync(VersionIdsOf(bucket), VersionIdField(key, versionId)), cancellationToken);
        if (member.IsNull)
        {
            return null;
        }

        var fields = await CallAsync(db => db.HashGetAsync(VersionsOf(bucket), [member, InlineField((byte[])member!)]), cancellationToken);
        return Parse(fields[0]) is { } version && !fields[1].IsNull ? version with { Inline = (byte[])fields[1]! } : Parse(fields[0]);
    }

    public async Task<ObjectRecord?> DeleteObjectVersionAsync(string bucket, string key, string? versionId, DateTimeOffset reclaimAt, CancellationToken cancellationToken, bool onlyIfNoncurrent = false)
    {
        for (var attempt = 0; attempt < MaxCompareAndSwapAttempts; attempt++)
        {
            // A version promoted since it was found fails the script's check (its member is gone) and is found current next time.
            if (await FindVersionAsync(bucket, key, versionId, cancellationToken) is not { } found || (found.Member is null && onlyIfNoncurrent))
            {
                return null;
            }

            var reclaim = ReclaimOf(bucket, found.Record, reclaimAt);
            var outcome = (string?)await EvalAsync(
                DeleteVersion,
                [ObjectsOf(bucket), KeysOf(bucket), ReclaimsIn(SlotTag(bucket)), ReclaimsDueIn(SlotTag(bucket)), VersionsOf(bucket), VersionIndexOf(bucket), VersionIdsOf(bucket)],
                [key, found.Record.VersionIdText, found.Json, reclaim?.Id ?? string.Empty, reclaim is null ? string.Empty : MetadataJsonContext.Serialize(reclaim), reclaimAt.ToUnixTimeMilliseconds(), found.Member is null ? "1" : "0"],
                cancellationToken);
            if (outcome == "OK")
            {
                return found.Record;
            }
        }

        throw new RedisUnavailableException($"Deleting a version of '{bucket}/{key}' lost {MaxCompareAndSwapAttempts} races in a row; try again.");
    }

    public async Task<IReadOnlyList<ObjectVersion>> ListObjectVersionsAsync(string bucket, string prefix, VersionCursor? after, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        var prefixBytes = Encoding.UTF8.GetBytes(prefix);

        // Every cursor on a key is past its current version, which comes first; the noncurrent ones continue from an index
        // member: after the cursor's, or none of the key's (key, 1: after every rank). When the cursor's version is gone (a
        // client emptying the bucket page by page), the key is listed again from its current version (key, 0): removing a
        // current version promotes the next, which must not be skipped.
        byte[] from = prefixBytes;
        var inclusive = true;
        ObjectRecord? relisted = null;
        if (after is not null)
        {
            var keyBytes = Encoding.UTF8.GetBytes(after.Key);
            RedisValue member = after.AfterAllVersions
                ? RedisValue.Null
                : await CallAsync(db => db.HashGetAsync(VersionIdsOf(bucket), VersionIdField(after.Key, after.VersionId)), cancellationToken);
            if (after.AfterAllVersions)
            {
                from = [.. keyBytes, 1];
            }
            else if (!member.IsNull)
            {
                (from, inclusive) = ((byte[])member!, false);
            }
            else
            {
                from = [.. keyBytes, 0];
                relisted = VersionListing.Relisted(await GetObjectAsync(bucket, after.Key, cancellationToken), after, prefix);
            }

            if (from.AsSpan().SequenceCompareTo(prefixBytes) < 0)
            {
                (from, inclusive) = (prefixBytes, true);
            }
        }

        RedisValue start = from.Length == 0 ? "-" : (byte[])[(byte)(inclusive ? '[' : '('), .. from];
        RedisValue stop = prefix.Length == 0 ? "+" : (byte[])[(byte)'(', .. prefixBytes, 0xFF];
        var currents = ListObjectsAsync(bucket, prefix, after?.Key, limit, cancellationToken);
        var page = await CallAsync(db => db.ScriptEvaluateAsync(ListVersions, [VersionIndexOf(bucket), VersionsOf(bucket), ObjectsOf(bucket)], [start, stop, limit]), cancellationToken);
        var entries = (RedisResult[])page!;
        var noncurrents = new List<ObjectVersion>(entries.Length / 2);
        for (var i = 0; i + 1 < entries.Length; i += 2)
        {
            noncurrents.Add(new ObjectVersion(Parse((string?)entries[i])!, (string?)entries[i + 1] == "1"));
        }

        return VersionListing.Merge(relisted is null ? await currents : [relisted, .. await currents], noncurrents, limit);
    }

    public async Task<bool> TryAcquireLeaseAsync(string name, string holder, TimeSpan duration, CancellationToken cancellationToken) =>
        (long)await EvalAsync(Lease, [$"{keyPrefix}lease:{name}"], [holder, (long)duration.TotalMilliseconds], cancellationToken) == 1;

    public async Task<ObjectRecord?> SetObjectTagsAsync(string bucket, string key, IReadOnlyDictionary<string, string>? tags, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxCompareAndSwapAttempts; attempt++)
        {
            string? currentJson = await CallAsync(_writer, db => db.HashGetAsync(ObjectsOf(bucket), key), cancellationToken);
            if (Parse(currentJson) is not { } current)
            {
                return null;
            }

            // Serialized whole: a record written before the inline field keeps the bytes its JSON holds.
            var tagged = current with { Attributes = current.Attributes with { Tags = tags } };
            var outcome = (string?)await EvalAsync(Rewrite, [ObjectsOf(bucket)], [key, currentJson, MetadataJsonContext.Serialize(tagged)], cancellationToken);
            switch (outcome)
            {
                case "OK":
                    return tagged;
                case "MISSING":
                    return null;
            }
        }

        throw new RedisUnavailableException($"Tagging '{bucket}/{key}' lost {MaxCompareAndSwapAttempts} races in a row; try again.");
    }

    public async Task<ObjectRecord?> DeleteObjectAsync(string bucket, string key, DateTimeOffset reclaimAt, WriteCondition condition, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxCompareAndSwapAttempts; attempt++)
        {
            string? previousJson = await CallAsync(_writer, db => db.HashGetAsync(ObjectsOf(bucket), key), cancellationToken);
            var previous = Parse(previousJson);

            // Checked against the version read here, which the script removes only if it is still current.
            WriteConditionFailedException.ThrowUnlessAllowed(condition, previous);
            if (previous is null)
            {
                return null;
            }

            var reclaim = ReclaimOf(bucket, previous, reclaimAt);
            var outcome = (string?)await EvalAsync(
                Delete,
                [ObjectsOf(bucket), KeysOf(bucket), ReclaimsIn(SlotTag(bucket)), ReclaimsDueIn(SlotTag(bucket)), DocumentsOf(bucket)],
                [key, previousJson, reclaim?.Id ?? string.Empty, reclaim is null ? string.Empty : MetadataJsonContext.Serialize(reclaim), reclaimAt.ToUnixTimeMilliseconds()],
                cancellationToken);
            switch (outcome)
            {
                case "OK":
                    return previous;
                case "MISSING":
                    return null;
                case { } answer when VersioningIn(answer) is { } actual:
                    throw new VersioningChangedException(actual);
            }
        }

        throw new RedisUnavailableException($"Deleting '{bucket}/{key}' lost {MaxCompareAndSwapAttempts} races in a row; try again.");
    }

    public async Task<IReadOnlyList<ObjectRecord>> ListObjectsAsync(string bucket, string prefix, string? startAfter, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        var prefixBytes = Encoding.UTF8.GetBytes(prefix);

        // Lexicographic range on UTF-8 bytes: from the prefix (or just after startAfter) to the prefix followed
        // by 0xFF, a byte that never occurs in UTF-8, so every key with the prefix and nothing else is in range.
        var afterStart = startAfter is not null && Encoding.UTF8.GetBytes(startAfter).AsSpan().SequenceCompareTo(prefixBytes) >= 0;
        RedisValue from = afterStart ? Encoding.UTF8.GetBytes(startAfter!) : prefixBytes;
        RedisValue to = prefix.Length == 0 ? default : (byte[])[.. prefixBytes, 0xFF];
        var exclude = (afterStart ? Exclude.Start : Exclude.None) | (prefix.Length == 0 ? Exclude.None : Exclude.Stop);
        var keys = await CallAsync(db => db.SortedSetRangeByValueAsync(KeysOf(bucket), from, to, exclude, Order.Ascending, 0, limit), cancellationToken);
        if (keys.Length == 0)
        {
            return [];
        }

        var records = await CallAsync(db => db.HashGetAsync(ObjectsOf(bucket), keys), cancellationToken);
        return [.. records.Select(r => Parse(r)).OfType<ObjectRecord>().Select(r => r.Inline is null ? r : r with { Inline = null })];
    }

    public Task RegisterWriteAsync(ReclaimEntry intent, CancellationToken cancellationToken) =>
        EvalAsync(Register, [ReclaimsIn(SlotTag(intent.Bucket)), ReclaimsDueIn(SlotTag(intent.Bucket))], [intent.Id, MetadataJsonContext.Serialize(intent), intent.Due.ToUnixTimeMilliseconds()], cancellationToken);

    /// <summary>The earliest due entries of every slot, merged: one range per slot, then the records of those chosen.</summary>
    public async Task<IReadOnlyList<ReclaimEntry>> GetDueReclaimsAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        var tags = await AllSlotTagsAsync(cancellationToken);
        var due = await Task.WhenAll(tags.Select(async tag => (Tag: tag, Ids: await CallAsync(
            db => db.SortedSetRangeByScoreWithScoresAsync(ReclaimsDueIn(tag), double.NegativeInfinity, now.ToUnixTimeMilliseconds(), Exclude.None, Order.Ascending, 0, limit),
            cancellationToken))));
        var chosen = due.SelectMany(slot => slot.Ids.Select(id => (slot.Tag, id.Element, id.Score))).OrderBy(e => e.Score).Take(limit).GroupBy(e => e.Tag);
        var entries = await Task.WhenAll(chosen.Select(slot => CallAsync(db => db.HashGetAsync(ReclaimsIn(slot.Key), [.. slot.Select(e => e.Element)]), cancellationToken)));
        return [.. entries.SelectMany(e => e).Where(e => !e.IsNull).Select(e => MetadataJsonContext.Deserialize<ReclaimEntry>(e!)).OrderBy(e => e.Due)];
    }

    public Task CompleteReclaimAsync(ReclaimEntry entry, CancellationToken cancellationToken)
    {
        var tag = SlotTag(entry.Bucket);
        return EvalAsync(Complete, [ReclaimsIn(tag), ReclaimsDueIn(tag), UsageBytesIn(tag), UsagePartsIn(tag)], [entry.Id, .. entry.Accounted ? UsageArguments(entry.Parts, -1) : [0]], cancellationToken);
    }

    public Task ReleaseLeaseAsync(string name, string holder, CancellationToken cancellationToken) =>
        EvalAsync(ReleaseLease, [$"{keyPrefix}lease:{name}"], [holder], cancellationToken);

    public async Task<IReadOnlyDictionary<string, NodeEpoch>> GetNodeEpochsAsync(CancellationToken cancellationToken)
    {
        var epochs = Strings(await CallAsync(db => db.HashGetAllAsync(NodeEpochs), cancellationToken));
        var verified = Strings(await CallAsync(db => db.HashGetAllAsync(NodeVerified), cancellationToken));
        return epochs.ToDictionary(e => e.Key, e => new NodeEpoch(e.Key, e.Value, verified.GetValueOrDefault(e.Key)), StringComparer.Ordinal);
    }

    public async Task<bool> ChangeNodeEpochAsync(string nodeId, string? expected, string epoch, bool verified, CancellationToken cancellationToken) =>
        (long)await EvalAsync(ChangeEpoch, [NodeEpochs, NodeVerified], [nodeId, expected ?? string.Empty, epoch, verified ? "1" : "0"], cancellationToken) == 1;

    public async Task<bool> MarkNodeVerifiedAsync(string nodeId, string epoch, CancellationToken cancellationToken) =>
        (long)await EvalAsync(MarkVerified, [NodeEpochs, NodeVerified], [nodeId, epoch], cancellationToken) == 1;

    public Task<bool> AddNodeAsync(NodeRecord node, CancellationToken cancellationToken) =>
        WriteAsync(db => db.HashSetAsync(Nodes, node.Id, MetadataJsonContext.Serialize(node), When.NotExists), added => added, cancellationToken);

    public async Task<IReadOnlyList<NodeRecord>> ListNodesAsync(CancellationToken cancellationToken) =>
        [.. (await CallAsync(db => db.HashValuesAsync(Nodes), cancellationToken))
            .Select(n => MetadataJsonContext.Deserialize<NodeRecord>(n!))
            .OrderBy(n => n.AddedAt)
            .ThenBy(n => n.Id, StringComparer.Ordinal)];

    /// <summary>Each slot counts what its buckets' commits and reclaims added and took away; a node's usage is the sum.</summary>
    public async Task<IReadOnlyDictionary<string, NodeUsage>> GetNodeUsageAsync(CancellationToken cancellationToken)
    {
        var tags = await AllSlotTagsAsync(cancellationToken);
        var slots = await Task.WhenAll(tags.Select(async tag => (
            Bytes: await CallAsync(db => db.HashGetAllAsync(UsageBytesIn(tag)), cancellationToken),
            Parts: await CallAsync(db => db.HashGetAllAsync(UsagePartsIn(tag)), cancellationToken))));
        var bytes = Sum(slots.Select(s => s.Bytes));
        var parts = Sum(slots.Select(s => s.Parts));
        return bytes.Keys.Union(parts.Keys).ToDictionary(
            node => node,
            node => new NodeUsage(node, bytes.GetValueOrDefault(node), parts.GetValueOrDefault(node)),
            StringComparer.Ordinal);
    }

    private async Task<string[]> AllSlotTagsAsync(CancellationToken cancellationToken) =>
        [SharedTag, .. (await CallAsync(db => db.SetMembersAsync(SlotTags), cancellationToken)).Select(t => (string)t!).Where(t => t != SharedTag)];

    private static Dictionary<string, long> Sum(IEnumerable<HashEntry[]> counters)
    {
        var sums = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var entry in counters.SelectMany(c => c))
        {
            sums[entry.Name!] = sums.GetValueOrDefault(entry.Name!) + (long)entry.Value;
        }

        return sums;
    }

    /// <summary>
    /// Compare-and-swap of one object record: reads it (or, as <paramref name="start"/> allows, first assumes there is
    /// none, or has the script keep whatever is current), asks <paramref name="plan"/> for the replacement (null: give up, once the record is known), and runs
    /// <paramref name="script"/>, which applies it only if the record is still the one planned against; plans again
    /// against the record the script answers when another write got there first.
    /// </summary>
    /// <remarks>
    /// <paramref name="version"/> is the new version (null: the same version rewritten, which versioning leaves alone). The
    /// plan is made for a guess of the bucket's versioning state that fits the version, which the script checks: told
    /// another, the swap plans again for it if the version fits it too, and throws if not. <paramref name="plan"/> learns
    /// whether the replaced version is kept (as a noncurrent version) or must be reclaimed.
    /// </remarks>
    /// <exception cref="VersioningChangedException">The version does not fit the bucket's versioning state.</exception>
    private async Task<(SwapOutcome Outcome, ObjectRecord? Previous)> SwapAsync(string script, ObjectRecord? version, string bucket, string key, SwapStart start, DateTimeOffset reclaimAt, Func<ObjectRecord?, bool, Swap?> plan, CancellationToken cancellationToken)
    {
        // A guess that the key is new saves the read before the script: one call for a new key (most writes of a build
        // cache or an artifact store), and an overwrite's conflict answer brings the record to plan against instead.
        var known = start == SwapStart.Read;
        string? previousJson = null;
        if (known)
        {
            previousJson = await CallAsync(_writer, db => db.HashGetAsync(ObjectsOf(bucket), key), cancellationToken);
        }

        BucketVersioning? state = version switch
        {
            null => null,
            { VersionId: not null } => BucketVersioning.Enabled,
            { IsDeleteMarker: true } => BucketVersioning.Suspended,
            _ => BucketVersioning.Unversioned,
        };
        for (var attempt = 0; attempt < MaxCompareAndSwapAttempts; attempt++)
        {
            // In an Enabled bucket an unconditional write keeps whatever is current, so the script needs no expectation:
            // it keeps the current version unseen, saving an overwrite the round trip of the conflict that tells it.
            var unseen = start == SwapStart.Unconditional && !known && state == BucketVersioning.Enabled;
            var previous = Parse(previousJson);
            var kept = unseen || (previous is not null && (state == BucketVersioning.Enabled || (state == BucketVersioning.Suspended && previous.VersionId is not null)));
            if (plan(previous, kept) is not { } swap)
            {
                if (known)
                {
                    return (SwapOutcome.Declined, previous);
                }

                previousJson = await CallAsync(_writer, db => db.HashGetAsync(ObjectsOf(bucket), key), cancellationToken);
                known = true;
                continue;
            }

            // Suspended: the key's noncurrent null version, if any, goes (the script checks it is the one read here).
            var nullVersion = state == BucketVersioning.Suspended ? await NoncurrentAsync(bucket, key, versionId: null, cancellationToken) : null;
            var nullReclaim = ReclaimOf(bucket, nullVersion?.Record, reclaimAt);
            RedisValue[] arguments =
            [
                bucket, key, swap.RecordJson, unseen ? KeepUnseen : previousJson ?? string.Empty,
                swap.Reclaim?.Id ?? string.Empty, swap.Reclaim is null ? string.Empty : MetadataJsonContext.Serialize(swap.Reclaim), swap.Reclaim?.Due.ToUnixTimeMilliseconds() ?? 0,
                state switch { null => "=", BucketVersioning.Unversioned => string.Empty, var planned => planned.ToString() },
                version?.VersionIdText ?? string.Empty, version?.IsDeleteMarker == true ? "1" : string.Empty, unseen ? KeepUnseen : kept ? previous!.VersionIdText : string.Empty,
                nullVersion?.Json ?? string.Empty,
                nullReclaim?.Id ?? string.Empty, nullReclaim is null ? string.Empty : MetadataJsonContext.Serialize(nullReclaim), nullReclaim?.Due.ToUnixTimeMilliseconds() ?? 0,
                .. swap.ExtraArguments,
                swap.Inline ?? RedisValue.EmptyString,
            ];
            var tag = SlotTag(bucket);
            var result = await EvalAsync(script, [MarkOf(bucket), ObjectsOf(bucket), KeysOf(bucket), ReclaimsIn(tag), ReclaimsDueIn(tag), .. VersioningKeys(bucket), .. swap.ExtraKeys], arguments, cancellationToken);
            if (result.Resp2Type == ResultType.Array && (string?)result[0] == "KEPT")
            {
                return (SwapOutcome.Applied, Parse((string?)result[1]));
            }

            if (result.Resp2Type == ResultType.Array)
            {
                previousJson = (string?)result[1];
                known = true;
                continue;
            }

            switch ((string?)result)
            {
                case "OK":
                    return (SwapOutcome.Applied, previous);
                case "NOBUCKET":
                    return (SwapOutcome.NoBucket, previous);
                case "CHANGED":
                    return (SwapOutcome.Declined, previous);
                case { } answer when VersioningIn(answer) is { } actual:
                    VersioningChangedException.ThrowUnlessWritable(version!, actual);
                    state = actual;
                    break;
            }
        }

        throw new RedisUnavailableException($"Updating '{bucket}/{key}' lost {MaxCompareAndSwapAttempts} races in a row; try again.");
    }

    /// <summary>The state a script found, from its answer <c>VERSIONING:&lt;state&gt;</c>; null for any other answer.</summary>
    private static BucketVersioning? VersioningIn(string answer) =>
        answer.StartsWith("VERSIONING:", StringComparison.Ordinal) ? VersioningDocument.Parse(answer["VERSIONING:".Length..]) : null;

    /// <summary>A version as found: its record, its JSON as stored (what a script compares), and its index member (null: the current version).</summary>
    private sealed record FoundVersion(ObjectRecord Record, string Json, byte[]? Member);

    private async Task<FoundVersion?> FindVersionAsync(string bucket, string key, string? versionId, CancellationToken cancellationToken)
    {
        string? currentJson = await CallAsync(_writer, db => db.HashGetAsync(ObjectsOf(bucket), key), cancellationToken);
        if (Parse(currentJson) is { } current && current.VersionId == versionId)
        {
            return new FoundVersion(current, currentJson!, null);
        }

        return await NoncurrentAsync(bucket, key, versionId, cancellationToken);
    }

    private async Task<FoundVersion?> NoncurrentAsync(string bucket, string key, string? versionId, CancellationToken cancellationToken)
    {
        RedisValue member = await CallAsync(_writer, db => db.HashGetAsync(VersionIdsOf(bucket), VersionIdField(key, versionId)), cancellationToken);
        if (member.IsNull)
        {
            return null;
        }

        string? json = await CallAsync(_writer, db => db.HashGetAsync(VersionsOf(bucket), member), cancellationToken);
        return json is null ? null : new FoundVersion(Parse(json)!, json, (byte[])member!);
    }

    /// <summary>Rewrites a noncurrent version if it is still <paramref name="expectedJson"/>; false when it changed meanwhile.</summary>
    private async Task<bool> RewriteVersionAsync(string bucket, byte[] member, string expectedJson, string newJson, ReclaimEntry? reclaim, IEnumerable<PartLocation> addedParts, CancellationToken cancellationToken)
    {
        var tag = SlotTag(bucket);
        var outcome = (string?)await EvalAsync(
            RewriteVersion,
            [VersionsOf(bucket), ReclaimsIn(tag), ReclaimsDueIn(tag), UsageBytesIn(tag), UsagePartsIn(tag)],
            [member, expectedJson, newJson, reclaim?.Id ?? string.Empty, reclaim is null ? string.Empty : MetadataJsonContext.Serialize(reclaim), reclaim?.Due.ToUnixTimeMilliseconds() ?? 0, .. UsageArguments(addedParts, +1)],
            cancellationToken);
        return outcome == "OK";
    }

    /// <summary>The field naming a version's index member: the key, a 0 byte (which keys never hold) and the version id.</summary>
    private static RedisValue VersionIdField(string key, string? versionId) =>
        (byte[])[.. Encoding.UTF8.GetBytes(key), 0, .. Encoding.UTF8.GetBytes(versionId ?? ObjectRecord.NullVersionId)];

    /// <summary>A swap by the Commit script: completes the write intents of <paramref name="segmentIds"/> and accounts <paramref name="addedParts"/>.</summary>
    private Swap CommitSwap(string bucket, string recordJson, ReclaimEntry? reclaim, IReadOnlyList<string> segmentIds, IEnumerable<PartLocation> addedParts) =>
        new(recordJson, reclaim, [UsageBytesIn(SlotTag(bucket)), UsagePartsIn(SlotTag(bucket))], [segmentIds.Count, .. segmentIds.Select(id => (RedisValue)id), .. UsageArguments(addedParts, +1)]);

    /// <summary>Per node: id, bytes and part count of the parts, times <paramref name="sign"/>, preceded by the node count.</summary>
    private static RedisValue[] UsageArguments(IEnumerable<PartLocation> parts, int sign)
    {
        var perNode = parts.GroupBy(p => p.NodeId).ToArray();
        return [perNode.Length, .. perNode.SelectMany(g => new RedisValue[] { g.Key, sign * g.Sum(p => p.Length), sign * g.Count() })];
    }

    private enum SwapOutcome
    {
        Applied,

        /// <summary>The plan gave up, or the script found its preconditions changed.</summary>
        Declined,
        NoBucket,
    }

    /// <summary>How a swap begins: with the record read, with a guess that there is none, or (unconditional writes) either that or, in an Enabled bucket, keeping whatever is current unseen.</summary>
    private enum SwapStart
    {
        Read,
        GuessAbsent,
        Unconditional,
    }

    /// <summary>ARGV 4 and 11 of an unconditional write in an Enabled bucket: keep whatever is current.</summary>
    private const string KeepUnseen = "*";

    /// <summary>The new record, the parts it releases, the script's own keys and arguments (KEYS 6.., ARGV 8..), and the new version's inline bytes.</summary>
    private sealed record Swap(string RecordJson, ReclaimEntry? Reclaim, RedisKey[] ExtraKeys, RedisValue[] ExtraArguments, byte[]? Inline = null);

    /// <summary>The field of a key's inline bytes: the key behind a 0xFF byte, which no UTF-8 key starts with.</summary>
    private static RedisValue InlineField(string key) => InlineField(Encoding.UTF8.GetBytes(key));

    private static RedisValue InlineField(byte[] field) => (byte[])[0xFF, .. field];

    /// <summary>The entry for a replaced version's parts, of the bucket whose slot the script files it in.</summary>
    private static ReclaimEntry? ReclaimOf(string bucket, ObjectRecord? replaced, DateTimeOffset reclaimAt) =>
        replaced is { Segments.Count: > 0 } ? ReclaimEntry.ForSegments(bucket, replaced.Segments, reclaimAt, accounted: true) : null;

    private static ObjectRecord? Parse(RedisValue json) => json.IsNull ? null : MetadataJsonContext.Deserialize<ObjectRecord>(json!);

    private static ObjectRecord? Parse(string? json) => json is null ? null : MetadataJsonContext.Deserialize<ObjectRecord>(json);

    private static Dictionary<string, string> Strings(HashEntry[] entries) =>
        entries.ToDictionary(e => (string)e.Name!, e => (string)e.Value!, StringComparer.Ordinal);

    private static DateTimeOffset FromMilliseconds(string text) =>
        DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(text, CultureInfo.InvariantCulture));

    /// <summary>A Lua script (SCRIPT LOAD once, then EVALSHA: the multiplexer caches it per server).</summary>
    private Task<RedisResult> EvalAsync(string script, RedisKey[] keys, RedisValue[] arguments, CancellationToken cancellationToken) =>
        WriteAsync(db => db.ScriptEvaluateAsync(script, keys, arguments), Wrote, cancellationToken);

    /// <summary>Whether a script's answer means it changed something: 'OK' or 'DELETED', or a count above zero.</summary>
    private static bool Wrote(RedisResult result) => result.Resp2Type switch
    {
        ResultType.Integer => (long)result > 0,
        ResultType.SimpleString or ResultType.BulkString => (string?)result is "OK" or "DELETED",
        _ => false,
    };

    /// <summary>
    /// A call that may write; with <see cref="ReplicaAcknowledgement"/>, a call that did (<paramref name="wrote"/>) is
    /// done only once enough replicas have it. One that changed nothing (a conflict, a lease held elsewhere) has nothing
    /// of its own to confirm, unless an earlier write is still unconfirmed: its answer (say, "the bucket exists" to a
    /// client retrying after a 503) rests on that write, so it waits too. <c>WAIT</c> counts from the last write on its
    /// connection, so a reconnection or a primary switch between the write and the <c>WAIT</c> (a new connection has no
    /// writes to wait for) leaves the write unconfirmed.
    /// </summary>
    private async Task<T> WriteAsync<T>(Func<IDatabase, Task<T>> call, Func<T, bool> wrote, CancellationToken cancellationToken)
    {
        var connection = _connections?.Current;
        var result = await CallAsync(_writer, call, cancellationToken);
        if (acknowledgement is not { } wait || (!wrote(result) && Volatile.Read(ref _unconfirmed) == 0))
        {
            return result;
        }

        var replicas = await _replicaWait!.WaitAsync(cancellationToken);
        if (replicas < wait.Replicas || _connections!.Current != connection)
        {
            Volatile.Write(ref _unconfirmed, 1);
            throw new RedisUnavailableException(
                $"Redis took the metadata write, but {(replicas < wait.Replicas ? $"only {replicas} of {wait.Replicas} replicas confirmed it within {wait.Timeout.TotalMilliseconds:0} ms" : "the connection changed before replicas could confirm it")}; it is not acknowledged, since a failover could lose it.");
        }

        Volatile.Write(ref _unconfirmed, 0);
        return result;
    }

    /// <summary>
    /// One call through the multiplexer. It has no cancellation of its own: waiting stops on cancellation, the command
    /// still completes or times out. Its connection and timeout errors become <see cref="RedisUnavailableException"/>.
    /// </summary>
    private Task<T> CallAsync<T>(Func<IDatabase, Task<T>> call, CancellationToken cancellationToken) => CallAsync(redis, call, cancellationToken);

    private static async Task<T> CallAsync<T>(IConnectionMultiplexer connection, Func<IDatabase, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(connection.GetDatabase()).WaitAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is RedisException or RedisTimeoutException)
        {
            // RedisTimeoutException is a TimeoutException, not a RedisException.
            throw new RedisUnavailableException($"Redis metadata unavailable: {ex.Message}", ex);
        }
    }
}

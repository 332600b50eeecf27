using System.Security.Cryptography;
using System.Text;

namespace Storage.Gateway.Metadata.Redis;

/// <summary>A Lua script run atomically by Redis: EVALSHA first, EVAL (which also caches it) when Redis does not know it yet.</summary>
public sealed class RedisScript(string text)
{
    // SHA-1 is how Redis names scripts (EVALSHA); it identifies, it does not protect.
#pragma warning disable CA5350
    private readonly string _sha1 = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(text)));
#pragma warning restore CA5350

    public async Task<RedisReply> RunAsync(RedisConnection redis, IReadOnlyList<RedisArg> keys, IReadOnlyList<RedisArg> arguments, CancellationToken cancellationToken)
    {
        try
        {
            return await redis.ExecuteAsync(Command("EVALSHA", _sha1, keys, arguments), cancellationToken);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            return await redis.ExecuteAsync(Command("EVAL", text, keys, arguments), cancellationToken);
        }
    }

    private static RedisArg[] Command(string verb, string script, IReadOnlyList<RedisArg> keys, IReadOnlyList<RedisArg> arguments) =>
        [verb, script, keys.Count, .. keys, .. arguments];
}

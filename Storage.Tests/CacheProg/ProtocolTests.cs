using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Storage.CacheProg.Cache;
using Storage.CacheProg.Protocol;
using Storage.Tests.Fixtures;

namespace Storage.Tests.CacheProg;

/// <summary>
/// The protocol against recorded request streams, written exactly as the go command writes them (JSON line, blank
/// line, then for a put with a body a JSON string of base64), with a real local tier in a temporary folder.
/// </summary>
public sealed class ProtocolTests : IDisposable
{
    private readonly TempDirectory _folder = new("cacheprog-protocol");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task The_first_message_announces_get_put_and_close()
    {
        var (responses, closed, _) = await RunAsync(Close(1));
        Assert.True(closed);
        Assert.Equal(["get", "put", "close"], responses[0].GetProperty("KnownCommands").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(0, responses[0].GetProperty("ID").GetInt64());
        Assert.Equal(1, responses[1].GetProperty("ID").GetInt64());
    }

    [Theory]
    [InlineData("OutputID")]
    [InlineData("ObjectID")]
    public async Task A_put_body_is_stored_and_a_later_get_hits_with_size_time_and_path(string idName)
    {
        var body = TestData.Bytes(300_000, 1);
        var action = RandomId();
        var (responses, _, _) = await RunAsync(Put(1, action, body, idName), Close(4));
        var put = Response(responses, 1);
        Assert.False(put.TryGetProperty("Err", out var err), err.ToString());
        var path = put.GetProperty("DiskPath").GetString()!;
        Assert.True(Path.IsPathRooted(path));
        Assert.Equal(string.Empty, Path.GetExtension(path));
        Assert.Equal(body, await File.ReadAllBytesAsync(path));

        // The go command never gets what it is still putting: the next lookup comes from a later request (here, session).
        (responses, _, _) = await RunAsync(Get(2, action), Get(3, RandomId()), Close(4));
        var hit = Response(responses, 2);
        Assert.Equal(path, hit.GetProperty("DiskPath").GetString());
        Assert.Equal(body.Length, hit.GetProperty("Size").GetInt64());
        Assert.Equal(Convert.ToBase64String(SHA256.HashData(body)), hit.GetProperty("OutputID").GetString());
        Assert.Equal(put.GetProperty("Time").GetDateTimeOffset(), hit.GetProperty("Time").GetDateTimeOffset());
        Assert.True(Response(responses, 3).GetProperty("Miss").GetBoolean());
    }

    [Fact]
    public async Task A_zero_size_body_has_no_body_line_and_round_trips()
    {
        var action = RandomId();
        Assert.True((await RunAsync(Put(1, action, []), Close(3))).Closed);
        var (responses, closed, _) = await RunAsync(Get(2, action), Close(3));
        Assert.True(closed);
        var hit = Response(responses, 2);
        Assert.False(hit.TryGetProperty("Size", out _));
        Assert.Empty(await File.ReadAllBytesAsync(hit.GetProperty("DiskPath").GetString()!));
        Assert.Equal(Convert.ToBase64String(SHA256.HashData([])), hit.GetProperty("OutputID").GetString());
    }

    [Fact]
    public async Task Many_requests_are_all_answered_once_matched_by_id()
    {
        var actions = Enumerable.Range(0, 200).Select(_ => RandomId()).ToArray();
        var (puts, _, _) = await RunAsync([.. actions.Select((a, i) => Put(i + 1, a, TestData.Bytes(1000 + i, i))), Close(5000)]);
        Assert.Equal([.. Enumerable.Range(1, 200).Select(i => (long)i), 5000L], puts.Skip(1).Select(r => r.GetProperty("ID").GetInt64()).Order());

        // A second session (as the next build) finds every one of them.
        var (gets, closed, _) = await RunAsync([.. actions.Select((a, i) => Get(1000 + i, a)), Close(5000)]);
        Assert.True(closed);
        Assert.All(Enumerable.Range(1000, 200), id => Assert.False(Response(gets, id).TryGetProperty("Miss", out _)));
    }

    [Fact]
    public async Task A_slow_lookup_does_not_hold_back_a_fast_one_answers_go_out_of_order()
    {
        var local = RandomId();
        Assert.True((await RunAsync(Put(1, local, TestData.Bytes(100, 3)), Close(2))).Closed);

        // A remote that takes a second to say "no such key": the lookup that needs it answers last.
        await using var slowRemote = await LoopbackServer.StartAsync(async context =>
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            context.Response.StatusCode = 404;
        });
        var options = new CacheProgOptions { CacheDirectory = _folder.Path, Endpoint = slowRemote.BaseAddress, Bucket = "b", ReadOnly = true };
        await using var cache = new CacheService(options, TextWriter.Null, spoolUploads: true);
        var output = new MemoryStream();
        await new ProtocolSession(cache, TextWriter.Null).RunAsync(new MemoryStream([.. Get(10, RandomId()), .. Get(11, local), .. Close(12)]), output, CancellationToken.None);

        var order = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("ID").GetInt64());
        Assert.Equal([0L, 11, 10, 12], order);
    }

    [Fact]
    public async Task A_body_that_is_not_its_output_id_is_refused_and_not_stored()
    {
        var action = RandomId();
        var lying = Put(1, action, TestData.Bytes(5000, 2), outputId: RandomId());
        var (responses, closed, _) = await RunAsync(lying, Get(2, action), Close(3));
        Assert.True(closed);
        Assert.Contains("SHA-256", Response(responses, 1).GetProperty("Err").GetString(), StringComparison.Ordinal);
        Assert.True(Response(responses, 2).GetProperty("Miss").GetBoolean());
        Assert.Empty(Directory.GetFiles(_folder.Path, "*-d"));
    }

    [Theory]
    [InlineData("{\"ID\":1,\"Command\":\"get\",\"ActionID\":12\n\n", "Not a request")]
    [InlineData("not json at all\n\n", "Not a request")]
    [InlineData("{\"ID\":1,\"Command\":\"put\",\"ActionID\":\"AAAA\",\"OutputID\":\"AAAA\",\"BodySize\":10}\n\n\"%%%%\"\n", "base64")]
    [InlineData("{\"ID\":1,\"Command\":\"put\",\"ActionID\":\"AAAA\",\"OutputID\":\"AAAA\",\"BodySize\":10}\n\n\"AAAA\"\n", "BodySize")]
    [InlineData("{\"ID\":1,\"Command\":\"get\"", "ended")]
    public async Task Malformed_input_ends_the_session_with_a_message_on_stderr_only(string input, string message)
    {
        var (responses, closed, diagnostics) = await RunAsync(Encoding.UTF8.GetBytes(input));
        Assert.False(closed);
        Assert.Single(responses);
        Assert.Contains(message, diagnostics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_ids_and_unknown_commands_get_an_error_answer_and_the_session_goes_on()
    {
        var (responses, closed, _) = await RunAsync(
            Line(new { ID = 1, Command = "get", ActionID = "AAAA" }),
            Line(new { ID = 2, Command = "delete" }),
            Close(3));
        Assert.True(closed);
        Assert.Contains("32-byte", Response(responses, 1).GetProperty("Err").GetString(), StringComparison.Ordinal);
        Assert.Contains("unknown command", Response(responses, 2).GetProperty("Err").GetString(), StringComparison.Ordinal);
    }

    private async Task<(List<JsonElement> Responses, bool Closed, string Diagnostics)> RunAsync(params byte[][] requests)
    {
        await using var cache = new CacheService(new CacheProgOptions { CacheDirectory = _folder.Path }, TextWriter.Null, spoolUploads: true);
        var input = new MemoryStream([.. requests.SelectMany(r => r)]);
        var output = new MemoryStream();
        var diagnostics = new StringWriter();
        var closed = await new ProtocolSession(cache, diagnostics).RunAsync(input, output, CancellationToken.None);
        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return ([.. lines.Select(l => JsonDocument.Parse(l).RootElement.Clone())], closed, diagnostics.ToString());
    }

    private static JsonElement Response(List<JsonElement> responses, long id) =>
        Assert.Single(responses, r => r.TryGetProperty("ID", out var value) && value.GetInt64() == id);

    private static byte[] RandomId() => RandomNumberGenerator.GetBytes(32);

    private static byte[] Get(long id, byte[] action) => Line(new { ID = id, Command = "get", ActionID = action });

    private static byte[] Close(long id) => Line(new { ID = id, Command = "close" });

    /// <summary>A put as the go command writes it: the request, a blank line, and (if any) the body as a base64 JSON string.</summary>
    private static byte[] Put(long id, byte[] action, byte[] body, string idName = "OutputID", byte[]? outputId = null)
    {
        var request = new Dictionary<string, object> { ["ID"] = id, ["Command"] = "put", ["ActionID"] = action, [idName] = outputId ?? SHA256.HashData(body) };
        if (body.Length > 0)
        {
            request["BodySize"] = body.Length;
        }

        var text = JsonSerializer.Serialize(request) + "\n\n" + (body.Length > 0 ? $"\"{Convert.ToBase64String(body)}\"\n" : string.Empty);
        return Encoding.UTF8.GetBytes(text);
    }

    private static byte[] Line(object request) => Encoding.UTF8.GetBytes(JsonSerializer.Serialize(request) + "\n\n");
}

using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Storage.CacheProg.Protocol;

/// <summary>
/// One conversation with a go command: announces the commands, then reads requests in order and answers them
/// concurrently, in whatever order they finish. Put bodies are decoded to a temporary file as they arrive (the go
/// command sends them inline, so nothing else can be read meanwhile) and checked against their OutputID before
/// anything is answered. Malformed input ends the session with a message on stderr, never on stdout.
/// </summary>
/// <param name="backend">The cache that answers.</param>
/// <param name="diagnostics">stderr: messages for the user (stdout belongs to the protocol).</param>
/// <param name="inlineWrites">Answers written synchronously (direct mode's stdout; see <see cref="ProtocolWriter"/>).</param>
public sealed class ProtocolSession(ICacheBackend backend, TextWriter diagnostics, bool inlineWrites = false)
{
    public static readonly IReadOnlyList<string> KnownCommands = [CacheRequest.Get, CacheRequest.Put, CacheRequest.Close];

    private const int IdBytes = 32;

    /// <summary>Runs until <c>close</c> (true) or the end of the input or a protocol error (false).</summary>
    public async Task<bool> RunAsync(Stream input, Stream output, CancellationToken cancellationToken)
    {
        using var writer = new ProtocolWriter(output, inlineWrites);
        var reader = new ProtocolReader(input);
        var inFlight = new ConcurrentDictionary<long, Task>();
        await writer.WriteAsync(new CacheResponse(0, KnownCommands: KnownCommands), cancellationToken);
        var session = backend.SessionStarted();
        var closed = false;
        try
        {
            while (await reader.ReadRequestAsync(cancellationToken) is { } request)
            {
                switch (request.Command)
                {
                    case CacheRequest.Get:
                        Track(inFlight, request.ID, AnswerAsync(writer, request.ID, session, () =>
                            IsId(request.ActionID)
                                ? backend.GetAsync(request.ID, request.ActionID!, session, cancellationToken)
                                : Task.FromResult(Error(request.ID, "get needs a 32-byte ActionID")), cancellationToken));
                        break;
                    case CacheRequest.Put:
                        var put = await ReceivePutAsync(reader, request, session, cancellationToken);
                        Track(inFlight, request.ID, AnswerAsync(writer, request.ID, session, put, cancellationToken));
                        break;
                    case CacheRequest.Close:
                        await Task.WhenAll(inFlight.Values);
                        closed = true;
                        await backend.CloseAsync(session, cancellationToken);
                        await writer.WriteAsync(new CacheResponse(request.ID), cancellationToken);
                        return true;
                    default:
                        session.Error();
                        Track(inFlight, request.ID, writer.WriteAsync(Error(request.ID, $"unknown command '{request.Command}'"), cancellationToken));
                        break;
                }
            }

            await Task.WhenAll(inFlight.Values);
            return false;
        }
        catch (ProtocolException ex)
        {
            await diagnostics.WriteLineAsync($"storage-cacheprog: {ex.Message} Ending the session.");
            await Task.WhenAll(inFlight.Values);
            return false;
        }
        finally
        {
            if (!closed)
            {
                await backend.CloseAsync(session, CancellationToken.None);
            }
        }
    }

    /// <summary>Reads a put's body (if any) now, in stream order; returns the work that stores and answers it.</summary>
    private async Task<Func<Task<CacheResponse>>> ReceivePutAsync(ProtocolReader reader, CacheRequest request, SessionCounters session, CancellationToken cancellationToken)
    {
        if (request.BodySize < 0)
        {
            throw new ProtocolException($"put {request.ID} has a negative BodySize.");
        }

        var outputId = request.EffectiveOutputID;
        var path = backend.NewTemporaryPath();
        using var sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0))
        {
            if (request.BodySize > 0)
            {
                try
                {
                    await reader.ReadBodyAsync(file, request.BodySize, sha256, cancellationToken);
                }
                catch
                {
                    file.Dispose();
                    File.Delete(path);
                    throw;
                }
            }
        }

        var body = new ReceivedBody(path, request.BodySize, sha256.GetHashAndReset());
        if (!IsId(request.ActionID) || !IsId(outputId) || !outputId.AsSpan().SequenceEqual(body.Sha256))
        {
            File.Delete(path);
            var reason = !IsId(request.ActionID) || !IsId(outputId)
                ? "put needs a 32-byte ActionID and OutputID"
                : "the body's SHA-256 is not its OutputID; not stored";
            return () => Task.FromResult(Error(request.ID, reason));
        }

        return () => backend.PutAsync(request.ID, request.ActionID!, outputId!, body, session, cancellationToken);
    }

    private static async Task AnswerAsync(ProtocolWriter writer, long id, SessionCounters session, Func<Task<CacheResponse>> handle, CancellationToken cancellationToken)
    {
        CacheResponse response;
        try
        {
            response = await handle();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            response = Error(id, ex.Message);
        }

        // Every answer that is an error counts for the session, whatever produced it (bad ids, a body that is not its
        // OutputID, local I/O); the cache counts the rest.
        if (response.Err is not null)
        {
            session.Error();
        }

        await writer.WriteAsync(response, cancellationToken);
    }

    private static void Track(ConcurrentDictionary<long, Task> inFlight, long id, Task task)
    {
        inFlight[id] = task;
        _ = task.ContinueWith(_ => inFlight.TryRemove(id, out var _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private static bool IsId(byte[]? id) => id is { Length: IdBytes };

    private static CacheResponse Error(long id, string message) => new(id, Err: message);
}

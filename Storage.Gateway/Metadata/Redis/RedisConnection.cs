using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Metadata.Redis;

/// <summary>
/// One multiplexed, pipelined connection to Redis: the job StackExchange.Redis does, written when no Redis package
/// was served; StackExchange.Redis is served now and is to replace it (docs/architecture.md).
/// Callers from any thread queue commands; a writer loop drains everything queued into one flush; a reader
/// loop matches replies to commands in order. A broken connection fails the commands in flight with
/// <see cref="RedisConnectionException"/> and is re-established, with back-off, by the next command.
/// Every command has a timeout and honours cancellation; a reply that arrives late is matched and dropped.
/// </summary>
public sealed class RedisConnection : IAsyncDisposable
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly RedisOptions _options;
    private readonly ILogger _logger;
    private readonly Channel<PendingCommand> _outgoing = Channel.CreateUnbounded<PendingCommand>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Task _writer;
    private Session? _session;
    private TimeSpan _backoff = TimeSpan.FromMilliseconds(100);
    private DateTimeOffset _nextAttempt = DateTimeOffset.MinValue;

    public RedisConnection(RedisOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _writer = Task.Run(WriteLoopAsync);
    }

    public RedisOptions Options => _options;

    /// <summary>Sends one command and returns its reply; an error reply throws <see cref="RedisServerException"/>.</summary>
    public async Task<RedisReply> ExecuteAsync(IReadOnlyList<RedisArg> command, CancellationToken cancellationToken)
    {
        // A client span per command, named by the verb only: arguments can hold keys, data or passwords.
        using var activity = StorageTelemetry.Source.StartActivity($"redis {CommandName(command)}", ActivityKind.Client);
        activity?.SetTag("db.system", "redis");
        activity?.SetTag("server.address", _options.Host);
        activity?.SetTag("server.port", _options.Port);
        var pending = new PendingCommand(command, cancellationToken);
        ObjectDisposedException.ThrowIf(!_outgoing.Writer.TryWrite(pending), this);
        RedisReply reply;
        try
        {
            reply = await pending.Reply.Task.WaitAsync(_options.EffectiveCommandTimeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new RedisConnectionException($"Redis at {_options} did not answer within {_options.EffectiveCommandTimeout.TotalSeconds:0.#} s.");
        }

        return reply.Kind == RedisReplyKind.Error ? throw new RedisServerException(reply.AsString()!) : reply;
    }

    private static string CommandName(IReadOnlyList<RedisArg> command) =>
        command.Count == 0 ? "?" : System.Text.Encoding.ASCII.GetString(command[0].Bytes.Span).ToUpperInvariant();

    public Task<RedisReply> ExecuteAsync(CancellationToken cancellationToken, params RedisArg[] command) =>
        ExecuteAsync((IReadOnlyList<RedisArg>)command, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        _outgoing.Writer.TryComplete();
        await _shutdown.CancelAsync();
        await _writer.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        _session?.Fail(new ObjectDisposedException(nameof(RedisConnection)));
        _shutdown.Dispose();
    }

    private async Task WriteLoopAsync()
    {
        var reader = _outgoing.Reader;
        while (await reader.WaitToReadAsync(_shutdown.Token))
        {
            Session session;
            try
            {
                session = await ConnectedSessionAsync();
            }
            catch (Exception ex) when (!_shutdown.IsCancellationRequested)
            {
                var error = new RedisConnectionException($"Cannot connect to Redis at {_options}: {ex.Message}", ex);
                while (reader.TryRead(out var waiting))
                {
                    waiting.Fail(error);
                }

                continue;
            }

            while (reader.TryRead(out var command))
            {
                if (command.CancellationToken.IsCancellationRequested)
                {
                    command.Cancel();
                    continue;
                }

                session.Send(command);
            }

            await session.FlushAsync();
        }
    }

    private async Task<Session> ConnectedSessionAsync()
    {
        if (_session is { IsFaulted: false } live)
        {
            return live;
        }

        var wait = _nextAttempt - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, _shutdown.Token);
        }

        try
        {
            _session = await Session.OpenAsync(_options, _logger, _shutdown.Token);
            _backoff = TimeSpan.FromMilliseconds(100);
            _logger.LogInformation("Connected to Redis at {Endpoint}", _options);
            return _session;
        }
        catch
        {
            _nextAttempt = DateTimeOffset.UtcNow + _backoff;
            _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, MaxBackoff.Ticks));
            throw;
        }
    }

    private sealed class PendingCommand(IReadOnlyList<RedisArg> arguments, CancellationToken cancellationToken)
    {
        public IReadOnlyList<RedisArg> Arguments { get; } = arguments;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public TaskCompletionSource<RedisReply> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Fail(Exception error) => Reply.TrySetException(error);

        public void Cancel() => Reply.TrySetCanceled(CancellationToken);
    }

    /// <summary>One TCP (or TLS) connection with its reader loop and the commands awaiting replies on it.</summary>
    private sealed class Session
    {
        private readonly Stream _stream;
        private readonly PipeReader _input;
        private readonly PipeWriter _output;
        private readonly ConcurrentQueue<PendingCommand> _awaitingReply = new();
        private readonly ILogger _logger;
        private readonly RedisOptions _options;
        private int _faulted;

        private Session(Stream stream, RedisOptions options, ILogger logger)
        {
            _stream = stream;
            _options = options;
            _logger = logger;
            _input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
            _output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        }

        public bool IsFaulted => Volatile.Read(ref _faulted) != 0;

        public static async Task<Session> OpenAsync(RedisOptions options, ILogger logger, CancellationToken cancellationToken)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.EffectiveConnectTimeout);
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            Stream stream;
            try
            {
                await socket.ConnectAsync(options.Host, options.Port, timeout.Token);
                stream = new NetworkStream(socket, ownsSocket: true);
                if (options.Ssl)
                {
                    var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                    await tls.AuthenticateAsClientAsync(
                        new SslClientAuthenticationOptions
                        {
                            TargetHost = options.SslHost ?? options.Host,
                            RemoteCertificateValidationCallback = options.SslCaPath is { } ca ? TrustPrivateRoot(ca) : null,
                        },
                        timeout.Token);
                    stream = tls;
                }
            }
            catch
            {
                socket.Dispose();
                throw;
            }

            var session = new Session(stream, options, logger);
            try
            {
                await session.HandshakeAsync(timeout.Token);
            }
            catch
            {
                await stream.DisposeAsync();
                throw;
            }

            _ = Task.Run(session.ReadLoopAsync, CancellationToken.None);
            return session;
        }

        /// <summary>Accepts a server certificate that chains to the given CA; a wrong host name is still refused.</summary>
        private static RemoteCertificateValidationCallback TrustPrivateRoot(string caPemPath)
        {
            var root = X509CertificateLoader.LoadCertificateFromFile(caPemPath);
            return (_, certificate, _, errors) =>
            {
                if (errors == SslPolicyErrors.None)
                {
                    return true;
                }

                if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
                {
                    return false;
                }

                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(root);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                return chain.Build(leaf);
            };
        }

        public void Send(PendingCommand command)
        {
            if (IsFaulted)
            {
                command.Fail(new RedisConnectionException($"The connection to Redis at {_options} broke before the command was sent."));
                return;
            }

            _awaitingReply.Enqueue(command);
            Resp.WriteCommand(_output, command.Arguments);
        }

        public async Task FlushAsync()
        {
            try
            {
                await _output.FlushAsync();
            }
            catch (Exception ex)
            {
                Fail(ex);
            }
        }

        public void Fail(Exception error)
        {
            if (Interlocked.Exchange(ref _faulted, 1) != 0)
            {
                return;
            }

            _logger.LogWarning("Redis connection to {Endpoint} lost: {Reason}", _options, error.Message);
            _stream.Dispose();
            var failure = error as RedisConnectionException ?? new RedisConnectionException($"The connection to Redis at {_options} broke: {error.Message}", error);
            while (_awaitingReply.TryDequeue(out var command))
            {
                command.Fail(failure);
            }
        }

        /// <summary>AUTH and SELECT before anything else is sent, so no command runs unauthenticated.</summary>
        private async Task HandshakeAsync(CancellationToken cancellationToken)
        {
            var commands = new List<RedisArg[]>();
            if (_options.Password is { } password)
            {
                commands.Add(_options.User is { } user ? ["AUTH", user, password] : ["AUTH", password]);
            }

            if (_options.Database != 0)
            {
                commands.Add(["SELECT", _options.Database]);
            }

            commands.Add(["PING"]);
            foreach (var command in commands)
            {
                Resp.WriteCommand(_output, command);
            }

            await _output.FlushAsync(cancellationToken);
            for (var answered = 0; answered < commands.Count;)
            {
                var result = await _input.ReadAsync(cancellationToken);
                var buffer = result.Buffer;
                while (answered < commands.Count && Resp.TryRead(ref buffer, out var reply))
                {
                    if (reply.Kind == RedisReplyKind.Error)
                    {
                        // Never echo the command: it may hold the password.
                        throw new RedisServerException($"Redis refused the connection handshake: {reply.AsString()}");
                    }

                    answered++;
                }

                _input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted && answered < commands.Count)
                {
                    throw new RedisConnectionException($"Redis at {_options} closed the connection during the handshake.");
                }
            }
        }

        private async Task ReadLoopAsync()
        {
            try
            {
                while (true)
                {
                    var result = await _input.ReadAsync();
                    var buffer = result.Buffer;
                    while (Resp.TryRead(ref buffer, out var reply))
                    {
                        if (!_awaitingReply.TryDequeue(out var command))
                        {
                            throw new RedisProtocolException("Redis sent a reply nobody asked for.");
                        }

                        command.Reply.TrySetResult(reply);
                    }

                    _input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        throw new RedisConnectionException($"Redis at {_options} closed the connection.");
                    }
                }
            }
            catch (Exception ex)
            {
                Fail(ex);
            }
        }
    }
}

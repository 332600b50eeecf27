using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Storage.Gateway.Api;

/// <summary>
/// A client that half-closes its connection (shuts down sending, keeps reading) before its body reached the declared
/// length gets a 400 that says so. Kestrel on its own treats the end of the client's input as the connection being
/// gone and closes it without an answer. Here the connection's input reports that end, while a request body is still
/// expected, as an I/O error of the body read instead — which the front doors turn into a 400 — and does not pass
/// the transport's "connection closed" signal on, which would abort the answer.
/// </summary>
public static class HalfClosedRequests
{
    /// <summary>Connection middleware for every endpoint.</summary>
    public static void Use(ListenOptions listen) => listen.Use(next => async connection =>
    {
        var state = new RequestBodyState();
        connection.Features.Set(state);
        connection.Transport = new Transport(new EndOfInputAsError(connection.Transport.Input, state), connection.Transport.Output);

        // The socket transport signals the client's end of input (a half-close included) as the connection closing,
        // and Kestrel then aborts any response in progress. Without that signal Kestrel still ends the connection when
        // its input ends between requests, and notices a client that is really gone when writing to it fails.
        using var closed = new CancellationTokenSource();
        connection.ConnectionClosed = closed.Token;
        try
        {
            await next(connection);
        }
        finally
        {
            await closed.CancelAsync();
        }
    });

    /// <summary>Request middleware: marks the connection as expecting a body for the length of a request that has one.</summary>
    public static IApplicationBuilder UseHalfClosedRequests(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.Features.Get<RequestBodyState>() is not { } state || context.Request.ContentLength == 0 || context.Request.Body == Stream.Null)
        {
            await next(context);
            return;
        }

        state.Expecting = context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0;
        try
        {
            await next(context);
        }
        finally
        {
            state.Expecting = false;
        }
    });

    private sealed class RequestBodyState
    {
        public volatile bool Expecting;
    }

    private sealed class Transport(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    private sealed class EndOfInputAsError(PipeReader inner, RequestBodyState state) : PipeReader
    {
        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => Check(await inner.ReadAsync(cancellationToken));

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result))
            {
                return false;
            }

            result = Check(result);
            return true;
        }

        public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        /// <summary>While a body is expected the end of input is withheld from the last data, then reported as an error.</summary>
        private ReadResult Check(ReadResult result) =>
            !result.IsCompleted || !state.Expecting ? result
            : result.Buffer.IsEmpty ? throw new IOException("The client closed its side of the connection before sending the whole request body.")
            : new ReadResult(result.Buffer, result.IsCanceled, isCompleted: false);
    }
}

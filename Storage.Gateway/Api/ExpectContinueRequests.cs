namespace Storage.Gateway.Api;

/// <summary>
/// A client that sent <c>Expect: 100-continue</c> holds its body back until told to send it. When the answer is
/// refused before the body was asked for (a bad signature, a failed precondition, a malformed request), the client may
/// still send that body afterwards, or its next request, and the server cannot tell which bytes are which: Kestrel
/// would read the next request from the middle of the body. Such an answer therefore closes the connection, which is
/// what RFC 9110 §10.1.1 allows and what S3 does; a client opens a new one for its next request.
/// </summary>
public static class ExpectContinueRequests
{
    public static IApplicationBuilder UseExpectContinueRequests(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        var request = context.Request;
        if (request.Headers.Expect.Count > 0 && (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0))
        {
            context.Response.OnStarting(() =>
            {
                // A success read the body; anything else may have answered without reading it.
                if (context.Response.StatusCode >= StatusCodes.Status300MultipleChoices)
                {
                    context.Response.Headers.Connection = "close";
                }

                return Task.CompletedTask;
            });
        }

        return next(context);
    });
}

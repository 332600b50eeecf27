using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Storage.Gateway.Metadata;
using Storage.Gateway.Nodes;
using Storage.Gateway.Objects;

namespace Storage.Gateway.Api;

/// <summary>
/// Turns exceptions into RFC 7807 problem details: the client's faults are 4xx, the store's own trouble is
/// 503 with the reason; only a genuine bug is a 500.
/// </summary>
public sealed class StorageExceptionHandler(IProblemDetailsService problems, ILogger<StorageExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var context = httpContext;
        if (exception is OperationCanceledException && context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer and nothing went wrong here.
            logger.LogDebug("{Method} {Path}: the client disconnected", context.Request.Method, context.Request.Path);
            context.Abort();
            return true;
        }

        var (status, title) = exception switch
        {
            BadHttpRequestException bad => (bad.StatusCode, "Bad request"),
            InvalidRequestBodyException or BodyLengthMismatchException => (StatusCodes.Status400BadRequest, "Bad request body"),
            BucketNotFoundException => (StatusCodes.Status404NotFound, "No such bucket"),
            RangeNotSatisfiableException => (StatusCodes.Status416RangeNotSatisfiable, "Range not satisfiable"),
            NodeAlreadyExistsException => (StatusCodes.Status409Conflict, "Node exists"),
            Objects.Encryption.EncryptionKeyRequiredException => (StatusCodes.Status400BadRequest, "Encrypted with a customer key (read it through S3 with the key)"),
            StorageUnavailableException => (StatusCodes.Status503ServiceUnavailable, "Storage unavailable"),
            _ => (StatusCodes.Status500InternalServerError, "Internal error"),
        };

        if (status == StatusCodes.Status500InternalServerError)
        {
            logger.LogError(exception, "{Method} {Path} failed: {Title}", context.Request.Method, context.Request.Path, title);
        }
        else if (status >= 500)
        {
            logger.LogWarning("{Method} {Path} unavailable: {Reason}", context.Request.Method, context.Request.Path, exception.Message);
        }
        else
        {
            logger.LogInformation("{Method} {Path} rejected: {Reason}", context.Request.Method, context.Request.Path, exception.Message);
        }

        if (context.Response.HasStarted)
        {
            // The status line is gone; aborting tells the client the body is incomplete.
            context.Abort();
            return true;
        }

        context.Response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            context.Response.Headers.RetryAfter = "5";
        }

        if (exception is RangeNotSatisfiableException unsatisfiable)
        {
            context.Response.Headers.ContentRange = $"bytes */{unsatisfiable.Size}";
        }

        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = new ProblemDetails
            {
                Status = status,
                Title = title,
                Detail = status == StatusCodes.Status500InternalServerError ? "An unexpected error occurred; it has been logged." : exception.Message,
            },
        });
    }
}

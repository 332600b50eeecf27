using Microsoft.Extensions.Options;
using Storage.Gateway.Hosting;
using Storage.Gateway.Objects.Multipart;

namespace Storage.Gateway.Maintenance;

/// <summary>
/// Aborts multipart uploads older than <see cref="S3Options.AbandonedUploadAge"/>, releasing their parts, so
/// clients that crash mid-upload do not leak space, and forgets completed uploads' results once a retried Complete
/// can no longer need them. Both are idempotent, so replicas may overlap safely.
/// </summary>
public sealed class AbandonedUploadSweeper(MultipartUploads uploads, IOptions<StorageOptions> options, TimeProvider time, ILogger<AbandonedUploadSweeper> logger)
    : MaintenanceLoop(options.Value.Maintenance.SweepInterval, time, logger)
{
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        await uploads.ForgetCompletionsAsync(cancellationToken);
        var aborted = await uploads.AbortBeforeAsync(Time.GetUtcNow() - options.Value.S3.AbandonedUploadAge, cancellationToken);
        if (aborted > 0)
        {
            logger.LogInformation("Aborted {Count} multipart uploads older than {Age}", aborted, options.Value.S3.AbandonedUploadAge);
        }

        return aborted;
    }

    protected override Task RunScheduledPassAsync(CancellationToken cancellationToken) => SweepAsync(cancellationToken);
}

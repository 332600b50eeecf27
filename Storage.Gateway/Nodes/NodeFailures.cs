namespace Storage.Gateway.Nodes;

public static class NodeFailures
{
    /// <summary>
    /// What a node (folder or S3 server) throws when it does not answer or cannot serve, a call that timed out
    /// included: the node is down, not the gateway broken.
    /// </summary>
    public static bool IsNodeFailure(Exception exception) =>
        exception is IOException or UnauthorizedAccessException or HttpRequestException or OperationCanceledException
            or Amazon.Runtime.AmazonServiceException or Amazon.Runtime.AmazonClientException;
}

using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Options;
using Storage.Gateway.Metadata;

namespace Storage.Gateway.Nodes.Discovery;

/// <summary>
/// Finds MinIO nodes in a Docker daemon: every container whose name contains <see cref="DockerDiscoveryOptions.NameContains"/>
/// becomes an S3 node, its address and keys read from the daemon. It looks once at start-up, then follows the daemon's
/// events: a container that starts joins (or, recreated, comes back at its new address under the same id), one that stops
/// is reported down (healing decides what that means; nodes are never removed). A daemon that goes away is retried with
/// back-off while the gateway serves the nodes it knows, and looked at afresh when it is back.
/// </summary>
public sealed class DockerNodeDiscovery(
    IOptions<DockerDiscoveryOptions> options,
    DiscoveredNodes discovered,
    IMetadataStore metadata,
    NodeRegistry registry,
    NodeFactory factory,
    NodeMonitor monitor,
    TimeProvider time,
    ILogger<DockerNodeDiscovery> logger) : BackgroundService, INodeDiscovery
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan ReadinessPollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>Events are asked for from a little before the last full look, so none between the two is missed.</summary>
    private static readonly TimeSpan EventOverlap = TimeSpan.FromSeconds(2);

    private readonly DockerDiscoveryOptions _settings = options.Value;

    private readonly DockerClient _docker = new DockerClientConfiguration(options.Value.Endpoint).CreateClient();

    /// <summary>Why each matching container is not used, so each refusal is logged once.</summary>
    private readonly ConcurrentDictionary<string, string> _refusals = new(StringComparer.Ordinal);

    /// <summary>
    /// The node each container in use is, by container id, and when that container last started: a stop counts only for
    /// the container a node is now, and only if it came after that start (events are replayed from before the last look).
    /// </summary>
    private readonly ConcurrentDictionary<string, (string NodeId, DateTimeOffset StartedAt)> _nodesByContainer = new(StringComparer.Ordinal);

    /// <summary>The container each node is now (a recreated container is the same node in a new container).</summary>
    private readonly ConcurrentDictionary<string, string> _containerOfNode = new(StringComparer.Ordinal);

    /// <summary>What <see cref="DockerDiscoveryOptions.NameContains"/> becomes inside a node id.</summary>
    private readonly string _nodeIdPart = DockerNodeContainer.NodeIdFor(options.Value.NameContains);

    private DateTimeOffset? _lastLook;

    /// <summary>Null while the daemon answers; otherwise why it does not (for the health check).</summary>
    public string? Problem { get; private set; }

    public async Task DiscoverAsync(CancellationToken cancellationToken)
    {
        try
        {
            await LookAsync(cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            ReportFailure(ex, FirstRetryDelay);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = FirstRetryDelay;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (_lastLook is null)
                {
                    await LookAsync(stoppingToken);
                }

                var following = time.GetUtcNow();
                try
                {
                    await FollowEventsAsync(_lastLook!.Value - EventOverlap, stoppingToken);
                }
                finally
                {
                    // The back-off starts over only after the stream worked a while: a daemon that lists containers
                    // but refuses events (a filtering socket proxy) is not asked again every second.
                    if (time.GetUtcNow() - following >= _settings.MaxRetryDelay)
                    {
                        delay = FirstRetryDelay;
                    }
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // Whatever happened while the daemon was away is read from a fresh look, not from replayed events.
                _lastLook = null;
                ReportFailure(ex, delay);
                await Task.Delay(delay, time, stoppingToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _settings.MaxRetryDelay.Ticks));
            }
        }
    }

    public override void Dispose()
    {
        _docker.Dispose();
        base.Dispose();
    }

    /// <summary>A full look: every matching container, running or not, as the daemon has it now.</summary>
    private async Task LookAsync(CancellationToken cancellationToken)
    {
        var started = time.GetUtcNow();
        var gatewayNetworks = await GatewayNetworksAsync(cancellationToken);
        var containers = await WithTimeoutAsync(token => _docker.Containers.ListContainersAsync(new ContainersListParameters { All = true }, token), cancellationToken);
        var joined = false;
        var registered = (await metadata.ListNodesAsync(cancellationToken)).Select(n => n.Id).ToHashSet(StringComparer.Ordinal);
        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var container in containers.Where(c => c.Names.Any(Matches)))
        {
            present.Add(DockerNodeContainer.NodeIdFor(container.Names.First(Matches)));
            joined |= await ApplyAsync(container.ID, gatewayNetworks, justStarted: false, registered, cancellationToken);
        }

        // A node whose container was removed is down like a stopped one (and healed around), not unopenable.
        foreach (var removed in registered.Where(id => !present.Contains(id) && id.Contains(_nodeIdPart, StringComparison.Ordinal)))
        {
            ReportStopped(removed, registered);
        }

        if (joined)
        {
            await monitor.RefreshAsync(cancellationToken);
        }

        _lastLook = started;
        if (Problem is not null)
        {
            logger.LogInformation("Docker daemon at {Endpoint} answers again; its containers are looked at afresh", _settings.Endpoint);
            Problem = null;
        }
    }

    /// <summary>Follows container starts and stops until the stream breaks (the daemon went away), which throws.</summary>
    private async Task FollowEventsAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        // The progress callback is called in stream order; a channel keeps that order for the asynchronous handling.
        var events = Channel.CreateUnbounded<Message>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var parameters = new ContainerEventsParameters
        {
            Since = since.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["type"] = new Dictionary<string, bool> { ["container"] = true },
                ["event"] = new Dictionary<string, bool> { ["start"] = true, ["die"] = true, ["destroy"] = true },
            },
        };
        var stream = PumpAsync(events.Writer, parameters, stop.Token);
        try
        {
            var gatewayNetworks = await GatewayNetworksAsync(cancellationToken);
            await foreach (var message in events.Reader.ReadAllAsync(cancellationToken))
            {
                if (message.Actor?.Attributes?.TryGetValue("name", out var name) != true || !Matches(name!))
                {
                    continue;
                }

                logger.LogDebug("Docker event {Action} of container {Container} ({Name}) at {Time:O}", message.Action, message.Actor.ID, name, EventTime(message));
                if (message.Action == "start")
                {
                    if (await ApplyAsync(message.Actor.ID, gatewayNetworks, justStarted: true, registered: null, cancellationToken))
                    {
                        // Probed now rather than at the next interval, so a new node takes parts within moments of starting.
                        await monitor.RefreshAsync(cancellationToken);
                    }
                }
                else if (_nodesByContainer.TryGetValue(message.Actor.ID, out var node) && EventTime(message) >= node.StartedAt
                    && _containerOfNode.TryGetValue(node.NodeId, out var current) && current == message.Actor.ID)
                {
                    _nodesByContainer.TryRemove(message.Actor.ID, out _);
                    ReportStopped(node.NodeId, registered: null);
                }
            }
        }
        finally
        {
            await stop.CancelAsync();
            await stream;
        }

        throw new IOException("the daemon ended the event stream");
    }

    private async Task PumpAsync(ChannelWriter<Message> events, ContainerEventsParameters parameters, CancellationToken cancellationToken)
    {
        try
        {
            await _docker.System.MonitorEventsAsync(parameters, new Progress(events), cancellationToken);
            events.TryComplete();
        }
        catch (Exception ex)
        {
            events.TryComplete(ex);
        }
    }

    /// <summary>
    /// Makes one container's node current: joined or moved when usable, down when stopped, refused (logged once)
    /// otherwise. True when the node joined or moved, and should be probed. <paramref name="registered"/>: the node ids
    /// metadata holds, when known (a stopped container's node is then held down even before anything opened it).
    /// </summary>
    private async Task<bool> ApplyAsync(string containerId, IReadOnlySet<string> gatewayNetworks, bool justStarted, IReadOnlySet<string>? registered, CancellationToken cancellationToken)
    {
        ContainerInspectResponse container;
        try
        {
            container = await WithTimeoutAsync(token => _docker.Containers.InspectContainerAsync(containerId, token), cancellationToken);
        }
        catch (DockerContainerNotFoundException)
        {
            return false;
        }

        switch (DockerNodeContainer.From(container, _settings.Port, _settings.Network, gatewayNetworks))
        {
            case DockerNodeContainer.Stopped stopped:
                ReportStopped(stopped.NodeId, registered);
                return false;
            case DockerNodeContainer.Unusable unusable:
                if (_refusals.TryGetValue(container.ID, out var logged) is false || logged != unusable.Reason)
                {
                    logger.LogWarning("Container {Container} is not used as a node: {Reason}", container.Name.TrimStart('/'), unusable.Reason);
                    _refusals[container.ID] = unusable.Reason;
                }

                return false;
            case DockerNodeContainer.Usable usable:
                _refusals.TryRemove(container.ID, out _);
                _nodesByContainer[container.ID] = (usable.NodeId, DateTimeOffset.TryParse(container.State?.StartedAt, CultureInfo.InvariantCulture, out var startedAt) ? startedAt : DateTimeOffset.MinValue);
                _containerOfNode[usable.NodeId] = container.ID;
                return await JoinAsync(usable, justStarted, cancellationToken);
            default:
                return false;
        }
    }

    /// <summary>
    /// Registers the node (in metadata, where other gateways find it, and here), or its new address. One that
    /// <paramref name="justStarted"/> is first given a moment to answer, so that no write picks a node whose server is
    /// still starting.
    /// </summary>
    private async Task<bool> JoinAsync(DockerNodeContainer.Usable node, bool justStarted, CancellationToken cancellationToken)
    {
        var changed = discovered.Set(node.NodeId, node.Connection);
        var known = registry.TryGet(node.NodeId, out var status);
        if (!changed && known && status!.State != NodeState.Down)
        {
            return false;
        }

        var record = new NodeRecord(node.NodeId, NodeFactory.S3Kind, node.Connection.Address, time.GetUtcNow());
        var fresh = changed || !known;

        // A new client only for a new connection; a known node that was down is asked again through its own.
        var client = fresh ? factory.Create(record) : status!.Node;
        var ready = !justStarted || await AnswersAsync(client, cancellationToken);
        var refusal = ready ? null : $"its container does not answer on port {_settings.Port}";
        var added = await metadata.AddNodeAsync(record, cancellationToken);
        if (fresh)
        {
            // The old client is left to the garbage collector rather than disposed: reads in flight may still use it.
            registry.Replace(client, refusal);
            logger.LogInformation("Node {Node} found in Docker at {Address} ({Registration})", node.NodeId, node.Connection.Address, added ? "new node" : "known node");
        }
        else if (refusal is not null)
        {
            registry.ReportDown(node.NodeId, refusal, client);
        }

        return true;
    }

    /// <summary>Waits (briefly) for a container that just started to answer: its server takes a moment after the start event.</summary>
    private async Task<bool> AnswersAsync(IStorageNode node, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + CallTimeout;
        while (true)
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(TimeSpan.FromTicks(Math.Max(1, (deadline - time.GetUtcNow()).Ticks)));
            try
            {
                await node.ProbeAsync(attempt.Token);
                return true;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && NodeFailures.IsNodeFailure(ex))
            {
                if (time.GetUtcNow() >= deadline)
                {
                    return false;
                }

                await Task.Delay(ReadinessPollInterval, time, cancellationToken);
            }
        }
    }

    /// <summary>Holds the node down behind a <see cref="StoppedContainerNode"/> until its container starts again.</summary>
    private void ReportStopped(string nodeId, IReadOnlySet<string>? registered)
    {
        var known = registry.TryGet(nodeId, out var status);
        if (!known && registered?.Contains(nodeId) != true)
        {
            return;
        }

        discovered.Remove(nodeId);
        if (status?.Node is StoppedContainerNode)
        {
            return;
        }

        if (known && status!.State != NodeState.Down)
        {
            logger.LogWarning("Node {Node} is down: its container stopped", nodeId);
        }

        registry.Replace(new StoppedContainerNode(nodeId, status?.Node.Address ?? "(stopped container)"), "its container is stopped");
    }

    /// <summary>The networks of the gateway's own container (Docker names a container's host after its id); none outside Docker.</summary>
    private async Task<IReadOnlySet<string>> GatewayNetworksAsync(CancellationToken cancellationToken)
    {
        try
        {
            var self = await WithTimeoutAsync(token => _docker.Containers.InspectContainerAsync(Environment.MachineName, token), cancellationToken);
            return self.Config?.Hostname == Environment.MachineName && self.NetworkSettings?.Networks is { } networks
                ? networks.Keys.ToHashSet(StringComparer.Ordinal)
                : new HashSet<string>();
        }
        catch (DockerContainerNotFoundException)
        {
            return new HashSet<string>();
        }
    }

    private static DateTimeOffset EventTime(Message message) =>
        DateTimeOffset.UnixEpoch.AddTicks(message.TimeNano / 100);

    private bool Matches(string containerName) => containerName.Contains(_settings.NameContains, StringComparison.Ordinal);

    private void ReportFailure(Exception exception, TimeSpan retryIn)
    {
        var first = Problem is null;
        Problem = exception.Message;
        logger.Log(
            first ? LogLevel.Warning : LogLevel.Debug,
            "Docker discovery at {Endpoint} failed ({Reason}); serving the {Count} nodes known, retrying in {Delay}",
            _settings.Endpoint,
            exception.Message,
            registry.All.Count,
            retryIn);
    }

    /// <summary>
    /// A daemon call bounded by <see cref="CallTimeout"/>, also where Docker.DotNet does not pass the token on (its TCP
    /// connect does not).
    /// </summary>
    private async Task<T> WithTimeoutAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CallTimeout);
        return await call(timeout.Token).WaitAsync(CallTimeout, time, cancellationToken);
    }

    /// <summary>Hands each event to the channel synchronously, in the order the stream delivers them.</summary>
    private sealed class Progress(ChannelWriter<Message> events) : IProgress<Message>
    {
        public void Report(Message value) => events.TryWrite(value);
    }
}

using Storage.AppHost;

// The whole product: N storage nodes, Redis for metadata, two gateway replicas, and the Go cache worker.
// `Storage:Containers` (auto | true | false) chooses containers or local processes; see TopologySettings.
var builder = DistributedApplication.CreateBuilder(args);
var settings = await TopologySettings.ReadAsync(builder);
var credentials = builder.AddS3Credentials();
var redis = builder.AddMetadataStore(settings);
var nodes = builder.AddStorageNodes(settings);
var gateway = builder.AddGateway(redis, nodes, credentials);
builder.AddCacheWorker(gateway, credentials, settings);
await builder.Build().RunAsync();

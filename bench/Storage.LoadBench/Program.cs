using Storage.LoadBench;

// Scenarios: "http" (default) compares the gateway with same-run baselines on folder nodes; "cluster" measures
// listing on Redis and SQLite, S3 nodes, healing and rebalancing; "faults" times recovery from an emptied node and a
// lease takeover; "s3" compares the S3 API with /object/{id}; "listing" is the cluster scenario's listing part alone;
// "lifecycle" times the lifecycle expirer against client deletes; "versioning" compares versioned and unversioned
// buckets and times version listings; "commits" the same for the metadata stores alone; "encryption" compares an
// SSE-S3 bucket with a plain one.
// With ConnectionStrings__redis set in the environment, "http" runs its gateway on that Redis (bench/redis-client.sh).
var scenario = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : "http";
var options = LoadBenchOptions.Parse(scenario == "http" && (args.Length == 0 || args[0] != "http") ? args : args[1..]);
string report;
if (scenario == "cluster")
{
    report = await ClusterBenchmark.RunAsync(options);
}
else if (scenario == "faults")
{
    report = await FaultBenchmark.RunAsync(options);
}
else if (scenario == "listing")
{
    report = await ClusterBenchmark.ListingAsync();
}
else if (scenario == "lifecycle")
{
    report = await LifecycleBenchmark.RunAsync(10_000);
}
else if (scenario == "versioning")
{
    report = await VersioningBenchmark.RunAsync(options);
}
else if (scenario == "commits")
{
    report = await VersioningBenchmark.CommitsAsync();
}
else if (scenario == "encryption")
{
    report = await EncryptionBenchmark.RunAsync(options);
}
else if (scenario == "s3")
{
    report = await S3Benchmark.RunAsync(options);
}
else
{
    await using var bench = await LoadBenchmark.StartAsync(options);
    report = await bench.RunAsync();
}

Console.WriteLine(report);
if (options.OutputPath is { } path)
{
    await File.WriteAllTextAsync(path, report);
}

using Storage.LoadBench;

var options = LoadBenchOptions.Parse(args);
await using var bench = await LoadBenchmark.StartAsync(options);
var report = await bench.RunAsync();
Console.WriteLine(report);
if (options.OutputPath is { } path)
{
    await File.WriteAllTextAsync(path, report);
}

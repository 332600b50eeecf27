using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace Storage.Benchmarks;

/// <summary>A short but stable job; each benchmark class adds the throughput column that fits it.</summary>
public abstract class ThroughputConfig : ManualConfig
{
    protected ThroughputConfig(ThroughputColumn throughput)
    {
        AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(10));
        AddColumn(throughput);
        HideColumns(Column.Error, Column.StdDev);
    }
}

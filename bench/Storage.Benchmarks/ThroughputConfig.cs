using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Storage.Benchmarks;

/// <summary>A short but stable job plus a GB/s column (data shards × shard bytes per operation).</summary>
public sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig()
    {
        AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(10));
        AddColumn(new DataThroughputColumn());
        HideColumns(Column.Error, Column.StdDev);
    }

    private sealed class DataThroughputColumn : IColumn
    {
        public string Id => nameof(DataThroughputColumn);

        public string ColumnName => "Data GB/s";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => "Data bytes (6 shards) processed per second, in 10^9 bytes";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics is not { } statistics)
            {
                return "-";
            }

            var shardBytes = (int)benchmarkCase.Parameters["ShardBytes"];
            return (6.0 * shardBytes / statistics.Mean).ToString("F2", System.Globalization.CultureInfo.InvariantCulture);
        }

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;
    }
}

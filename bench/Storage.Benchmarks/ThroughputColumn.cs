using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Storage.Benchmarks;

/// <summary>A column that turns the mean time per operation into bytes per second.</summary>
public sealed class ThroughputColumn(string columnName, string legend, Func<BenchmarkCase, double> bytesPerOperation, double bytesPerUnit) : IColumn
{
    public string Id => $"{nameof(ThroughputColumn)}.{columnName}";

    public string ColumnName => columnName;

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => legend;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        summary[benchmarkCase]?.ResultStatistics is { } statistics
            ? (bytesPerOperation(benchmarkCase) / (statistics.Mean / 1e9) / bytesPerUnit).ToString("F2", CultureInfo.InvariantCulture)
            : "-";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}

using System.Globalization;

namespace Storage.LoadBench;

/// <summary>Command line: <c>[--seconds N] [--large-iterations N] [--data DIR] [--out FILE]</c>.</summary>
public sealed record LoadBenchOptions(int Seconds, int LargeIterations, string? DataPath, string? OutputPath)
{
    public const int LargeObjectBytes = 64 << 20;
    public const int SmallObjectBytes = 4096;
    public const int Concurrency = 16;

    public static LoadBenchOptions Parse(string[] args)
    {
        var options = new LoadBenchOptions(Seconds: 10, LargeIterations: 8, DataPath: null, OutputPath: null);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            options = args[i] switch
            {
                "--seconds" => options with { Seconds = int.Parse(args[i + 1], CultureInfo.InvariantCulture) },
                "--large-iterations" => options with { LargeIterations = int.Parse(args[i + 1], CultureInfo.InvariantCulture) },
                "--data" => options with { DataPath = args[i + 1] },
                "--out" => options with { OutputPath = args[i + 1] },
                _ => throw new ArgumentException($"Unknown option '{args[i]}'. Options: --seconds N --large-iterations N --data DIR --out FILE"),
            };
        }

        return options;
    }
}

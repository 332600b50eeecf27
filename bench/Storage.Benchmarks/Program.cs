using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Storage.Benchmarks.ErasureBenchmarks).Assembly).Run(args);

#!/usr/bin/env bash
# Runs every benchmark on this machine and keeps the reports under bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
dotnet run -c Release --project bench/Storage.Benchmarks -- --filter '*ErasureBenchmarks*' --artifacts "bench/results/erasure-$stamp"
dotnet run -c Release --project bench/Storage.LoadBench -- --seconds 10 --large-iterations 8 --out "bench/results/load-$stamp.md"
echo "Reports: bench/results/erasure-$stamp/results/*.md and bench/results/load-$stamp.md"

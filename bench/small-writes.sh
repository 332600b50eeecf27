#!/usr/bin/env bash
# Small objects before and after a change, in one run: builds the load benchmark at BEFORE (a commit) and at the
# working tree, then alternates them ROUNDS times: 4 KiB PUT/GET at concurrency 16 against the one-file baseline,
# 64 MiB PUT/GET, and (where the tree has it) small PUTs while a 1 GiB PUT runs; each with SQLite metadata and with
# one local redis-server (AOF, appendfsync always, as the product expects). Reports under bench/results/.
# Usage: ./bench/small-writes.sh BEFORE [ROUNDS (default 2)] [SECONDS (default 10)]    (needs redis-server)
set -euo pipefail
cd "$(dirname "$0")/.."
before="${1:?usage: $0 BEFORE-COMMIT [ROUNDS] [SECONDS]}"
rounds="${2:-2}"; seconds="${3:-10}"
out="bench/results/small-writes-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
tree="$(mktemp -d)"
git worktree add --detach "$tree" "$before" >/dev/null
port=$(( 20000 + RANDOM % 20000 ))
redis_dir="$(mktemp -d)"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; git worktree remove --force "$tree" >/dev/null 2>&1 || true; rm -rf "$redis_dir"' EXIT
dotnet build -c Release "$tree/bench/Storage.LoadBench" --nologo -v quiet >/dev/null
dotnet build -c Release bench/Storage.LoadBench --nologo -v quiet >/dev/null
redis-server --port "$port" --bind 127.0.0.1 --dir "$redis_dir" --save '' --appendonly yes --appendfsync always --daemonize yes >/dev/null

run() { # label project-dir
  echo "== $1, SQLite metadata" | tee -a "$out/report.md"
  dotnet run -c Release --no-build --project "$2/bench/Storage.LoadBench" -- --seconds "$seconds" --large-iterations 4 | tee -a "$out/report.md"
  redis-cli -p "$port" flushall >/dev/null
  echo "== $1, Redis metadata" | tee -a "$out/report.md"
  ConnectionStrings__redis="127.0.0.1:$port" dotnet run -c Release --no-build --project "$2/bench/Storage.LoadBench" -- --seconds "$seconds" --large-iterations 4 | tee -a "$out/report.md"
  redis-cli -p "$port" flushall >/dev/null
}
for i in $(seq 1 "$rounds"); do
  if [ $((i % 2)) -eq 1 ]; then run "before ($before), round $i" "$tree"; run "after, round $i" .; else run "after, round $i" .; run "before ($before), round $i" "$tree"; fi
done
echo "Report: $out/report.md"

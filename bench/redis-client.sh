#!/usr/bin/env bash
# The Redis client before and after a change, in one run: builds the load benchmark at BEFORE (a commit) and at the
# working tree, then alternates them ROUNDS times on the same machine: listing pages of 1,000 from 100,000 keys
# (Redis and SQLite), and 4 KiB PUT/GET at concurrency 16 through a gateway whose metadata is one local
# redis-server (AOF, appendfsync always, as the product expects), 8 folder nodes; then the metadata store's Redis calls
# alone (bench/Storage.RedisProbe: record reads, commits, listing pages at concurrency 16, with the CPU each costs),
# which isolates the client's own cost.
# Usage: ./bench/redis-client.sh BEFORE [ROUNDS]    (needs redis-server; reports under bench/results/)
set -euo pipefail
cd "$(dirname "$0")/.."
before="${1:?usage: $0 BEFORE-COMMIT [ROUNDS]}"
rounds="${2:-2}"
out="bench/results/redis-client-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
tree="$(mktemp -d)"
git worktree add --detach "$tree" "$before" >/dev/null
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true' EXIT
dotnet build -c Release "$tree/bench/Storage.LoadBench" --nologo -v quiet >/dev/null
dotnet build -c Release bench/Storage.LoadBench --nologo -v quiet >/dev/null
# The probe at BEFORE: the hand-written RESP client if that commit still has it.
before_client=""
[ -f "$tree/Storage.Gateway/Metadata/Redis/RedisConnection.cs" ] && before_client="-p:RedisClient=resp"
dotnet build -c Release bench/Storage.RedisProbe --nologo -v quiet -p:GatewayTree="$tree" $before_client -o "$tree/.probe" >/dev/null
dotnet build -c Release bench/Storage.RedisProbe --nologo -v quiet -o "$out/.probe" >/dev/null

port=$(( 20000 + RANDOM % 20000 ))
redis_dir="$(mktemp -d)"
redis-server --port "$port" --bind 127.0.0.1 --dir "$redis_dir" --save '' --appendonly yes --appendfsync always --daemonize yes >/dev/null
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; git worktree remove --force "$tree" >/dev/null 2>&1 || true' EXIT

run() { # label project-dir
  redis-cli -p "$port" flushall >/dev/null
  echo "== $1: listing" | tee -a "$out/report.md"
  dotnet run -c Release --no-build --project "$2/bench/Storage.LoadBench" -- listing | tee -a "$out/report.md"
  redis-cli -p "$port" flushall >/dev/null
  echo "== $1: 4 KiB through Redis" | tee -a "$out/report.md"
  ConnectionStrings__redis="127.0.0.1:$port" dotnet run -c Release --no-build --project "$2/bench/Storage.LoadBench" -- --seconds 10 --large-iterations 1 | tee -a "$out/report.md"
}
probe() { # label probe-dir
  redis-cli -p "$port" flushall >/dev/null
  echo "== $1: metadata calls alone" | tee -a "$out/report.md"
  dotnet "$2/Storage.RedisProbe.dll" "127.0.0.1:$port" 8 16 | tee -a "$out/report.md"
}
for round in $(seq 1 "$rounds"); do
  run "before ($before) round $round" "$tree"
  run "after (working tree) round $round" "$PWD"
done
for round in $(seq 1 "$rounds"); do
  probe "before ($before) round $round" "$tree/.probe"
  probe "after (working tree) round $round" "$out/.probe"
done
echo "Report: $out/report.md"

#!/usr/bin/env bash
# One Redis against a three-master Redis Cluster, in one run, alternating ROUNDS times: 4 KiB PUT/GET at
# concurrency 16 through a gateway (8 folder nodes) on each, then the metadata store's calls alone
# (bench/Storage.RedisProbe: record reads, commits, listing pages, a sweeper's look) over 16 buckets. The cluster runs
# twice: with the plain prefix (a hash slot per bucket, spread over the masters) and with a hash-tagged one
# ({storage}:, every key in one slot, as stores before slots ran). Every server: AOF, appendfsync always.
# Usage: ./bench/redis-cluster.sh [ROUNDS]    (needs redis-server and redis-cli; reports under bench/results/)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-2}"
out="bench/results/redis-cluster-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
dotnet build -c Release bench/Storage.LoadBench --nologo -v quiet >/dev/null
dotnet build -c Release bench/Storage.RedisProbe --nologo -v quiet -o "$out/.probe" >/dev/null

dirs=()
ports=()
start() { # port [extra redis-server arguments...]
  local dir; dir="$(mktemp -d)"; dirs+=("$dir"); ports+=("$1")
  redis-server --port "$1" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly yes --appendfsync always --daemonize yes "${@:2}" >/dev/null
}
cleanup() {
  for port in "${ports[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "${dirs[@]}"
}
trap cleanup EXIT
base=$(( 20000 + RANDOM % 20000 ))
start "$base"
for i in 1 2 3; do start $(( base + i )) --cluster-enabled yes --cluster-config-file nodes.conf; done
sleep 1
redis-cli --cluster create "127.0.0.1:$(( base + 1 ))" "127.0.0.1:$(( base + 2 ))" "127.0.0.1:$(( base + 3 ))" --cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 1 150); do redis-cli -p $(( base + 1 )) cluster info | grep -q cluster_state:ok && break; sleep 0.2; done
redis-cli -p $(( base + 1 )) cluster info | grep -q cluster_state:ok || { echo "The cluster did not form within 30 s." >&2; exit 1; }
single="127.0.0.1:$base"
cluster="127.0.0.1:$(( base + 1 )),127.0.0.1:$(( base + 2 )),127.0.0.1:$(( base + 3 ))"

flush() {
  redis-cli -p "$base" flushall >/dev/null
  for i in 1 2 3; do redis-cli -p $(( base + i )) flushall >/dev/null; done
}
run() { # label connection-string key-prefix
  flush
  echo "== $1: 4 KiB through the gateway" | tee -a "$out/report.md"
  ConnectionStrings__redis="$2" Storage__RedisKeyPrefix="$3" \
    dotnet run -c Release --no-build --project bench/Storage.LoadBench -- --seconds 10 --large-iterations 1 | grep -E '^\| (4 KiB|gateway (PUT|GET))' | tee -a "$out/report.md"
  flush
  echo "== $1: metadata calls alone, 16 buckets" | tee -a "$out/report.md"
  dotnet "$out/.probe/Storage.RedisProbe.dll" "$2" 6 16 "$3" 16 | tee -a "$out/report.md"
}
for round in $(seq 1 "$rounds"); do
  run "one Redis, round $round" "$single" 'storage:'
  run "three-master cluster, a slot per bucket, round $round" "$cluster" 'storage:'
  run "three-master cluster, one slot ({storage}:), round $round" "$cluster" '{storage}:'
done
echo "Report: $out/report.md"

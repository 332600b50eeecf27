#!/usr/bin/env bash
# The GOCACHEPROG figures in one run: `go build std` with the go command's own cache (cold and warm, the
# baselines) and with storage-cacheprog in direct mode and through connect + serve:
#   (a) local tier warm, (b) local tier empty and remote warm, (c) everything empty (plus the time until every
#   upload is durable); (b) also as a CI job runs it (--no-worker), with the prefetch on and off in turn. The
#   remote is the gateway on loopback (8 folder nodes, SQLite), started here.
# Warm figures also for a minimal stdlib-only GOCACHEPROG written in Go (bench/gocacheprog-minimal, disk only), the
# baseline a cache helper is judged against, and for the same helper answering from memory (-preload: no file per
# get, the protocol's floor). Warm runs interleave all five.
# Cold builds take half a minute and vary by ±5 %: --cold-rounds of them per mode (native, Go helper, direct, connect
# in turn, the order reversed every other round), medians; the uploads' durability is the slowest round's.
# Usage: ./bench/cacheprog.sh [--rounds N (default 7)] [--cold-rounds N (default 3)] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
out=""; rounds=7; cold_rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --cold-rounds) cold_rounds="$2"; shift 2 ;;
    *) echo "unknown argument $1"; exit 2 ;;
  esac
done

go=${GO:-/usr/lib/go-1.27/bin/go}
[ -x "$go" ] || { echo "Go 1.27 not found: run ./.ci/test.sh once (it installs golang-1.27-go)"; exit 1; }
work="$(mktemp -d /tmp/cacheprog-bench.XXXXXX)"
dotnet build -c Release -v q --nologo Storage.Gateway >/dev/null
# Installed as users would: published, NativeAOT.
dotnet publish -c Release -r linux-x64 -v q --nologo Storage.CacheProg -o "$work/bin" >/dev/null
prog="$work/bin/storage-cacheprog"
(cd bench/gocacheprog-minimal && env GOCACHE="$work/gobuild-cache" GOPATH="$work/gopath" GOTOOLCHAIN=local GOFLAGS= GOPROXY=off \
  "$go" build -o "$work/bin/gocacheprog-minimal" .)
gateway_pid=""; workers=()
cleanup() {
  # The workers direct mode started hold their folder's worker.lock, with their pid on its second line.
  for lock in "$work"/*/worker.lock; do [ -f "$lock" ] && workers+=("$(sed -n 2p "$lock")"); done
  for pid in "${workers[@]}" $gateway_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
export S3_ACCESS_KEY_ID=AKIDCACHEBENCH S3_SECRET_ACCESS_KEY=cache-bench-secret S3_ENDPOINT="http://127.0.0.1:$port"
dotnet Storage.Gateway/bin/Release/net10.0/Storage.Gateway.dll --urls "$S3_ENDPOINT" --Storage:DataPath="$work/gateway" \
  --Storage:S3:Credentials:0:AccessKey=$S3_ACCESS_KEY_ID --Storage:S3:Credentials:0:SecretKey=$S3_SECRET_ACCESS_KEY --Storage:S3:Credentials:0:Administrator=true \
  --Logging:LogLevel:Default=Warning >"$work/gateway.log" 2>&1 &
gateway_pid=$!
until curl -fs "$S3_ENDPOINT/alive" >/dev/null; do sleep 0.2; done
s3() { AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$S3_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url "$S3_ENDPOINT" s3 "$@" >/dev/null; }
for bucket in warmup $(for i in $(seq 1 "$cold_rounds"); do echo "direct-$i worker-$i"; done); do
  "$go" version >/dev/null
  s3 mb "s3://$bucket"
done
# The gateway runs on the JIT: without a warm-up, the first build that uses it (direct mode's cold build) pays its
# compilation, ~2-5 s of a 2-core machine (measured: the same cold build first and fourth, 35.9 s against 30.2 s).
mkdir -p "$work/warmup"
for i in $(seq 1 400); do head -c $((i * 97)) /dev/urandom >"$work/warmup/$i"; done
for _ in 1 2 3; do s3 sync "$work/warmup" s3://warmup/w; s3 cp --recursive s3://warmup/w "$work/warmup-back"; s3 rm --recursive s3://warmup/w; done

# One `go build std` with a fresh GOCACHE (so only GOCACHEPROG can help) and the given GOCACHEPROG; prints seconds.
build() {
  local name=$1 cacheprog=$2 gocache=${3:-$work/gocache-$1}
  local start end
  start=$(date +%s.%N)
  # A failed build is an error, not a (short) time: set -e does not reach into $(...).
  env HOME="$work/home" GOPATH="$work/gopath" GOCACHE="$gocache" GOCACHEPROG="$cacheprog" GOTOOLCHAIN=local \
    GOFLAGS= GOTELEMETRY=off CGO_ENABLED=0 "$go" build std 2>"$work/$name.err" \
    || { echo "go build std ($name) failed: $(tail -3 "$work/$name.err")" >&2; return 1; }
  end=$(date +%s.%N)
  printf '%.3f\n' "$(echo "$end - $start" | bc)"
}

median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }

start_worker() {  # name bucket -> socket path; http port in $work/<name>.port
  local name=$1 bucket=$2 http
  http=$(free_port); echo "$http" >"$work/$name.port"
  "$prog" serve --listen "unix:$work/$name.sock" --http "http://127.0.0.1:$http" --dir "$work/$name-local" --bucket "$bucket" \
    >"$work/$name.log" 2>&1 &
  workers+=($!)
  until [ -S "$work/$name.sock" ]; do sleep 0.05; done
}

# Seconds from now until direct mode's worker has uploaded everything spooled in the folder.
spool_seconds() {
  local folder=$1 start now
  start=$(date +%s.%N)
  while compgen -G "$folder/spool/*.uploads" >/dev/null; do
    # A spool file left after two minutes means uploads failed: an error, not a time.
    if [ "$(echo "$(date +%s.%N) - $start > 120" | bc)" = 1 ]; then echo "uploads still spooled after 120 s" >&2; return 1; fi
    sleep 0.05
  done
  now=$(date +%s.%N)
  echo "$now - $start" | bc
}

# Seconds from now until the worker has no upload queued or in flight.
drain_seconds() {
  local name=$1 start now
  start=$(date +%s.%N)
  until curl -fs "http://127.0.0.1:$(cat "$work/$name.port")/stats" | grep -q ' 0 queued'; do sleep 0.05; done
  now=$(date +%s.%N)
  echo "$now - $start" | bc
}

max() { printf '%s\n' "$@" | sort -n | tail -1; }

# Where a cold build's time goes on a 2-core machine that also runs the remote: CPU core-seconds, from /proc.
ticks=$(getconf CLK_TCK)
cpu_of() {  # pid -> user + system seconds so far (0 once it has exited)
  [ -r "/proc/$1/stat" ] && awk -v t="$ticks" '{ sub(/.*\) /, ""); printf "%.2f\n", ($12 + $13) / t }' "/proc/$1/stat" || echo 0
}
busy_now() { awk -v t="$ticks" '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8) / t }' /proc/stat; }
worker_of() { sed -n 2p "$1/worker.lock" 2>/dev/null || true; }  # the pid direct mode's worker wrote
minus() { printf '%.2f' "$(echo "$1 - $2" | bc)"; }

# (c), everything empty, $cold_rounds times per mode; each round on its own buckets, local folders and worker. The
# last round's caches are the warm ones below.
gohelper="$work/bin/gocacheprog-minimal $work/gohelper"
c_native=(); c_go=(); c_direct=(); c_connect=(); d_direct=(); d_connect=()
# Per cold build: the machine's busy core-seconds, the gateway's and the worker's (during the build / until durable).
declare -A cpu_busy cpu_gateway cpu_worker
cold() {
  local i=$1 last=$2 busy0 gateway0 worker_pid="" worker0=0
  busy0=$(busy_now); gateway0=$(cpu_of "$gateway_pid")
  [ "$3" = connect ] && { start_worker "worker-cold-$i" "worker-$i"; worker_pid=${workers[-1]}; worker0=$(cpu_of "$worker_pid"); }
  case "$3" in
    native) c_native+=("$(build "native-cold-$i" "" "$work/gocache-native${last:+-$i}")") ;;
    go) c_go+=("$(build "gohelper-cold-$i" "$work/bin/gocacheprog-minimal $work/gohelper${last:+-$i}")") ;;
    direct) c_direct+=("$(build "direct-cold-$i" "$prog --dir $work/direct-local-$i --bucket direct-$i")")
      worker_pid=$(worker_of "$work/direct-local-$i") ;;
    connect) c_connect+=("$(build "worker-cold-$i" "$prog connect unix:$work/worker-cold-$i.sock")") ;;
  esac
  local key="$3-$i" worker_built
  cpu_busy[$key]=$(minus "$(busy_now)" "$busy0"); cpu_gateway[$key]=$(minus "$(cpu_of "$gateway_pid")" "$gateway0")
  worker_built=$( [ -n "$worker_pid" ] && minus "$(cpu_of "$worker_pid")" "$worker0" || echo 0)
  case "$3" in
    direct) d_direct+=("$(spool_seconds "$work/direct-local-$i")") ;;
    connect) d_connect+=("$(drain_seconds "worker-cold-$i")") ;;
  esac
  cpu_worker[$key]="$worker_built/$( [ -n "$worker_pid" ] && minus "$(cpu_of "$worker_pid")" "$worker0" || echo 0)"
  cpu_gateway[$key]+="/$(minus "$(cpu_of "$gateway_pid")" "$gateway0")"
}
for i in $(seq 1 "$cold_rounds"); do
  # Only the last round writes the caches the warm builds use (an empty suffix).
  last=x; [ "$i" -eq "$cold_rounds" ] && last=""
  if [ $((i % 2)) -eq 1 ]; then order=(native go direct connect); else order=(connect direct go native); fi
  for what in "${order[@]}"; do cold "$i" "$last" "$what"; done
done
native_cold=$(median "${c_native[@]}"); gohelper_cold=$(median "${c_go[@]}")
direct_cold=$(median "${c_direct[@]}"); worker_cold=$(median "${c_connect[@]}")
direct_drain=$(max "${d_direct[@]}"); worker_drain=$(max "${d_connect[@]}")

direct_bucket="direct-$cold_rounds"; worker_bucket="worker-$cold_rounds"
direct="$prog --dir $work/direct-local-$cold_rounds --bucket $direct_bucket"
direct_remote=$(build direct-remote "$prog --dir $work/direct-empty --bucket $direct_bucket")
connect="$prog connect unix:$work/worker-cold-$cold_rounds.sock"
start_worker worker2 "$worker_bucket"
worker_remote=$(build worker-remote "$prog connect unix:$work/worker2.sock")
floor="$work/bin/gocacheprog-minimal -preload $work/gohelper"

# Warm builds take a few hundred milliseconds, where scheduling noise on 2 cores is tens: $rounds rounds, each
# building with the native cache, the Go helper, direct mode and connect in turn (the order reversed every other
# round), so noise hits all alike; medians.
w_native=(); w_go=(); w_direct=(); w_connect=(); w_floor=()
warm() {
  case "$1" in
    native) w_native+=("$(build "native-warm-$2" "" "$work/gocache-native")") ;;
    go) w_go+=("$(build "gohelper-warm-$2" "$gohelper")") ;;
    direct) w_direct+=("$(build "direct-warm-$2" "$direct")") ;;
    connect) w_connect+=("$(build "worker-warm-$2" "$connect")") ;;
    floor) w_floor+=("$(build "floor-warm-$2" "$floor")") ;;
  esac
}
for i in $(seq 1 "$rounds"); do
  if [ $((i % 2)) -eq 1 ]; then order=(native go floor direct connect); else order=(connect direct floor go native); fi
  for what in "${order[@]}"; do warm "$what" "$i"; done
done
native_warm=$(median "${w_native[@]}"); gohelper_warm=$(median "${w_go[@]}")
direct_warm=$(median "${w_direct[@]}"); worker_warm=$(median "${w_connect[@]}")
floor_warm=$(median "${w_floor[@]}")

# (b) again, $rounds times, with the prefetch on and off in turn, each on a fresh local tier, as a CI job runs it
# (--no-worker: the job waits for its own close, which here publishes a manifest and uploads nothing): medians.
b_on=(); b_off=()
for i in $(seq 1 "$rounds"); do
  b_on+=("$(build "direct-remote-on-$i" "$prog --no-worker --dir $work/direct-empty-on-$i --bucket $direct_bucket")")
  b_off+=("$(build "direct-remote-off-$i" "$prog --no-worker --no-prefetch --dir $work/direct-empty-off-$i --bucket $direct_bucket")")
done
remote_on=$(median "${b_on[@]}"); remote_off=$(median "${b_off[@]}")

ratio() { printf '%.2f' "$(echo "scale=6; $1 / $2" | bc)"; }
report=$(cat <<REPORT
Machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), $("$go" version | cut -d' ' -f3), .NET $(dotnet --version); $(date -u +%Y-%m-%d)

| \`go build std\`, fresh GOCACHE each time | seconds | ratio | target |
|---|---:|---:|---|
| native cache, cold (baseline; median of $cold_rounds) | $native_cold | 1.00 × cold | |
| native cache, warm (baseline; median of $rounds) | $native_warm | 1.00 × native warm | |
| minimal Go helper, cold (bench/gocacheprog-minimal; median of $cold_rounds) | $gohelper_cold | $(ratio "$gohelper_cold" "$native_cold") × cold | |
| minimal Go helper, warm (baseline; median of $rounds) | $gohelper_warm | $(ratio "$gohelper_warm" "$native_warm") × native warm | |
| minimal Go helper answering from memory, warm: the protocol's floor (median of $rounds) | $floor_warm | $(ratio "$floor_warm" "$gohelper_warm") × Go helper | |
| (a) direct mode, local tier warm (median of $rounds) | $direct_warm | $(ratio "$direct_warm" "$gohelper_warm") × Go helper | ≤ 0.9 × Go helper |
| (a) connect + serve, local tier warm (median of $rounds) | $worker_warm | $(ratio "$worker_warm" "$gohelper_warm") × Go helper | ≤ 1.0 × Go helper |
| (b) direct mode, local empty, remote warm | $direct_remote | $(ratio "$direct_remote" "$native_cold") × cold | ≤ 0.05 × cold |
| (b) connect + new worker, local empty, remote warm | $worker_remote | $(ratio "$worker_remote" "$native_cold") × cold | ≤ 0.05 × cold |
| (b) direct mode --no-worker (CI), prefetch on (median of $rounds) | $remote_on | $(ratio "$remote_on" "$native_cold") × cold | ≤ 0.05 × cold |
| (b) direct mode --no-worker (CI), --no-prefetch (median of $rounds) | $remote_off | $(ratio "$remote_off" "$native_cold") × cold | |
| (c) direct mode, everything empty (uploads handed to the worker it starts; median of $cold_rounds) | $direct_cold | $(ratio "$direct_cold" "$native_cold") × cold | ≤ 1.03 × cold |
| (c) direct mode: uploads durable this long after those builds (slowest) | $direct_drain | | ≤ 10 s |
| (c) connect + serve, everything empty (median of $cold_rounds) | $worker_cold | $(ratio "$worker_cold" "$native_cold") × cold | ≤ 1.03 × cold |
| (c) worker: uploads durable this long after those builds (slowest) | $worker_drain | | ≤ 10 s |

Cold runs, by round (native, Go helper, direct, connect; uploads durable after direct, connect): $(for i in $(seq 0 $((cold_rounds - 1))); do printf '%s/%s/%s/%s (%s/%s) ' "${c_native[$i]}" "${c_go[$i]}" "${c_direct[$i]}" "${c_connect[$i]}" "${d_direct[$i]}" "${d_connect[$i]}"; done)

CPU core-seconds of each cold build (machine busy during the build; gateway during / until durable; worker during / until durable): $(for i in $(seq 1 "$cold_rounds"); do for what in native go direct connect; do printf '%s-%s %s; %s; %s. ' "$what" "$i" "${cpu_busy[$what-$i]}" "${cpu_gateway[$what-$i]}" "${cpu_worker[$what-$i]}"; done; done)

Warm runs, by round (native, Go helper, floor, direct, connect): $(for i in $(seq 0 $((rounds - 1))); do printf '%s/%s/%s/%s/%s ' "${w_native[$i]}" "${w_go[$i]}" "${w_floor[$i]}" "${w_direct[$i]}" "${w_connect[$i]}"; done)

(b) with the prefetch on/off, by round: $(for i in $(seq 0 $((rounds - 1))); do printf '%s/%s ' "${b_on[$i]}" "${b_off[$i]}"; done)

Direct-mode statistics (stderr of each build):
$(for f in "direct-cold-$cold_rounds" direct-warm-1 direct-remote direct-remote-on-1 direct-remote-off-1; do echo "- $f: $(grep storage-cacheprog "$work/$f.err" | tail -1)"; done)
Worker statistics after the runs: $(curl -fs "http://127.0.0.1:$(cat "$work/worker-cold-$cold_rounds.port")/stats")
REPORT
)
echo "$report"
[ -n "$out" ] && echo "$report" >"$out"
exit 0

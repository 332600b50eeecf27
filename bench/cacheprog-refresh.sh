#!/usr/bin/env bash
# What refreshing used entries costs (the Go cache under a lifecycle rule that expires what was not written for N days):
# warm `go build std` (every get a local hit) in direct mode with uploads at close (--no-worker, so the build's time
# includes every upload it causes), interleaved: with nothing old (--refresh-after one day: the everyday case) and with
# every entry old (--refresh-after 1 s after a 2 s pause: the most a build can ever pay, at most once per period per
# entry and machine). Prints medians and the refresh counts the program reports. The remote is the gateway on loopback
# (8 folder nodes, SQLite), started here.
# Usage: ./bench/cacheprog-refresh.sh [--rounds N (default 5)]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "unknown argument $1"; exit 2 ;;
  esac
done

go=${GO:-/usr/lib/go-1.27/bin/go}
[ -x "$go" ] || { echo "Go 1.27 not found: run ./.ci/test.sh once (it installs golang-1.27-go)"; exit 1; }
work="$(mktemp -d /tmp/cacheprog-refresh.XXXXXX)"
dotnet build -c Release -v q --nologo Storage.Gateway >/dev/null
dotnet publish -c Release -r linux-x64 -v q --nologo Storage.CacheProg -o "$work/bin" >/dev/null
prog="$work/bin/storage-cacheprog"
gateway_pid=""
cleanup() { [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export S3_ACCESS_KEY_ID=AKIDREFRESHBENCH S3_SECRET_ACCESS_KEY=refresh-bench-secret S3_ENDPOINT="http://127.0.0.1:$port" S3_BUCKET_NAME=gocache
dotnet Storage.Gateway/bin/Release/net10.0/Storage.Gateway.dll --urls "$S3_ENDPOINT" --Storage:DataPath="$work/gateway" \
  --Storage:S3:Credentials:0:AccessKey=$S3_ACCESS_KEY_ID --Storage:S3:Credentials:0:SecretKey=$S3_SECRET_ACCESS_KEY --Storage:S3:Credentials:0:Administrator=true \
  --Logging:LogLevel:Default=Warning >"$work/gateway.log" 2>&1 &
gateway_pid=$!
until curl -fs "$S3_ENDPOINT/alive" >/dev/null; do sleep 0.2; done
AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$S3_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1 \
  aws --endpoint-url "$S3_ENDPOINT" s3 mb s3://gocache >/dev/null

# One `go build std` with a fresh GOCACHE and the given GOCACHEPROG; prints seconds; the program's summary to $work/<name>.err.
build() {
  local name=$1 cacheprog=$2 start end
  rm -rf "$work/gocache-$name"
  start=$(date +%s.%N)
  env HOME="$work/home" GOPATH="$work/gopath" GOCACHE="$work/gocache-$name" GOCACHEPROG="$cacheprog" GOTOOLCHAIN=local \
    GOFLAGS= GOTELEMETRY=off CGO_ENABLED=0 "$go" build std 2>"$work/$name.err" \
    || { echo "go build std ($name) failed: $(tail -3 "$work/$name.err")" >&2; return 1; }
  end=$(date +%s.%N)
  printf '%.3f\n' "$(echo "$end - $start" | bc)"
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
refreshes() { grep -o '[0-9]* refreshing old ones' "$work/$1.err" | grep -o '^[0-9]*' || echo 0; }

common="$prog --dir $work/local --no-worker --close-timeout 120"
cold=$(build cold "$common")
fresh=(); old=(); fresh_refreshes=(); old_refreshes=()
for _ in $(seq 1 "$rounds"); do
  fresh+=("$(build fresh "$common --refresh-after 86400")"); fresh_refreshes+=("$(refreshes fresh)")
  sleep 2
  old+=("$(build old "$common --refresh-after 1")"); old_refreshes+=("$(refreshes old)")
done

echo "Machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), $("$go" version | cut -d' ' -f3)"
echo "cold build (fills local and remote): ${cold} s"
echo
echo "| warm go build std, direct mode, uploads at close (median of $rounds) | seconds | entries refreshed per build |"
echo "|---|---:|---:|"
echo "| nothing old (--refresh-after 86400) | $(median "${fresh[@]}") | $(median "${fresh_refreshes[@]}") |"
echo "| every entry old (--refresh-after 1) | $(median "${old[@]}") | $(median "${old_refreshes[@]}") |"
echo
echo "rounds, nothing old: ${fresh[*]}; every entry old: ${old[*]}"

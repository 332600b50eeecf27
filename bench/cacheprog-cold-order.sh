#!/usr/bin/env bash
# Does a cold `go build std` through storage-cacheprog depend on which build first uses a fresh gateway (which runs
# on the JIT)? Four cold builds against one gateway, each with a fresh GOCACHE, local tier and bucket: direct mode,
# connect, connect, direct mode. Prints seconds per build. Needs Go 1.27 and the published helper in
# artifacts/storage-cacheprog (./.ci/test.sh makes both).
# Usage: ./bench/cacheprog-cold-order.sh
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-/usr/lib/go-1.27/bin/go}
prog=${STORAGE_CACHEPROG:-$PWD/artifacts/storage-cacheprog/storage-cacheprog}
[ -x "$go" ] && [ -x "$prog" ] || { echo "needs $go and $prog: run ./.ci/test.sh once"; exit 1; }
work="$(mktemp -d /tmp/cacheprog-cold-order.XXXXXX)"
pids=()
cleanup() {
  for lock in "$work"/*/worker.lock; do [ -f "$lock" ] && pids+=("$(sed -n 2p "$lock")"); done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
dotnet build -c Release -v q --nologo Storage.Gateway >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export S3_ACCESS_KEY_ID=AKIDCOLDORDER S3_SECRET_ACCESS_KEY=cold-order-secret S3_ENDPOINT="http://127.0.0.1:$port"
dotnet Storage.Gateway/bin/Release/net10.0/Storage.Gateway.dll --urls "$S3_ENDPOINT" --Storage:DataPath="$work/gateway" \
  --Storage:S3:Credentials:0:AccessKey=$S3_ACCESS_KEY_ID --Storage:S3:Credentials:0:SecretKey=$S3_SECRET_ACCESS_KEY --Storage:S3:Credentials:0:Administrator=true \
  --Logging:LogLevel:Default=Warning >"$work/gateway.log" 2>&1 &
pids+=($!)
until curl -fs "$S3_ENDPOINT/alive" >/dev/null; do sleep 0.2; done
for bucket in direct-1 direct-2 connect-1 connect-2; do
  AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$S3_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1 \
    aws --endpoint-url "$S3_ENDPOINT" s3 mb "s3://$bucket" >/dev/null
done
for n in 1 2; do
  "$prog" serve --listen "unix:$work/worker-$n.sock" --http http://127.0.0.1:0 --dir "$work/worker-$n" --bucket "connect-$n" >"$work/worker-$n.log" 2>&1 &
  pids+=($!)
done
until [ -S "$work/worker-1.sock" ] && [ -S "$work/worker-2.sock" ]; do sleep 0.05; done

build() {  # name GOCACHEPROG
  local start end
  start=$(date +%s.%N)
  env HOME="$work/home" GOPATH="$work/gopath" GOCACHE="$work/gocache-$1" GOCACHEPROG="$2" GOTOOLCHAIN=local \
    GOFLAGS= GOTELEMETRY=off CGO_ENABLED=0 "$go" build std 2>"$work/$1.err" || { echo "$1 failed: $(tail -3 "$work/$1.err")" >&2; return 1; }
  end=$(date +%s.%N)
  printf '%s %.2f s\n' "$1" "$(echo "$end - $start" | bc)"
  sleep 8  # let the build's uploads finish before the next build
}
build direct-first "$prog --dir $work/direct-1 --bucket direct-1"
build connect-second "$prog connect unix:$work/worker-1.sock"
build connect-third "$prog connect unix:$work/worker-2.sock"
build direct-fourth "$prog --dir $work/direct-2 --bucket direct-2"

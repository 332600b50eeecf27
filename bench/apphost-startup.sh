#!/usr/bin/env bash
# Time from `dotnet run --project Storage.AppHost` to the whole topology serving, in process and container mode.
# "Serving" = the gateway's external endpoint (:3000) answers /health with Healthy from both replicas (the gateway
# starts only after Redis and every node are healthy, through WaitFor) and the cache worker answers on its socket
# (the worker starts only after the gateway). Each mode is started RUNS times, alternating, on fresh data.
# Usage: ./bench/apphost-startup.sh [RUNS]    (needs what .ci/test.sh installs; container mode needs dockerd running)
set -euo pipefail
[ -n "${TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
runs="${1:-3}"

dotnet build Storage.AppHost -c Release --nologo -v quiet >/dev/null
./.ci/stand-ins/build-images.sh >/dev/null
cacheprog="$PWD/Storage.CacheProg/bin/Release/net10.0/storage-cacheprog"

# Seconds until both replicas report healthy and the worker says hello on its socket.
measure() {
  local mode="$1" data socket started pid hosts
  data="$(mktemp -d)"
  socket="$data/worker.sock"
  local settings=(--Storage:DataPath="$data" --Storage:CacheProg:Listen="unix:$socket" --Storage:CacheProg:Dir="$data/worker-cache")
  if [ "$mode" = processes ]; then
    settings+=(--Storage:Containers=false --Storage:MinioCommand="$PWD/.ci/stand-ins/minio/minio.js")
  else
    settings+=(--Storage:Containers=true --Storage:Images:Minio=storage-standin/minio:local
      --Storage:Images:Redis=storage-standin/redis:local --Storage:VolumePrefix="bench-$(basename "$data" | tr 'A-Z.' 'a-z-')")
  fi
  started=$(date +%s.%N)
  dotnet run --project Storage.AppHost -c Release --no-build --launch-profile http -- "${settings[@]}" >"$data/apphost.log" 2>&1 &
  pid=$!
  until [ "$(curl -s -m 2 http://localhost:3000/health | grep -c '"status":"Healthy"')" -ge 1 ]; do sleep 0.2; done
  hosts=""
  until [ "$(printf '%s\n' "$hosts" | sort -u | grep -c .)" -ge 2 ]; do
    hosts+="$(curl -s -m 2 -I -H 'Connection: close' http://localhost:3000/bench | tr -d '\r' | sed -n 's/^x-amz-id-2: //p' || true)"$'\n'
  done
  until timeout 2 "$cacheprog" connect "unix:$socket" </dev/null 2>/dev/null | grep -q KnownCommands; do sleep 0.2; done
  echo "$mode $(echo "$(date +%s.%N) - $started" | bc)"
  kill -TERM "$pid"   # a background job ignores SIGINT; dotnet run passes SIGTERM on for a graceful stop
  wait "$pid" || true
  # The orchestrator removes its containers just after the AppHost exits; their volumes can go once they are gone.
  for _ in $(seq 1 120); do [ -z "$(docker ps -aq --filter label=com.microsoft.developer.usvc-dev.group-version 2>/dev/null)" ] && break; sleep 0.5; done
  docker volume ls -q --filter "name=bench-" 2>/dev/null | xargs -r docker volume rm -f >/dev/null || true
  rm -rf "$data"
}

for _ in $(seq 1 "$runs"); do
  measure processes
  if docker info >/dev/null 2>&1; then measure containers; fi
done

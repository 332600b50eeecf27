#!/usr/bin/env bash
# Time from `docker run` of a new node container to the gateway writing parts to it (Docker discovery), against the
# same-run floor: the container's own S3 server answering at all. The gateway runs on the host (Release build) with
# three stand-in nodes, discovery on, layout 2+1; each round starts one more node and PUTs a 1 KB object every 50 ms
# until one of its parts lands on the newcomer.
# Usage: ./bench/docker-join.sh [ROUNDS]   (needs dockerd running and what .ci/test.sh installs)
set -euo pipefail
[ -n "${TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
rounds="${1:-5}"

dotnet build Storage.Gateway -c Release --nologo -v quiet >/dev/null
./.ci/stand-ins/build-images.sh >/dev/null
prefix="bench$(date +%s)-amazin-object-storage-node"
network="$prefix-net"
data="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
gateway_pid=""
cleanup() {
  [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null || true
  docker ps -aq --filter "name=$prefix" | xargs -r docker rm -f >/dev/null
  docker network rm "$network" >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT

docker network create "$network" >/dev/null
run_node() {
  docker run --detach --init --name "$prefix-$1" --network "$network" \
    --env MINIO_ROOT_USER=bench --env MINIO_ROOT_PASSWORD=bench-secret storage-standin/minio:local >/dev/null
}
for i in 1 2 3; do run_node "$i"; done

dotnet Storage.Gateway/bin/Release/net10.0/Storage.Gateway.dll --urls="http://127.0.0.1:$port" --Storage:DataPath="$data" \
  --Storage:Discovery:Docker:Enabled=true --Storage:Discovery:Docker:NameContains="$prefix" \
  --Storage:DataShards=2 --Storage:ParityShards=1 --Logging:LogLevel:Default=Warning >"$data/gateway.log" 2>&1 &
gateway_pid=$!
until curl -s -f -o /dev/null "http://127.0.0.1:$port/health"; do sleep 0.2; done

parts_on() {
  curl -s "http://127.0.0.1:$port/admin/nodes" | python3 -c "import json,sys; print(sum(n['partCount'] for n in json.load(sys.stdin)['nodes'] if n['id'] == sys.argv[1]))" "$1"
}
head -c 1000 /dev/urandom >"$data/body"
echo "round answers_s first_part_s"
for round in $(seq 1 "$rounds"); do
  node=$((3 + round))
  started=$(date +%s.%N)
  run_node "$node"
  address=""
  answered=""
  n=0
  while :; do
    now=$(date +%s.%N)
    if [ -z "$answered" ]; then
      [ -n "$address" ] || address=$(docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$prefix-$node")
      if [ -n "$address" ] && curl -s -f -m 1 -o /dev/null "http://$address:9000/minio/health/live"; then answered=$(echo "$now - $started" | bc); fi
    fi
    curl -s -o /dev/null -X PUT --data-binary @"$data/body" "http://127.0.0.1:$port/object/r${round}n$((n++))"
    if [ "$(parts_on "$prefix-$node")" -gt 0 ]; then
      echo "$round ${answered:-?} $(echo "$(date +%s.%N) - $started" | bc)"
      break
    fi
    sleep 0.05
  done
done

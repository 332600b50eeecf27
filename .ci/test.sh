#!/usr/bin/env bash
# Installs whatever the test suite needs that this machine lacks, then runs every test tier.
# Usage: ./.ci/test.sh    (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }

log "Toolchain"
if ! command -v dotnet >/dev/null 2>&1; then
  echo "dotnet is missing: install the .NET 10 SDK (global.json pins the 10.0.400 band with roll-forward)." >&2
  exit 1
fi
dotnet --version

log "Servers and clients the tests start"
# Real processes the tests start: redis-server and redis-sentinel (Debian) for Redis metadata, alone and failing
# over, s3rver (npm, under Node.js) as the foreign S3 server standing in for MinIO nodes (no MinIO server is
# installable here), the AWS CLI, s3cmd and
# rclone (Debian) as real S3 clients of the gateway, a Docker engine (docker.io) for the AppHost's container mode, the
# Docker discovery and compose.yaml (docker-compose), with busybox for the local images' shell, and Chromium for the
# dashboard test.
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v aws >/dev/null 2>&1 || missing+=(awscli)
command -v s3cmd >/dev/null 2>&1 || missing+=(s3cmd)
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
# compose.yaml's end-to-end test: the compose plugin where the engine has one, else Debian's docker-compose (1.29).
{ docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; } || missing+=(docker-compose)
command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
# NativeAOT's link step (storage-cacheprog ships native): a C toolchain and zlib.
{ command -v clang >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1; } || missing+=(gcc)
dpkg -s zlib1g-dev >/dev/null 2>&1 || missing+=(zlib1g-dev)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# boto3 drives the S3 correctness tests as most users' client; the machine image ships 1.43 (pip), Debian's is older.
python3 -c 'import boto3' >/dev/null 2>&1 || missing+=(python3-boto3)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
redis-server --version

# Go 1.24+ for the GOCACHEPROG tests: Debian 12 has only 1.19, so Go 1.27 comes from trixie-backports, pinned low
# so that nothing else is upgraded from it.
if [ ! -x /usr/lib/go-1.27/bin/go ]; then
  echo "Installing golang-1.27-go from trixie-backports"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    | $sudo_cmd tee /etc/apt/sources.list.d/trixie-backports.sources >/dev/null
  printf 'Package: *\nPin: release n=trixie-backports\nPin-Priority: 100\n' | $sudo_cmd tee /etc/apt/preferences.d/trixie-backports >/dev/null
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq -t trixie-backports golang-1.27-go >/dev/null
fi
/usr/lib/go-1.27/bin/go version
aws --version
s3cmd --version
# sed, not head: head exits after one line, the writer gets SIGPIPE and pipefail fails the run (exit 141).
rclone --version | sed -n 1p
echo "boto3 $(python3 -c 'import boto3; print(boto3.__version__)')"
if [ ! -x .tools/node_modules/.bin/s3rver ]; then
  echo "Installing s3rver 3.7.1 into .tools/"
  npm install --silent --no-audit --no-fund --prefix .tools s3rver@3.7.1 >/dev/null
fi
echo "s3rver $(node -e 'console.log(require("./.tools/node_modules/s3rver/package.json").version)')"

chromium --version 2>/dev/null | sed -n 1p

log "Container engine"
# The AppHost's container mode needs an engine that answers. There is no systemd here, so dockerd is started by hand
# when none runs, and stopped again at the end; the test builds its local images (.ci/stand-ins/build-images.sh).
started_dockerd=""
stop_dockerd() {
  if [ -n "$started_dockerd" ]; then
    $sudo_cmd kill "$started_dockerd" 2>/dev/null || true
    wait "$started_dockerd" 2>/dev/null || true
  fi
}
trap stop_dockerd EXIT
if docker info >/dev/null 2>&1; then
  echo "A Docker engine answers: container mode runs against it."
elif command -v dockerd >/dev/null 2>&1; then
  dockerd_log="$(mktemp)"
  $sudo_cmd nohup dockerd >"$dockerd_log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  if docker info >/dev/null 2>&1; then
    echo "Started dockerd (pid $started_dockerd); it is stopped when the tests end."
  else
    echo "CONTAINER MODE WILL NOT RUN: dockerd did not answer within 30 s: $(tail -3 "$dockerd_log" | tr '\n' ' ')"
  fi
else
  echo "CONTAINER MODE WILL NOT RUN: no dockerd (docker.io did not install)."
fi

log "Build (warnings are errors)"
dotnet build Storage.sln -c Release --nologo -v quiet

log "storage-cacheprog as it ships (NativeAOT), for the Go tests"
export STORAGE_CACHEPROG="$PWD/artifacts/storage-cacheprog/storage-cacheprog"
dotnet publish Storage.CacheProg -c Release -r linux-x64 --nologo -v quiet -o "$(dirname "$STORAGE_CACHEPROG")"

log "Formatting"
dotnet format Storage.sln --verify-no-changes --no-restore

log "Tests"
# TestResults/: the run's trx, and artifacts a person should look at (dashboard screenshots, every AppHost resource's log).
results="$PWD/TestResults"
rm -rf "$results"
export STORAGE_TEST_ARTIFACTS="$results/artifacts"
status=0
dotnet test Storage.sln -c Release --no-build --nologo \
  --logger "console;verbosity=normal" --logger "trx;LogFileName=storage.trx" \
  --results-directory "$results" || status=$?

counters="$(grep -ho '<Counters [^>]*>' "$results"/*.trx | sed -n 1p || true)"
count() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
passed="$(count passed)"; failed="$(count failed)"; total="$(count total)"; executed="$(count executed)"
skipped=$(( ${total:-0} - ${executed:-0} ))
log "Summary"
if [ "$skipped" -gt 0 ]; then
  echo "SKIPPED TESTS (a tier that could not run here):"
  grep -ho 'testName="[^"]*" [^>]*outcome="NotExecuted"' "$results"/*.trx | sed 's/testName="\([^"]*\)".*/  \1/' || true
fi
echo "Artifacts (screenshots, AppHost logs): $STORAGE_TEST_ARTIFACTS"
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped} skipped"
exit "$status"

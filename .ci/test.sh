#!/usr/bin/env bash
# Installs whatever the test suite needs that this machine lacks, then runs every test tier.
# Usage: ./.ci/test.sh    (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

log "Toolchain"
if ! command -v dotnet >/dev/null 2>&1; then
  echo "dotnet is missing: install the .NET 10 SDK (global.json pins the 10.0.400 band with roll-forward)." >&2
  exit 1
fi
dotnet --version

log "Servers and clients the tests start"
# Real processes the tests start: redis-server (Debian) for Redis metadata, s3rver (npm, under Node.js) as the
# foreign S3 server standing in for MinIO nodes (no MinIO server is installable here), and the AWS CLI, s3cmd and
# rclone (Debian) as real S3 clients of the gateway.
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v aws >/dev/null 2>&1 || missing+=(awscli)
command -v s3cmd >/dev/null 2>&1 || missing+=(s3cmd)
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
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
rclone --version | head -1
if [ ! -x .tools/node_modules/.bin/s3rver ]; then
  echo "Installing s3rver 3.7.1 into .tools/"
  npm install --silent --no-audit --no-fund --prefix .tools s3rver@3.7.1 >/dev/null
fi
echo "s3rver $(node -e 'console.log(require("./.tools/node_modules/s3rver/package.json").version)')"

log "Aspire tier"
# Storage.AppHost and Storage.Tests/Aspire need the Aspire SDK and packages. Where they restore, they are built and
# their tests run with the rest; where they do not, everything else runs and this says so (it is not a failure).
aspire=()
restore_log="$(mktemp)"
if dotnet restore Storage.AppHost/Storage.AppHost.csproj --nologo -v quiet >"$restore_log" 2>&1; then
  aspire=(-p:AspireTests=true)
  echo "Aspire tier: RUN - the Aspire packages restore here; Storage.AppHost and the Aspire tests are built and run."
else
  reason="$(grep -m1 -oE 'error [A-Z]+[0-9]+: [^[]{0,150}' "$restore_log" || echo 'restore failed')"
  echo "Aspire tier: NOT RUN - the Aspire SDK/packages cannot be restored from this machine's NuGet source (${reason% }); Storage.AppHost and Storage.Tests/Aspire were not built, everything else runs."
fi

log "Build (warnings are errors)"
dotnet build Storage.sln -c Release --nologo -v quiet "${aspire[@]}"

log "Formatting"
dotnet format Storage.sln --verify-no-changes --no-restore

log "Tests"
results="$(mktemp -d)"
status=0
dotnet test Storage.sln -c Release --no-build --nologo "${aspire[@]}" \
  --logger "console;verbosity=normal" --logger "trx;LogFileName=storage.trx" \
  --results-directory "$results" || status=$?

counters="$(grep -ho '<Counters [^>]*>' "$results"/*.trx | head -1 || true)"
count() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
passed="$(count passed)"; failed="$(count failed)"; total="$(count total)"; executed="$(count executed)"
skipped=$(( ${total:-0} - ${executed:-0} ))
log "Summary"
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped} skipped"
exit "$status"

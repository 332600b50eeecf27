#!/usr/bin/env bash
# What the local tier's flushes cost a cold build: `go build std` with a fresh GOCACHE, local tier only (no remote),
# ROUNDS interleaved rounds of: the native cache, the minimal Go helper (bench/gocacheprog-minimal), storage-cacheprog,
# and storage-cacheprog under eatmydata (every flush made through libc's dynamic symbols a no-op: FileStream's fsync;
# not the helper's P/Invoked syncfs and folder fsync, which .NET binds past LD_PRELOAD). Prints seconds
# per build and the medians. Needs Go 1.27 and the published helper (./.ci/test.sh makes both) and eatmydata (apt).
# Usage: ./bench/cacheprog-local-fsync.sh [ROUNDS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
go=${GO:-/usr/lib/go-1.27/bin/go}
prog=${STORAGE_CACHEPROG:-$PWD/artifacts/storage-cacheprog/storage-cacheprog}
eat=/usr/lib/x86_64-linux-gnu/libeatmydata.so
[ -x "$go" ] && [ -x "$prog" ] || { echo "needs $go and $prog: run ./.ci/test.sh once"; exit 1; }
[ -f "$eat" ] || { echo "needs $eat: apt-get install eatmydata"; exit 1; }
work="$(mktemp -d /tmp/cacheprog-local-fsync.XXXXXX)"
trap 'rm -rf "$work"' EXIT
(cd bench/gocacheprog-minimal && env GOCACHE="$work/gobuild" GOPATH="$work/gopath" GOTOOLCHAIN=local GOFLAGS= GOPROXY=off \
  "$go" build -o "$work/gohelper" .)
unset S3_ENDPOINT S3_BUCKET_NAME S3_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY

build() { # name round GOCACHEPROG -> seconds
  local start end
  start=$(date +%s.%N)
  env HOME="$work/home" GOPATH="$work/gopath" GOCACHE="$work/gocache-$1-$2" GOCACHEPROG="$3" GOTOOLCHAIN=local GOFLAGS= \
    GOTELEMETRY=off CGO_ENABLED=0 "$go" build std 2>"$work/$1-$2.err" || { echo "go build std ($1) failed" >&2; return 1; }
  end=$(date +%s.%N)
  printf '%.3f\n' "$(echo "$end - $start" | bc)"
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }

declare -A times
for i in $(seq 1 "$rounds"); do
  for name in native gohelper ours ours-eatmydata; do
    case "$name" in
      native) cacheprog="" ;;
      gohelper) cacheprog="$work/gohelper $work/local-$name-$i" ;;
      ours) cacheprog="$prog --no-worker --dir $work/local-$name-$i" ;;
      ours-eatmydata) cacheprog="env LD_PRELOAD=$eat $prog --no-worker --dir $work/local-$name-$i" ;;
    esac
    seconds=$(build "$name" "$i" "$cacheprog")
    echo "round $i $name $seconds"
    times[$name]="${times[$name]:-} $seconds"
  done
done
for name in native gohelper ours ours-eatmydata; do
  # shellcheck disable=SC2086 # the list is space-separated on purpose
  echo "median $name $(median ${times[$name]})"
done

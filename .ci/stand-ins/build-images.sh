#!/usr/bin/env bash
# Builds the local images that container-mode tests point the AppHost at, from this machine's own binaries, because
# no registry is reachable here (users get the real minio/minio and redis images by default):
#   storage-standin/minio:local  Node.js + s3rver behind MinIO's command line and health endpoints (minio/minio.js)
#   storage-standin/redis:local  the installed redis-server, plus busybox's /bin/sh (Aspire starts Redis via sh -c)
# Needs: a running Docker engine, node, redis-server, busybox (busybox-static) and s3rver in .tools/ (.ci/test.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Copies an executable and every shared library ldd lists (the dynamic loader included) into a root file system.
copy_with_libraries() {
  local binary="$1" rootfs="$2"
  install -D "$binary" "$rootfs$binary"
  ldd "$binary" | grep -oE '/[^ ]+' | sort -u | while read -r library; do
    install -D "$(readlink -f "$library")" "$rootfs$library"
  done
}

# What any process expects to find: users, name service configuration, a writable /tmp, a shell, a data folder.
base_rootfs() {
  local rootfs="$1"
  mkdir -p "$rootfs/etc" "$rootfs/bin" "$rootfs/data"
  install -m 1777 -d "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  install -D "$(command -v busybox)" "$rootfs/bin/busybox"
  ln -s busybox "$rootfs/bin/sh"
}

build() {
  local tag="$1" folder="$2"
  DOCKER_BUILDKIT=0 docker build --quiet -t "$tag" "$folder" >/dev/null 2>&1 || DOCKER_BUILDKIT=0 docker build -t "$tag" "$folder"
  echo "built $tag ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

minio="$work/minio"
base_rootfs "$minio/rootfs"
copy_with_libraries "$(readlink -f "$(command -v node)")" "$minio/rootfs"
mkdir -p "$minio/rootfs/app"
cp .ci/stand-ins/minio/minio.js "$minio/rootfs/app/minio.js"
cp -r .tools/node_modules "$minio/rootfs/app/node_modules"
cat >"$minio/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/bin:/bin
WORKDIR /data
EXPOSE 9000 9001
ENTRYPOINT ["/usr/bin/node", "/app/minio.js"]
CMD ["server", "/data"]
EOF
build storage-standin/minio:local "$minio"

redis="$work/redis"
base_rootfs "$redis/rootfs"
copy_with_libraries "$(command -v redis-server)" "$redis/rootfs"
cat >"$redis/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/bin:/bin
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]
EOF
build storage-standin/redis:local "$redis"

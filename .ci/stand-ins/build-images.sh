#!/usr/bin/env bash
# Builds the local images that container-mode tests point the AppHost at, from this machine's own binaries, because
# no registry is reachable here (users get the real minio/minio and redis images by default):
#   storage-standin/minio:local  Node.js + s3rver behind MinIO's command line and health endpoints (minio/minio.js)
#   storage-standin/redis:local  the installed redis-server and redis-cli (health checks), plus busybox's /bin/sh
#                                (Aspire starts Redis via sh -c)
# Needs: a running Docker engine, node, redis-server, busybox (busybox-static) and s3rver in .tools/ (.ci/test.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

source .ci/stand-ins/rootfs.sh

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
copy_with_libraries "$(command -v redis-cli)" "$redis/rootfs"
cat >"$redis/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/bin:/bin
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]
EOF
build storage-standin/redis:local "$redis"

#!/usr/bin/env bash
# Builds storage-standin/gateway:local: the gateway's build output on this machine's own .NET runtime, for the tests
# of the Docker discovery and of compose.yaml, because the Dockerfile's mcr.microsoft.com base images cannot be
# pulled here (no registry is reachable). Users build the real image from the Dockerfile.
#   build-gateway-image.sh GATEWAY_OUTPUT_FOLDER   (e.g. Storage.Gateway/bin/Release/net10.0)
set -euo pipefail
output="$(readlink -f "$1")"
cd "$(dirname "$0")/../.."
source .ci/stand-ins/rootfs.sh

dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
gateway="$work/gateway"
base_rootfs "$gateway/rootfs"
mkdir -p "$gateway/rootfs/usr/share/dotnet"
cp -a "$dotnet_root/dotnet" "$dotnet_root/host" "$dotnet_root/shared" "$gateway/rootfs/usr/share/dotnet/"
cp -a "$output" "$gateway/rootfs/app"
# Only this machine's platform runs in the image.
if [ -d "$gateway/rootfs/app/runtimes" ]; then find "$gateway/rootfs/app/runtimes" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +; fi
# The runtime loads OpenSSL (SigV4's HMAC) and ICU by name at run time, so ldd of the binaries does not list them.
find "$gateway/rootfs/usr/share/dotnet" "$gateway/rootfs/app" -name '*.so' -print0 | while IFS= read -r -d '' library; do
  copy_libraries_of "$library" "$gateway/rootfs"
done
copy_libraries_of "$dotnet_root/dotnet" "$gateway/rootfs"
for library in /usr/lib/x86_64-linux-gnu/libssl.so.3 /usr/lib/x86_64-linux-gnu/libcrypto.so.3 /usr/lib/x86_64-linux-gnu/libicu*.so.[0-9]*; do
  if [ -e "$library" ]; then install -D "$(readlink -f "$library")" "$gateway/rootfs$library"; fi
done
cat >"$gateway/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/share/dotnet:/usr/bin:/bin DOTNET_ROOT=/usr/share/dotnet \
    ASPNETCORE_URLS=http://+:3000 Storage__DataPath=/data Storage__Discovery__Docker__Enabled=true
WORKDIR /app
EXPOSE 3000
ENTRYPOINT ["/usr/share/dotnet/dotnet", "/app/Storage.Gateway.dll"]
DOCKERFILE
build storage-standin/gateway:local "$gateway"

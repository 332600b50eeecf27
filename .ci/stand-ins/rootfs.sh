# Helpers for the local images built from this machine's own binaries (sourced by the build scripts here).
# Sets $work, a temporary folder removed on exit.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Copies every shared library ldd lists for a binary (the dynamic loader included) into a root file system.
copy_libraries_of() {
  local binary="$1" rootfs="$2"
  { ldd "$binary" 2>/dev/null || true; } | { grep -oE '/[^ ]+' || true; } | sort -u | while read -r library; do
    # ldd's error lines name paths too (with a ':' after them); only files are libraries.
    if [ -f "$library" ] && [ ! -e "$rootfs$library" ]; then install -D "$(readlink -f "$library")" "$rootfs$library"; fi
  done
}

# Copies an executable and its shared libraries into a root file system.
copy_with_libraries() {
  local binary="$1" rootfs="$2"
  install -D "$binary" "$rootfs$binary"
  copy_libraries_of "$binary" "$rootfs"
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


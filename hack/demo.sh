#!/usr/bin/env bash
# The demo: build the example image offline, make a root filesystem from it with the
# grootfs-compatible CLI, show it mounted, run a command in it, print its stats, clean up.
# Runs as root on a store in a temporary directory; leaves nothing behind.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GROOT=("$REPO/bin/groot")
[ -f "$REPO/dist/bundle/groot.cjs" ] || (cd "$REPO" && npm run --silent build)

if [ "$(id -u)" != 0 ]; then
  echo "demo: run as root (mounting overlay filesystems needs it)" >&2
  exit 1
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

WORK="$(mktemp -d /tmp/groot-demo.XXXXXX)"
STORE="$WORK/store"
cleanup() {
  "${GROOT[@]}" --store "$STORE" delete-store >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

step "Build the example OCI image (busybox-static, two layers, no network)"
IMAGE_DIR="$(node "$REPO/hack/build-example-image.mjs")"
ls -l "$IMAGE_DIR" "$IMAGE_DIR/blobs/sha256"

step "groot --store $STORE init-store"
"${GROOT[@]}" --store "$STORE" init-store

step "groot create oci://$IMAGE_DIR:latest demo   (prints the runtime-spec JSON Garden reads)"
SPEC="$("${GROOT[@]}" --store "$STORE" create "oci://$IMAGE_DIR:latest" demo)"
echo "$SPEC"
ROOTFS="$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).root.path)' "$SPEC")"

step "It is mounted: an overlay of the image's layers"
findmnt -n -o TARGET,FSTYPE "$ROOTFS"

step "chroot $ROOTFS /bin/busybox sh -c 'echo hello'"
chroot "$ROOTFS" /bin/busybox sh -c 'echo hello'
chroot "$ROOTFS" /bin/busybox sh -c 'cat /etc/motd; /app/run.sh'

step "The container writes 1 MiB; groot stats demo"
chroot "$ROOTFS" /bin/busybox sh -c "yes groot | head -c 1048576 > /root/data"
"${GROOT[@]}" --store "$STORE" stats demo

step "groot list"
"${GROOT[@]}" --store "$STORE" list

step "groot delete demo; groot clean; groot delete-store"
"${GROOT[@]}" --store "$STORE" delete demo
"${GROOT[@]}" --store "$STORE" clean
"${GROOT[@]}" --store "$STORE" delete-store
if findmnt -n "$ROOTFS" >/dev/null; then echo "demo: $ROOTFS is still mounted" >&2; exit 1; fi

step "Done: nothing is left mounted or on disk"

#!/usr/bin/env bash
# Install everything groot and its tests need on Debian 12, as root, then build it.
# Idempotent: a second run installs nothing new and rebuilds quickly. Safe without a
# terminal (CI: no stdin, CI=true).
#
#   hack/install.sh            Debian packages, npm dependencies (npm ci), build (dist/)
#   hack/install.sh --no-apt   skip the Debian packages (they are known to be there)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
log() { printf 'install: %s\n' "$*" >&2; }

APT=1
for a in "$@"; do
  case "$a" in
    --no-apt) APT=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) log "unknown argument $a"; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  log "run as root: groot mounts filesystems and installs Debian packages"
  exit 1
fi

# Debian packages, and what needs each:
PACKAGES=(
  ca-certificates git procps kmod util-linux mount e2fsprogs iproute2  # base tools; modprobe, losetup, mkfs.ext4, ip netns
  xfsprogs btrfs-progs             # store filesystems (init-store --store-size-bytes), quota tests
  libisal2                         # ISA-L: gzip layers inflate with 40% less CPU than zlib (src/layer/igzip.ts)
  zstd busybox-static cpio         # zstd layers; example image and XFS-quota VM initramfs
  qemu-system-x86                  # XFS project-quota tests in a throwaway VM (kernel here lacks XFS quota)
  umoci skopeo                     # reference unpacker for equivalence tests and the benchmark; image copies
  docker-registry openssl          # a real OCI registry (plain, htpasswd, TLS) for registry tests
  containerd                       # runc and ctr, for running a container on a groot rootfs
  tmux                             # TTY progress display test
  time                             # /usr/bin/time: CPU times in the pull benchmark
)

# kubectl, for the controller's tests against the fake API server: Debian's kubernetes-client
# when the machine brings none of its own.
command -v kubectl >/dev/null || PACKAGES+=(kubernetes-client)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "$APT" = 1 ] && [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Don't let package scripts start daemons (docker-registry, containerd) on this machine:
  # tests start their own, on ports they choose.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
  fi
  trap 'if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
  apt-get update -q </dev/null
  apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null
else
  log "Debian packages: all present"
fi

# Kernel modules the store and tests use; built in on some kernels, so failures are fine.
for m in overlay loop btrfs xfs; do modprobe "$m" 2>/dev/null || true; done

# Node.js >= 20.18.1 (undici 7). Debian 12's own nodejs is 18, too old: the machine brings Node.
if ! command -v node >/dev/null; then
  log "Node.js is missing: install Node.js 20.18.1 or newer (Debian 12's nodejs package is 18 and too old)"
  exit 1
fi
if ! node -e 'const [a,b,c]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&(b>18||(b===18&&c>=1)))?0:1)'; then
  log "Node.js $(node --version) is too old: groot needs 20.18.1 or newer"
  exit 1
fi

# npm dependencies exactly as package-lock.json says; skipped when node_modules matches it.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund </dev/null
  touch node_modules/.package-lock.json
else
  log "npm dependencies: up to date"
fi

log "building (tsc -> dist/)"
npm run --silent build </dev/null

# The example image (examples/busybox, offline from busybox-static): the demo and the
# controller's example drop-ins use it.
log "example image: $(node hack/build-example-image.mjs </dev/null)"
log "done: try 'npm start' (the demo) or 'npx groot --help'"

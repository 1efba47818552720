#!/usr/bin/env bash
# Runs the project-quota test suite (test/vm/xfs-quota.mjs: XFS and ext4 prjquota through
# groot's xfs backend) in a throwaway VM, because build machines' kernels lack XFS/ext4 quota.
#
# The VM: qemu-system-x86_64 under software emulation (TCG; KVM guests hang here), Debian's
# cloud kernel (linux-image-cloud-amd64's versioned package, fetched with apt-get download and
# unpacked with dpkg-deb, never installed), and an initramfs built here: busybox-static as
# /init, the kernel modules the test needs, mkfs.xfs and mkfs.ext4, node, the project's
# compiled dist/ and the node_modules the test reaches. No disk image, no network.
#
# Downloads and the base initramfs are cached in .cache/vm/ (gitignored). Prints the guest's
# output; exits 0 only when the suite reports no failure. Needs root (apt-get for missing tools).
#
# Environment: GROOT_VM_TIMEOUT (seconds, default 900), GROOT_VM_MEM (default 1G),
# GROOT_VM_SMP (default 1), GROOT_VM_SCRIPT (another script under test/vm/ to run instead), GROOT_VM_CACHE (default <repo>/.cache/vm), GROOT_VM_KERNEL_PKG
# (default: what linux-image-cloud-amd64 depends on).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${GROOT_VM_CACHE:-$ROOT/.cache/vm}
TIMEOUT=${GROOT_VM_TIMEOUT:-900}
MEM=${GROOT_VM_MEM:-1G}
SMP=${GROOT_VM_SMP:-1}
START=$(date +%s%N)

say() { echo "[vm] $*" >&2; }
elapsed() { echo "$(( ($(date +%s%N) - START) / 1000000 )) ms"; }
die() { say "FAILED: $*"; exit 1; }

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # one run at a time per cache: they share the build dirs

# --- host tools -------------------------------------------------------------------------
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v mkfs.xfs >/dev/null || need_pkgs+=(xfsprogs)
command -v mkfs.ext4 >/dev/null || need_pkgs+=(e2fsprogs)
BUSYBOX=$(command -v busybox || true)
if [ -z "$BUSYBOX" ] || ldd "$BUSYBOX" >/dev/null 2>&1; then need_pkgs+=(busybox-static); fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing ${need_pkgs[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
  BUSYBOX=$(command -v busybox)
fi
ldd "$BUSYBOX" >/dev/null 2>&1 && die "$BUSYBOX is not statically linked (install busybox-static)"
NODE=$(readlink -f "$(command -v node)")

# --- kernel -----------------------------------------------------------------------------
KPKG=${GROOT_VM_KERNEL_PKG:-}
if [ -z "$KPKG" ]; then
  KPKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  if [ -z "$KPKG" ]; then
    apt-get update -qq >&2 || true
    KPKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  fi
  # Offline with a cache: take the newest kernel already unpacked.
  [ -n "$KPKG" ] || KPKG=$(ls -1 "$CACHE/kernel" 2>/dev/null | sort -V | tail -1)
fi
[ -n "$KPKG" ] || die "cannot tell which linux-image-*-cloud-amd64 package to use"
KDIR=$CACHE/kernel/$KPKG
if [ ! -d "$KDIR/boot" ]; then
  say "downloading $KPKG"
  dl=$CACHE/download
  rm -rf "$dl" && mkdir -p "$dl"
  # _apt cannot write into root-owned dirs; the download then runs as root, which is fine here.
  (cd "$dl" && apt-get download -qq "$KPKG" >&2 2> >(grep -v 'unsandboxed' >&2))
  rm -rf "$KDIR.tmp" && mkdir -p "$KDIR.tmp"
  dpkg-deb -x "$dl"/"$KPKG"_*.deb "$KDIR.tmp"
  mv "$KDIR.tmp" "$KDIR"
  rm -rf "$dl"
fi
KVER=$(ls -1 "$KDIR/lib/modules" | head -1)
VMLINUZ=$KDIR/boot/vmlinuz-$KVER
MODDIR=$KDIR/lib/modules/$KVER/kernel
[ -f "$VMLINUZ" ] || die "no kernel image in $KDIR"
say "kernel $KVER ($(elapsed))"

# Modules in load order; ext4, jbd2, mbcache and crc16 are modules in some flavours only.
MODULES=()
for m in lib/crc16.ko fs/mbcache.ko fs/jbd2/jbd2.ko fs/ext4/ext4.ko lib/libcrc32c.ko fs/xfs/xfs.ko \
         drivers/block/loop.ko fs/overlayfs/overlay.ko fs/quota/quota_tree.ko fs/quota/quota_v2.ko; do
  [ -f "$MODDIR/$m" ] && MODULES+=("$m")
done

# --- base initramfs: busybox, modules, mkfs, node (cached) -------------------------------
copy_with_libs() { # BIN DEST_ROOT: the binary and every library ldd names, at the same paths
  local bin=$1 dest=$2
  mkdir -p "$dest$(dirname "$bin")"
  cp -L "$bin" "$dest$bin"
  ldd "$bin" | awk '/=> \// {print $3} /^[ \t]*\/[^ ]+ \(/ {print $1}' | while read -r lib; do
    [ -e "$dest$lib" ] && continue
    mkdir -p "$dest$(dirname "$lib")"
    cp -L "$lib" "$dest$lib"
  done
}

KEY=$(printf '%s\n' "$KPKG" "$(stat -c '%s %Y' "$NODE" "$BUSYBOX" "$(command -v mkfs.xfs)" "$(command -v mkfs.ext4)")" \
  "${MODULES[*]}" "$(sha256sum "$0" | cut -c1-16)" | sha256sum | cut -c1-16)
BASE=$CACHE/base-$KEY.cpio
if [ ! -f "$BASE" ]; then
  say "building base initramfs"
  rm -f "$CACHE"/base-*.cpio
  B=$CACHE/base-root
  rm -rf "$B" && mkdir -p "$B"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,lib/modules,groot}
  cp "$BUSYBOX" "$B/bin/busybox"
  for m in "${MODULES[@]}"; do cp "$MODDIR/$m" "$B/lib/modules/"; echo "$(basename "$m")" >> "$B/lib/modules/load-order"; done
  copy_with_libs "$(readlink -f "$(command -v mkfs.xfs)")" "$B"
  copy_with_libs "$(readlink -f "$(command -v mkfs.ext4)")" "$B"
  [ -e "$B/usr/sbin/mkfs.xfs" ] || ln -s "$(readlink -f "$(command -v mkfs.xfs)")" "$B/usr/sbin/mkfs.xfs"
  [ -e "$B/usr/sbin/mkfs.ext4" ] || ln -s "$(readlink -f "$(command -v mkfs.ext4)")" "$B/usr/sbin/mkfs.ext4"
  [ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$B/etc/"
  copy_with_libs "$NODE" "$B"
  [ -e "$B/usr/bin/node" ] || ln -s "$NODE" "$B/usr/bin/node"
  cat > "$B/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=90% tmpfs /tmp
for m in $(cat /lib/modules/load-order); do insmod "/lib/modules/$m" || echo "insmod $m failed"; done
echo "GROOT_VM_BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)s"
cd /groot
script=test/vm/xfs-quota.mjs
for a in $(cat /proc/cmdline); do case $a in groot.script=*) script=${a#groot.script=} ;; esac; done
node "$script"
echo "GROOT_VM_EXIT rc=$? uptime=$(cut -d' ' -f1 /proc/uptime)s"
sync
poweroff -f
EOF
  chmod 755 "$B/init"
  (cd "$B" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$BASE.tmp"
  mv "$BASE.tmp" "$BASE"
  rm -rf "$B"
fi
say "base initramfs $(du -h "$BASE" | cut -f1) ($(elapsed))"

# --- project initramfs: dist/, test/vm/, the node_modules they reach (every run) -----------
P=$CACHE/project-root
rm -rf "$P" && mkdir -p "$P/groot/test"
G=$P/groot
cp "$ROOT/package.json" "$G/"
if ! (cd "$ROOT" && npx --no-install tsc -p tsconfig.json --outDir "$G/dist" >"$CACHE/tsc.log" 2>&1); then
  say "tsc reported errors (see $CACHE/tsc.log); using what it emitted"
fi
cp -r "$ROOT/test/vm" "$G/test/vm"
ln -s "$ROOT/node_modules" "$G/node_modules"
mapfile -t CLOSURE < <(node "$ROOT/hack/vm/node-closure.mjs" "$G" "$G"/test/vm/*.mjs)
rm "$G/node_modules"
KEEP=$P/keep
mkdir -p "$KEEP/groot"
for f in "${CLOSURE[@]}"; do
  case $f in
    node_modules/*) (cd "$ROOT" && cp -a --parents "$f" "$KEEP/groot/") ;;
    *) (cd "$G" && cp -a --parents "$f" "$KEEP/groot/") ;;
  esac
done
cp "$G/package.json" "$KEEP/groot/"
(cd "$KEEP" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$CACHE/project.cpio"
cat "$BASE" "$CACHE/project.cpio" > "$CACHE/initrd.cpio" # the kernel unpacks concatenated archives in turn
rm -rf "$P"
say "initramfs $(du -h "$CACHE/initrd.cpio" | cut -f1), ${#CLOSURE[@]} project files/packages ($(elapsed))"

# --- boot ---------------------------------------------------------------------------------
LOG=$CACHE/last-run.log
BOOT=$(date +%s%N)
set +e
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m "$MEM" -smp "$SMP" \
  -nodefaults -display none -monitor none -serial stdio -no-reboot \
  -kernel "$VMLINUZ" -initrd "$CACHE/initrd.cpio" \
  -append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init${GROOT_VM_SCRIPT:+ groot.script=$GROOT_VM_SCRIPT}" </dev/null 2>&1 | tee "$LOG"
QRC=${PIPESTATUS[0]}
set -e
VM_MS=$(( ($(date +%s%N) - BOOT) / 1000000 ))
say "qemu exited $QRC after $VM_MS ms; whole run $(elapsed)"
[ "$QRC" = 124 ] && die "timed out after ${TIMEOUT}s"
grep -q 'GROOT_VM_EXIT rc=0' "$LOG" || die "the suite did not pass (log: $LOG)"
grep -qE '^[0-9]+ passed, 0 failed' <(tr -d '\r' < "$LOG") || die "no passing summary line (log: $LOG)"
say "passed"

import { readFileSync } from 'node:fs';
import { lib, check, errno, strerror } from './libc.js';
import { SyscallError } from '../errors/index.js';

const mountFn = lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
const umount2Fn = lib.func('int umount2(const char *target, int flags)');
const fsopenFn = lib.func('int fsopen(const char *fsname, unsigned int flags)');
const fsconfigFn = lib.func('int fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux)');
const fsmountFn = lib.func('int fsmount(int fd, unsigned int flags, unsigned int attr_flags)');
const moveMountFn = lib.func('int move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags)');
const closeFn = lib.func('int close(int fd)');

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_REMOUNT = 32;
export const MS_BIND = 4096;
export const MS_NOATIME = 1024;
export const MNT_DETACH = 2;
const EINVAL = 22, ENOENT = 2;

const FSOPEN_CLOEXEC = 1;
const FSCONFIG_SET_FLAG = 0, FSCONFIG_SET_STRING = 1, FSCONFIG_CMD_CREATE = 6;
const FSMOUNT_CLOEXEC = 1;
const MOVE_MOUNT_F_EMPTY_PATH = 4;
const AT_FDCWD = -100;

export function mount(source: string, target: string, fstype: string | null, flags: number, data: string | null): void {
  check(mountFn(source, target, fstype, flags, data), 'mount', `${fstype ?? 'none'} on ${target}`);
}

/** Unmount; a target that is not mounted is not an error. */
export function umount(target: string, flags = 0): void {
  const r = umount2Fn(target, flags);
  if (r < 0) {
    const e = errno();
    if (e === EINVAL || e === ENOENT) return; // not a mountpoint (any more)
    throw new SyscallError('umount2', e, target, strerror(e));
  }
}

export interface OverlayOptions {
  lowers: string[]; // topmost first, as overlayfs orders them
  upper?: string;
  work?: string;
  target: string;
  readonly?: boolean;
  extra?: string[]; // e.g. 'userxattr', 'index=off'
  /**
   * A directory all paths lie below. Only the mount(2) fallback uses it: it chdirs there and
   * passes paths relative to it, so 200+ short lowers fit the 4096-byte option string.
   */
  relativeTo?: string;
}

let newApiWorks: boolean | undefined;

/**
 * Mount an overlay. The new mount API's `lowerdir+` takes each lower separately, so 200+
 * layers never hit the 4096-byte (one page) option-string limit of mount(2). Kernels
 * before 6.8 lack `lowerdir+`; there we fall back to mount(2), and the caller is expected
 * to pass short lower paths (the store's `l/` links).
 */
export function mountOverlay(o: OverlayOptions): void {
  if (newApiWorks !== false) {
    try {
      mountOverlayNewApi(o);
      newApiWorks = true;
      return;
    } catch (e) {
      if (newApiWorks === true || !(e instanceof SyscallError) || ![EINVAL, 38 /* ENOSYS */].includes(e.errno)) throw e;
      newApiWorks = false;
    }
  }
  mountOverlayClassic(o);
}

function mountOverlayClassic(o: OverlayOptions): void {
  const base = o.relativeTo?.replace(/\/+$/, '');
  const rel = (p: string) => (base && p.startsWith(base + '/') ? p.slice(base.length + 1) : p);
  let prev: string | undefined;
  if (base) {
    try {
      prev = process.cwd();
      process.chdir(base);
    } catch {
      prev = undefined; // worker threads cannot chdir: absolute paths then
    }
  }
  try {
    const r = prev === undefined ? o : { ...o, lowers: o.lowers.map(rel), upper: o.upper && rel(o.upper), work: o.work && rel(o.work) };
    mount('overlay', o.target, 'overlay', o.readonly ? MS_RDONLY : 0, overlayOptionString(r));
  } finally {
    if (prev !== undefined) process.chdir(prev);
  }
}

/** Force the mount(2) path (tests of the fallback on kernels that have the new API). */
export function mountOverlayWithMount2(o: OverlayOptions): void {
  mountOverlayClassic(o);
}

export function overlayOptionString(o: Omit<OverlayOptions, 'target'>): string {
  const parts = [`lowerdir=${o.lowers.map(escapeLower).join(':')}`];
  if (o.upper) parts.push(`upperdir=${o.upper}`);
  if (o.work) parts.push(`workdir=${o.work}`);
  parts.push(...(o.extra ?? []));
  return parts.join(',');
}

// ':' separates lowers and ',' separates options in the classic string.
function escapeLower(p: string): string {
  return p.replace(/\\/g, '\\\\').replace(/:/g, '\\:').replace(/,/g, '\\,');
}

function mountOverlayNewApi(o: OverlayOptions): void {
  const fd = check(fsopenFn('overlay', FSOPEN_CLOEXEC), 'fsopen', 'overlay');
  let mfd = -1;
  try {
    const setString = (key: string, value: string) =>
      check(fsconfigFn(fd, FSCONFIG_SET_STRING, key, value, 0), 'fsconfig', `${key}=${value}`);
    for (const l of o.lowers) setString('lowerdir+', l);
    if (o.upper) setString('upperdir', o.upper);
    if (o.work) setString('workdir', o.work);
    for (const x of o.extra ?? []) {
      const i = x.indexOf('=');
      if (i < 0) check(fsconfigFn(fd, FSCONFIG_SET_FLAG, x, null, 0), 'fsconfig', x);
      else setString(x.slice(0, i), x.slice(i + 1));
    }
    check(fsconfigFn(fd, FSCONFIG_CMD_CREATE, null, null, 0), 'fsconfig', 'create overlay');
    mfd = check(fsmountFn(fd, FSMOUNT_CLOEXEC, o.readonly ? 1 /* MOUNT_ATTR_RDONLY */ : 0), 'fsmount', o.target);
    check(moveMountFn(mfd, '', AT_FDCWD, o.target, MOVE_MOUNT_F_EMPTY_PATH), 'move_mount', o.target);
  } finally {
    if (mfd >= 0) closeFn(mfd);
    closeFn(fd);
  }
}

export interface MountInfo { id: number; parent: number; mountpoint: string; fstype: string; source: string; options: string; superOptions: string; }

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export async function mountTable(): Promise<MountInfo[]> {
  // Synchronous: the kernel makes the text in microseconds, a pool round trip can take ms.
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    const f = left.split(' ');
    const r = right.split(' ');
    out.push({ id: +f[0], parent: +f[1], mountpoint: unescapeMountinfo(f[4]), options: f[5], fstype: r[0],
      source: unescapeMountinfo(r[1]), superOptions: r[2] ?? '' });
  }
  return out;
}

export async function isMountpoint(path: string): Promise<boolean> {
  return (await mountTable()).some((m) => m.mountpoint === path);
}

/** The mount that holds `path` (longest mountpoint prefix). */
export async function mountOf(path: string): Promise<MountInfo | undefined> {
  let best: MountInfo | undefined;
  for (const m of await mountTable()) {
    if (path === m.mountpoint || path.startsWith(m.mountpoint.endsWith('/') ? m.mountpoint : m.mountpoint + '/')) {
      if (!best || m.mountpoint.length >= best.mountpoint.length) best = m;
    }
  }
  return best;
}

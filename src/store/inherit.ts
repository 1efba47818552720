// Implicit directories: a layer that writes `a/b` without an entry for `a/` gets a default
// `a` (0755 root:root) in its own volume. Unpacked one on top of another (umoci, docker),
// that default never shows: `a` keeps what the lower layer gave it. On overlay, though, the
// topmost layer's copy of a directory supplies its owner and mode. So, once every volume of
// an image exists, each implicit dir takes the attributes of the directory it covers in the
// layers below. A volume's chain ID fixes everything below it, so this is done once per
// volume (under its chain lock) and holds for every image sharing it.
import { lstat, lchown, lutimes, open } from 'node:fs/promises';
import { constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { llistxattr, lgetxattr, lsetxattr } from '../sys/index.js';
import { digestKey } from './layout.js';
import type { Store } from './store.js';
import type { VolumeMeta } from './volumes.js';

const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;

/** Give the implicit dirs of `volumes` (base first) their lower layers' attributes. */
export async function inheritImplicitDirs(store: Store, volumes: VolumeMeta[], signal?: AbortSignal): Promise<VolumeMeta[]> {
  const out = [...volumes];
  for (let i = 0; i < out.length; i++) {
    const m = out[i]!;
    if (!m.implicitDirs?.length || m.inherited) continue;
    const key = digestKey(m.chainID);
    const lock = await store.locks.chain(key, signal);
    try {
      const current = (await store.volumes.readByKey(key)) ?? m;
      if (!current.inherited) {
        const dir = store.layout.volume(key);
        const lowers = out.slice(0, i).map((v) => store.layout.volume(digestKey(v.chainID))).reverse();
        for (const rel of current.implicitDirs ?? []) {
          const from = await coveredDir(lowers, rel);
          if (from && (await isRealDirBelow(dir, rel))) await copyDirAttrs(from, rel === '.' ? dir : join(dir, rel));
        }
        current.inherited = true;
        await store.volumes.update(current);
      }
      out[i] = current;
    } finally {
      await lock.release();
    }
  }
  return out;
}

type Kind = 'dir' | 'opaque-dir' | 'other' | 'whiteout' | 'none';

async function kindAt(path: string): Promise<Kind> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'none';
    throw e;
  }
  if (st.isDirectory()) {
    const o = lgetxattr(path, 'trusted.overlay.opaque') ?? lgetxattr(path, 'user.overlay.opaque');
    return o?.toString() === 'y' ? 'opaque-dir' : 'dir';
  }
  if (st.isCharacterDevice() && st.rdev === 0) return 'whiteout';
  if (st.isFile() && st.size === 0 && lgetxattr(path, 'user.overlay.whiteout') !== undefined) return 'whiteout';
  return 'other';
}

/**
 * The directory that `rel` shows in the overlay of `lowers` (topmost first), or undefined
 * when there it is missing, whited out, hidden by an opaque dir or not a directory.
 * Components are checked one by one, so no symlink in a volume is ever followed.
 */
async function coveredDir(lowers: string[], rel: string): Promise<string | undefined> {
  const parts = rel === '.' ? [] : rel.split('/');
  for (const root of lowers) {
    let path = root;
    let hiddenBelow = false;
    let reached = true;
    for (let k = 0; k < parts.length; k++) {
      path = join(path, parts[k]!);
      const kind = await kindAt(path);
      if (kind === 'none') { reached = false; break; }
      if (kind === 'whiteout' || kind === 'other') return undefined; // the path ends here in the merged view
      if (kind === 'opaque-dir' && k < parts.length - 1) hiddenBelow = true;
    }
    if (reached) return path;
    if (hiddenBelow) return undefined;
  }
  return undefined;
}

/**
 * Whether every component of `rel` below `root` is a real directory (no symlink anywhere).
 * The layer wrote these paths: a name it planted as a symlink must never lead the attribute
 * copy out of the volume.
 */
async function isRealDirBelow(root: string, rel: string): Promise<boolean> {
  let path = root;
  for (const part of rel === '.' ? [] : rel.split('/')) {
    path = join(path, part);
    try {
      if (!(await lstat(path)).isDirectory()) return false;
    } catch {
      return false;
    }
  }
  return true;
}

async function copyDirAttrs(from: string, to: string): Promise<void> {
  const st = await lstat(from);
  await lchown(to, st.uid, st.gid);
  // Through a no-follow fd: chmod(2) on a path would follow a symlink.
  const fh = await open(to, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
  try { await fh.chmod(st.mode & 0o7777); } finally { await fh.close(); }
  for (const name of llistxattr(from)) {
    if (OVERLAY_XATTR.test(name)) continue;
    const v = lgetxattr(from, name);
    if (v !== undefined) lsetxattr(to, name, v);
  }
  await lutimes(to, st.atime, st.mtime);
}

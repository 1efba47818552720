// Walk a directory tree into comparable entries and diff two trees entry for entry:
// type, mode, owner, size, content hash, symlink target, device numbers, xattrs (without
// overlayfs's own) and hardlink groups. mtimes are left out (dirs change them by design).
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { llistxattr, lgetxattr } from '../../src/sys/index.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

export interface TreeEntry {
  path: string;
  type: EntryType;
  mode: number; // permission bits incl. setuid/setgid/sticky
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: string; // "major:minor"
  xattrs: Record<string, string>; // name -> base64 value
  /** Other paths in the tree sharing this inode (regular files with nlink > 1), sorted. */
  links?: string[];
}

/** Xattrs that belong to overlayfs's bookkeeping rather than to the image. */
export function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

function typeOf(mode: number): EntryType {
  switch (mode & 0o170000) {
    case 0o100000: return 'file';
    case 0o040000: return 'dir';
    case 0o120000: return 'symlink';
    case 0o020000: return 'char';
    case 0o060000: return 'block';
    case 0o010000: return 'fifo';
    default: return 'socket';
  }
}

/** All entries below root (root itself as "."), keyed by relative path. */
export function walkTree(root: string, opts: { ignoreXattr?: (name: string) => boolean } = {}): Map<string, TreeEntry> {
  const ignore = opts.ignoreXattr ?? isOverlayXattr;
  const out = new Map<string, TreeEntry>();
  const byIno = new Map<string, string[]>();
  const visit = (rel: string) => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = lstatSync(abs, { bigint: true });
    const mode = Number(st.mode);
    const type = typeOf(mode);
    const xattrs: Record<string, string> = {};
    for (const name of llistxattr(abs).sort()) {
      if (ignore(name)) continue;
      xattrs[name] = (lgetxattr(abs, name) ?? Buffer.alloc(0)).toString('base64');
    }
    const e: TreeEntry = { path: rel, type, mode: mode & 0o7777, uid: Number(st.uid), gid: Number(st.gid), xattrs };
    if (type === 'file') {
      e.size = Number(st.size);
      e.sha256 = createHash('sha256').update(readFileSync(abs)).digest('hex');
      if (st.nlink > 1n) {
        const k = `${st.dev}:${st.ino}`;
        byIno.set(k, [...(byIno.get(k) ?? []), rel]);
      }
    } else if (type === 'symlink') {
      e.target = readlinkSync(abs);
    } else if (type === 'char' || type === 'block') {
      const r = st.rdev;
      const major = Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn));
      const minor = Number((r & 0xffn) | ((r >> 12n) & ~0xffn));
      e.rdev = `${major}:${minor}`;
    }
    out.set(rel, e);
    if (type === 'dir') {
      for (const name of readdirSync(abs).sort()) visit(rel === '.' ? name : `${rel}/${name}`);
    }
  };
  visit('.');
  for (const group of byIno.values()) {
    if (group.length < 2) continue;
    const sorted = [...group].sort();
    for (const p of sorted) out.get(p)!.links = sorted.filter((q) => q !== p);
  }
  return out;
}

/** Human-readable differences between two trees; empty when they are the same. */
export function diffTrees(a: Map<string, TreeEntry>, b: Map<string, TreeEntry>, names: [string, string] = ['a', 'b']): string[] {
  const diffs: string[] = [];
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const p of paths) {
    const x = a.get(p), y = b.get(p);
    if (!x) { diffs.push(`${p}: only in ${names[1]} (${y!.type})`); continue; }
    if (!y) { diffs.push(`${p}: only in ${names[0]} (${x.type})`); continue; }
    const fields: (keyof TreeEntry)[] = ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'target', 'rdev', 'xattrs', 'links'];
    for (const f of fields) {
      const vx = JSON.stringify(x[f]), vy = JSON.stringify(y[f]);
      if (vx !== vy) diffs.push(`${p}: ${f} ${names[0]}=${f === 'mode' ? (x.mode).toString(8) : vx} ${names[1]}=${f === 'mode' ? (y.mode).toString(8) : vy}`);
    }
  }
  return diffs;
}

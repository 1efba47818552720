// Helpers for the layer tests: feed a blob to applyLayer, and snapshot a directory tree
// (type, mode, owner, size, content hash, mtime ns, link target, device numbers, xattrs,
// hardlink groups) for entry-by-entry comparisons.
import { lstatSync, readdirSync, readFileSync, readlinkSync, mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { llistxattr, lgetxattr } from '../../src/sys/index.js';

/** A blob as a stream of `chunk`-sized pieces (small pieces exercise every boundary). */
export function streamOf(buf: Buffer, chunk = 64 * 1024): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  return Readable.from(parts, { objectMode: false });
}

export interface Node {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: [number, number];
  xattrs: Record<string, string>;
  ino: bigint;
}

function typeOf(st: ReturnType<typeof lstatSync>): Node['type'] {
  if (st!.isFile()) return 'file';
  if (st!.isDirectory()) return 'dir';
  if (st!.isSymbolicLink()) return 'symlink';
  if (st!.isCharacterDevice()) return 'char';
  if (st!.isBlockDevice()) return 'block';
  if (st!.isFIFO()) return 'fifo';
  return 'socket';
}

/** A path as a NUL-terminated Buffer: the src/sys xattr calls hand it to libc byte for byte. */
function cpath(p: Buffer): string {
  return Buffer.concat([p, Buffer.from([0])]) as unknown as string;
}

/** A byte name as a key: UTF-8 when it is valid UTF-8, else with \xNN escapes. */
export function keyOf(name: Buffer): string {
  const s = name.toString('utf8');
  if (Buffer.from(s, 'utf8').equals(name)) return s;
  return [...name].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

/** Every entry under root (root itself as ''), keyed by relative path. Names are handled as bytes. */
export function snapshot(root: string, opts: { skipXattrs?: RegExp } = {}): Map<string, Node> {
  const out = new Map<string, Node>();
  const walk = (p: Buffer, rel: string) => {
    const st = lstatSync(p, { bigint: true });
    const type = typeOf(lstatSync(p));
    const xattrs: Record<string, string> = {};
    for (const name of llistxattr(cpath(p))) {
      if (opts.skipXattrs?.test(name)) continue;
      xattrs[name] = lgetxattr(cpath(p), name)!.toString('hex');
    }
    const n: Node = { type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs, xattrs, ino: st.ino };
    if (type === 'file') {
      n.size = Number(st.size);
      n.sha256 = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
    if (type === 'symlink') n.target = keyOf(readlinkSync(p, { encoding: 'buffer' }));
    if (type === 'char' || type === 'block') {
      const dev = st.rdev;
      n.rdev = [Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)), Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn))];
    }
    out.set(rel, n);
    if (type === 'dir') {
      const names = readdirSync(p, { encoding: 'buffer' }).sort(Buffer.compare);
      for (const name of names) walk(Buffer.concat([p, Buffer.from('/'), name]), rel ? `${rel}/${keyOf(name)}` : keyOf(name));
    }
  };
  walk(Buffer.from(root), '');
  return out;
}

/** Groups of paths sharing an inode (hardlinks), in a stable order. */
export function hardlinkGroups(tree: Map<string, Node>): string[][] {
  const by = new Map<bigint, string[]>();
  for (const [rel, n] of tree) if (n.type !== 'dir') by.set(n.ino, [...(by.get(n.ino) ?? []), rel]);
  return [...by.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** The tree without inode numbers, for toEqual between two trees. */
export function comparable(tree: Map<string, Node>, opts: { ignoreRoot?: boolean; implicitDirs?: boolean; ignoreXattrs?: boolean } = {}):
  Record<string, Partial<Node>> {
  const o: Record<string, Partial<Node>> = {};
  for (const [rel, { ino: _ino, ...rest }] of tree) {
    if (opts.ignoreRoot && rel === '') continue;
    const e: Partial<Node> = rest;
    // Directories created only as parents (mode 0755, root) get the current time.
    if (opts.implicitDirs && rest.type === 'dir' && rest.mtimeNs > BigInt(Date.now() - 3600_000) * 1_000_000n) delete e.mtimeNs;
    if (opts.ignoreXattrs) delete e.xattrs;
    o[rel] = e;
  }
  return o;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Open file descriptors of this process (to check nothing leaks). */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

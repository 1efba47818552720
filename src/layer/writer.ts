// Writes tar entries into a layer directory: the file-system half of unpacking.
//
// Synchronous fs calls on purpose: per small file, open+write+fchown+fchmod+futimens+close
// through the thread pool costs several round trips each, while the sync calls are a few
// microseconds. The caller feeds us decoded bytes.
//
// Path safety: the directory starts empty and nothing else writes to it, so the writer
// knows every directory it made (`dirs`). A parent component that is not one of them is
// checked with lstat: a missing one is created, a real directory is remembered, anything
// else (a symlink in particular) is refused with UnsafeLayerError. Final components are
// created with calls that never follow a symlink (O_CREAT|O_EXCL|O_NOFOLLOW, mkdir,
// symlink, link, mknod); an existing entry there is removed first (later entry wins; a
// directory over a directory merges). Nothing is ever resolved through a symlink, so no
// entry can write outside the directory.
//
// Directory metadata (owner, mode, xattrs, mtime) is applied in finish(), after all
// children exist: a 0555 directory still receives its files and keeps its mtime.
//
// Whiteouts (OCI image spec): ".wh.NAME" hides NAME of lower layers. In this layer it
// becomes an overlay whiteout: a 0/0 char device, or with userXattrs (overlay mounted with
// "userxattr", e.g. rootless) a zero-size file with user.overlay.whiteout, its directory
// marked user.overlay.opaque=x as the kernel's overlayfs docs require. ".wh..wh..opq"
// makes its directory opaque (trusted./user.overlay.opaque=y). A whiteout only applies to
// lower layers, so: if NAME exists in this layer already, a directory becomes opaque and
// anything else stays; an entry that later lands on a whiteout replaces it, and a directory
// that does so becomes opaque (its lower namesake stays hidden).
//
// Xattrs from the layer (xattr-policy.ts): trusted.* (overlayfs's own among them) and
// user.overlay.* are dropped, as containerd drops trusted.*: applied, they could forge
// whiteouts, opaque dirs or redirects the layer did not declare. security.selinux and
// system.nfs4_acl are dropped as umoci does (host policy, not image content). user.* is
// skipped where the kernel refuses it (anything but files and directories), and a file
// system without xattrs only costs a warning, as in containerd and umoci.
//
// Regular files are written at explicit offsets: a sparse file's segments land where its
// map says and the rest stays holes (ftruncate to the real size), and runs of zeros of a
// plain file (a whole chunk of 4 KiB or more) are left as holes too, so a 4 GiB file of
// zeros costs neither 4 GiB of disk nor of quota.
//
// Paths stay below PATH_MAX (4096 bytes, the whole path in the store) and NAME_MAX (255
// bytes a component): an entry past either is refused with InvalidLayerError, as
// containerd's and umoci's unpackers fail on them; the store removes and walks layer
// directories by path, so a deeper tree could not be cleaned up.
import {
  openSync, closeSync, writeSync, fchownSync, fchmodSync, lchownSync, chmodSync, mkdirSync, symlinkSync,
  linkSync, unlinkSync, rmdirSync, lstatSync, readdirSync, ftruncateSync, constants,
} from 'node:fs';
import { mknodBytes, lsetxattrBytes, lutimensBytes, futimens, type Timespec } from '../sys/bytepath.js';
import { S_IFCHR, S_IFBLK, S_IFIFO } from '../sys/mknod.js';
import { UnsafeLayerError, InvalidLayerError, StoreError, StoreFullError, SyscallError, storeFullError } from '../errors/index.js';
import type { TarHeader, TarSink } from './tar-reader.js';
import { splitEntryName, showName, WHITEOUT_PREFIX, OPAQUE_MARKER, AUFS_META_PREFIX } from './paths.js';
import { XattrFilter } from './xattr-policy.js';
import { idMapper, type IdMap, type IdMapper } from './id-map.js';
import { logger } from '../log/index.js';

const log = logger('layer');
/** Longest path the kernel takes, with its NUL; longest name component. */
const PATH_MAX = 4096;
const NAME_MAX = 255;
/** A data chunk at least this long that is all zeros is left as a hole. */
const HOLE_MIN = 4096;
const ZEROS = Buffer.alloc(64 * 1024);

export interface WriterOptions {
  userXattrs?: boolean;
  idMap?: IdMap;
}

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime?: Timespec;
  xattrs: [string, Buffer][];
}

interface OpenFile {
  fd: number;
  path: Buffer;
  h: TarHeader;
  /** Where the next sequential chunk goes. */
  pos: number;
  /** Some of the file was left as holes: its size must be set at the end. */
  holes: boolean;
}

const O_NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const IMPLICIT_DIR: DirMeta = { mode: 0o755, uid: 0, gid: 0, xattrs: [] };

export class LayerWriter implements TarSink {
  /** Root as a byte string (latin1), so entry names (bytes) join it without re-encoding. */
  private readonly root: string;
  /** Relative paths known to be real directories made by this layer ('' is the root). */
  private readonly dirs = new Set<string>(['']);
  private readonly dirMeta = new Map<string, DirMeta>();
  /** The mode each directory this layer made was created with. */
  private readonly madeMode = new Map<string, number>();
  private readonly opaque = new Map<string, 'y' | 'x'>();
  private readonly whiteouts = new Set<string>();
  private file: OpenFile | undefined;
  private readonly euid = process.geteuid?.() ?? 0;
  private readonly egid = process.getegid?.() ?? 0;
  private readonly xattrPrefix: string;
  private readonly xattrs = new XattrFilter();
  private readonly mapUid: IdMapper | undefined;
  private readonly mapGid: IdMapper | undefined;
  /** Sum of regular file sizes written (a sparse file counts its data, not its holes). */
  unpackedBytes = 0;

  constructor(dir: string, private readonly label: string, private readonly opts: WriterOptions = {}) {
    this.root = Buffer.from(dir.replace(/\/+$/, '') || '/').toString('latin1');
    this.xattrPrefix = opts.userXattrs ? 'user.overlay.' : 'trusted.overlay.';
    this.mapUid = idMapper(opts.idMap?.uid, 'uid');
    this.mapGid = idMapper(opts.idMap?.gid, 'gid');
  }

  entry(h: TarHeader): void {
    const parts = splitEntryName(h.name);
    if (parts === 'dotdot') throw this.unsafe(h, 'has a ".." component');
    if (parts === 'nul') throw this.unsafe(h, 'contains a NUL byte');
    if (this.mapUid || this.mapGid) {
      // Checked here, so that a later owner() of this entry cannot fail without its name.
      try { this.owner(h); } catch (e) { throw this.invalid(h, `is owned by ${h.uid}:${h.gid}: ${(e as Error).message}`); }
    }
    if (h.xattrs.length > 0) h.xattrs = this.xattrs.keep(h.xattrs, h.name);
    if (parts.length === 0) {
      // containerd skips every entry for the root; a directory's attributes are applied
      // (as docker and umoci do), anything else could only change what the root is.
      if (h.type === 'dir') this.dirMeta.set('', this.meta(h));
      else log.warn({ layer: this.label, entry: h.name, type: h.type }, 'layer entry for the root directory is not a directory; ignored');
      return;
    }
    let len = this.root.length;
    for (const p of parts) {
      if (p.length > NAME_MAX) throw this.invalid(h, `has a name component of ${p.length} bytes; file systems allow at most ${NAME_MAX}`);
      len += 1 + p.length;
    }
    if (len >= PATH_MAX) throw this.invalid(h, `would be a path of ${len} bytes in the store; Linux allows at most ${PATH_MAX - 1} (PATH_MAX)`);
    for (let i = 0; i < parts.length - 1; i++) {
      if (parts[i]!.startsWith(WHITEOUT_PREFIX)) {
        if (parts[i]!.startsWith(AUFS_META_PREFIX)) return; // aufs bookkeeping: not part of the image
        throw this.invalid(h, `has a whiteout name (${showName(parts[i]!)}) as a directory`);
      }
    }
    const base = parts[parts.length - 1]!;
    const parent = this.ensureParents(parts, h);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      if (base === OPAQUE_MARKER) this.opaque.set(parent, 'y');
      else if (!base.startsWith(AUFS_META_PREFIX)) this.whiteout(parent, base.slice(WHITEOUT_PREFIX.length), h);
      return;
    }
    const rel = parent === '' ? base : parent + '/' + base;
    switch (h.type) {
      case 'file': return this.createFile(rel, h);
      case 'dir': return this.createDir(rel, h);
      case 'symlink': return this.createSymlink(rel, h);
      case 'hardlink': return this.createHardlink(rel, h);
      case 'char': case 'block': case 'fifo': return this.createNode(rel, h);
    }
  }

  data(chunk: Buffer, at?: number): void {
    const f = this.file;
    if (!f) return; // data of an entry that is not written (a whiteout, aufs bookkeeping)
    const pos = at ?? f.pos;
    f.pos = pos + chunk.length;
    if (chunk.length >= HOLE_MIN && isZero(chunk)) {
      f.holes = true;
      return;
    }
    let off = 0;
    try {
      while (off < chunk.length) off += writeSync(f.fd, chunk, off, chunk.length - off, pos + off);
    } catch (e) {
      throw this.sysError(f.h, 'write', e);
    }
  }

  entryEnd(): void {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    try {
      if (f.holes || f.h.sparse) ftruncateSync(f.fd, f.h.size);
      const { uid, gid } = this.owner(f.h);
      if (uid !== this.euid || gid !== this.egid) fchownSync(f.fd, uid, gid);
      // After chown, which clears setuid/setgid. Not needed when open() already gave the
      // file its mode (no special bits, none taken away by the umask): one syscall a file.
      if (!createdWithMode(f.h.mode)) fchmodSync(f.fd, f.h.mode);
      // After chown, which drops security.capability.
      if (f.h.xattrs.length > 0) this.setXattrs(f.path, f.h.xattrs, f.h, true);
      futimens(f.fd, f.h.mtime, f.h.mtime);
    } catch (e) {
      throw this.sysError(f.h, 'set metadata', e);
    } finally {
      closeSync(f.fd);
    }
  }

  skipped(what: string, name: string, offset: number): void {
    log.warn({ layer: this.label, entry: showName(name), offset, kind: what }, 'layer entry of a kind groot does not unpack; skipped');
  }

  /** Apply directory metadata and opaque markers, deepest first. Call once the archive ended. */
  finish(): void {
    this.xattrs.report(this.label, log);
    // A layer without an entry for its root: in a mapped store the root still belongs to
    // the container's root (as an implicit parent does), not to the host's.
    // (It stays implicit: the store still gives it the attributes of the root below.)
    if ((this.mapUid || this.mapGid) && !this.dirMeta.has('')) {
      const { uid, gid } = this.owner(IMPLICIT_DIR);
      try { lchownSync(this.abs(''), uid, gid); } catch (e) { throw failed(`${this.label}: directory /: setting its owner`, e); }
    }
    const paths = new Set<string>([...this.dirMeta.keys(), ...this.opaque.keys()]);
    // Depths computed once: the comparator runs n log n times.
    const order = [...paths].map((p) => ({ p, d: depth(p) })).sort((a, b) => b.d - a.d).map((e) => e.p);
    for (const rel of order) {
      const p = this.abs(rel);
      const m = this.dirMeta.get(rel);
      const o = this.opaque.get(rel);
      const what = () => `${this.label}: directory ${showName(rel || '/')}: setting metadata`; // on failure only: 1 call a directory
      if (m && !o && this.plainDir(rel, m)) {
        // Made with its final mode and owner, nothing else to set: only the mtime, by path.
        // Safe without an fd: rel and its parents are directories this layer made (a
        // later entry that replaced one dropped everything under it from dirMeta), and
        // the last component is not followed.
        if (m.mtime) {
          try { lutimensBytes(p, m.mtime, m.mtime); } catch (e) { throw failed(what(), e); }
        }
        continue;
      }
      let fd = -1;
      try {
        // Through an fd opened with O_NOFOLLOW: whatever happens, chmod never follows a symlink.
        fd = openSync(p, O_DIR);
        if (m) {
          const { uid, gid } = this.owner(m);
          if (uid !== this.euid || gid !== this.egid) fchownSync(fd, uid, gid);
          fchmodSync(fd, m.mode);
          if (m.xattrs.length > 0) this.setXattrs(p, m.xattrs, undefined, true, rel);
        }
        if (o) lsetxattrBytes(p, this.xattrPrefix + 'opaque', Buffer.from(o));
        if (m?.mtime) futimens(fd, m.mtime, m.mtime);
      } catch (e) {
        throw failed(what(), e);
      } finally {
        if (fd >= 0) closeSync(fd);
      }
    }
  }

  /**
   * Directories made only as parents (no entry of their own), as UTF-8 paths relative to
   * the layer root; '.' for the root when the layer has no entry for it.
   */
  implicitDirs(): string[] {
    const out: string[] = [];
    if (!this.dirMeta.has('')) out.push('.');
    for (const [rel, m] of this.dirMeta) if (m === IMPLICIT_DIR) out.push(Buffer.from(rel, 'latin1').toString('utf8'));
    return out.sort();
  }

  /** Close what is open (after a failure). */
  abort(): void {
    if (this.file) {
      try { closeSync(this.file.fd); } catch { /* already closed */ }
      this.file = undefined;
    }
  }

  // --- entries ---

  private createFile(rel: string, h: TarHeader): void {
    const p = this.abs(rel);
    let fd: number;
    try {
      fd = this.replacing(rel, () => openSync(p, O_NEW_FILE, h.mode & 0o777));
    } catch (e) {
      throw this.sysError(h, 'create file', e);
    }
    this.unpackedBytes += h.sparse ? h.sparse.reduce((n, s) => n + s.length, 0) : h.size;
    this.file = { fd, path: p, h, pos: 0, holes: false };
    if (h.size === 0 || (h.sparse && h.sparse.every((s) => s.length === 0))) this.entryEnd();
  }

  private createDir(rel: string, h: TarHeader): void {
    const p = this.abs(rel);
    try {
      this.mkdir(rel, p, h.mode);
    } catch (e) {
      if (!isExists(e)) throw this.sysError(h, 'mkdir', e);
      const wasWhiteout = this.whiteouts.has(rel);
      if (!lstatSync(p).isDirectory()) {
        this.remove(rel);
        if (wasWhiteout) this.opaque.set(rel, 'y');
        try { this.mkdir(rel, p, h.mode); } catch (e2) { throw this.sysError(h, 'mkdir', e2); }
      }
    }
    this.dirs.add(rel);
    this.dirMeta.set(rel, this.meta(h));
  }

  private createSymlink(rel: string, h: TarHeader): void {
    if (h.linkname === '' || h.linkname.includes('\0')) throw this.invalid(h, `is a symlink to ${showName(h.linkname)}, which is not a valid target`);
    const p = this.abs(rel);
    try {
      this.replacing(rel, () => symlinkSync(Buffer.from(h.linkname, 'latin1'), p));
      const { uid, gid } = this.owner(h);
      if (uid !== this.euid || gid !== this.egid) lchownSync(p, uid, gid);
      if (h.xattrs.length > 0) this.setXattrs(p, h.xattrs, h, false);
      lutimensBytes(p, h.mtime, h.mtime);
    } catch (e) {
      throw this.sysError(h, 'create symlink', e);
    }
  }

  private createHardlink(rel: string, h: TarHeader): void {
    const parts = splitEntryName(h.linkname);
    if (parts === 'dotdot') throw this.unsafe(h, `links to ${showName(h.linkname)}, which has a ".." component`);
    if (parts === 'nul' || parts.length === 0) throw this.invalid(h, `links to ${showName(h.linkname)}, which is not a file`);
    const target = parts.join('/');
    if (target === rel) return; // a link to itself: nothing to do
    // The target's parents must be real directories of this layer (never through a symlink).
    let parent = '';
    for (let i = 0; i < parts.length - 1; i++) {
      parent = parent === '' ? parts[i]! : parent + '/' + parts[i]!;
      if (this.dirs.has(parent)) continue;
      const st = this.lstat(parent);
      if (!st) throw this.invalid(h, `links to ${showName(h.linkname)}, which is not in this layer`);
      if (st.isSymbolicLink()) throw this.unsafe(h, `links to ${showName(h.linkname)} through the symlink ${showName(parent)}`);
      if (!st.isDirectory()) throw this.invalid(h, `links to ${showName(h.linkname)}, but ${showName(parent)} is not a directory`);
      this.dirs.add(parent);
    }
    const st = this.lstat(target);
    if (!st) throw this.invalid(h, `links to ${showName(h.linkname)}, which is not (yet) in this layer`);
    if (st.isDirectory()) throw this.invalid(h, `links to ${showName(h.linkname)}, which is a directory`);
    const p = this.abs(rel);
    try {
      // link(2) does not follow a symlink target: it links the symlink itself.
      this.replacing(rel, () => linkSync(this.abs(target), p));
    } catch (e) {
      throw this.sysError(h, 'link', e);
    }
  }

  private createNode(rel: string, h: TarHeader): void {
    const p = this.abs(rel);
    const kind = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
    try {
      this.replacing(rel, () => mknodBytes(p, kind | 0o600, h.devmajor, h.devminor));
      this.setNodeMeta(p, h);
    } catch (e) {
      throw this.sysError(h, 'mknod', e);
    }
  }

  private setNodeMeta(p: Buffer, h: TarHeader): void {
    const { uid, gid } = this.owner(h);
    if (uid !== this.euid || gid !== this.egid) lchownSync(p, uid, gid);
    chmodSync(p, h.mode); // p is a node we just made, not a symlink
    if (h.xattrs.length > 0) this.setXattrs(p, h.xattrs, h, false);
    lutimensBytes(p, h.mtime, h.mtime);
  }

  private whiteout(parent: string, name: string, h: TarHeader): void {
    if (name === '' || name === '.' || name === '..' || name.includes('/')) throw this.unsafe(h, 'is a whiteout for an invalid name');
    const rel = parent === '' ? name : parent + '/' + name;
    const st = this.lstat(rel);
    if (st) {
      // Present in this layer: the whiteout only concerns lower layers.
      if (st.isDirectory()) this.opaque.set(rel, 'y');
      return;
    }
    const p = this.abs(rel);
    try {
      if (this.opts.userXattrs) {
        closeSync(openSync(p, O_NEW_FILE, 0o644));
        lsetxattrBytes(p, 'user.overlay.whiteout', Buffer.alloc(0));
        if (this.opaque.get(parent) !== 'y') this.opaque.set(parent, 'x');
      } else {
        mknodBytes(p, S_IFCHR | 0o644, 0, 0);
      }
      this.whiteouts.add(rel);
    } catch (e) {
      throw this.sysError(h, 'create whiteout', e);
    }
  }

  /**
   * Set xattrs on `p`. The kernel allows user.* only on regular files and directories
   * (`fileOrDir`): elsewhere they are skipped, as containerd does. ENOTSUP (a file system
   * without xattrs) is a warning, as in containerd and umoci.
   */
  private setXattrs(p: Buffer, xattrs: [string, Buffer][], h: TarHeader | undefined, fileOrDir: boolean, dirRel?: string): void {
    for (const [name, value] of xattrs) {
      if (!fileOrDir && name.startsWith('user.')) {
        this.xattrs.note(name, 'not allowed on symlinks and devices', h?.name ?? dirRel ?? '');
        continue;
      }
      try {
        lsetxattrBytes(p, name, value);
      } catch (e) {
        if (e instanceof SyscallError && e.errno === ENOTSUP) {
          this.xattrs.note(name, 'not supported by the file system', h?.name ?? dirRel ?? '');
          continue;
        }
        throw e;
      }
    }
  }

  // --- paths ---

  /** Make sure every parent of `parts` is a real directory of this layer; returns the parent's relative path. */
  private ensureParents(parts: string[], h: TarHeader): string {
    let rel = '';
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel === '' ? parts[i]! : rel + '/' + parts[i]!;
      if (this.dirs.has(rel)) continue;
      const st = this.lstat(rel);
      if (!st || this.whiteouts.has(rel)) {
        // Missing (or our own whiteout, which a directory replaces): create it as tar does.
        if (st) {
          this.remove(rel);
          this.opaque.set(rel, 'y');
        }
        try {
          this.mkdir(rel, this.abs(rel), IMPLICIT_DIR.mode);
        } catch (e) {
          throw this.sysError(h, `mkdir ${showName(rel)}`, e);
        }
        if (!this.dirMeta.has(rel)) this.dirMeta.set(rel, IMPLICIT_DIR);
      } else if (st.isSymbolicLink()) {
        throw this.unsafe(h, `would be written through the symlink ${showName(rel)}`);
      } else if (!st.isDirectory()) {
        throw this.invalid(h, `has a parent ${showName(rel)} that is not a directory`);
      }
      this.dirs.add(rel);
    }
    return rel;
  }

  /** Run a create call; if the name exists, remove what is there and try once more. */
  private replacing<T>(rel: string, create: () => T): T {
    try {
      return create();
    } catch (e) {
      if (!isExists(e)) throw e;
    }
    this.remove(rel);
    return create();
  }

  /** Remove whatever is at rel (a directory with its contents), forgetting what we knew under it. */
  private remove(rel: string): void {
    const p = this.abs(rel);
    removeTree(p);
    const under = rel + '/';
    const drop = (k: string) => k === rel || k.startsWith(under);
    for (const k of this.dirs) if (drop(k)) this.dirs.delete(k);
    for (const k of this.dirMeta.keys()) if (drop(k)) this.dirMeta.delete(k);
    for (const k of this.madeMode.keys()) if (drop(k)) this.madeMode.delete(k);
    for (const k of this.opaque.keys()) if (drop(k)) this.opaque.delete(k);
    for (const k of this.whiteouts) if (drop(k)) this.whiteouts.delete(k);
  }

  /**
   * mkdir with the final mode when it lets the owner in (rwx) and mkdir can give it (no
   * special bits, nothing the umask takes): then finish() has no chmod to do. Otherwise
   * 0700, so a 0555 directory still receives its files; finish() sets the mode.
   */
  private mkdir(rel: string, p: Buffer, mode: number): void {
    const made = (mode & 0o700) === 0o700 && createdWithMode(mode) ? mode & 0o777 : 0o700;
    mkdirSync(p, made);
    this.madeMode.set(rel, made);
  }

  /** Whether a directory already has all its metadata but the mtime. */
  private plainDir(rel: string, m: DirMeta): boolean {
    if (m.xattrs.length > 0 || this.madeMode.get(rel) !== m.mode) return false;
    const { uid, gid } = this.owner(m);
    return uid === this.euid && gid === this.egid;
  }

  private lstat(rel: string) {
    return lstatSync(this.abs(rel), { throwIfNoEntry: false });
  }

  private abs(rel: string): Buffer {
    return Buffer.from(rel === '' ? this.root : this.root + '/' + rel, 'latin1');
  }

  /** The host owner of an entry or a directory (mapped in a rootless store). */
  private owner(h: { uid: number; gid: number }): { uid: number; gid: number } {
    return {
      uid: this.mapUid ? this.mapUid(h.uid) : h.uid,
      gid: this.mapGid ? this.mapGid(h.gid) : h.gid,
    };
  }

  private meta(h: TarHeader): DirMeta {
    return { mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime, xattrs: h.xattrs };
  }

  // --- errors ---

  private unsafe(h: TarHeader, what: string): UnsafeLayerError {
    return new UnsafeLayerError(`${this.label}: entry ${showName(h.name)} ${what}; refused`);
  }

  private invalid(h: TarHeader, what: string): InvalidLayerError {
    return new InvalidLayerError(`${this.label}: entry ${showName(h.name)} ${what}`);
  }

  private sysError(h: TarHeader, op: string, e: unknown): Error {
    if (e instanceof UnsafeLayerError || e instanceof InvalidLayerError) return e;
    return failed(`${this.label}: entry ${showName(h.name)}: ${op}`, e);
  }
}

/** `what` failed: a full filesystem in words (the path of an unpack dir says nothing), else the error's text. */
function failed(what: string, e: unknown): StoreError | StoreFullError {
  return storeFullError(what, e) ?? new StoreError(`${what} failed: ${(e as Error).message}`, { cause: e });
}

const ENOTSUP = 95;
/** The process umask (read once: it is not changed while layers unpack). */
const UMASK = process.umask();

/** Whether a file opened with `mode & 0o777` already has `mode`. */
function createdWithMode(mode: number): boolean {
  return (mode & 0o7000) === 0 && (mode & 0o777 & UMASK) === 0;
}

/** Whether a chunk is all zeros (cheap for data: most chunks fail on the first byte). */
function isZero(b: Buffer): boolean {
  if (b[0] !== 0 || b[b.length - 1] !== 0) return false;
  for (let i = 0; i < b.length; i += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - i);
    if (!b.subarray(i, i + n).equals(n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n))) return false;
  }
  return true;
}

function isExists(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'EEXIST' || (e instanceof SyscallError && e.errno === 17);
}

function depth(rel: string): number {
  if (rel === '') return 0;
  let n = 1;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 0x2f) n++;
  return n;
}

/** rm -rf without following symlinks, on byte paths (Node's rm would re-encode names). */
function removeTree(p: Buffer): void {
  const st = lstatSync(p, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isDirectory()) {
    unlinkSync(p);
    return;
  }
  for (const name of readdirSync(p, { encoding: 'buffer' })) removeTree(Buffer.concat([p, Buffer.from('/'), name]));
  rmdirSync(p);
}

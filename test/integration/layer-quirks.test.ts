// Archives the way real writers make them (old tars, GNU and star extensions, Go's own
// testdata cases, odd builders), unpacked by applyLayer: each accepted as containerd's
// unpacker (Go's archive/tar) accepts it, with the tree it should give; only what is
// unsafe or cannot be unpacked faithfully is refused. Byte-level pieces: layer-raw.ts.
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { applyLayer } from '../../src/layer/index.js';
import { InvalidLayerError } from '../../src/errors/index.js';
import { lgetxattr } from '../../src/sys/index.js';
import { tar, tarEntry, type TarEntry } from '../helpers/tar.js';
import { sha256 } from '../helpers/oci.js';
import { snapshot, hardlinkGroups, streamOf, tempDir, removeDir } from './layer-tree.js';
import { rawHeader, body, paxHeader, END } from './layer-raw.js';

const NS = 1_000_000_000n;
let work: string;
let n = 0;
beforeAll(() => { work = tempDir('layer-quirks-'); });
afterAll(() => removeDir(work));

async function unpack(raw: Buffer, chunk = 777) {
  const dir = join(work, `d${n++}`);
  mkdirSync(dir);
  const result = await applyLayer(streamOf(raw, chunk), dir, { label: 'quirks', diffID: sha256(raw) });
  return { dir, result, tree: snapshot(dir) };
}

async function refusal(raw: Buffer): Promise<Error> {
  const dir = join(work, `d${n++}`);
  mkdirSync(dir);
  try {
    await applyLayer(streamOf(raw), dir, { label: 'quirks' });
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the layer to be refused');
}

const raw = (entries: TarEntry[]) => Buffer.concat(entries.map(tarEntry));

describe('entry types', () => {
  test('typeflag NUL is a regular file; with a trailing slash a directory (no data, as Go); type 0 with a slash is a directory too, its data skipped', async () => {
    const { tree } = await unpack(Buffer.concat([
      rawHeader({ name: 'old-file', type: '\0', size: 5, magic: 'v7' }), body('v7 ok'),
      rawHeader({ name: 'old-dir/', type: '\0', mode: 0o750, magic: 'v7', size: 0 }),
      rawHeader({ name: 'old-dir/in', type: '\0', size: 2, magic: 'v7' }), body('in'),
      rawHeader({ name: 'zero-dir/', type: '0', size: 600, mode: 0o711 }), body('x'.repeat(600)),
      rawHeader({ name: 'zero-dir/after', size: 5 }), body('after'),
      rawHeader({ name: 'contiguous', type: '7', size: 4 }), body('cont'),
      END,
    ]));
    expect(tree.get('old-file')).toMatchObject({ type: 'file', size: 5 });
    expect(tree.get('old-dir')).toMatchObject({ type: 'dir', mode: 0o750 });
    expect(tree.get('old-dir/in')).toMatchObject({ type: 'file', size: 2 });
    expect(tree.get('zero-dir')).toMatchObject({ type: 'dir', mode: 0o711 });
    expect(tree.get('zero-dir/after')).toMatchObject({ type: 'file', size: 5 });
    expect(tree.get('contiguous')).toMatchObject({ type: 'file', size: 4 });
  });

  test('GNU dumpdir (D) is a directory whose listing is skipped; a volume label (V) and other vendor types are skipped', async () => {
    const { tree, result } = await unpack(Buffer.concat([
      rawHeader({ name: 'backup volume 1', type: 'V', magic: 'gnu', size: 0 }),
      rawHeader({ name: 'inc/', type: 'D', magic: 'gnu', mode: 0o705, size: 14 }), body('Yfoo\0Ybar\0\0\0\0\0'),
      rawHeader({ name: 'inc/foo', magic: 'gnu', size: 3 }), body('foo'),
      paxHeader([['path', 'solaris-xattr-of-next']]),
      rawHeader({ name: 'sol', type: 'X', size: 30 }), body('30 SUN.holesdata=whatever....\n'),
      rawHeader({ name: 'last', size: 4 }), body('last'),
      END,
    ]));
    expect([...tree.keys()].sort()).toEqual(['', 'inc', 'inc/foo', 'last']);
    expect(tree.get('inc')).toMatchObject({ type: 'dir', mode: 0o705 });
    expect(result.entries).toBe(3);
  });

  test('a multi-volume continuation (M) is refused, saying why', async () => {
    const e = await refusal(Buffer.concat([rawHeader({ name: 'big', type: 'M', magic: 'gnu', size: 10 }), body('0123456789'), END]));
    expect(e).toBeInstanceOf(InvalidLayerError);
    expect(e.message).toMatch(/^quirks: entry at offset 0 continues a file from another volume of a multi-volume archive/);
  });

  test('a hardlink (or other header-only entry) with a size has no data: the next header follows at once (Go, containerd)', async () => {
    const { tree } = await unpack(Buffer.concat([
      rawHeader({ name: 'f', size: 3 }), body('abc'),
      rawHeader({ name: 'h', type: '1', linkname: 'f', size: 3 }),
      paxHeader([['size', '99999']]),
      rawHeader({ name: 'h2', type: '1', linkname: 'h' }),
      rawHeader({ name: 'd/', type: '5', size: 4096 }),
      rawHeader({ name: 'g', size: 1 }), body('g'),
      END,
    ]));
    expect(hardlinkGroups(tree)).toEqual([['f', 'h', 'h2']]);
    expect(tree.get('d')!.type).toBe('dir');
    expect(tree.get('g')).toMatchObject({ type: 'file', size: 1 });
  });
});

describe('archive ends', () => {
  test.each([
    ['no bytes at all', Buffer.alloc(0)],
    ['just one zero block', Buffer.alloc(512)],
    ['just two zero blocks', Buffer.alloc(1024)],
    ['ten zero blocks (GNU tar pads to 10 KiB records)', Buffer.alloc(10240)],
  ])('an empty archive (%s) is an empty layer', async (_what, bytes) => {
    const { dir, result } = await unpack(bytes);
    expect(readdirSync(dir)).toEqual([]);
    expect(result).toMatchObject({ entries: 0, tarBytes: bytes.length, implicitDirs: ['.'] });
  });

  test('bytes after the end-of-archive marker are ignored, but still part of the diffID', async () => {
    const bytes = Buffer.concat([tar([{ name: 'a', content: 'a' }]), Buffer.from('trailing garbage, not a header'), Buffer.alloc(3000, 0xee)]);
    const { tree, result } = await unpack(bytes);
    expect([...tree.keys()]).toEqual(['', 'a']);
    expect(result.diffID).toBe(sha256(bytes));
  });

  test('an archive with no end marker, ending inside the last entry\'s padding, is whole (as Go reads it)', async () => {
    const bytes = tarEntry({ name: 'a', content: 'abc' }).subarray(0, 512 + 100);
    const { dir } = await unpack(bytes);
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('abc');
  });
});

describe('names and order', () => {
  test('"./" and "." entries set the layer root\'s attributes; "./" prefixes and doubled slashes are cleaned', async () => {
    const { tree, result } = await unpack(raw([
      { name: './', type: 'dir', mode: 0o750, uid: 7, gid: 8, mtime: 1111111111 },
      { name: './/usr//bin/', type: 'dir' },
      { name: './/usr/./bin//tool', content: 'tool' },
      { name: '.', type: 'dir', mode: 0o755, uid: 9, gid: 9, mtime: 1222222222 },
    ]));
    expect(tree.get('')).toMatchObject({ mode: 0o755, uid: 9, gid: 9, mtimeNs: 1222222222n * NS });
    expect(tree.get('usr/bin/tool')).toMatchObject({ type: 'file', size: 4 });
    expect(result.implicitDirs).toEqual(['usr']);
  });

  test('a directory entry after its children still sets its attributes; later entries win; a file replaced by a dir and back', async () => {
    const { dir, tree } = await unpack(raw([
      { name: 'a/b/c', content: 'deep' },
      { name: 'a/b/', type: 'dir', mode: 0o700, uid: 3, mtime: 1300000000 },
      { name: 'a/', type: 'dir', mode: 0o751, mtime: 1200000000 },
      { name: 'dup', content: 'first' },
      { name: 'dup', content: 'second', mode: 0o600 },
      { name: 'x', content: 'file' },
      { name: 'x/', type: 'dir' },
      { name: 'x/in', content: 'in' },
      { name: 'y/', type: 'dir' },
      { name: 'y/in', content: 'gone' },
      { name: 'y', content: 'file again' },
    ]));
    expect(tree.get('a/b')).toMatchObject({ type: 'dir', mode: 0o700, uid: 3, mtimeNs: 1300000000n * NS });
    expect(tree.get('a')).toMatchObject({ mode: 0o751, mtimeNs: 1200000000n * NS });
    expect(readFileSync(join(dir, 'dup'), 'utf8')).toBe('second');
    expect(tree.get('dup')!.mode).toBe(0o600);
    expect(tree.get('x/in')!.type).toBe('file');
    expect(tree.get('y')).toMatchObject({ type: 'file', size: 10 });
    expect(tree.has('y/in')).toBe(false);
  });

  test('hardlink to a symlink links the symlink itself; hardlink chains share one inode', async () => {
    const { dir, tree } = await unpack(raw([
      { name: 'target', content: 't' },
      { name: 'sym', type: 'symlink', linkname: 'target' },
      { name: 'sym-hard', type: 'hardlink', linkname: 'sym' },
      { name: 'f', content: 'chain' },
      { name: 'h1', type: 'hardlink', linkname: 'f' },
      { name: 'h2', type: 'hardlink', linkname: './h1' },
      { name: 'sub/h3', type: 'hardlink', linkname: '/h2' },
    ]));
    expect(lstatSync(join(dir, 'sym-hard')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'sym-hard'))).toBe('target');
    expect(lstatSync(join(dir, 'sym-hard')).ino).toBe(lstatSync(join(dir, 'sym')).ino);
    expect(hardlinkGroups(tree)).toContainEqual(['f', 'h1', 'h2', 'sub/h3']);
  });

  test('a symlink named with a trailing slash is a symlink without it', async () => {
    const { tree } = await unpack(Buffer.concat([rawHeader({ name: 'lnk/', type: '2', linkname: '/etc' }), END]));
    expect(tree.get('lnk')).toMatchObject({ type: 'symlink', target: '/etc' });
  });

  test('names of exactly 100 bytes (no NUL), a 155-byte prefix with a 100-byte name (255 bytes), newlines, bytes that are not UTF-8', async () => {
    const n100 = 'n'.repeat(100);
    const prefix = 'p'.repeat(155);
    const latin = Buffer.from([0x66, 0xe9, 0xff, 0x0a, 0x78]); // "f" é 0xff "\n" "x"
    const { dir, tree } = await unpack(Buffer.concat([
      rawHeader({ name: n100, size: 3 }), body('100'),
      rawHeader({ name: n100, prefix, size: 3 }), body('255'),
      rawHeader({ name: 'line\nbreak', size: 2 }), body('nl'),
      rawHeader({ name: latin, size: 6 }), body('latin1'),
      END,
    ]));
    expect(readFileSync(join(dir, n100), 'utf8')).toBe('100');
    expect(readFileSync(join(dir, prefix, n100), 'utf8')).toBe('255');
    expect(readFileSync(join(dir, 'line\nbreak'), 'utf8')).toBe('nl');
    expect(tree.get('f\\xe9\\xff\\x0ax')).toMatchObject({ type: 'file', size: 6 });
  });
});

describe('numeric fields and PAX records', () => {
  test('octal fields with spaces and NULs in odd places (as Go reads them)', async () => {
    const { tree } = await unpack(Buffer.concat([
      rawHeader({ name: 'odd', mode: '  755 \0\0', uid: '\x00\x001750 ', gid: '144\0junk', size: ' 3\0     \0\0\0', mtime: 0 }), body('odd'),
      END,
    ]));
    expect(tree.get('odd')).toMatchObject({ type: 'file', mode: 0o755, uid: 0o1750, gid: 0o144, size: 3 });
  });

  test('PAX: fractional and negative mtimes, uname/gname alone, "=" in values, long values, empty xattr values', async () => {
    const longTarget = 't/'.repeat(1500) + 'end';
    const { dir, tree } = await unpack(raw([
      { name: 'frac', content: 'f', pax: { mtime: '1700000000.5' } },
      { name: 'neg', content: 'n', pax: { mtime: '-1.25' } },
      { name: 'names', content: 'u', uid: 12, gid: 34, pax: { uname: 'nobody', gname: 'nogroup' } },
      { name: 'eq', content: 'e', xattrs: { 'user.kv': 'a=b=c' } },
      { name: 'long', type: 'symlink', linkname: longTarget },
      { name: 'empty-xattr', content: '', xattrs: { 'user.empty': '' } },
    ]));
    expect(tree.get('frac')!.mtimeNs).toBe(1700000000500000000n);
    expect(tree.get('neg')!.mtimeNs).toBe(-1250000000n);
    expect(tree.get('names')).toMatchObject({ uid: 12, gid: 34 });
    expect(lgetxattr(join(dir, 'eq'), 'user.kv')?.toString()).toBe('a=b=c');
    expect(readlinkSync(join(dir, 'long'))).toBe(longTarget);
    expect(tree.get('empty-xattr')!.xattrs).toEqual({ 'user.empty': '' });
  });

  test('only the last PAX header before an entry counts; the last GNU long name wins over PAX path', async () => {
    const { tree } = await unpack(Buffer.concat([
      paxHeader([['path', 'ignored-name'], ['uid', '55']]),
      paxHeader([['gid', '66']]),
      rawHeader({ name: 'short', size: 1 }), body('s'),
      paxHeader([['path', 'pax-name']]),
      rawHeader({ name: '././@LongLink', type: 'L', magic: 'gnu', size: 10 }), body('gnu-name\0\0'),
      rawHeader({ name: 'x', magic: 'gnu', size: 1 }), body('x'),
      END,
    ]));
    expect([...tree.keys()].sort()).toEqual(['', 'gnu-name', 'short']);
    expect(tree.get('short')).toMatchObject({ uid: 0, gid: 66 });
  });
});

describe('whiteouts', () => {
  test('a whiteout of a path with no lower is still a whiteout; its mode and owner do not matter', async () => {
    const { tree } = await unpack(raw([{ name: 'etc/.wh.nothing-below', content: '', mode: 0o777, uid: 5, gid: 6 }]));
    expect(tree.get('etc/nothing-below')).toMatchObject({ type: 'char', rdev: [0, 0] });
  });

  test('an opaque marker after other entries of its directory makes it opaque and keeps them', async () => {
    const { dir, tree } = await unpack(raw([
      { name: 'd/', type: 'dir' },
      { name: 'd/kept', content: 'k' },
      { name: 'd/.wh..wh..opq', content: '' },
      { name: 'd/later', content: 'l' },
    ]));
    expect(lgetxattr(join(dir, 'd'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(readdirSync(join(dir, 'd')).sort()).toEqual(['kept', 'later']);
    expect(tree.get('d/kept')!.type).toBe('file');
  });

  test('aufs bookkeeping (.wh..wh.plnk/ hardlink store, .wh..wh.aufs) is ignored, as containerd does', async () => {
    const { dir } = await unpack(raw([
      { name: '.wh..wh.plnk/', type: 'dir' },
      { name: '.wh..wh.plnk/1234.5678', content: 'aufs hardlink' },
      { name: '.wh..wh.aufs', content: '' },
      { name: '.wh.with-data', content: 'a whiteout with a body' },
      { name: 'real', content: 'r' },
    ]));
    expect(readdirSync(dir).sort()).toEqual(['real', 'with-data']);
    expect(lstatSync(join(dir, 'with-data')).isCharacterDevice()).toBe(true);
  });
});

describe('xattrs', () => {
  // A POSIX ACL in the kernel's xattr form: user::rw- user:1000:rwx group::r-- mask::rwx other::r--
  const acl = Buffer.alloc(4 + 5 * 8);
  acl.writeUInt32LE(2, 0);
  [[0x01, 6, 0xffffffff], [0x02, 7, 1000], [0x04, 4, 0xffffffff], [0x10, 7, 0xffffffff], [0x20, 4, 0xffffffff]].forEach(([tag, perm, id], i) => {
    acl.writeUInt16LE(tag!, 4 + i * 8); acl.writeUInt16LE(perm!, 6 + i * 8); acl.writeUInt32LE(id!, 8 + i * 8);
  });

  test('LIBARCHIVE.xattr records (bsdtar: URL-encoded name, base64 value) are applied; SCHILY.acl text is ignored; POSIX ACL xattrs are applied', async () => {
    const { dir } = await unpack(raw([
      { name: 'bsd', content: 'b', pax: { 'LIBARCHIVE.xattr.user.with%20space': Buffer.from([0, 0xff, 0x3d]).toString('base64'), 'SCHILY.acl.access': 'user::rw-,group::r--,other::r--' } },
      { name: 'acl', content: 'a', xattrs: { 'system.posix_acl_access': acl } },
    ]));
    expect(lgetxattr(join(dir, 'bsd'), 'user.with space')).toEqual(Buffer.from([0, 0xff, 0x3d]));
    expect(lgetxattr(join(dir, 'acl'), 'system.posix_acl_access')).toEqual(acl);
  });

  test('security.selinux and trusted.* are not applied (host policy; containerd drops trusted.*); user.* on devices is skipped', async () => {
    const { tree } = await unpack(raw([
      { name: 'labelled', content: 'l', xattrs: { 'security.selinux': 'system_u:object_r:bin_t:s0\0', 'user.keep': 'k', 'trusted.md5': 'x' } },
      { name: 'fifo', type: 'fifo', xattrs: { 'user.note': 'kernel refuses user.* here' } },
      { name: 'dir/', type: 'dir', xattrs: { 'security.selinux': 'x', 'trusted.overlay.opaque': 'y' } },
    ]));
    expect(tree.get('labelled')!.xattrs).toEqual({ 'user.keep': Buffer.from('k').toString('hex') });
    expect(tree.get('fifo')).toMatchObject({ type: 'fifo', xattrs: {} });
    expect(tree.get('dir')!.xattrs).toEqual({});
  });
});

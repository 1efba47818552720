// applyLayer end to end as root: every entry type and attribute, compressions, verification
// errors, quota, abort, replacement semantics. Path attacks: layer-safety.test.ts.
// Overlay whiteouts: layer-overlay.test.ts. GNU tar cross-check: layer-gnutar.test.ts.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, writeFileSync, readFileSync, readdirSync, lstatSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { applyLayer } from '../../src/layer/index.js';
import { DigestMismatchError, InvalidLayerError, QuotaExceededError, AbortedError, UnsafeLayerError, isGrootError } from '../../src/errors/index.js';
import { tar, type TarEntry } from '../helpers/tar.js';
import { compress, sha256 } from '../helpers/oci.js';
import { snapshot, hardlinkGroups, streamOf, tempDir, removeDir, openFds, comparable } from './layer-tree.js';

const LABEL = 'layer 1/1 sha256:test of unit-fixture';
// A v2 file capability: cap_net_raw permitted + effective.
const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const NS = 1_000_000_000n;

let work: string;
let n = 0;
beforeAll(() => { work = tempDir('layer-apply-'); });
afterAll(() => removeDir(work));

function freshDir(): string {
  const d = join(work, `d${n++}`);
  mkdirSync(d);
  return d;
}

async function apply(entries: TarEntry[] | Buffer, opts: Parameters<typeof applyLayer>[3] = {}, chunk = 64 * 1024) {
  const raw = Buffer.isBuffer(entries) ? entries : tar(entries);
  const dir = freshDir();
  const result = await applyLayer(streamOf(raw, chunk), dir, { label: LABEL, diffID: sha256(raw), digest: sha256(raw), size: raw.length }, opts);
  return { dir, result, raw };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

const everyType: TarEntry[] = [
  { name: './', type: 'dir', mode: 0o755, mtime: 1000000000 },
  { name: 'etc/', type: 'dir', mode: 0o755, mtime: 1500000000 },
  { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644, mtime: 1500000001 },
  { name: 'bin/', type: 'dir', mode: 0o755 },
  { name: 'bin/ping', content: '\x7fELF ping', mode: 0o4755, xattrs: { 'security.capability': CAP } },
  { name: 'bin/sgid', content: 'sgid', mode: 0o2755, uid: 1000, gid: 50 },
  { name: 'bin/suid-owned', content: 'suid', mode: 0o6750, uid: 1234, gid: 4321 },
  { name: 'tmp/', type: 'dir', mode: 0o1777 },
  { name: 'grp/', type: 'dir', mode: 0o775, mtime: 1600000000 }, // more than mkdir gives under umask 022
  { name: 'grp/f', content: 'g' },
  { name: 'etc/conf.d/', type: 'dir', mode: 0o750, mtime: 1200000000 },
  { name: 'ro/', type: 'dir', mode: 0o555, mtime: 1400000000 },
  { name: 'ro/inside', content: 'x', mode: 0o444 },
  { name: 'ro/sub/', type: 'dir', mode: 0o500, uid: 33, gid: 34, mtime: 1300000000 },
  { name: 'ro/sub/deep', content: 'y', mode: 0o400 },
  { name: 'home/user/', type: 'dir', mode: 0o700, uid: 1000, gid: 1000 },
  { name: 'home/user/file', content: 'z', uid: 1000, gid: 1000, mtime: 1234567890 },
  { name: 'lnk', type: 'symlink', linkname: 'etc/passwd', uid: 5, gid: 6, mtime: 1111111111 },
  { name: 'dangling', type: 'symlink', linkname: '/nonexistent/abs/path' },
  { name: 'hl', type: 'hardlink', linkname: 'etc/passwd' },
  { name: 'bin/hl-abs', type: 'hardlink', linkname: '/bin/ping' },
  { name: 'dev/', type: 'dir' },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev/loop9', type: 'block', devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
  { name: 'dev/big', type: 'char', devmajor: 4000, devminor: 1000000, mode: 0o600 },
  { name: 'run/fifo', type: 'fifo', mode: 0o620, uid: 7 },
  { name: 'x/user-xattr', content: 'u', xattrs: { 'user.comment': 'hello', 'trusted.t': Buffer.from([0, 1, 2, 0xff]) } },
  { name: 'dir-xattr/', type: 'dir', xattrs: { 'user.d': 'dv' } },
  { name: 'frac', content: 'f', pax: { mtime: '1700000000.123456789' } },
  { name: 'empty', content: '' },
  { name: 'uni/' + 'ü'.repeat(60) + '/名前-' + 'n'.repeat(120), content: 'long unicode' },
  { name: 'big', content: Buffer.alloc(300000, 'abcdefgh') },
];

describe('applyLayer: entries and attributes', () => {
  let dir: string;
  let tree: ReturnType<typeof snapshot>;
  let result: Awaited<ReturnType<typeof applyLayer>>;
  let raw: Buffer;

  beforeAll(async () => {
    ({ dir, result, raw } = await apply(everyType, {}, 1000));
    tree = snapshot(dir);
  });

  test('the result reports digests, sizes and counts', () => {
    expect(result).toEqual({
      digest: sha256(raw), diffID: sha256(raw), compressedBytes: raw.length, tarBytes: raw.length,
      unpackedBytes: everyType.reduce((s, e) => s + (e.type === undefined ? Buffer.byteLength(e.content ?? '') : 0), 0),
      entries: everyType.length,
      implicitDirs: expect.any(Array),
    });
  });

  test('regular files: content, mode (setuid/setgid kept after chown), owner, mtime', () => {
    expect(readFileSync(join(dir, 'etc/passwd'), 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
    expect(tree.get('etc/passwd')).toMatchObject({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: 1500000001n * NS });
    expect(tree.get('bin/ping')).toMatchObject({ mode: 0o4755, uid: 0 });
    expect(tree.get('bin/sgid')).toMatchObject({ mode: 0o2755, uid: 1000, gid: 50 });
    expect(tree.get('bin/suid-owned')).toMatchObject({ mode: 0o6750, uid: 1234, gid: 4321 });
    expect(tree.get('empty')).toMatchObject({ type: 'file', size: 0 });
    expect(tree.get('big')!.sha256).toBe(createHash('sha256').update(Buffer.alloc(300000, 'abcdefgh')).digest('hex'));
    expect(tree.get('uni/' + 'ü'.repeat(60) + '/名前-' + 'n'.repeat(120))).toMatchObject({ type: 'file', size: 12 });
  });

  test('PAX mtime keeps nanoseconds', () => {
    expect(tree.get('frac')!.mtimeNs).toBe(1700000000123456789n);
  });

  test('xattrs: binary security.capability (set after chown), user.*, on dirs too; trusted.* dropped (as containerd)', () => {
    expect(tree.get('bin/ping')!.xattrs).toEqual({ 'security.capability': CAP.toString('hex') });
    expect(tree.get('x/user-xattr')!.xattrs).toEqual({ 'user.comment': Buffer.from('hello').toString('hex') });
    expect(tree.get('dir-xattr')!.xattrs).toEqual({ 'user.d': Buffer.from('dv').toString('hex') });
  });

  test('directories: modes incl. sticky, owners and mtimes are applied after their children', () => {
    expect(tree.get('')).toMatchObject({ mode: 0o755, mtimeNs: 1000000000n * NS });
    expect(tree.get('tmp')).toMatchObject({ type: 'dir', mode: 0o1777 });
    expect(tree.get('grp')).toMatchObject({ type: 'dir', mode: 0o775, mtimeNs: 1600000000n * NS });
    expect(tree.get('etc/conf.d')).toMatchObject({ type: 'dir', mode: 0o750, uid: 0, mtimeNs: 1200000000n * NS });
    expect(tree.get('ro')).toMatchObject({ mode: 0o555, mtimeNs: 1400000000n * NS });
    expect(tree.get('ro/inside')).toMatchObject({ mode: 0o444 });
    expect(tree.get('ro/sub')).toMatchObject({ mode: 0o500, uid: 33, gid: 34, mtimeNs: 1300000000n * NS });
    expect(tree.get('ro/sub/deep')).toMatchObject({ type: 'file', mode: 0o400 });
    expect(tree.get('etc')).toMatchObject({ mtimeNs: 1500000000n * NS });
  });

  test('a parent the layer does not list is created 0755 root:root, and reported', () => {
    expect(result.implicitDirs).toEqual(['home', 'run', 'uni', 'uni/' + 'ü'.repeat(60), 'x']);
    expect(tree.get('home')).toMatchObject({ type: 'dir', mode: 0o755, uid: 0, gid: 0 });
    expect(tree.get('home/user')).toMatchObject({ mode: 0o700, uid: 1000, gid: 1000 });
    expect(tree.get('run')).toMatchObject({ type: 'dir', mode: 0o755 });
  });

  test('symlinks: target as given (never followed), owner and mtime of the link itself', () => {
    expect(tree.get('lnk')).toMatchObject({ type: 'symlink', target: 'etc/passwd', uid: 5, gid: 6, mtimeNs: 1111111111n * NS });
    expect(tree.get('dangling')).toMatchObject({ type: 'symlink', target: '/nonexistent/abs/path' });
  });

  test('hardlinks share the inode (absolute link names are inside the layer)', () => {
    expect(hardlinkGroups(tree)).toEqual([['bin/hl-abs', 'bin/ping'], ['etc/passwd', 'hl']]);
    expect(tree.get('bin/hl-abs')!.xattrs).toEqual({ 'security.capability': CAP.toString('hex') });
  });

  test('devices and fifos: type, numbers, mode, owner', () => {
    expect(tree.get('dev/null')).toMatchObject({ type: 'char', rdev: [1, 3], mode: 0o666 });
    expect(tree.get('dev/loop9')).toMatchObject({ type: 'block', rdev: [7, 9], mode: 0o660, gid: 6 });
    expect(tree.get('dev/big')).toMatchObject({ type: 'char', rdev: [4000, 1000000] });
    expect(tree.get('run/fifo')).toMatchObject({ type: 'fifo', mode: 0o620, uid: 7 });
  });

  test('gzip, zstd and uncompressed blobs of one tar unpack to the same tree', async () => {
    for (const c of ['gzip', 'zstd', 'none'] as const) {
      const blob = compress(raw, c);
      const d = freshDir();
      const r = await applyLayer(streamOf(blob, 4096), d, { label: LABEL, digest: sha256(blob), size: blob.length, diffID: sha256(raw),
        mediaType: `application/vnd.oci.image.layer.v1.tar${c === 'none' ? '' : '+' + c}` });
      expect(r).toMatchObject({ digest: sha256(blob), diffID: sha256(raw), compressedBytes: blob.length, tarBytes: raw.length });
      // Parents the layer does not list get the current time, as with GNU tar.
      expect(comparable(snapshot(d), { implicitDirs: true })).toEqual(comparable(tree, { implicitDirs: true }));
      expect(hardlinkGroups(snapshot(d))).toEqual(hardlinkGroups(tree));
    }
  });
});

describe('applyLayer: later entries replace earlier ones', () => {
  test('file over file, dir over file, file over dir, dir over dir merges, symlink/hardlink over file', async () => {
    const { dir, result: r } = await apply([
      { name: 'f', content: 'one' },
      { name: 'f', content: 'two', mode: 0o600 },
      { name: 'a', content: 'file first' },
      { name: 'a/', type: 'dir', mode: 0o750 },
      { name: 'a/child', content: 'c' },
      { name: 'd/', type: 'dir' },
      { name: 'd/gone', content: 'g' },
      { name: 'd', content: 'now a file' },
      { name: 'm/', type: 'dir', mode: 0o700 },
      { name: 'm/one', content: '1' },
      { name: 'm/', type: 'dir', mode: 0o751, mtime: 1200000000 },
      { name: 'm/two', content: '2' },
      { name: 's', content: 'file' },
      { name: 's', type: 'symlink', linkname: 'f' },
      { name: 'h', content: 'old' },
      { name: 'h', type: 'hardlink', linkname: 'f' },
      { name: 'self', content: 'me' },
      { name: 'self', type: 'hardlink', linkname: 'self' },
    ]);
    const t = snapshot(dir);
    expect(readFileSync(join(dir, 'f'), 'utf8')).toBe('two');
    expect(t.get('f')!.mode).toBe(0o600);
    // The root had no entry; 'a' was declared after being a file; 'd' became a file.
    expect(r.implicitDirs).toEqual(['.']);
    expect(t.get('a')).toMatchObject({ type: 'dir', mode: 0o750 });
    expect(t.get('a/child')!.type).toBe('file');
    expect(t.get('d')!.type).toBe('file');
    expect(t.has('d/gone')).toBe(false);
    expect(t.get('m')).toMatchObject({ type: 'dir', mode: 0o751, mtimeNs: 1200000000n * NS });
    expect(readdirSync(join(dir, 'm')).sort()).toEqual(['one', 'two']);
    expect(t.get('s')).toMatchObject({ type: 'symlink', target: 'f' });
    expect(hardlinkGroups(t)).toEqual([['f', 'h']]);
    expect(readFileSync(join(dir, 'self'), 'utf8')).toBe('me');
  });

  test('a file entry over a symlink replaces the link; the link target is untouched', async () => {
    const outside = join(work, `outside-${n++}`);
    writeFileSync(outside, 'precious');
    const { dir } = await apply([
      { name: 's', type: 'symlink', linkname: outside },
      { name: 's', content: 'replaced' },
    ]);
    expect(lstatSync(join(dir, 's')).isFile()).toBe(true);
    expect(readFileSync(join(dir, 's'), 'utf8')).toBe('replaced');
    expect(readFileSync(outside, 'utf8')).toBe('precious');
  });

  test('file names that are not UTF-8 are written byte for byte', async () => {
    const name = Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0x31, 0xe9, 0xff]); // "latin1" + é + 0xff
    const h = Buffer.from(tar([{ name: 'placeholder', content: 'bytes' }]));
    h.fill(0, 0, 100);
    name.copy(h, 0);
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += h[i]!;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    const { dir } = await apply(h);
    const names = readdirSync(dir, { encoding: 'buffer' });
    expect(names).toHaveLength(1);
    expect(names[0]!.equals(name)).toBe(true);
  });

  test('uid/gid mapping (stores made with mappings): every owner mapped, the root and implicit parents to the container\'s root', async () => {
    const idMap = { uid: [{ containerID: 0, hostID: 100000, size: 1000 }, { containerID: 1000, hostID: 300000, size: 10 }], gid: [{ containerID: 0, hostID: 200000, size: 65536 }] };
    const { dir } = await apply([{ name: 'd/', type: 'dir', uid: 1, gid: 2 }, { name: 'd/f', content: 'x', uid: 0, gid: 0 }, { name: 'd/l', type: 'symlink', linkname: 'f', uid: 3, gid: 3 },
      { name: 'd/suid', content: 'x', mode: 0o4755, uid: 1005, gid: 7 }, { name: 'implicit/deep/f', content: 'y', uid: 999, gid: 999 }], { idMap });
    const t = snapshot(dir);
    expect(t.get('d')).toMatchObject({ uid: 100001, gid: 200002 });
    expect(t.get('d/f')).toMatchObject({ uid: 100000, gid: 200000 });
    expect(t.get('d/l')).toMatchObject({ uid: 100003, gid: 200003 });
    expect(t.get('d/suid')).toMatchObject({ uid: 301005 - 1000, gid: 200007, mode: 0o4755 });
    expect(t.get('implicit/deep/f')).toMatchObject({ uid: 100999, gid: 200999 });
    expect(t.get('implicit')).toMatchObject({ uid: 100000, gid: 200000 });
    expect(lstatSync(dir)).toMatchObject({ uid: 100000, gid: 200000 });
  });

  test('uid/gid mapping: an owner outside the mappings refuses the layer, naming the entry and the id', async () => {
    const idMap = { uid: [{ containerID: 0, hostID: 100000, size: 65536 }], gid: [] };
    const e = await rejection(apply([{ name: 'ok', content: 'x' }, { name: 'far/away', content: 'x', uid: 70000, gid: 5 }], { idMap }));
    expect(e).toBeInstanceOf(InvalidLayerError);
    expect(e.message).toContain(LABEL);
    expect(e.message).toMatch(/entry "?far\/away"? is owned by 70000:5: uid 70000 is outside the store's uid mappings \(0:100000:65536\)/);
  });
});

describe('applyLayer: verification errors name the layer and what did not match', () => {
  const raw = tar([{ name: 'a/', type: 'dir' }, { name: 'a/f', content: randomBytes(100000) }, { name: 'b', content: 'y'.repeat(5000) }]);
  const gz = gzipSync(raw);

  test('wrong blob digest', async () => {
    const e = await rejection(applyLayer(streamOf(gz), freshDir(), { label: LABEL, digest: 'sha256:' + '0'.repeat(64) }));
    expect(e).toBeInstanceOf(DigestMismatchError);
    expect(e.message).toContain(LABEL);
    expect(e.message).toContain(`expected sha256:${'0'.repeat(64)}, got ${sha256(gz)}`);
  });

  test('wrong diffID', async () => {
    const e = await rejection(applyLayer(streamOf(gz), freshDir(), { label: LABEL, digest: sha256(gz), diffID: 'sha256:' + 'f'.repeat(64) }));
    expect(e).toBeInstanceOf(DigestMismatchError);
    expect(e.message).toMatch(new RegExp(`${LABEL}.*diffID.*expected sha256:f{64}, got ${sha256(raw)}`));
  });

  test('more bytes than the declared size stops early', async () => {
    const e = await rejection(applyLayer(streamOf(gz, 1000), freshDir(), { label: LABEL, size: 2000 }));
    expect(e).toBeInstanceOf(DigestMismatchError);
    expect(e.message).toContain(`${LABEL}: blob is larger than its declared size 2000 bytes`);
  });

  test('a truncated blob with known size reports the size mismatch', async () => {
    const cut = gz.subarray(0, gz.length - 100);
    const e = await rejection(applyLayer(streamOf(cut), freshDir(), { label: LABEL, size: gz.length, digest: sha256(gz), diffID: sha256(raw) }));
    expect(e).toBeInstanceOf(DigestMismatchError);
    expect(e.message).toContain(`${LABEL}: blob is ${cut.length} bytes, expected ${gz.length} (truncated)`);
  });

  test('a truncated gzip blob without expectations is still an error', async () => {
    const e = await rejection(applyLayer(streamOf(gz.subarray(0, gz.length - 100)), freshDir(), { label: LABEL }));
    expect(e).toBeInstanceOf(InvalidLayerError);
    expect(e.message).toMatch(new RegExp(`^${LABEL}: gzip stream is corrupt or truncated`));
  });

  test('a corrupt gzip blob', async () => {
    const bad = Buffer.from(gz);
    bad[200] ^= 0xff; bad[201] ^= 0xff;
    const e = await rejection(applyLayer(streamOf(bad), freshDir(), { label: LABEL }));
    expect(e).toBeInstanceOf(InvalidLayerError);
    expect(e.message).toContain(`${LABEL}: gzip stream is corrupt`);
  });

  test('a truncated zstd blob', async () => {
    const z = compress(raw, 'zstd');
    const e = await rejection(applyLayer(streamOf(z.subarray(0, z.length - 10)), freshDir(), { label: LABEL }));
    expect(e).toBeInstanceOf(InvalidLayerError);
    expect(e.message).toContain(`${LABEL}: zstd stream is corrupt or truncated`);
  });

  test('an uncompressed tar cut inside an entry', async () => {
    const e = await rejection(applyLayer(streamOf(raw.subarray(0, 5000)), freshDir(), { label: LABEL }));
    expect(e).toBeInstanceOf(InvalidLayerError);
    expect(e.message).toBe(`${LABEL}: tar stream is truncated: it ends inside an entry's data at offset 5000`);
  });

  test('a blob that is no tar at all, with a hint when the media type disagrees', async () => {
    const e = await rejection(applyLayer(streamOf(Buffer.alloc(4096, 'not a tar')), freshDir(),
      { label: LABEL, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }));
    expect(e).toBeInstanceOf(InvalidLayerError);
    expect(e.message).toMatch(new RegExp(`^${LABEL}: .*checksum.*\\(the media type says gzip, the content looks uncompressed\\)`));
  });

  test('a media type with a compression groot does not read', async () => {
    const e = await rejection(applyLayer(streamOf(gz), freshDir(), { label: LABEL, mediaType: 'application/vnd.oci.image.layer.v1.tar+bzip2' }));
    expect(e).toBeInstanceOf(InvalidLayerError);
    expect(e.message).toMatch(/bzip2 layers are not supported/);
  });

  test('a media type that disagrees with valid content: the content decides', async () => {
    const d = freshDir();
    await applyLayer(streamOf(raw), d, { label: LABEL, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', diffID: sha256(raw) });
    expect(readFileSync(join(d, 'b'), 'utf8')).toBe('y'.repeat(5000));
  });

  test('an error from the blob stream itself names the layer', async () => {
    const src = new Readable({ read() { this.destroy(new Error('connection reset')); } });
    const e = await rejection(applyLayer(src, freshDir(), { label: LABEL }));
    expect(e).toBeInstanceOf(InvalidLayerError);
    expect(e.message).toBe(`${LABEL}: reading the layer failed: connection reset`);
  });

  test('a bad entry stops a stalled blob at once (no waiting for more bytes)', async () => {
    const bad = gzipSync(tar([{ name: '../escape', content: 'x' }]));
    let sent = false;
    const src = new Readable({ read() { if (!sent) { sent = true; this.push(bad.subarray(0, bad.length - 8)); } } }); // then silence
    const e = await rejection(applyLayer(src, freshDir(), { label: LABEL }));
    expect(e).toBeInstanceOf(UnsafeLayerError);
    expect(src.destroyed).toBe(true);
  });

  test('no file handle stays open after failures (file streams are closed)', async () => {
    const file = join(work, `blob-${n++}`);
    writeFileSync(file, gz);
    await applyLayer(createReadStream(file), freshDir(), { label: LABEL, digest: sha256(gz) }); // warm up lazily opened fds
    const before = openFds();
    for (const expect_ of [{ digest: 'sha256:' + '1'.repeat(64) }, { diffID: 'sha256:' + '2'.repeat(64) }, { size: 10 }, { maxUnpackedBytes: 1000 }]) {
      const { maxUnpackedBytes, ...ex } = expect_ as { maxUnpackedBytes?: number };
      await rejection(applyLayer(createReadStream(file, { highWaterMark: 1024 }), freshDir(), { label: LABEL, ...ex }, { maxUnpackedBytes }));
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(openFds()).toBe(before);
  });
});

describe('applyLayer: limits, abort, progress', () => {
  const files = Array.from({ length: 50 }, () => randomBytes(100000));
  const raw = tar(files.map((content, i) => ({ name: `f${i}`, content })));
  const gz = gzipSync(raw);

  test('maxUnpackedBytes stops as soon as the uncompressed stream passes it', async () => {
    let read = 0;
    const e = await rejection(applyLayer(streamOf(gz, 1024), freshDir(), { label: LABEL }, { maxUnpackedBytes: 300000, onBytes: (b) => { read += b; } }));
    expect(e).toBeInstanceOf(QuotaExceededError);
    expect(isGrootError(e, 'GROOT_QUOTA_EXCEEDED')).toBe(true);
    expect(e.message).toBe(`${LABEL}: unpacks to more than the allowed 300000 bytes`);
    expect(read).toBeLessThan(gz.length);
  });

  test('onBytes reports every compressed byte', async () => {
    let read = 0;
    await applyLayer(streamOf(gz, 1000), freshDir(), { label: LABEL }, { onBytes: (b) => { read += b; } });
    expect(read).toBe(gz.length);
  });

  test('abort mid-stream rejects with AbortedError and stops reading', async () => {
    const ac = new AbortController();
    let pushed = 0;
    const src = new Readable({
      read() {
        if (pushed >= gz.length) return this.push(null);
        const part = gz.subarray(pushed, pushed + 4096);
        pushed += part.length;
        if (pushed > 20000) ac.abort();
        setTimeout(() => this.push(part), 1);
      },
    });
    const e = await rejection(applyLayer(src, freshDir(), { label: LABEL }, { signal: ac.signal }));
    expect(e).toBeInstanceOf(AbortedError);
    expect(e.message).toContain(LABEL);
    expect(pushed).toBeLessThan(gz.length);
    expect(src.destroyed).toBe(true);
  });

  test('an already aborted signal rejects before reading', async () => {
    const src = streamOf(gz);
    const e = await rejection(applyLayer(src, freshDir(), { label: LABEL }, { signal: AbortSignal.abort() }));
    expect(e).toBeInstanceOf(AbortedError);
    expect(src.destroyed).toBe(true);
  });

  test('several layers unpack in parallel, each into its own dir', async () => {
    const dirs = [freshDir(), freshDir(), freshDir()];
    const results = await Promise.all(dirs.map((d, i) => applyLayer(streamOf(compress(raw, i === 1 ? 'zstd' : 'gzip'), 8192), d, { label: `L${i}`, diffID: sha256(raw) })));
    for (const [i, d] of dirs.entries()) {
      expect(results[i]!.entries).toBe(50);
      expect(readFileSync(join(d, 'f49')).equals(files[49]!)).toBe(true);
    }
  });

  test('an empty blob is an empty layer', async () => {
    const d = freshDir();
    const r = await applyLayer(streamOf(Buffer.alloc(0)), d, { label: LABEL, size: 0 });
    expect(r).toEqual({ entries: 0, compressedBytes: 0, tarBytes: 0, unpackedBytes: 0, digest: sha256(Buffer.alloc(0)), diffID: sha256(Buffer.alloc(0)), implicitDirs: ['.'] });
    expect(existsSync(d) && readdirSync(d)).toEqual([]);
  });
});

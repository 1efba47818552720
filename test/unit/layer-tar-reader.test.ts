import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TarReader, type TarHeader } from '../../src/layer/tar-reader.js';
import { TarFormatError, numeric, paxTime, parsePaxRecords } from '../../src/layer/tar-fields.js';
import { tar, tarEntry } from '../helpers/tar.js';

interface Seen { h: TarHeader; data: Buffer }

/** Read a whole archive, pushing it in pieces of `step` bytes (or the given sizes). */
function read(buf: Buffer, step: number | number[] = buf.length || 1): Seen[] {
  const seen: Seen[] = [];
  let cur: Buffer[] = [];
  const r = new TarReader({
    entry: (h) => { cur = []; seen.push({ h, data: Buffer.alloc(0) }); },
    data: (c) => cur.push(Buffer.from(c)),
    entryEnd: () => { seen[seen.length - 1]!.data = Buffer.concat(cur); },
  });
  let i = 0, k = 0;
  while (i < buf.length) {
    const n = Array.isArray(step) ? step[k++ % step.length]! : step;
    r.push(buf.subarray(i, i + n));
    i += n;
  }
  r.end();
  return seen;
}

function readError(buf: Buffer): Error {
  try {
    read(buf);
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the archive to be refused');
}

/** A raw 512-byte header with exactly the given fields (for forms the fixture writer does not make). */
function rawHeader(f: { name: string; type?: string; size?: number | Buffer; mode?: number; uid?: number | Buffer; mtime?: number | Buffer;
  magic?: 'ustar' | 'gnu' | 'v7'; prefix?: string; linkname?: string; signedChecksum?: boolean; devmajor?: number; devminor?: number;
  star?: boolean; gid?: number | Buffer; raw?: (h: Buffer) => void }): Buffer {
  const h = Buffer.alloc(512);
  h.write(f.name, 0, 100, 'latin1');
  const oct = (n: number, w: number) => n.toString(8).padStart(w - 1, '0') + '\0';
  const put = (v: number | Buffer | undefined, off: number, w: number, dflt: number) => {
    if (Buffer.isBuffer(v)) v.copy(h, off);
    else h.write(oct(v ?? dflt, w), off, 'latin1');
  };
  put(f.mode, 100, 8, 0o644);
  put(f.uid, 108, 8, 0);
  put(f.gid, 116, 8, 0);
  put(f.size, 124, 12, 0);
  put(f.mtime, 136, 12, 1700000000);
  h.write(f.type ?? '0', 156, 'latin1');
  if (f.linkname) h.write(f.linkname, 157, 100, 'latin1');
  const magic = f.magic ?? 'ustar';
  if (magic === 'ustar') h.write('ustar\x0000', 257, 'latin1');
  if (magic === 'gnu') h.write('ustar  \0', 257, 'latin1');
  if (f.prefix) h.write(f.prefix, 345, 155, 'latin1');
  if (f.devmajor !== undefined) h.write(oct(f.devmajor, 8), 329, 'latin1');
  if (f.devminor !== undefined) h.write(oct(f.devminor, 8), 337, 'latin1');
  if (f.star) h.write('tar\0', 508, 'latin1');
  f.raw?.(h);
  h.write('        ', 148, 'latin1');
  let sum = 0;
  for (const b of h) sum += f.signedChecksum && b > 127 ? b - 256 : b;
  h.write(oct(sum, 7) + ' ', 148, 'latin1');
  return h;
}

function body(content: Buffer | string): Buffer {
  const b = Buffer.from(content);
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}

const END = Buffer.alloc(1024);

describe('tar reader: ustar and PAX from the fixture writer', () => {
  const entries = [
    { name: 'd/', type: 'dir' as const, mode: 0o1777, uid: 12, gid: 34, mtime: 1600000000 },
    { name: 'd/f.txt', content: 'hello world', mode: 0o4755 },
    { name: 'd/big', content: Buffer.alloc(70000, 0xab) },
    { name: 'd/l', type: 'symlink' as const, linkname: '../x/y' },
    { name: 'd/h', type: 'hardlink' as const, linkname: 'd/f.txt' },
    { name: 'dev/c', type: 'char' as const, devmajor: 1, devminor: 3 },
    { name: 'dev/b', type: 'block' as const, devmajor: 259, devminor: 70000 },
    { name: 'dev/p', type: 'fifo' as const },
    { name: 'long/' + 'n'.repeat(180) + '/ü-名前.txt', content: 'x' },
    { name: 'caps', content: 'bin', xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0x00, 0xff, 0xfe, 0x80, 0, 0]), 'user.empty': '' } },
    { name: 'link-long', type: 'symlink' as const, linkname: 't/'.repeat(80) + 'end' },
  ];
  const archive = tar(entries);

  test.each([['whole', archive.length], ['1 byte at a time', 1], ['odd pieces', [7, 511, 513, 1, 4096, 3]]])('pushed %s', (_n, step) => {
    const seen = read(archive, step as number | number[]);
    expect(seen.map((s) => s.h.type)).toEqual(['dir', 'file', 'file', 'symlink', 'hardlink', 'char', 'block', 'fifo', 'file', 'file', 'symlink']);
    const [d, f, big, l, h, c, b, p, long, caps, ll] = seen;
    expect(d!.h).toMatchObject({ name: 'd/', mode: 0o1777, uid: 12, gid: 34, mtime: { sec: 1600000000, nsec: 0 }, size: 0 });
    expect(f!.h).toMatchObject({ name: 'd/f.txt', mode: 0o4755, size: 11 });
    expect(f!.data.toString()).toBe('hello world');
    expect(big!.data.equals(Buffer.alloc(70000, 0xab))).toBe(true);
    expect(l!.h.linkname).toBe('../x/y');
    expect(h!.h.linkname).toBe('d/f.txt');
    expect(c!.h).toMatchObject({ devmajor: 1, devminor: 3 });
    expect(b!.h).toMatchObject({ devmajor: 259, devminor: 70000 });
    expect(p!.h.type).toBe('fifo');
    // Names are byte strings: the UTF-8 bytes survive one char per byte.
    expect(Buffer.from(long!.h.name, 'latin1').toString('utf8')).toBe(entries[8]!.name);
    expect(caps!.h.xattrs).toEqual([
      ['security.capability', Buffer.from([1, 0, 0, 2, 0x00, 0xff, 0xfe, 0x80, 0, 0])],
      ['user.empty', Buffer.alloc(0)],
    ]);
    expect(ll!.h.linkname).toBe(entries[10]!.linkname);
  });

  test('header offsets point at each entry header', () => {
    const seen = read(tar([{ name: 'a', content: 'x'.repeat(600) }, { name: 'b' }]));
    expect(seen.map((s) => s.h.offset)).toEqual([0, 512 + 1024]);
  });
});

describe('tar reader: header forms', () => {
  test('ustar prefix field is joined to the name', () => {
    const seen = read(Buffer.concat([rawHeader({ name: 'file.txt', prefix: 'usr/share/' + 'p'.repeat(120), size: 2 }), body('hi'), END]));
    expect(seen[0]!.h.name).toBe('usr/share/' + 'p'.repeat(120) + '/file.txt');
  });

  test('GNU magic: the prefix area holds atime/ctime, not a name prefix', () => {
    const h = rawHeader({ name: 'g.txt', magic: 'gnu', prefix: '14520016560\x0014520016560\x00' });
    expect(read(Buffer.concat([h, END]))[0]!.h.name).toBe('g.txt');
  });

  test('GNU magic with a ustar prefix where atime/ctime belong (written by Go before 1.8) keeps the prefix, as Go reads it', () => {
    const h = rawHeader({ name: 'foo', magic: 'gnu', prefix: 'a'.repeat(99) });
    expect(read(Buffer.concat([h, END]))[0]!.h.name).toBe('a'.repeat(99) + '/foo');
  });

  test('star headers: the prefix is 131 bytes, atime/ctime follow it', () => {
    const h = rawHeader({ name: 'small.txt', prefix: 'dir', star: true });
    expect(read(Buffer.concat([h, END]))[0]!.h.name).toBe('dir/small.txt');
    const full = rawHeader({ name: 'f', prefix: 'p'.repeat(131), star: true });
    expect(read(Buffer.concat([full, END]))[0]!.h.name).toBe('p'.repeat(131) + '/f');
  });

  test('v7 header: no magic, a trailing slash with type NUL is a directory, device fields are ignored', () => {
    const seen = read(Buffer.concat([
      rawHeader({ name: 'olddir/', type: '\0', magic: 'v7' }),
      rawHeader({ name: 'olddir/f', type: '\0', magic: 'v7', size: 3 }), body('abc'),
      rawHeader({ name: 'olddir/s', type: '2', magic: 'v7', linkname: 'f' }),
      END,
    ]));
    expect(seen.map((s) => [s.h.name, s.h.type])).toEqual([['olddir/', 'dir'], ['olddir/f', 'file'], ['olddir/s', 'symlink']]);
    expect(seen[1]!.data.toString()).toBe('abc');
  });

  test('base-256 numbers (positive and negative)', () => {
    const size = Buffer.alloc(12); size[0] = 0x80; size.writeUIntBE(5, 6, 6);
    const uid = Buffer.alloc(8); uid[0] = 0x80; uid.writeUInt32BE(4294967294, 4);
    const mtime = Buffer.alloc(12, 0xff); // -1
    const seen = read(Buffer.concat([rawHeader({ name: 'b256', size, uid, mtime }), body('12345'), END]));
    expect(seen[0]!.h).toMatchObject({ size: 5, uid: 4294967294, mtime: { sec: -1, nsec: 0 } });
    expect(seen[0]!.data.toString()).toBe('12345');
    const big = Buffer.alloc(12); big[0] = 0x80; big.writeUIntBE(8 * 2 ** 30, 6, 6);
    expect(numeric(big, 0, 12, 'size')).toBe(8 * 2 ** 30);
    const huge = Buffer.alloc(12, 0x7f); huge[0] = 0x80;
    expect(() => numeric(huge, 0, 12, 'size')).toThrow(/out of range/);
  });

  test('octal fields with spaces and NULs around the digits; the digits end at a NUL (as Go)', () => {
    const f = Buffer.from('  0755 \0');
    expect(numeric(f, 0, 8, 'mode')).toBe(0o755);
    expect(numeric(Buffer.from('\0 12\x0034 '), 0, 8, 'uid')).toBe(0o12);
    expect(() => numeric(Buffer.from('12x4\0\0\0\0'), 0, 8, 'mode')).toThrow(TarFormatError);
  });

  test('a checksum computed with signed bytes (old tars) is accepted', () => {
    const h = rawHeader({ name: 'caf\xe9', signedChecksum: true });
    expect(read(Buffer.concat([h, END]))[0]!.h.name).toBe('caf\xe9');
  });

  test('a bad checksum is refused, naming the offset', () => {
    const good = rawHeader({ name: 'a', size: 1 });
    const bad = Buffer.from(good); bad[0] = 0x62; // 'b', checksum now wrong
    const e = readError(Buffer.concat([rawHeader({ name: 'ok' }), bad, body('x'), END]));
    expect(e).toBeInstanceOf(TarFormatError);
    expect(e.message).toMatch(/header at offset 512 has a bad checksum/);
  });

  test('random bytes are not a tar stream', () => {
    expect(readError(Buffer.alloc(1024, 'garbage!')).message).toMatch(/bad checksum|not an octal number/);
  });

  test('mode bits beyond 07777 (file type bits some tars add) are dropped', () => {
    expect(read(Buffer.concat([rawHeader({ name: 'm', mode: 0o104755 }), END]))[0]!.h.mode).toBe(0o4755);
  });

  test('header-only types ignore a size field (as Go\'s archive/tar does)', () => {
    const seen = read(Buffer.concat([rawHeader({ name: 'd/', type: '5', size: 4096 }), rawHeader({ name: 'f', size: 1 }), body('z'), END]));
    expect(seen.map((s) => [s.h.name, s.h.size])).toEqual([['d/', 0], ['f', 1]]);
  });

  test('unknown entry types are refused, naming the type', () => {
    expect(readError(Buffer.concat([rawHeader({ name: 's', type: '9' }), END])).message).toMatch(/unknown type '9'/);
    expect(readError(Buffer.concat([rawHeader({ name: 's', type: '\x01' }), END])).message).toMatch(/unknown type '\\x01'/);
  });
});

describe('tar reader: GNU long names', () => {
  const longName = 'dir/' + 'a'.repeat(200) + '/file';
  const longLink = 'target/' + 'b'.repeat(300);

  test('L and K records set the next entry\'s name and link target', () => {
    const seen = read(Buffer.concat([
      rawHeader({ name: '././@LongLink', type: 'L', size: longName.length + 1, magic: 'gnu' }), body(longName + '\0'),
      rawHeader({ name: '././@LongLink', type: 'K', size: longLink.length + 1, magic: 'gnu' }), body(longLink + '\0'),
      rawHeader({ name: longName.slice(0, 99), type: '2', linkname: longLink.slice(0, 99), magic: 'gnu' }),
      rawHeader({ name: 'short', magic: 'gnu' }),
      END,
    ]), 100);
    expect(seen.map((s) => [s.h.name, s.h.linkname])).toEqual([[longName, longLink], ['short', '']]);
  });

  test('archives made by GNU tar --format=gnu and --format=posix read back the same', () => {
    const dir = mkdtempSync(join(tmpdir(), 'layer-tar-'));
    try {
      const src = join(dir, 'src');
      const deep = join(src, 'x'.repeat(120), 'y'.repeat(120));
      mkdirSync(deep, { recursive: true });
      writeFileSync(join(deep, 'z'.repeat(150)), 'deep content');
      symlinkSync('q'.repeat(140), join(src, 'lnk'));
      for (const format of ['gnu', 'posix', 'ustar']) {
        if (format === 'ustar') rmSync(join(src, 'lnk')); // ustar cannot hold a 140-byte link target
        if (format === 'ustar') continue;
        execFileSync('tar', [`--format=${format}`, '-C', src, '-cf', join(dir, `${format}.tar`), '.']);
        const seen = read(readFileSync(join(dir, `${format}.tar`)), 4000);
        const file = seen.find((s) => s.h.type === 'file')!;
        expect(file.h.name).toBe(`./${'x'.repeat(120)}/${'y'.repeat(120)}/${'z'.repeat(150)}`);
        expect(file.data.toString()).toBe('deep content');
        expect(seen.find((s) => s.h.type === 'symlink')!.h.linkname).toBe('q'.repeat(140));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tar reader: PAX', () => {
  test('x records override header fields; mtime keeps its fraction', () => {
    const entry = tarEntry({ name: 'short', content: 'abc', pax: { path: 'a/much/longer/name', uid: '1000000', gid: '2000000', mtime: '1700000000.123456789', atime: '1', uname: 'who' } });
    const seen = read(Buffer.concat([entry, END]));
    expect(seen[0]!.h).toMatchObject({ name: 'a/much/longer/name', uid: 1000000, gid: 2000000, mtime: { sec: 1700000000, nsec: 123456789 } });
    expect(seen[0]!.data.toString()).toBe('abc');
  });

  test('a PAX size overrides the header size (files over 8 GiB use it)', () => {
    const pax = Buffer.from('11 size=20\n');
    const seen = read(Buffer.concat([
      rawHeader({ name: 'PaxHeaders/f', type: 'x', size: pax.length }), body(pax),
      rawHeader({ name: 'f', size: 0 }), body('x'.repeat(20)),
      END,
    ]));
    expect(seen[0]!.h.size).toBe(20);
    expect(seen[0]!.data.toString()).toBe('x'.repeat(20));
  });

  test('binary xattr values stay bytes, never decoded as text', () => {
    const value = Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x80, 0x3d, 0xc3, 0x28]); // includes "\n", "=", NUL, bad UTF-8
    const seen = read(Buffer.concat([tarEntry({ name: 'f', xattrs: { 'security.capability': value, 'trusted.x': 'v' } }), END]));
    expect(seen[0]!.h.xattrs).toEqual([['security.capability', value], ['trusted.x', Buffer.from('v')]]);
  });

  test('LIBARCHIVE.xattr records (base64 value, URL-encoded name)', () => {
    const seen = read(Buffer.concat([tarEntry({ name: 'f', pax: { 'LIBARCHIVE.xattr.user.a%3Db': Buffer.from([0, 1, 2]).toString('base64') } }), END]));
    expect(seen[0]!.h.xattrs).toEqual([['user.a=b', Buffer.from([0, 1, 2])]]);
  });

  test('global g records are read but apply to no entry (Go returns them as entries; containerd skips them)', () => {
    const g = Buffer.from('12 uid=4242\n16 mtime=1234.5\n');
    const seen = read(Buffer.concat([
      rawHeader({ name: 'pax_global_header', type: 'g', size: g.length }), body(g),
      tarEntry({ name: 'one' }),
      tarEntry({ name: 'two', pax: { uid: '7' } }),
      END,
    ]));
    expect(seen.map((s) => [s.h.name, s.h.uid, s.h.mtime.sec])).toEqual([['one', 0, 1700000000], ['two', 7, 1700000000]]);
    const bad = Buffer.from('5 a=b\n');
    expect(readError(Buffer.concat([rawHeader({ name: 'g', type: 'g', size: bad.length }), body(bad), END])).message).toMatch(/malformed PAX record/);
  });

  test('PAX times: fractions and negative values', () => {
    expect(paxTime(Buffer.from('1.000000001'), 'mtime')).toEqual({ sec: 1, nsec: 1 });
    expect(paxTime(Buffer.from('-1.25'), 'mtime')).toEqual({ sec: -2, nsec: 750000000 });
    expect(paxTime(Buffer.from('5'), 'mtime')).toEqual({ sec: 5, nsec: 0 });
    expect(() => paxTime(Buffer.from('5e3'), 'mtime')).toThrow(TarFormatError);
  });

  test('malformed records are refused', () => {
    for (const bad of ['5 a=b\n', '99 path=x\n', 'x path=y\n', '10 pathy\n\n', '9 =value\n']) {
      expect(() => parsePaxRecords(Buffer.from(bad), new Map())).toThrow(TarFormatError);
    }
  });

});

describe('tar reader: end of archive and truncation', () => {
  const two = tar([{ name: 'a', content: 'x'.repeat(700) }, { name: 'b', content: 'y' }]);
  const noEnd = two.subarray(0, two.length - 1024);

  test('two zero blocks end the archive; anything after them is ignored', () => {
    const withJunk = Buffer.concat([two, Buffer.from('trailing junk that is not a header')]);
    expect(read(withJunk).map((s) => s.h.name)).toEqual(['a', 'b']);
  });

  test('one zero block, or none, at the end of the stream is a clean end (as Go\'s reader)', () => {
    expect(read(Buffer.concat([noEnd, Buffer.alloc(512)])).length).toBe(2);
    expect(read(noEnd).length).toBe(2);
    expect(read(Buffer.alloc(0)).length).toBe(0);
  });

  test('a header after a single zero block is refused', () => {
    const e = readError(Buffer.concat([noEnd.subarray(0, 1536), Buffer.alloc(512), noEnd.subarray(1536)]));
    expect(e.message).toMatch(/follows a zero block/);
  });

  test.each([
    ['inside a header', 100],
    ['inside an entry\'s data', 512 + 300],
  ])('a stream ending %s is truncated', (where, len) => {
    const e = readError(two.subarray(0, len));
    expect(e).toBeInstanceOf(TarFormatError);
    expect(e.message).toContain(`ends ${where} at offset ${len}`);
  });

  test('a stream ending inside the padding after an entry\'s data ends cleanly (as Go\'s reader)', () => {
    expect(read(two.subarray(0, 512 + 700 + 10)).map((s) => s.h.name)).toEqual(['a']);
  });

  test('a stream ending after a PAX header, before its entry, ends cleanly (Go: "a valid tar file"); inside one it is truncated', () => {
    const entry = tarEntry({ name: 'p', xattrs: { 'user.a': 'b' } });
    expect(read(entry.subarray(0, 1024))).toEqual([]);
    expect(readError(entry.subarray(0, 520)).message).toMatch(/inside an extended header/);
    expect(readError(Buffer.concat([entry.subarray(0, 1024), Buffer.from('x')])).message).toMatch(/inside a header/);
  });
});

/** What a sparse entry reads as: the data pieces placed at their offsets in a file of h.size zeros. */
function expand(s: Seen & { pieces?: [number, Buffer][] }): Buffer {
  const out = Buffer.alloc(s.h.size);
  for (const [at, b] of s.pieces ?? []) b.copy(out, at);
  return out;
}

/** Like read(), keeping each data piece's offset. */
function readSparse(buf: Buffer, step: number = buf.length || 1): (Seen & { pieces: [number, Buffer][] })[] {
  const seen: (Seen & { pieces: [number, Buffer][] })[] = [];
  const r = new TarReader({
    entry: (h) => { seen.push({ h, data: Buffer.alloc(0), pieces: [] }); },
    data: (c, at) => {
      const s = seen[seen.length - 1]!;
      const prev = s.pieces[s.pieces.length - 1];
      s.pieces.push([at ?? (prev ? prev[0] + prev[1].length : 0), Buffer.from(c)]);
    },
    entryEnd: () => {},
  });
  for (let i = 0; i < buf.length; i += step) r.push(buf.subarray(i, i + step));
  r.end();
  return seen;
}

/** An old GNU 'S' header (and its extension blocks) for the given segments. */
function oldGnuSparse(name: string, realSize: number, segs: [number, number][]): Buffer {
  const data = segs.reduce((n, [, l]) => n + l, 0);
  const oct = (n: number, w: number) => n.toString(8).padStart(w - 1, '0') + '\0';
  const slot = (b: Buffer, at: number, [o, l]: [number, number]) => { b.write(oct(o, 12), at, 'latin1'); b.write(oct(l, 12), at + 12, 'latin1'); };
  const rest = segs.slice(4);
  const h = rawHeader({ name, type: 'S', magic: 'gnu', size: data, raw: (b) => {
    segs.slice(0, 4).forEach((s, i) => slot(b, 386 + i * 24, s));
    if (rest.length > 0) b[482] = 1;
    b.write(oct(realSize, 12), 483, 'latin1');
  } });
  const ext: Buffer[] = [];
  for (let i = 0; i < rest.length; i += 21) {
    const b = Buffer.alloc(512);
    rest.slice(i, i + 21).forEach((s, j) => slot(b, j * 24, s));
    if (i + 21 < rest.length) b[504] = 1;
    ext.push(b);
  }
  return Buffer.concat([h, ...ext]);
}

describe('tar reader: GNU sparse files', () => {
  const segs: [number, number][] = [[1, 3], [6, 0], [6, 2], [4096, 5]];
  const content = Buffer.from('abcdeFGHIJ');
  const want = (() => { const b = Buffer.alloc(5000); b.write('abc', 1); b.write('de', 6); b.write('FGHIJ', 4096); return b; })();

  test('old GNU format: segments in the header, real size at byte 483; data handed over at its offsets', () => {
    for (const step of [1, 100, 4096]) {
      const seen = readSparse(Buffer.concat([oldGnuSparse('sp', 5000, segs), body(content), tarEntry({ name: 'after', content: 'z' }), END]), step);
      expect(seen.map((s) => [s.h.name, s.h.type, s.h.size])).toEqual([['sp', 'file', 5000], ['after', 'file', 1]]);
      expect(seen[0]!.h.sparse).toEqual(segs.map(([offset, length]) => ({ offset, length })));
      expect(expand(seen[0]!).equals(want)).toBe(true);
    }
  });

  test('old GNU format with extension blocks (more than 4 segments)', () => {
    const many: [number, number][] = Array.from({ length: 60 }, (_, i) => [i * 10, 1]);
    const data = Buffer.from(Array.from({ length: 60 }, (_, i) => 65 + (i % 26)));
    const seen = readSparse(Buffer.concat([oldGnuSparse('many', 600, many), body(data), END]), 512);
    expect(seen[0]!.h.sparse).toHaveLength(60);
    const out = expand(seen[0]!);
    for (let i = 0; i < 60; i++) expect(out[i * 10]).toBe(65 + (i % 26));
    expect(out.length).toBe(600);
  });

  test('PAX 0.0 (repeated offset/numbytes records) and 0.1 (GNU.sparse.map, GNU.sparse.name)', () => {
    const rec00 = Buffer.concat([
      rawPax([['GNU.sparse.size', '5000'], ['GNU.sparse.numblocks', '4'],
        ...segs.flatMap(([o, l]) => [['GNU.sparse.offset', String(o)], ['GNU.sparse.numbytes', String(l)]] as [string, string][])]),
      rawHeader({ name: 'sp00', size: content.length }), body(content),
    ]);
    const v01 = tarEntry({ name: 'GNUSparseFile.1/sp01', content, pax: { 'GNU.sparse.size': '5000', 'GNU.sparse.numblocks': '4', 'GNU.sparse.name': 'real/sp01', 'GNU.sparse.map': segs.flat().join(',') } });
    const seen = readSparse(Buffer.concat([rec00, v01, END]), 300);
    expect(seen.map((s) => [s.h.name, s.h.size])).toEqual([['sp00', 5000], ['real/sp01', 5000]]);
    for (const s of seen) expect(expand(s).equals(want)).toBe(true);
  });

  test('PAX 1.0: the map is text at the start of the data (tokens may span blocks, leading zeros allowed)', () => {
    const map = '0'.repeat(510) + '4\n' + segs.flat().map((n) => '00' + n).join('\n') + '\n';
    const data = Buffer.concat([body(map), content]);
    const e = tarEntry({ name: 'GNUSparseFile.9/x', content: data, pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'sp10', 'GNU.sparse.realsize': '5000' } });
    for (const step of [1, 511, 100000]) {
      const seen = readSparse(Buffer.concat([e, tarEntry({ name: 'next', content: 'n' }), END]), step);
      expect(seen.map((s) => [s.h.name, s.h.size])).toEqual([['sp10', 5000], ['next', 1]]);
      expect(expand(seen[0]!).equals(want)).toBe(true);
    }
  });

  test('sparse files with no data at all (all holes), and with zero-length segments at the end', () => {
    const hole = tarEntry({ name: 'GNUSparseFile.0/h', content: body('0\n'), pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'hole', 'GNU.sparse.realsize': '1000000' } });
    const tail = oldGnuSparse('tail', 100, [[0, 2], [100, 0]]);
    const seen = readSparse(Buffer.concat([hole, tail, body('hi'), END]));
    expect(seen.map((s) => [s.h.name, s.h.size, s.h.sparse!.length])).toEqual([['hole', 1000000, 0], ['tail', 100, 2]]);
    expect(expand(seen[1]!).subarray(0, 3).toString('latin1')).toBe('hi\0');
  });

  test('an unknown PAX sparse version is a plain file, as in Go', () => {
    const seen = readSparse(Buffer.concat([tarEntry({ name: 'v2', content: 'plain', pax: { 'GNU.sparse.major': '2', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': '99' } }), END]));
    expect(seen[0]!.h).toMatchObject({ name: 'v2', size: 5 });
    expect(seen[0]!.h.sparse).toBeUndefined();
  });

  test.each([
    ['segments out of order', () => Buffer.concat([oldGnuSparse('s', 100, [[10, 1], [5, 1]]), body('ab')]), /out of order/],
    ['overlapping segments', () => Buffer.concat([oldGnuSparse('s', 100, [[0, 5], [4, 1]]), body('abcdef')]), /overlap/],
    ['a segment past the real size', () => Buffer.concat([oldGnuSparse('s', 10, [[8, 5]]), body('abcde')]), /ends past the file's size 10/],
    ['less data than the map lists', () => Buffer.concat([tarEntry({ name: 's', content: 'ab', pax: { 'GNU.sparse.size': '9', 'GNU.sparse.numblocks': '1', 'GNU.sparse.map': '0,3' } })]), /lists 3 bytes of data but the entry has 2/],
    ['more data than the map lists', () => Buffer.concat([tarEntry({ name: 's', content: 'abcd', pax: { 'GNU.sparse.size': '9', 'GNU.sparse.numblocks': '1', 'GNU.sparse.map': '0,3' } })]), /lists 3 bytes of data but the entry has 4/],
    ['a 0.1 map with the wrong count', () => tarEntry({ name: 's', content: 'ab', pax: { 'GNU.sparse.size': '9', 'GNU.sparse.numblocks': '2', 'GNU.sparse.map': '0,2' } }), /2 numbers for "2" segments/],
    ['a 0.1 map with a space', () => tarEntry({ name: 's', content: 'ab', pax: { 'GNU.sparse.size': '9', 'GNU.sparse.numblocks': '1', 'GNU.sparse.map': '0, 2' } }), /not two numbers/],
    ['0.0 records out of order', () => Buffer.concat([rawPax([['GNU.sparse.size', '9'], ['GNU.sparse.numbytes', '2'], ['GNU.sparse.offset', '0']]), rawHeader({ name: 's', size: 2 }), body('ab')]), /out of order/],
    ['a 1.0 map with an empty number', () => tarEntry({ name: 's', content: body('1\n2\n\n'), pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': '9' } }), /not two numbers/],
    ['a 1.0 map that runs past the data', () => tarEntry({ name: 's', content: body('1\n2'), pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': '9' } }), /map runs past the entry's data/],
    ['a 1.0 map with no room', () => tarEntry({ name: 's', content: '1\n0\n1\n', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': '9' } }), /no room for its map/],
    ['sparse records on a directory', () => tarEntry({ name: 'd/', type: 'dir', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' } }), /sparse file records but is not a regular file/],
    ['an old GNU sparse header without GNU magic', () => rawHeader({ name: 's', type: 'S' }), /without the GNU header format/],
    ['a bad octal number in the map', () => resum(oldGnuSparse('s', 9, [[0, 1]]).fill(0x39, 386, 390)), /sparse offset field is not an octal number/],
  ])('refused: %s', (_what, make, message) => {
    const e = readError(Buffer.concat([make(), END]));
    expect(e).toBeInstanceOf(TarFormatError);
    expect(e.message).toMatch(message);
  });

  test('a stream ending inside old GNU extension blocks is truncated', () => {
    const many: [number, number][] = Array.from({ length: 30 }, (_, i) => [i * 10, 1]);
    expect(readError(oldGnuSparse('m', 300, many).subarray(0, 700)).message).toMatch(/inside a sparse file's map/);
  });
});

/** A PAX 'x' header with the records in this order (repeated keys allowed). */
function rawPax(records: [string, string][]): Buffer {
  const rec = (k: string, v: string) => {
    const b = ` ${k}=${v}\n`;
    let len = b.length + 1;
    while (String(len).length + b.length !== len) len++;
    return `${len}${b}`;
  };
  const text = Buffer.from(records.map(([k, v]) => rec(k, v)).join(''));
  return Buffer.concat([rawHeader({ name: 'PaxHeaders/x', type: 'x', size: text.length }), body(text)]);
}

/** Recompute the checksum of the header at the start of `b` (after editing it). */
function resum(b: Buffer): Buffer {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

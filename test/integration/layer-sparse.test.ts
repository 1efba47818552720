// Sparse files as GNU tar archives them (`tar --sparse`, old GNU format and PAX formats
// 0.0, 0.1 and 1.0), from real sparse files (truncate + writes at offsets): applyLayer
// writes the same content and size as GNU tar extracts, and keeps the holes (st_blocks).
// The PAX forms are also compared with `umoci unpack` (Go's archive/tar reads them as
// dense files; the old GNU form it refuses, so it is not compared there).
import { execFileSync } from 'node:child_process';
import { createReadStream, closeSync, mkdirSync, openSync, readSync, writeSync, ftruncateSync, lstatSync, readFileSync, writeFileSync, utimesSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { applyLayer } from '../../src/layer/index.js';
import { buildImage, sha256 } from '../helpers/oci.js';
import { walkTree, diffTrees } from '../helpers/tree.js';
import { snapshot, comparable, streamOf, tempDir, removeDir } from './layer-tree.js';

const MiB = 1 << 20;
const GiB = 1 << 30;

let work: string;
let src: string; // small sparse files
let big: string; // one 4 GiB sparse file

/** A sparse file of `size` bytes with `pieces` written at their offsets (the rest never written). */
function sparseFile(path: string, size: number, pieces: [number, Buffer][]): void {
  const fd = openSync(path, 'w', 0o640);
  try {
    ftruncateSync(fd, size);
    for (const [at, b] of pieces) writeSync(fd, b, 0, b.length, at);
  } finally {
    closeSync(fd);
  }
  utimesSync(path, 1600000000, 1600000000);
}

/** Bytes the file takes on disk. */
function allocated(path: string): number {
  return lstatSync(path).blocks * 512;
}

function hashFile(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function readAt(path: string, at: number, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(n);
    readSync(fd, b, 0, n, at);
    return b;
  } finally {
    closeSync(fd);
  }
}

const many: [number, Buffer][] = Array.from({ length: 40 }, (_, i) => [i * 64 * 1024 + (i % 3) * 100, randomBytes(4096 + i)]);
const bigPieces: [number, Buffer][] = [[0, Buffer.from('start')], [2 * GiB + 12345, randomBytes(70000)], [4 * GiB - 4096, Buffer.alloc(4096, 0x61)]];

beforeAll(() => {
  work = tempDir('layer-sparse-');
  src = join(work, 'src');
  big = join(work, 'big');
  mkdirSync(src);
  mkdirSync(big);
  sparseFile(join(src, 'three-pieces'), 10 * MiB, [[4096, Buffer.from('HELLO')], [5 * MiB, Buffer.from('WORLD')], [10 * MiB - 3, Buffer.from('END')]]);
  sparseFile(join(src, 'ends-in-a-hole'), MiB + 100, [[0, randomBytes(8192)]]);
  sparseFile(join(src, 'all-hole'), 3 * MiB, []);
  sparseFile(join(src, 'forty-pieces'), 40 * 64 * 1024 + 5000, many);
  const deep = join(src, 'x'.repeat(120));
  mkdirSync(deep);
  sparseFile(join(deep, 's'.repeat(150)), 2 * MiB, [[MiB, Buffer.from('long name')]]);
  writeFileSync(join(src, 'dense'), 'not sparse at all');
  sparseFile(join(big, 'four-gib'), 4 * GiB, bigPieces);
});
afterAll(() => removeDir(work));

const formats: [string, string[]][] = [
  ['gnu', ['--format=gnu']],
  ['posix 0.0', ['--format=posix', '--sparse-version=0.0']],
  ['posix 0.1', ['--format=posix', '--sparse-version=0.1']],
  ['posix 1.0', ['--format=posix', '--sparse-version=1.0']],
];

describe.each(formats)('GNU tar --sparse %s', (name, flags) => {
  const tag = name.replace(/[ .]/g, '');

  test('unpacks to what GNU tar extracts, with the holes kept', async () => {
    const archive = join(work, `${tag}.tar`);
    execFileSync('tar', ['--sparse', ...flags, '-C', src, '-cf', archive, '.']);
    // The archive really holds sparse entries (and is small).
    expect(readFileSync(archive).length).toBeLessThan(2 * MiB);
    const gnu = join(work, `gnu-${tag}`), ours = join(work, `ours-${tag}`);
    mkdirSync(gnu);
    mkdirSync(ours);
    execFileSync('tar', ['--numeric-owner', '-xpf', archive, '-C', gnu]);
    const r = await applyLayer(createReadStream(archive, { highWaterMark: 1000 }), ours, { label: `sparse ${name}` });
    expect(r.entries).toBe(8);

    expect(comparable(snapshot(ours))).toEqual(comparable(snapshot(gnu)));
    const three = join(ours, 'three-pieces');
    expect(lstatSync(three).size).toBe(10 * MiB);
    expect(readAt(three, 4096, 5).toString()).toBe('HELLO');
    expect(readAt(three, 10 * MiB - 3, 3).toString()).toBe('END');
    expect(hashFile(join(ours, 'forty-pieces'))).toBe(hashFile(join(src, 'forty-pieces')));
    expect(lstatSync(join(ours, 'ends-in-a-hole')).size).toBe(MiB + 100);
    expect(lstatSync(join(ours, 'all-hole')).size).toBe(3 * MiB);
    expect(readFileSync(join(ours, 'x'.repeat(120), 's'.repeat(150))).subarray(MiB, MiB + 9).toString()).toBe('long name');
    expect(readFileSync(join(ours, 'dense'), 'utf8')).toBe('not sparse at all');
    // Holes stay holes: each file takes about what its data takes.
    expect(allocated(three)).toBeLessThanOrEqual(3 * 64 * 1024);
    expect(allocated(join(ours, 'all-hole'))).toBe(0);
    expect(allocated(join(ours, 'ends-in-a-hole'))).toBeLessThanOrEqual(64 * 1024);
    expect(allocated(join(ours, 'forty-pieces'))).toBeLessThanOrEqual(40 * 64 * 1024);
    expect(allocated(join(ours, 'forty-pieces'))).toBeLessThan(allocated(join(src, 'forty-pieces')) + 40 * 8192);
    // What the volume takes is the data, not the holes.
    expect(r.unpackedBytes).toBeLessThan(MiB);
  });

  test('a 4 GiB sparse file streams through in little memory and stays sparse', async () => {
    const archive = join(work, `big-${tag}.tar`);
    execFileSync('tar', ['--sparse', ...flags, '-C', big, '-cf', archive, '.']);
    expect(readFileSync(archive).length).toBeLessThan(MiB);
    const ours = join(work, `ours-big-${tag}`);
    mkdirSync(ours);
    const rss = process.memoryUsage.rss();
    await applyLayer(createReadStream(archive), ours, { label: `big sparse ${name}` });
    expect(process.memoryUsage.rss() - rss).toBeLessThan(64 * MiB);
    const f = join(ours, 'four-gib');
    expect(lstatSync(f).size).toBe(4 * GiB);
    expect(allocated(f)).toBeLessThan(MiB);
    for (const [at, b] of bigPieces) expect(readAt(f, at, b.length).equals(b)).toBe(true);
    expect(readAt(f, GiB, 4096).equals(Buffer.alloc(4096))).toBe(true);
    expect(lstatSync(f).mtimeMs).toBe(1600000000 * 1000);
  });
});

test('the PAX sparse archives unpack to what `umoci unpack` makes of them (dense there, same content)', async () => {
  for (const [name, flags] of formats.slice(1)) {
    const tag = `umoci-${name.replace(/[ .]/g, '')}`;
    const raw = execFileSync('tar', ['--sparse', ...flags, '--owner=0', '--group=0', '--numeric-owner', '-C', src, '-cf', '-', '.'], { maxBuffer: 64 * MiB });
    const layout = join(work, `${tag}-oci`);
    await buildImage(layout, { tag: 'v1', layers: [raw], compression: 'gzip' });
    const bundle = join(work, `${tag}-bundle`);
    execFileSync('umoci', ['unpack', '--image', `${layout}:v1`, bundle], { stdio: 'pipe' });
    const ours = join(work, `${tag}-ours`);
    mkdirSync(ours);
    await applyLayer(streamOf(raw, 3000), ours, { label: tag, diffID: sha256(raw) });
    expect(diffTrees(walkTree(ours), walkTree(join(bundle, 'rootfs')), ['groot', 'umoci'])).toEqual([]);
  }
});

// Big and odd layers, fed as streams generated on the fly (nothing held whole in memory):
// 200k tiny files and a 4 GiB file of zeros unpack with bounded memory (peak RSS sampled
// while unpacking); paths longer than Linux allows fail with a clear error and leave a
// directory that can still be removed.
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, existsSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { applyLayer } from '../../src/layer/index.js';
import { InvalidLayerError } from '../../src/errors/index.js';
import { tar } from '../helpers/tar.js';
import { streamOf, tempDir, removeDir } from './layer-tree.js';
import { rawHeader, body, END } from './layer-raw.js';

const MiB = 1 << 20;
let work: string;
let n = 0;
beforeAll(() => { work = tempDir('layer-robust-'); });
afterAll(() => removeDir(work));

function freshDir(): string {
  const d = join(work, `d${n++}`);
  mkdirSync(d);
  return d;
}

/** A stream of the pieces a generator yields, batched into ~256 KiB chunks. */
function generated(gen: () => Generator<Buffer>): Readable {
  const it = gen();
  return new Readable({
    read() {
      const parts: Buffer[] = [];
      let size = 0;
      while (size < 256 * 1024) {
        const r = it.next();
        if (r.done) break;
        parts.push(r.value);
        size += r.value.length;
      }
      this.push(parts.length ? Buffer.concat(parts) : null);
    },
  });
}

/** Run `f` while sampling RSS; returns its result and the peak growth over the start. */
async function peakRss<T>(f: () => Promise<T>): Promise<{ value: T; growth: number }> {
  global.gc?.();
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 20);
  try {
    const value = await f();
    peak = Math.max(peak, process.memoryUsage.rss());
    if (process.env.LAYER_PRINT_RSS) process.stderr.write(`peak RSS growth ${((peak - start) / MiB).toFixed(0)} MiB\n`);
    return { value, growth: peak - start };
  } finally {
    clearInterval(timer);
  }
}

test('200k tiny files in 200 directories: every file lands, memory stays bounded', async () => {
  const DIRS = 200, PER = 1000;
  const content = Buffer.from('tiny file\n');
  const dir = freshDir();
  const { value: r, growth } = await peakRss(() => applyLayer(generated(function* () {
    for (let d = 0; d < DIRS; d++) {
      yield rawHeader({ name: `d${d}/`, type: '5', mode: 0o755 });
      for (let f = 0; f < PER; f++) yield Buffer.concat([rawHeader({ name: `d${d}/f${f}`, size: content.length }), body(content)]);
    }
    yield END;
  }), dir, { label: '200k files' }));
  expect(r.entries).toBe(DIRS * (PER + 1));
  expect(readdirSync(join(dir, 'd0')).length).toBe(PER);
  expect(readdirSync(join(dir, 'd199')).length).toBe(PER);
  expect(readFileSync(join(dir, 'd123', 'f999'), 'utf8')).toBe('tiny file\n');
  // Per-entry state is kept only for directories: RSS must not grow with the file count.
  expect(growth).toBeLessThan(150 * MiB);
  rmSync(dir, { recursive: true, force: true });
}, 300_000);

function* zeroFile(name: string, size: number, tail: Buffer): Generator<Buffer> {
  yield rawHeader({ name, size });
  const zeros = Buffer.alloc(MiB);
  for (let left = size - tail.length; left > 0; left -= MiB) yield left >= MiB ? zeros : zeros.subarray(0, left);
  yield body(tail);
  yield END;
}

test('a 4 GiB file of zeros streams through in bounded memory and costs no disk (holes)', async () => {
  const size = 4 * 1024 * MiB;
  const dir = freshDir();
  const tail = Buffer.from('the last bytes are data');
  const { value: r, growth } = await peakRss(() => applyLayer(generated(() => zeroFile('zeros', size, tail)), dir, { label: '4 GiB of zeros' }));
  expect(r.tarBytes).toBeGreaterThan(size);
  const st = lstatSync(join(dir, 'zeros'));
  expect(st.size).toBe(size);
  expect(st.blocks * 512).toBeLessThan(MiB);
  const fd = openSync(join(dir, 'zeros'), 'r');
  try {
    const end = Buffer.alloc(tail.length + 10);
    readSync(fd, end, 0, end.length, size - end.length);
    expect(end.equals(Buffer.concat([Buffer.alloc(10), tail]))).toBe(true);
  } finally {
    closeSync(fd);
  }
  expect(growth).toBeLessThan(200 * MiB);
}, 300_000);

test('a gzip layer with a 1 GiB file of zeros: the decoder keeps memory bounded too', async () => {
  const size = 1024 * MiB;
  const gz = await new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    generated(() => zeroFile('zeros', size, Buffer.from('end'))).pipe(createGzip({ level: 1 }))
      .on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve(Buffer.concat(parts))).on('error', reject);
  });
  const dir = freshDir();
  const { growth } = await peakRss(() => applyLayer(streamOf(gz, 64 * 1024), dir, { label: '1 GiB of zeros, gzip' }));
  expect(lstatSync(join(dir, 'zeros')).size).toBe(size);
  expect(growth).toBeLessThan(200 * MiB);
}, 300_000);

describe('paths Linux cannot hold', () => {
  test('a path longer than PATH_MAX in the store is refused, naming its length; what was unpacked can be removed', async () => {
    const dir = freshDir();
    const deep = Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(250, 'd')).join('/');
    let error: Error | undefined;
    try {
      await applyLayer(streamOf(tar([{ name: 'ok', content: 'fine' }, { name: `${deep}/file`, content: 'too deep' }])), dir, { label: 'deep' });
    } catch (e) {
      error = e as Error;
    }
    expect(error).toBeInstanceOf(InvalidLayerError);
    expect(error!.message).toMatch(new RegExp(`^deep: entry ".*/file" would be a path of \\d+ bytes in the store; Linux allows at most 4095 \\(PATH_MAX\\)$`));
    rmSync(dir, { recursive: true });
    expect(existsSync(dir)).toBe(false);
  });

  test('a path just under PATH_MAX is fine', async () => {
    const dir = freshDir();
    const room = 4095 - dir.length - 1;
    const parts: string[] = [];
    for (let left = room; left > 0;) {
      const len = Math.min(200, left - (parts.length ? 1 : 0));
      if (len <= 0) break;
      parts.push('p'.repeat(len));
      left -= len + (parts.length > 1 ? 1 : 0);
    }
    const name = parts.join('/');
    expect(dir.length + 1 + name.length).toBeLessThanOrEqual(4095);
    await applyLayer(streamOf(tar([{ name, content: 'at the edge' }])), dir, { label: 'edge' });
    expect(readFileSync(join(dir, name), 'utf8')).toBe('at the edge');
  });

  test('a name component longer than 255 bytes is refused, naming the limit', async () => {
    const dir = freshDir();
    await expect(applyLayer(streamOf(tar([{ name: `a/${'n'.repeat(256)}`, content: 'x' }])), dir, { label: 'long name' }))
      .rejects.toThrow(/^long name: entry "a\/n+" has a name component of 256 bytes; file systems allow at most 255$/);
  });
});

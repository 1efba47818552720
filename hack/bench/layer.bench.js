// applyLayer alone (no store, no mounts): how fast one layer blob unpacks into a directory.
//   small: BENCH_LAYER_FILES (20000) files of 0.5-4 KiB in 400 directories, gzip
//   big:   4 files of 64 MiB (half text-like, half random), uncompressed and gzip
// Median of BENCH_LAYER_RUNS (5) runs each; prints ms, MB/s of tar stream, files/s.
// GROOT_DIST picks the compiled code to measure (default: dist/), so two builds can be
// compared on the same machine: `GROOT_DIST=/tmp/old-dist node hack/bench/layer.bench.js`.
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = resolve(process.env.GROOT_DIST ?? join(repo, 'dist'));
const { applyLayer } = await import(pathToFileURL(join(dist, 'layer', 'index.js')).href);
const RUNS = Number(process.env.BENCH_LAYER_RUNS ?? 5);
const FILES = Number(process.env.BENCH_LAYER_FILES ?? 20000);

function prng(seed) {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
}

/** A minimal ustar writer: enough for plain files and directories with short names. */
function header(name, type, size, mode) {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'latin1');
  const oct = (n, w) => n.toString(8).padStart(w - 1, '0') + '\0';
  h.write(oct(mode, 8), 100); h.write(oct(0, 8), 108); h.write(oct(0, 8), 116);
  h.write(oct(size, 12), 124); h.write(oct(946684800, 12), 136);
  h.write('        ', 148); h.write(type, 156); h.write('ustar\x0000', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(oct(sum, 7) + ' ', 148);
  return h;
}
function tarOf(entries) {
  const parts = [];
  for (const e of entries) {
    if (e.dir) { parts.push(header(e.name, '5', 0, 0o755)); continue; }
    parts.push(header(e.name, '0', e.data.length, 0o644), e.data);
    const pad = (512 - (e.data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function smallLayer() {
  const rand = prng(7);
  const entries = [];
  for (let d = 0; d < 400; d++) entries.push({ name: `usr/share/d${d}/`, dir: true });
  for (let i = 0; i < FILES; i++) {
    const size = 512 + ((rand() * 3584) | 0);
    const data = Buffer.alloc(size);
    for (let j = 0; j < size; j++) data[j] = 97 + ((rand() * 16) | 0);
    entries.push({ name: `usr/share/d${i % 400}/f${i}`, data });
  }
  return tarOf(entries);
}

function bigLayer() {
  const rand = prng(11);
  const entries = [];
  for (let i = 0; i < 4; i++) {
    const data = Buffer.alloc(64 << 20);
    if (i % 2) for (let j = 0; j < data.length; j += 4) data.writeUInt32LE((rand() * 4294967296) >>> 0, j);
    else for (let j = 0; j < data.length; j++) data[j] = 97 + ((rand() * 8) | 0);
    entries.push({ name: `big${i}`, data });
  }
  return tarOf(entries);
}

function streamOf(buf, chunk = 256 * 1024) {
  let i = 0;
  return new Readable({ read() { this.push(i < buf.length ? buf.subarray(i, (i += chunk)) : null); } });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[(s.length - 1) >> 1]; };

const work = mkdtempSync(join(tmpdir(), 'groot-layer-bench-'));
try {
  const small = smallLayer();
  const big = bigLayer();
  const cases = [
    ['small files, gzip', gzipSync(small, { level: 6 }), small.length, FILES],
    ['big files, none', big, big.length, 4],
    ['big files, gzip', gzipSync(big, { level: 1 }), big.length, 4],
  ];
  console.log(`  code: ${dist}`);
  let n = 0;
  for (const [name, blob, tarBytes, files] of cases) {
    const times = [];
    for (let r = 0; r < RUNS; r++) {
      const dir = join(work, `d${n++}`);
      mkdirSync(dir);
      const t0 = process.hrtime.bigint();
      await applyLayer(streamOf(blob), dir, { label: name });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      rmSync(dir, { recursive: true, force: true });
    }
    const ms = median(times);
    console.log(`  ${name.padEnd(18)} ${ms.toFixed(0).padStart(7)} ms  ${(tarBytes / 1e6 / (ms / 1000)).toFixed(0).padStart(5)} MB/s  ${(files / (ms / 1000)).toFixed(0).padStart(7)} files/s   (median of ${RUNS}: ${times.map((t) => t.toFixed(0)).join(' ')})`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

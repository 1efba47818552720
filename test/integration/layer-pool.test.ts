// The unpack pool (worker threads) against applyLayer on this thread: same trees, same
// results, same errors (class, code, layer label), the blob's own error when the blob
// fails, aborts, one budget across workers, logs reaching the main thread, and a pool
// that keeps working after each failure; unpack() sharing layers between this thread and
// the workers. Every case checks no file descriptor is left open.
import { jest } from '@jest/globals';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { Readable, addAbortSignal } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { applyLayer, createBudget, UnpackPool } from '../../src/layer/index.js';
import { SPAWN_MIN_BYTES } from '../../src/layer/pool.js';
import { DigestMismatchError, InvalidLayerError, QuotaExceededError, AbortedError, UnsafeLayerError, StoreError, RegistryError } from '../../src/errors/index.js';
import { configureLogging } from '../../src/log/index.js';
import { tar, type TarEntry } from '../helpers/tar.js';
import { buildImage, compress, sha256 } from '../helpers/oci.js';
import { snapshot, streamOf, tempDir, removeDir, openFds, comparable } from './layer-tree.js';

const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

let work: string;
let n = 0;
let pool: UnpackPool;
let fds0: number;
beforeAll(async () => {
  work = tempDir('layer-pool-');
  pool = new UnpackPool(2);
  // Both workers started (each has descriptors of its own event loop) before fds are counted.
  const raw = tar([{ name: 'warm', content: 'x' }]);
  await Promise.all([0, 1].map(() => pool.apply(async () => streamOf(raw), freshDir(), { label: 'warm-up' })));
});
afterAll(async () => { await pool.close(); removeDir(work); });
beforeEach(() => { fds0 = openFds(); });

function freshDir(): string {
  const d = join(work, `d${n++}`);
  mkdirSync(d);
  return d;
}

/**
 * `buf` as a slow blob: a `chunk`-byte part every `delayMs`. `sent()` says how far it got;
 * `onPart(sent)` runs as each part goes, `onEnd` when the last has.
 */
function trickle(buf: Buffer, chunk: number, delayMs: number, hooks: { onPart?: (sent: number) => void; onEnd?: () => void } = {}): Readable & { sent: () => number } {
  let sent = 0;
  const r = new Readable({
    read() {
      if (sent >= buf.length) { hooks.onEnd?.(); this.push(null); return; }
      const part = buf.subarray(sent, sent + chunk);
      sent += part.length;
      hooks.onPart?.(sent);
      setTimeout(() => this.push(part), delayMs);
    },
  });
  return Object.assign(r, { sent: () => sent });
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try { await p; } catch (e) { return e as Error; }
  throw new Error('expected a rejection');
}

/** Until every live worker of `p` has loaded its code (a booting worker weighs extra in the balance). */
async function workersReady(p: UnpackPool): Promise<void> {
  const lanes = () => (p as unknown as { workers: { ready: boolean; dead: boolean }[] }).workers.filter((w) => !w.dead);
  for (let i = 0; i < 500 && !lanes().every((w) => w.ready); i++) await new Promise((r) => setTimeout(r, 10));
  expect(lanes().every((w) => w.ready)).toBe(true);
}

/** Let the worker's closes land before counting descriptors. */
async function expectNoLeak(): Promise<void> {
  for (let i = 0; i < 50 && openFds() > fds0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(openFds()).toBeLessThanOrEqual(fds0);
}

const rich: TarEntry[] = [
  { name: './', type: 'dir', mode: 0o755, mtime: 1000000000 },
  { name: 'etc/', type: 'dir', mode: 0o755, mtime: 1500000000 },
  { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644, mtime: 1500000001 },
  { name: 'bin/ping', content: '\x7fELF ping', mode: 0o4755, xattrs: { 'security.capability': CAP } },
  { name: 'bin/suid-owned', content: 'suid', mode: 0o6750, uid: 1234, gid: 4321 },
  { name: 'ro/', type: 'dir', mode: 0o555, mtime: 1400000000 },
  { name: 'ro/inside', content: 'x', mode: 0o444 },
  { name: 'lib/big.so', content: randomBytes(3 << 20), mode: 0o755 },
  { name: 'lib/zeros', content: Buffer.alloc(1 << 20), mode: 0o644 },
  { name: 'lib/link.so', type: 'symlink', linkname: 'big.so' },
  { name: 'lib/hard.so', type: 'hardlink', linkname: 'lib/big.so' },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'run/fifo', type: 'fifo', mode: 0o600 },
  { name: 'var/.wh.gone', content: '' },
  { name: 'opt/.wh..wh..opq', content: '' },
  { name: 'implicit/parent/file', content: 'deep' },
];

test('a layer unpacked in a worker equals the same layer unpacked on this thread', async () => {
  const raw = tar(rich);
  const gz = compress(raw, 'gzip');
  const expect_ = { label: 'layer 1/1 rich', digest: sha256(gz), diffID: sha256(raw), size: gz.length };
  const [a, b] = [freshDir(), freshDir()];
  const inThread = await applyLayer(streamOf(gz, 7777), a, expect_);
  let progress = 0;
  const inWorker = await pool.apply(async () => streamOf(gz, 7777), b, expect_, { onBytes: (k) => { progress += k; } });
  expect(inWorker).toEqual(inThread);
  expect(progress).toBe(gz.length);
  // Whiteouts and implicit parents are made now: their mtimes differ by the time between the two unpacks.
  const tree = (d: string) => { const t = comparable(snapshot(d), { implicitDirs: true }); delete t['var/gone']!.mtimeNs; return t; };
  expect(tree(b)).toEqual(tree(a));
  expect(readFileSync(join(b, 'implicit/parent/file'), 'utf8')).toBe('deep');
  await expectNoLeak();
});

test('a layer whose source the worker can open (remote) is read by the worker: open() is never called, progress counts it', async () => {
  const layout = join(work, 'layout');
  const img = await buildImage(layout, { tag: 'v1', layers: [{ entries: rich, compression: 'gzip' }] });
  const l = img.layers[0]!;
  const layer = { digest: l.digest, diffID: l.diffID, size: l.size, mediaType: l.mediaType, chainID: l.diffID, verifiable: true };
  const expect_ = { label: 'layer 1/1 remote', digest: l.digest, diffID: l.diffID, size: l.size };
  const remote = { from: { source: `oci://${layout}:v1`, options: {} }, layer };
  const open = jest.fn(async () => streamOf(Buffer.alloc(0)));
  let progress = 0;
  const [a, b] = [freshDir(), freshDir()];
  const inWorker = await pool.apply(open, a, expect_, { remote, onBytes: (k) => { progress += k; } });
  expect(open).not.toHaveBeenCalled();
  expect(progress).toBe(l.size);
  const inThread = await applyLayer(streamOf(readFileSync(join(layout, 'blobs', 'sha256', l.digest.slice(7)))), b, expect_);
  expect(inWorker).toEqual(inThread);
  // A blob the worker cannot open fails as the source says, naming it.
  const missing = { ...remote, layer: { ...layer, digest: 'sha256:' + 'e'.repeat(64) } };
  const e = await rejection(pool.apply(open, freshDir(), { label: 'layer 1/1 gone' }, { remote: missing }));
  expect(e.name).toBe('InvalidImageError');
  expect(e.message).toContain(`layer blob sha256:${'e'.repeat(64)} is missing`);
  expect(open).not.toHaveBeenCalled();
  await expectNoLeak();
});

test('a store\'s id mappings reach the worker: owners mapped there as on this thread, an unmapped one refused the same', async () => {
  const idMap = { uid: [{ containerID: 0, hostID: 100000, size: 65536 }], gid: [{ containerID: 0, hostID: 200000, size: 65536 }] };
  const raw = tar([{ name: 'd/', type: 'dir', uid: 5, gid: 6 }, { name: 'd/f', content: 'x', uid: 1000, gid: 1000 }]);
  const [a, b] = [freshDir(), freshDir()];
  await pool.apply(async () => streamOf(raw), a, { label: 'mapped' }, { idMap });
  await applyLayer(streamOf(raw), b, { label: 'mapped' }, { idMap });
  const owners = (d: string) => [...snapshot(d)].map(([p, e]) => [p, e.uid, e.gid]);
  expect(owners(a)).toEqual(owners(b));
  expect(owners(a)).toEqual([['', 100000, 200000], ['d', 100005, 200006], ['d/f', 101000, 201000]]);
  const far = tar([{ name: 'far', content: 'x', uid: 70000 }]);
  const e = await rejection(pool.apply(async () => streamOf(far), freshDir(), { label: 'mapped' }, { idMap }));
  const here = await rejection(applyLayer(streamOf(far), freshDir(), { label: 'mapped' }, { idMap }));
  expect(e).toBeInstanceOf(InvalidLayerError);
  expect(e.message).toBe(here.message);
  await expectNoLeak();
});

test('many layers through a pool of two all land, each in its own dir', async () => {
  const layers = Array.from({ length: 6 }, (_, i) => tar([{ name: `l${i}/f`, content: randomBytes(200_000 + i) }]));
  const dirs = layers.map(() => freshDir());
  const results = await Promise.all(layers.map((raw, i) => pool.apply(async () => streamOf(compress(raw, i % 2 ? 'zstd' : 'gzip'), 4096), dirs[i]!, { label: `L${i}`, diffID: sha256(raw) })));
  results.forEach((r, i) => {
    expect(r.diffID).toBe(sha256(layers[i]!));
    expect(readFileSync(join(dirs[i]!, `l${i}/f`)).length).toBe(200_000 + i);
  });
  await expectNoLeak();
});

test.each([
  ['a path outside the layer', () => tar([{ name: '../escape', content: 'x' }]), {}, UnsafeLayerError, /\.\./],
  ['a wrong digest', () => tar([{ name: 'f', content: 'x' }]), { digest: 'sha256:' + '0'.repeat(64) }, DigestMismatchError, /digest mismatch/],
  ['a corrupt gzip stream', () => Buffer.concat([compress(tar([{ name: 'f', content: randomBytes(50_000) }]), 'gzip').subarray(0, 2000), Buffer.alloc(3000, 7)]), {}, InvalidLayerError, /gzip/],
] as const)('%s fails in the worker with the same error class, naming the layer', async (_what, make, extra, cls, msg) => {
  const blob = make();
  const dir = freshDir();
  const e = await rejection(pool.apply(async () => streamOf(blob, 1000), dir, { label: 'layer 3/4 sha256:bad of test', ...extra }));
  expect(e).toBeInstanceOf(cls);
  expect(e.message).toContain('layer 3/4 sha256:bad of test');
  expect(e.message).toMatch(msg);
  await expectNoLeak();
  rmSync(dir, { recursive: true }); // the caller can remove what was written
  // The worker is fine for the next layer.
  const raw = tar([{ name: 'ok', content: 'ok' }]);
  await pool.apply(async () => streamOf(raw), freshDir(), { label: 'next', diffID: sha256(raw) });
});

test('a blob that fails midway rejects naming the layer, after the worker stopped', async () => {
  const gz = compress(tar([{ name: 'f', content: randomBytes(2 << 20) }]), 'gzip');
  const boom = Object.assign(new Error('connection reset by registry'), { code: 'ECONNRESET' });
  let sent = 0;
  const blob = new Readable({
    read() {
      if (sent > 600_000) { this.destroy(boom); return; }
      const part = gz.subarray(sent, sent + 65536);
      sent += part.length;
      this.push(part);
    },
  });
  const dir = freshDir();
  const e = await rejection(pool.apply(async () => blob, dir, { label: 'L' }));
  expect(openFds()).toBeLessThanOrEqual(fds0); // the worker's file was closed before the rejection, not after
  // As applyLayer says it on the main thread: the layer named, the blob's error as the cause.
  expect(e).toBeInstanceOf(InvalidLayerError);
  expect(e.message).toBe('L: reading the layer failed: connection reset by registry');
  expect((e as Error & { cause?: unknown }).cause).toBe(boom);
  // A registry's own error (a GrootError) stands as it is.
  const regErr = new RegistryError('registry answered 500 for the blob', { status: 500 });
  const failing = new Readable({ read() { this.destroy(regErr); } });
  expect(await rejection(pool.apply(async () => failing, freshDir(), { label: 'L' }))).toBe(regErr);
  await expectNoLeak();
  rmSync(dir, { recursive: true });
});

test('abort stops the worker and the read; the pool goes on', async () => {
  const ac = new AbortController();
  const gz = compress(tar([{ name: 'f', content: randomBytes(4 << 20) }]), 'gzip');
  const blob = trickle(gz, 16384, 1, { onPart: (sent) => { if (sent > 100_000) ac.abort(); } });
  const e = await rejection(pool.apply(async () => blob, freshDir(), { label: 'layer 2/2 x' }, { signal: ac.signal }));
  expect(e).toBeInstanceOf(AbortedError);
  expect(blob.sent()).toBeLessThan(gz.length);
  expect(blob.destroyed).toBe(true);
  // Already aborted: open is never called.
  let opened = false;
  const e2 = await rejection(pool.apply(async () => { opened = true; return streamOf(gz); }, freshDir(), { label: 'L' }, { signal: AbortSignal.abort() }));
  expect(e2).toBeInstanceOf(AbortedError);
  expect(opened).toBe(false);
  // And the next layer unpacks.
  const raw = tar([{ name: 'after', content: 'a' }]);
  await expect(pool.apply(async () => streamOf(raw), freshDir(), { label: 'after', diffID: sha256(raw) })).resolves.toMatchObject({ diffID: sha256(raw) });
  await expectNoLeak();
});

test('layers in different workers draw from one budget', async () => {
  const raws = [0, 1, 2].map((i) => tar([{ name: `f${i}`, content: randomBytes(2 << 20) }]));
  const budget = createBudget(5 << 20, 5 << 20);
  const big = new UnpackPool(3);
  try {
    const settled = await Promise.allSettled(raws.map((raw) => big.apply(async () => streamOf(compress(raw, 'gzip'), 8192), freshDir(), { label: 'L' }, { budget })));
    const failed = settled.filter((s) => s.status === 'rejected');
    expect(failed.length).toBeGreaterThanOrEqual(1);
    for (const f of failed) expect((f as PromiseRejectedResult).reason).toBeInstanceOf(QuotaExceededError);
    expect(budget.remaining()).toBeLessThan(0);
    // Layers that fit: each worker's draw is seen here, to the byte.
    const fits = createBudget(5 << 20, 5 << 20);
    const two = raws.slice(0, 2);
    const done = await Promise.all(two.map((raw) => big.apply(async () => streamOf(compress(raw, 'gzip'), 8192), freshDir(), { label: 'L' }, { budget: fits })));
    expect(fits.remaining()).toBe((5 << 20) - done.reduce((n, r) => n + r.tarBytes, 0));
  } finally {
    await big.close();
  }
});

test('closing the pool fails the layer it was unpacking', async () => {
  const p = new UnpackPool(1);
  const gz = compress(tar([{ name: 'f', content: randomBytes(8 << 20) }]), 'gzip');
  const slow = trickle(gz, 1024, 50);
  const job = rejection(p.apply(async () => slow, freshDir(), { label: 'L' }));
  for (let i = 0; i < 200 && slow.sent() < 4096; i++) await new Promise((r) => setTimeout(r, 10));
  expect(slow.sent()).toBeGreaterThanOrEqual(4096); // the job is under way
  await p.close();
  const e = await job;
  expect(e).toBeInstanceOf(StoreError);
  expect(e.message).toMatch(/worker exited/);
  expect(slow.destroyed).toBe(true);
  await expect(p.apply(async () => streamOf(gz), freshDir(), { label: 'L' })).rejects.toBeInstanceOf(AbortedError);
});

test('what a worker logs reaches the main thread\'s log', async () => {
  const logFile = join(work, 'pool.log');
  configureLogging({ level: 'warn', file: logFile });
  const p = new UnpackPool(1); // workers take the log level when they start
  try {
    const raw = tar([{ name: 'f', content: 'x', xattrs: { 'trusted.overlay.opaque': 'y' } }]);
    await p.apply(async () => streamOf(raw), freshDir(), { label: 'layer 1/1 xattr-test' });
  } finally {
    await p.close();
    configureLogging({});
  }
  const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const dropped = lines.find((l) => String(l.msg).includes('xattr'));
  expect(dropped).toBeDefined();
  expect(dropped!.component).toBe('layer');
  expect(dropped!.level).toBe(40);
  expect(JSON.stringify(dropped)).toContain('trusted.overlay.opaque');
});

test('a layer that fails while its blob still streams does not disturb the next layer on that worker', async () => {
  const one = new UnpackPool(1);
  try {
    const bad = Buffer.concat([tar([{ name: '../escape', content: 'x' }]).subarray(0, 1024), randomBytes(4 << 20)]);
    const slow = trickle(bad, 65536, 5);
    const raw = tar([{ name: 'next', content: randomBytes(300_000) }]);
    const first = rejection(one.apply(async () => slow, freshDir(), { label: 'first' }));
    const second = one.apply(async () => streamOf(compress(raw, 'gzip'), 4096), freshDir(), { label: 'second', diffID: sha256(raw) });
    expect(await first).toBeInstanceOf(UnsafeLayerError);
    await expect(second).resolves.toMatchObject({ diffID: sha256(raw) });
    expect(slow.sent()).toBeLessThan(bad.length); // the failed blob was not read to its end
  } finally {
    await one.close();
  }
});

test('a blob that fails because of the abort (addAbortSignal) reports the abort, naming the layer', async () => {
  const ac = new AbortController();
  const gz = compress(tar([{ name: 'f', content: randomBytes(2 << 20) }]), 'gzip');
  const blob = addAbortSignal(ac.signal, trickle(gz, 16384, 1, { onPart: (sent) => { if (sent > 100_000) ac.abort(); } }));
  const e = await rejection(pool.apply(async () => blob, freshDir(), { label: 'layer 1/1 sha256:ab of oci:///img:big' }, { signal: ac.signal }));
  expect(e).toBeInstanceOf(AbortedError);
  expect(e.message).toBe('layer 1/1 sha256:ab of oci:///img:big: unpack aborted');
});

test('unpack() shares layers between this thread and the workers by size, this thread first on a tie', async () => {
  const one = new UnpackPool(1);
  const inWorker = jest.spyOn(one, 'apply');
  try {
    const raws = [0, 1, 2, 3].map((i) => tar([{ name: `f${i}`, content: randomBytes(1 << 20) }]));
    const gzs = raws.map((r) => compress(r, 'gzip'));
    one.prepare(gzs.reduce((s, g) => s + g.length, 0) + SPAWN_MIN_BYTES); // enough to start the worker
    await workersReady(one);
    const dirs = raws.map(() => freshDir());
    // Equal sizes (as declared: the balance is decided before a byte is read): here, worker, here, worker.
    const results = await Promise.all(gzs.map((gz, i) => one.unpack(async () => streamOf(gz, 8192), dirs[i]!, { label: `L${i}`, diffID: sha256(raws[i]!) }, {}, 1 << 20)));
    results.forEach((r, i) => expect(r.diffID).toBe(sha256(raws[i]!)));
    expect(inWorker.mock.calls.map((c) => c[2].label).sort()).toEqual(['L1', 'L3']);
    // A layer as big as the rest together goes where there is least: here, while the worker has two.
    inWorker.mockClear();
    const big = tar([{ name: 'big', content: randomBytes(2 << 20) }]);
    const small = tar([{ name: 'small', content: 'x' }]);
    await Promise.all([
      one.unpack(async () => streamOf(compress(big, 'gzip'), 8192), freshDir(), { label: 'big' }, {}, 3 << 20),
      one.unpack(async () => streamOf(small), freshDir(), { label: 'small-1' }, {}, 1 << 20),
      one.unpack(async () => streamOf(small), freshDir(), { label: 'small-2' }, {}, 1 << 20),
    ]);
    expect(inWorker.mock.calls.map((c) => c[2].label).sort()).toEqual(['small-1', 'small-2']);
  } finally {
    await one.close();
  }
  await expectNoLeak();
});

test('a pull too small to repay a worker\'s start-up unpacks on this thread', async () => {
  const p = new UnpackPool(2);
  const inWorker = jest.spyOn(p, 'apply');
  try {
    p.prepare(SPAWN_MIN_BYTES - 1);
    const raws = [0, 1, 2].map((i) => tar([{ name: `s${i}`, content: randomBytes(100_000) }]));
    await Promise.all(raws.map((raw) => p.unpack(async () => streamOf(raw), freshDir(), { label: 'small', diffID: sha256(raw) }, {}, raw.length)));
    expect(inWorker).not.toHaveBeenCalled();
  } finally {
    await p.close();
  }
});

test('one worker unpacks several layers at once: the second finishes while the first waits for its last bytes', async () => {
  const one = new UnpackPool(1);
  let release = () => {};
  let timer: NodeJS.Timeout | undefined;
  try {
    const raws = [0, 1].map((i) => tar([{ name: `t${i}`, content: randomBytes(300_000) }]));
    const gz0 = compress(raws[0]!, 'gzip');
    const held = new Promise<void>((r) => (release = r));
    // All of the first blob but its last byte, the rest only once the second layer is done:
    // a worker that took one layer at a time would never get to the second.
    const first = one.apply(async () => Readable.from((async function* () {
      yield gz0.subarray(0, gz0.length - 1);
      await held;
      yield gz0.subarray(gz0.length - 1);
    })(), { objectMode: false }), freshDir(), { label: 'T0', diffID: sha256(raws[0]!) });
    const second = one.apply(async () => streamOf(compress(raws[1]!, 'gzip')), freshDir(), { label: 'T1', diffID: sha256(raws[1]!) });
    const gaveUp = new Promise<string>((r) => { timer = setTimeout(() => r('the second layer waited for the first'), 10_000); });
    expect(await Promise.race([second, gaveUp])).toMatchObject({ diffID: sha256(raws[1]!) });
    release();
    await expect(first).resolves.toMatchObject({ diffID: sha256(raws[0]!) });
  } finally {
    clearTimeout(timer);
    release();
    await one.close();
  }
  await expectNoLeak();
});

test('a worker that dies while its layer\'s blob is being opened fails that layer instead of hanging', async () => {
  const p = new UnpackPool(1);
  const raw = tar([{ name: 'f', content: 'x' }]);
  const e = await rejection(p.apply(async () => { await p.close(); return streamOf(raw); }, freshDir(), { label: 'L' }));
  expect(e).toBeInstanceOf(StoreError);
  expect(e.message).toMatch(/^L: the unpack worker exited/);
});

test('a worker still loading its code weighs 8 MiB more: small layers stay on this thread until it is up', async () => {
  const p = new UnpackPool(1);
  const inWorker = jest.spyOn(p, 'apply');
  try {
    p.prepare(SPAWN_MIN_BYTES);
    const raws = [0, 1, 2].map((i) => tar([{ name: `s${i}`, content: randomBytes(50_000) }]));
    const lanes = (p as unknown as { workers: { ready: boolean }[] }).workers;
    expect(lanes[0]!.ready).toBe(false);
    await Promise.all(raws.map((raw) => p.unpack(async () => streamOf(raw), freshDir(), { label: 'early', diffID: sha256(raw) }, {}, 1 << 20)));
    expect(inWorker).not.toHaveBeenCalled();
    await workersReady(p);
    await Promise.all(raws.map((raw, i) => p.unpack(async () => streamOf(raw), freshDir(), { label: `up-${i}`, diffID: sha256(raw) }, {}, 1 << 20)));
    expect(inWorker.mock.calls.map((c) => c[2].label)).toEqual(['up-1']);
  } finally {
    await p.close();
  }
});

test('a worker that died is left out of the balance and replaced by the next prepare()', async () => {
  const p = new UnpackPool(1);
  const inWorker = jest.spyOn(p, 'apply');
  try {
    p.prepare(SPAWN_MIN_BYTES);
    // Reach in to kill the worker, as an out-of-memory kill would.
    const lane = (p as unknown as { workers: { worker: { terminate(): Promise<number> }; dead: boolean }[] }).workers[0]!;
    await lane.worker.terminate();
    for (let i = 0; i < 50 && !lane.dead; i++) await new Promise((r) => setTimeout(r, 10));
    expect(lane.dead).toBe(true);
    const raws = [0, 1].map((i) => tar([{ name: `r${i}`, content: randomBytes(50_000) }]));
    // With the only worker dead, both unpack here.
    await Promise.all(raws.map((raw) => p.unpack(async () => streamOf(raw), freshDir(), { label: 'here', diffID: sha256(raw) }, {}, 1 << 20)));
    expect(inWorker).not.toHaveBeenCalled();
    // The next pull starts a new one, and once it is up it takes its share.
    p.prepare(SPAWN_MIN_BYTES);
    await workersReady(p);
    const results = await Promise.all(raws.map((raw, i) => p.unpack(async () => streamOf(raw), freshDir(), { label: `again-${i}`, diffID: sha256(raw) }, {}, 1 << 20)));
    results.forEach((r, i) => expect(r.diffID).toBe(sha256(raws[i]!)));
    expect(inWorker.mock.calls.map((c) => c[2].label)).toEqual(['again-1']);
  } finally {
    await p.close();
  }
});

// Terminating a worker while it loads its native addon (koffi) aborts the whole process
// ("FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw"): a cached `groot pull`
// closed its eagerly started worker that early. close() now waits for the worker to start.
// A child process, as the abort would take jest with it; closes at every 2 ms of start-up
// (the old close aborted within the first 40 of these, 2 runs of 3).
test('closing a pool whose worker is still starting never aborts the process', () => {
  const child = `
const { UnpackPool, SPAWN_MIN_BYTES } = await import(${JSON.stringify(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist/layer/pool.js'))});
for (let d = 0; d < 160; d += 2) {
  const pool = new UnpackPool(1);
  pool.prepare(SPAWN_MIN_BYTES);
  await new Promise((r) => setTimeout(r, d));
  await pool.close();
}
console.log('closed them all');
`;
  // A file, not -e: under -e the abort did not show (the worker inherits the eval's flags).
  const dir = tempDir('groot-pool-close-');
  const file = join(dir, 'close-early.mjs');
  writeFileSync(file, child);
  let r;
  try {
    r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 120_000 });
  } finally {
    removeDir(dir);
  }
  expect(r.stderr).not.toMatch(/FATAL/);
  expect(r.stdout.trim()).toBe('closed them all');
  expect(r.status).toBe(0);
}, 130_000);

// A full disk: the store's filesystem runs out while a pull/create unpacks layers or
// writes a record. Real small filesystems (loop-mounted XFS/btrfs from init-store
// --store-size-bytes; XFS quotas are off on this kernel, so the filesystem itself fills)
// and, for the records, a full tmpfs mounted over one meta/ dir. Each case checks the
// message (one line naming the layer/source, saying the disk is full, naming the store),
// that nothing is left half-made, that what was there is intact, and that the same create
// works once space is freed. Root only.
import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, readlink, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciLayoutBuilder, type BuiltImage } from '../helpers/oci.js';
import { groot, type CliResult } from '../helpers/cli.js';
import { mount, mountTable, umount, MNT_DETACH } from '../../src/sys/index.js';
import { loopDevicesFor, detachLoop } from '../../src/sys/loop.js';
import { initStore, deleteStore } from '../../src/store/backing.js';
import { openEngine, type Engine } from '../../src/rootfs/index.js';
import { UnpackPool } from '../../src/layer/index.js';
import { isGrootError } from '../../src/errors/index.js';

const MiB = 1024 * 1024;
const STORE_SIZE = 320 * MiB; // mkfs.xfs refuses less than 300 MB
const maybe = process.getuid?.() === 0 ? describe : describe.skip;
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let tmp: string;
let layout: string;
let big: BuiltImage; // 3 layers: two tiny ones (main thread), then 24 MiB of random bytes (a worker when there is one)
let bigBlob: Buffer;
let tiny: BuiltImage;
const src = (tag: string) => `oci://${layout}:${tag}`;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'groot-enospc-'));
  layout = join(tmp, 'layout');
  const b = new OciLayoutBuilder(layout);
  await b.image({ tag: 'small', layers: [[{ name: 'etc/', type: 'dir' }, { name: 'etc/keep', content: 'kept\n' }]] });
  tiny = await b.image({ tag: 'tiny', layers: [[{ name: 'etc/', type: 'dir' }, { name: 'etc/tiny', content: 'tiny\n' }]] });
  bigBlob = randomBytes(24 * MiB);
  big = await b.image({
    tag: 'big',
    layers: [
      [{ name: 'etc/', type: 'dir' }, { name: 'etc/one', content: randomBytes(64 * 1024) }],
      [{ name: 'etc/two', content: randomBytes(64 * 1024) }],
      [{ name: 'blob', content: bigBlob }],
    ],
  });
  // Unused layers that clean can take back: 28 MiB in two layers.
  await b.image({ tag: 'ballast', layers: [[{ name: 'b1', content: randomBytes(14 * MiB) }], [{ name: 'b2', content: randomBytes(14 * MiB) }]] });
  await b.finish();
  // Enough to start the unpack workers (layer/pool.ts SPAWN_MIN_BYTES). With one worker, the
  // lanes take the layers in order by bytes left: 1 here, 2 (smaller than 1) the worker, and
  // 3 the lane with less queued, the worker.
  expect(big.layers[2]!.size).toBeGreaterThanOrEqual(8 * MiB);
  expect(big.layers[1]!.size).toBeLessThan(big.layers[0]!.size);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A fresh dir per test for stores; everything mounted or looped under it goes in afterEach. */
let work: string;
beforeEach(async () => { work = await mkdtemp(join(tmp, 'w-')); });
afterEach(async () => {
  for (const m of (await mountTable()).filter((x) => x.mountpoint.startsWith(work + '/')).sort((a, b) => b.mountpoint.length - a.mountpoint.length)) {
    try { umount(m.mountpoint, MNT_DETACH); } catch { /* gone */ }
  }
  for (const name of await readdir(work)) {
    if (name.endsWith('.backing-store')) for (const d of loopDevicesFor(join(work, name))) { try { detachLoop(d); } catch { /* gone */ } }
  }
  await rm(work, { recursive: true, force: true });
});

async function cliStore(fs: 'xfs' | 'btrfs' | 'plain'): Promise<string> {
  const store = join(work, 'store');
  const size = fs === 'plain' ? [] : ['--store-size-bytes', String(STORE_SIZE), ...(fs === 'btrfs' ? ['--store-fs', 'btrfs'] : [])];
  expect(await groot(['--store', store, 'init-store', ...size])).toMatchObject({ code: 0, stdout: '' });
  if (fs !== 'plain') expect((await mountTable()).find((m) => m.mountpoint === store)?.fstype).toBe(fs);
  return store;
}

/** A CLI store holding the rootfses `keep` (checked intact after failures) and `filler` (deleted to free space). */
async function keepAndFiller(fs: 'xfs' | 'btrfs', env?: NodeJS.ProcessEnv): Promise<string> {
  const store = await cliStore(fs);
  for (const id of ['keep', 'filler']) expect(await groot(['--store', store, 'create', src('small'), id], { env })).toMatchObject({ code: 0 });
  return store;
}

const freeBytes = async (path: string) => { const s = await statfs(path); return s.bavail * s.bsize; };

/**
 * Fill the store's filesystem through a rootfs (`filler`, already made) until `leave` bytes
 * are free; 0 = to the last block (then small writes until the filesystem refuses one).
 */
async function fillStore(store: string, leave: number): Promise<void> {
  const dir = join(store, 'images', 'filler', 'rootfs');
  execFileSync('sync', ['-f', store]);
  const free = await freeBytes(store);
  expect(free).toBeGreaterThan(leave + 16 * MiB);
  execFileSync('fallocate', ['-l', String(free - Math.max(leave, 2 * MiB)), join(dir, 'fill')]);
  if (leave === 0) {
    const fh = await open(join(dir, 'fill-rest'), 'w');
    try {
      for (;;) await fh.write(Buffer.alloc(4096, 1));
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      await fh.close();
    }
    execFileSync('sync', ['-f', store]);
  } else {
    // XFS hands back a block or two after the first measure (preallocation trimmed in the
    // background): top up until no more than `leave` is free.
    for (let i = 0; i < 5; i++) {
      execFileSync('sync', ['-f', store]);
      const extra = (await freeBytes(store)) - leave;
      if (extra <= 0) break;
      execFileSync('fallocate', ['-l', String(extra), join(dir, `fill-${i}`)]);
    }
  }
  const now = await freeBytes(store);
  expect(now).toBeLessThanOrEqual(leave === 0 ? 64 * 1024 : leave); // XFS keeps a few blocks no write gets
  expect(now).toBeGreaterThanOrEqual(leave - 2 * MiB);
}

/** What a failed operation must not leave behind. */
async function leftovers(store: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of await readdir(join(store, 'volumes'))) if (n.includes('-incomplete-')) out.push(`volumes/${n}`);
  for (const d of ['volumes', 'images', 'rootfs', 'pins']) {
    for (const n of await readdir(join(store, 'meta', d)).catch(() => [] as string[])) if (n.includes('.tmp-')) out.push(`meta/${d}/${n}`);
  }
  const whole = new Set((await readdir(join(store, 'volumes'))).filter((n) => !n.includes('-incomplete-')));
  for (const n of await readdir(join(store, 'l'))) {
    const target = await readlink(join(store, 'l', n)).catch(() => '?');
    if (!whole.has(target.replace('../volumes/', ''))) out.push(`l/${n} -> ${target}`);
  }
  for (const n of await readdir(join(store, 'meta', 'volumes'))) {
    if (n.endsWith('.json') && !n.startsWith('.') && !whole.has(n.slice(0, -5))) out.push(`meta/volumes/${n} without its volume`);
  }
  for (const n of await readdir(join(store, 'tmp'))) out.push(`tmp/${n}`);
  return out;
}

interface Snapshot { volumes: string[]; images: string[]; rootfsRecords: string[]; imageRecords: string[] }
async function snapshot(store: string): Promise<Snapshot> {
  const ls = async (p: string) => (await readdir(join(store, p))).sort();
  return { volumes: await ls('volumes'), images: await ls('images'), rootfsRecords: await ls('meta/rootfs'), imageRecords: await ls('meta/images') };
}

/** The rootfs `keep` (made before the disk filled) still mounted and readable. */
async function expectKeepIntact(store: string): Promise<void> {
  const root = join(store, 'images', 'keep', 'rootfs');
  expect((await mountTable()).find((m) => m.mountpoint === root)?.fstype).toBe('overlay');
  expect(await readFile(join(root, 'etc', 'keep'), 'utf8')).toBe('kept\n');
  expect((await groot(['--store', store, 'list'])).stdout.split('\n')).toContain(join(store, 'images', 'keep'));
}

/** The create that failed for space, once there is space: it works and holds the whole layer; nothing is left over. */
async function expectBigCreates(store: string, env?: NodeJS.ProcessEnv): Promise<void> {
  const spec = JSON.parse((await groot(['--store', store, 'create', src('big'), 'big'], { env })).stdout);
  expect(sha(await readFile(join(spec.root.path, 'blob')))).toBe(sha(bigBlob));
  expect(await leftovers(store)).toEqual([]);
}

/** A failure: exit 1 and exactly one line on stdout, the message. */
function failure(r: CliResult): string {
  expect(r.code).toBe(1);
  const lines = r.stdout.split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[1]).toBe('');
  return lines[0]!;
}

const spaceWords = (store: string) => `no space left on the store's filesystem \\(${esc(store)}\\)`;
const bigLayerMessage = (store: string) => new RegExp(
  `^layer 3/3 ${esc(big.layers[2]!.digest)} of ${esc(src('big'))}: entry "blob": (write|create file) failed: ${spaceWords(store)}$`);

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

maybe('layers that unpack to more than the free space', () => {
  test.each([
    ['the main thread', '0'],
    ['an unpack worker', '1'],
  ])('XFS, %s: create and pull fail with one "no space left" message naming the layer; nothing is left; after deleting a rootfs the create works', async (_name, workers) => {
    const env = { GROOT_UNPACK_WORKERS: workers };
    const store = await keepAndFiller('xfs', env);
    await fillStore(store, 12 * MiB);
    const before = await snapshot(store);

    const created = await groot(['--store', store, 'create', src('big'), 'big'], { env });
    expect(failure(created)).toMatch(bigLayerMessage(store));
    expect(await leftovers(store)).toEqual([]);
    expect(await snapshot(store)).toEqual(before); // no half rootfs, no new volume (the two small ones were discarded)
    await expectKeepIntact(store);

    const pulled = await groot(['--store', store, 'pull', src('big')], { env });
    expect(failure(pulled)).toMatch(bigLayerMessage(store));
    expect(await leftovers(store)).toEqual([]);
    expect(await snapshot(store)).toEqual(before);

    // Free the space: the same create succeeds and holds the whole layer.
    expect(await groot(['--store', store, 'delete', 'filler'], { env })).toMatchObject({ code: 0 });
    await expectBigCreates(store, env);
    await expectKeepIntact(store);
  });

  test('XFS: an unused image fills the disk; clean frees it and the create works', async () => {
    const store = await keepAndFiller('xfs');
    await fillStore(store, 40 * MiB);
    expect(await groot(['--store', store, 'pull', src('ballast')])).toMatchObject({ code: 0 });
    expect(await freeBytes(store)).toBeLessThan(14 * MiB);

    expect(failure(await groot(['--store', store, 'create', src('big'), 'big']))).toMatch(bigLayerMessage(store));
    expect(await leftovers(store)).toEqual([]);
    expect(existsSync(join(store, 'images', 'big'))).toBe(false);

    expect(await groot(['--store', store, 'clean'])).toMatchObject({ code: 0 });
    await expectBigCreates(store);
    await expectKeepIntact(store);
  });

  test('btrfs: the same create fails the same way, and works once space is freed', async () => {
    const store = await keepAndFiller('btrfs');
    await fillStore(store, 12 * MiB);
    const before = await snapshot(store);

    expect(failure(await groot(['--store', store, 'create', src('big'), 'big']))).toMatch(bigLayerMessage(store));
    expect(await leftovers(store)).toEqual([]);
    expect(await snapshot(store)).toEqual(before);
    await expectKeepIntact(store);

    expect(await groot(['--store', store, 'delete', 'filler'])).toMatchObject({ code: 0 });
    execFileSync('btrfs', ['filesystem', 'sync', store]); // freed extents count once the transaction commits
    await expectBigCreates(store);
  });

  test('engine: the error is the same StoreFullError whether the layer unpacks in a worker or on the main thread', async () => {
    const store = join(work, 'store');
    await initStore({ storePath: store, sizeBytes: STORE_SIZE });
    const spy = jest.spyOn(UnpackPool.prototype, 'apply');
    // Every layer to a worker when there is one (the balance would put some here).
    const toWorker = jest.spyOn(UnpackPool.prototype, 'unpack').mockImplementation(function (this: UnpackPool, open, dir, expect_, opts, size) {
      return this.apply(open, dir, expect_, opts, size);
    });
    let engine: Engine | undefined;
    try {
      engine = await openEngine({ storePath: store, unpackWorkers: 0 });
      await engine.create({ id: 'filler', source: src('small') });
      await engine.close();
      engine = undefined;
      await fillStore(store, 12 * MiB);

      const failed: Record<string, unknown> = {};
      for (const workers of [1, 0]) {
        spy.mockClear();
        engine = await openEngine({ storePath: store, unpackWorkers: workers });
        failed[workers] = await engine.create({ id: 'big', source: src('big') }).then(() => 'created', (e: unknown) => e);
        await engine.close();
        engine = undefined;
        // With a worker, the big layer went there.
        if (workers) expect(spy.mock.calls.map((c) => c[2].label)).toContainEqual(expect.stringMatching(/^layer 3\/3 /));
        else expect(spy).not.toHaveBeenCalled();
        expect(await leftovers(store)).toEqual([]);
        expect(existsSync(join(store, 'images', 'big'))).toBe(false);
      }
      for (const e of Object.values(failed)) {
        expect(isGrootError(e, 'GROOT_STORE_FULL')).toBe(true);
        expect((e as Error).name).toBe('StoreFullError');
        expect((e as Error).message).toMatch(bigLayerMessage(store));
      }
      // The same words (only the failing call may differ: a file create or a write).
      expect((failed[1] as Error).message.replace('create file', 'write')).toBe((failed[0] as Error).message.replace('create file', 'write'));
    } finally {
      spy.mockRestore();
      toWorker.mockRestore();
      await engine?.close();
      await deleteStore(store);
    }
  });
});

maybe('the disk fills while the store writes a record', () => {
  // The record's dir gets its own full filesystem (a small tmpfs with the records it held
  // and filler in every free page), so the write fails exactly there and nowhere else.
  // Freeing the filler gives 4 pages: a rewrite (a volume's inherited flag) needs two.
  async function fullTmpfsOver(dir: string): Promise<string> {
    const keep: [string, Buffer][] = [];
    for (const n of await readdir(dir)) keep.push([n, await readFile(join(dir, n))]);
    mount('tmpfs', dir, 'tmpfs', 0, `size=${(keep.length + 4) * 4}k,mode=0700`);
    for (const [n, b] of keep) await writeFile(join(dir, n), b, { mode: 0o600 });
    const filler = join(dir, '.filler');
    await writeFile(filler, Buffer.alloc(await freeBytes(dir)));
    expect(await freeBytes(dir)).toBe(0);
    return filler;
  }

  test.each([
    ['meta/volumes', 'the volume record'],
    ['meta/images', 'the image record'],
    ['meta/rootfs', 'the rootfs record (commit marker)'],
  ])('%s full (%s): create fails naming the source and the full disk; nothing is left; works once space is freed', async (metaDir) => {
    const store = await cliStore('plain');
    expect(await groot(['--store', store, 'create', src('small'), 'keep'])).toMatchObject({ code: 0 });
    const filler = await fullTmpfsOver(join(store, metaDir));
    const before = await snapshot(store);

    const msg = failure(await groot(['--store', store, 'create', src('tiny'), 'c1']));
    expect(msg).toMatch(new RegExp(`^create \`c1\` from ${esc(src('tiny'))}: .*${esc(join(store, metaDir))}/.*: write failed: ${spaceWords(store)}$`));
    expect(await leftovers(store)).toEqual([]);
    const after = await snapshot(store);
    expect({ ...after, imageRecords: [] }).toEqual({ ...before, imageRecords: [] }); // no volume, no rootfs dir or record
    // Failing after the pull, the image's record stays, as after `groot pull` (clean drops it).
    const newRecords = after.imageRecords.filter((n) => !before.imageRecords.includes(n));
    expect(newRecords).toEqual(metaDir === 'meta/rootfs' ? [`${tiny.manifest.digest.slice(7)}.json`] : []);
    await expectKeepIntact(store);

    await rm(filler);
    const spec = JSON.parse((await groot(['--store', store, 'create', src('tiny'), 'c1'])).stdout);
    expect(await readFile(join(spec.root.path, 'etc', 'tiny'), 'utf8')).toBe('tiny\n');
    expect(await leftovers(store)).toEqual([]);
  });

  test('XFS already full to the last block: create fails at its first file with the same words; works once space is freed', async () => {
    const store = await keepAndFiller('xfs');
    await fillStore(store, 0);
    const before = await snapshot(store);

    const msg = failure(await groot(['--store', store, 'create', src('tiny'), 'c1']));
    expect(msg).toMatch(new RegExp(`^create \`c1\` from ${esc(src('tiny'))}: .* failed: ${spaceWords(store)}$`));
    expect(await leftovers(store)).toEqual([]);
    expect(await snapshot(store)).toEqual(before);
    await expectKeepIntact(store);

    expect(await groot(['--store', store, 'delete', 'filler'])).toMatchObject({ code: 0 });
    const spec = JSON.parse((await groot(['--store', store, 'create', src('tiny'), 'c1'])).stdout);
    expect(await readFile(join(spec.root.path, 'etc', 'tiny'), 'utf8')).toBe('tiny\n');
  });
});

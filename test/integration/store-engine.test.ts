// The engine end to end on real overlay mounts: create/stats/list/delete, layer sharing,
// --without-mount, disk limits, clean, verification failures, 200 layers.
import { mkdtempSync, rmSync, readdirSync, readFileSync, writeFileSync, statSync, existsSync, openSync, readSync, closeSync, truncateSync, mkdirSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEngine, type Engine } from '../../src/rootfs/index.js';
import { unmountTree, mountsUnder } from '../../src/store/index.js';
import { mountTable, umount, mount, mountOverlayWithMount2 } from '../../src/sys/index.js';
import { relativeMountData, overlayDirs } from '../../src/rootfs/overlay.js';
import { buildImage, OciLayoutBuilder } from '../helpers/oci.js';
import type { TarEntry } from '../helpers/tar.js';
import { isGrootError } from '../../src/errors/index.js';
import { jest } from '@jest/globals';

let tmp: string;
let storePath: string;
let engine: Engine;

beforeEach(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'groot-engine-'));
  storePath = join(tmp, 'store');
  engine = await openEngine({ storePath, quota: 'none' });
});

afterEach(async () => {
  try {
    await engine.close();
  } finally {
    await unmountTree(tmp);
    rmSync(tmp, { recursive: true, force: true });
  }
});

const volumes = () => readdirSync(join(storePath, 'volumes')).sort();
const mounted = async (p: string) => (await mountTable()).some((m) => m.mountpoint === p);

const base: TarEntry[] = [
  { name: 'etc/', type: 'dir' },
  { name: 'etc/os-release', content: 'ID=groot-test\n' },
  { name: 'bin/', type: 'dir' },
  { name: 'bin/tool', content: '#!/bin/sh\necho hi\n', mode: 0o755 },
  { name: 'old/', type: 'dir' },
  { name: 'old/gone.txt', content: 'base only' },
];

async function layout(name: string, layers: TarEntry[][], extra: { env?: string[] } = {}): Promise<string> {
  const dir = join(tmp, name);
  await buildImage(dir, { tag: 'latest', layers, env: extra.env ?? ['PATH=/bin', 'GREETING=hello'] });
  return `oci://${dir}:latest`;
}

test('create mounts the image, stats/list/get see it, delete removes everything', async () => {
  const src = await layout('img', [base, [{ name: 'etc/os-release', content: 'ID=top\n' }, { name: 'old/.wh.gone.txt' }, { name: 'new.txt', content: 'top' }]]);
  const { spec, rootfs } = await engine.create({ id: 'c1', source: src });
  const root = join(storePath, 'images', 'c1', 'rootfs');

  expect(spec).toEqual({ ociVersion: '', process: { user: { uid: 0, gid: 0 }, env: ['PATH=/bin', 'GREETING=hello'], cwd: '' }, root: { path: root } });
  expect(rootfs.path).toBe(root);
  expect(rootfs.mounted).toBe(true);
  expect(await mounted(root)).toBe(true);
  expect(readFileSync(join(root, 'etc/os-release'), 'utf8')).toBe('ID=top\n');
  expect(readFileSync(join(root, 'bin/tool'), 'utf8')).toContain('echo hi');
  expect(existsSync(join(root, 'old/gone.txt'))).toBe(false);
  expect(readFileSync(join(root, 'new.txt'), 'utf8')).toBe('top');
  expect(volumes()).toHaveLength(2);

  // Writes land in the upper dir and show as exclusive usage.
  writeFileSync(join(root, 'written.bin'), Buffer.alloc(1 << 20, 7));
  const st = await engine.stats('c1');
  expect(st.exclusiveBytesUsed).toBeGreaterThanOrEqual(1 << 20);
  expect(st.exclusiveBytesUsed).toBeLessThan((1 << 20) + 256 * 1024);
  expect(st.totalBytesUsed).toBeGreaterThan(st.exclusiveBytesUsed);
  expect(st.quotaSizeBytes).toBe(0);
  expect(existsSync(join(storePath, 'images', 'c1', 'diff', 'written.bin'))).toBe(true);

  expect((await engine.list()).map((r) => r.id)).toEqual(['c1']);
  expect((await engine.get('c1'))?.mounted).toBe(true);
  expect(await engine.get('nope')).toBeUndefined();

  expect(await engine.delete('c1')).toBe(true);
  expect(await mounted(root)).toBe(false);
  expect(existsSync(join(storePath, 'images', 'c1'))).toBe(false);
  expect(await engine.list()).toEqual([]);
  expect(await engine.delete('c1')).toBe(false);
  expect(await engine.delete('never-existed')).toBe(false);
  // Volumes stay cached for the next create.
  expect(volumes()).toHaveLength(2);
});

test('store dirs are private and the layout is complete', async () => {
  for (const d of ['volumes', 'images', 'meta', 'l', 'locks', 'tmp', 'projectids']) {
    expect(statSync(join(storePath, d)).mode & 0o777).toBe(0o700);
  }
});

test('an existing id is refused with the GrootFS message; bad ids are refused', async () => {
  const src = await layout('img', [base]);
  await engine.create({ id: 'dup', source: src });
  await expect(engine.create({ id: 'dup', source: src })).rejects.toThrow('image for id `dup` already exists');
  expect(await mounted(join(storePath, 'images/dup/rootfs'))).toBe(true);
  for (const bad of ['../x', 'a/b', '..', '']) {
    await expect(engine.create({ id: bad, source: src })).rejects.toMatchObject({ code: 'GROOT_INVALID_ARGUMENT' });
  }
  expect(readdirSync(join(storePath, 'images'))).toEqual(['dup']);
});

test('delete accepts the rootfs path and refuses paths outside the store', async () => {
  const src = await layout('img', [base]);
  await engine.create({ id: 'bypath', source: src });
  await expect(engine.delete('/etc/passwd')).rejects.toThrow(/is not a root filesystem of store/);
  expect(await engine.delete(join(storePath, 'images', 'bypath', 'rootfs'))).toBe(true);
  expect(existsSync(join(storePath, 'images', 'bypath'))).toBe(false);
});

test('two images sharing a base layer unpack it once and reuse its volume', async () => {
  const a = await layout('a', [base, [{ name: 'a.txt', content: 'a' }]]);
  await engine.create({ id: 'ra', source: a });
  expect(volumes()).toHaveLength(2);
  const baseChain = (await engine.get('ra'))!.chainIDs[0]!.slice(7);
  const inode = statSync(join(storePath, 'volumes', baseChain)).ino;
  const fileInode = statSync(join(storePath, 'volumes', baseChain, 'etc/os-release')).ino;

  const b = await layout('b', [base, [{ name: 'b.txt', content: 'b' }]]);
  await engine.create({ id: 'rb', source: b });
  expect(volumes()).toHaveLength(3);
  expect((await engine.get('rb'))!.chainIDs[0]).toBe(`sha256:${baseChain}`);
  expect(statSync(join(storePath, 'volumes', baseChain)).ino).toBe(inode);
  expect(statSync(join(storePath, 'volumes', baseChain, 'etc/os-release')).ino).toBe(fileInode);
  expect(readFileSync(join(storePath, 'images/rb/rootfs/b.txt'), 'utf8')).toBe('b');
  expect(existsSync(join(storePath, 'images/rb/rootfs/a.txt'))).toBe(false);
  // The short links point at the volumes.
  expect(readdirSync(join(storePath, 'l'))).toHaveLength(3);
});

test('--without-mount mounts nothing and its one mount works when a runtime performs it', async () => {
  const src = await layout('img', [base, [{ name: 'top.txt', content: 'top' }]]);
  const { spec, rootfs } = await engine.create({ id: 'nm', source: src, mount: false });
  expect(rootfs.mounted).toBe(false);
  expect(rootfs.wantsMount).toBe(false);
  expect(await mountsUnder(join(storePath, 'images'))).toEqual([]);
  expect(spec.mounts).toHaveLength(1);
  const m = spec.mounts![0]!;
  expect(m).toMatchObject({ destination: '/', type: 'overlay', source: 'overlay' });
  expect(m.options).toHaveLength(1);
  expect(m.options[0]).toMatch(/^lowerdir=[^,]+,upperdir=[^,]+\/images\/nm\/diff,workdir=[^,]+\/images\/nm\/workdir$/);

  const target = join(tmp, 'runtime-root');
  mkdirSync(target);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', m.options[0]!, target]);
  try {
    expect(readFileSync(join(target, 'top.txt'), 'utf8')).toBe('top');
    expect(readFileSync(join(target, 'etc/os-release'), 'utf8')).toBe('ID=groot-test\n');
    writeFileSync(join(target, 'by-runtime'), 'x');
    expect(existsSync(join(storePath, 'images/nm/diff/by-runtime'))).toBe(true);
  } finally {
    umount(target);
  }
  // remount is a no-op for a rootfs groot does not mount.
  await engine.remount('nm');
  expect(await mounted(rootfs.path)).toBe(false);
  expect(await engine.delete('nm')).toBe(true);
});

test('remount mounts a rootfs again after its mount went away (a reboot)', async () => {
  const src = await layout('img', [base]);
  const { rootfs } = await engine.create({ id: 'rm1', source: src });
  writeFileSync(join(rootfs.path, 'kept'), 'yes');
  umount(rootfs.path);
  expect((await engine.get('rm1'))!.mounted).toBe(false);
  await engine.remount('rm1');
  expect((await engine.get('rm1'))!.mounted).toBe(true);
  expect(readFileSync(join(rootfs.path, 'kept'), 'utf8')).toBe('yes');
  await engine.remount('rm1'); // already mounted: nothing happens
  expect((await mountTable()).filter((m) => m.mountpoint === rootfs.path)).toHaveLength(1);
});

test('disk limits: inclusive subtracts the image, exclusive does not, too small fails and leaves nothing', async () => {
  const big = Buffer.alloc(2 << 20, 1);
  const src = await layout('img', [[...base, { name: 'big.bin', content: big }]]);
  const { rootfs } = await engine.create({ id: 'inc', source: src, diskLimitBytes: 10 << 20 });
  const s1 = await engine.stats('inc');
  const imageSize = s1.totalBytesUsed - s1.exclusiveBytesUsed;
  expect(imageSize).toBeGreaterThanOrEqual(2 << 20);
  expect(s1.quotaSizeBytes).toBe((10 << 20) - imageSize);
  expect(rootfs.diskLimitBytes).toBe(10 << 20);

  await engine.create({ id: 'exc', source: src, diskLimitBytes: 10 << 20, excludeImageFromQuota: true });
  const s2 = await engine.stats('exc');
  expect(s2.quotaSizeBytes).toBe(10 << 20);
  // committed space: every rootfs's limit together.
  expect(s2.committedSpaceBytes).toBe(s1.quotaSizeBytes + s2.quotaSizeBytes);

  await expect(engine.create({ id: 'small', source: src, diskLimitBytes: 1 << 20 })).rejects.toThrow(/^disk limit is smaller than volume size/);
  await expect(engine.create({ id: 'neg', source: src, diskLimitBytes: -5 })).rejects.toThrow(/cannot be negative/);
  expect(readdirSync(join(storePath, 'images')).sort()).toEqual(['exc', 'inc']);
  expect((await engine.list()).map((r) => r.id).sort()).toEqual(['exc', 'inc']);
});

test('an inclusive limit smaller than a fresh image fails without leaving a volume', async () => {
  const src = await layout('img', [[{ name: 'big.bin', content: Buffer.alloc(3 << 20, 2) }]]);
  await expect(engine.create({ id: 'tiny', source: src, diskLimitBytes: 1 << 20 })).rejects.toThrow(/^disk limit is smaller than volume size: layer 1\/1 sha256:/);
  expect(volumes()).toEqual([]);
  expect(readdirSync(join(storePath, 'images'))).toEqual([]);
});

test('an inclusive limit is one budget for layers unpacked in parallel: three 2 MiB layers under a 5 MiB limit fail', async () => {
  // Each layer alone fits the limit; together they do not. Zeros compress to almost nothing,
  // so only the unpacked-bytes budget can catch it.
  const layers = [0, 1, 2].map((i) => [{ name: `z${i}.bin`, content: Buffer.alloc(2 << 20) }]);
  const src = await layout('zeros', layers);
  await expect(engine.create({ id: 'zeros', source: src, diskLimitBytes: 5 << 20 })).rejects.toThrow(/^disk limit is smaller than volume size/);
  expect(volumes().filter((v) => !v.includes('incomplete'))).toHaveLength(volumes().length);
  expect(readdirSync(join(storePath, 'images'))).toEqual([]);
  // The same image under 7 MiB works.
  await engine.create({ id: 'zeros-ok', source: src, diskLimitBytes: 7 << 20 });
});

test('layers whose compressed size already exceeds an inclusive limit fail before anything is fetched', async () => {
  const { randomBytes } = await import('node:crypto');
  const src = await layout('rand', [[{ name: 'r.bin', content: randomBytes(3 << 20) }]]);
  await expect(engine.create({ id: 'rand', source: src, diskLimitBytes: 2 << 20 })).rejects.toThrow(/layers exceed disk quota/);
  expect(volumes()).toEqual([]);
  // Excluded from the quota, the image's size does not matter.
  await engine.create({ id: 'rand-ex', source: src, diskLimitBytes: 2 << 20, excludeImageFromQuota: true });
});

test('clean: skips below the threshold, keeps volumes in use or pinned, removes the rest', async () => {
  const a = await layout('a', [base, [{ name: 'a.txt', content: 'a' }]]);
  const b = await layout('b', [[{ name: 'only-b.txt', content: 'b'.repeat(5000) }]]);
  await engine.create({ id: 'keep', source: a });
  await engine.create({ id: 'gone', source: b });
  expect(volumes()).toHaveLength(3);
  await engine.delete('gone');

  const skipped = await engine.clean({ thresholdBytes: 2 ** 40 });
  expect(skipped).toEqual({ skipped: true, removedVolumes: [], removedImages: [], freedBytes: 0 });
  expect(volumes()).toHaveLength(3);

  const res = await engine.clean({ thresholdBytes: 1 });
  expect(res.skipped).toBe(false);
  expect(res.removedVolumes).toHaveLength(1);
  expect(res.freedBytes).toBeGreaterThanOrEqual(5000);
  expect(volumes()).toHaveLength(2);
  expect(readdirSync(join(storePath, 'l'))).toHaveLength(2);
  expect(readFileSync(join(storePath, 'images/keep/rootfs/a.txt'), 'utf8')).toBe('a');

  // A pin keeps an image's volumes with no rootfs using them.
  await engine.pull(b, { pin: 'img-b' });
  expect(volumes()).toHaveLength(3);
  expect((await engine.clean()).removedVolumes).toEqual([]);
  expect(volumes()).toHaveLength(3);
  await engine.unpin('img-b');
  expect((await engine.clean()).removedVolumes).toHaveLength(1);
  expect(volumes()).toHaveLength(2);

  await engine.delete('keep');
  const all = await engine.clean();
  expect(all.removedVolumes).toHaveLength(2);
  expect(volumes()).toEqual([]);
  expect(readdirSync(join(storePath, 'l'))).toEqual([]);
  expect(readdirSync(join(storePath, 'meta', 'images'))).toEqual([]);
  await expect(engine.clean({ thresholdBytes: -1 })).rejects.toThrow(/cannot be negative/);
});

test('pull then create reuses the pulled volumes', async () => {
  const src = await layout('img', [base, [{ name: 'x', content: 'x' }]]);
  const info = await engine.pull(src);
  expect(info.chainIDs).toHaveLength(2);
  expect(info.unpackedSize).toBeGreaterThan(0);
  const before = volumes().map((v) => statSync(join(storePath, 'volumes', v)).ino);
  const states: string[] = [];
  await engine.create({ id: 'after-pull', source: src, onProgress: (p) => { states.splice(0, states.length, ...p.layers.map((l) => l.state)); } });
  expect(states).toEqual(['cached', 'cached']);
  expect(volumes().map((v) => statSync(join(storePath, 'volumes', v)).ino)).toEqual(before);
});

describe('a layer that does not verify fails the create, naming the layer, and leaves nothing', () => {
  async function brokenImage(mutate: (blob: string) => void): Promise<{ src: string; digest: string }> {
    const dir = join(tmp, 'broken');
    const img = await buildImage(dir, { tag: 'latest', layers: [[{ name: 'f', content: Buffer.alloc(200_000, 3) }]] });
    const digest = img.layers[0]!.digest;
    mutate(join(dir, 'blobs', 'sha256', digest.slice(7)));
    return { src: `oci://${dir}:latest`, digest };
  }
  const noLeftovers = () => {
    expect(volumes()).toEqual([]);
    expect(readdirSync(join(storePath, 'l'))).toEqual([]);
    expect(readdirSync(join(storePath, 'meta', 'volumes'))).toEqual([]);
    expect(readdirSync(join(storePath, 'images'))).toEqual([]);
  };

  test('corrupted bytes', async () => {
    const { src, digest } = await brokenImage((blob) => {
      const fd = openSync(blob, 'r+');
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, 100);
      b[0] = b[0]! ^ 0xff;
      writeFileSync(blob, Buffer.concat([readFileSync(blob).subarray(0, 100), b, readFileSync(blob).subarray(101)]));
      closeSync(fd);
    });
    const err = await engine.create({ id: 'bad', source: src }).catch((e) => e);
    expect(isGrootError(err)).toBe(true);
    expect(err.message).toContain('layer 1/1');
    expect(err.message).toContain(digest);
    noLeftovers();
  });

  test('a truncated blob', async () => {
    const { src, digest } = await brokenImage((blob) => truncateSync(blob, Math.floor(statSync(blob).size / 2)));
    const err = await engine.create({ id: 'bad', source: src }).catch((e) => e);
    expect(isGrootError(err)).toBe(true);
    expect(err.message).toContain(digest);
    noLeftovers();
  });

  test('a bad upper layer over a good base: the failed layer leaves no volume', async () => {
    const dir = join(tmp, 'two');
    const b = new OciLayoutBuilder(dir);
    const img = await b.image({ tag: 'latest', layers: [base, [{ name: 'g', content: Buffer.alloc(100_000, 9) }]] });
    await b.finish();
    const blob = join(dir, 'blobs', 'sha256', img.layers[1]!.digest.slice(7));
    truncateSync(blob, 50);
    const err = await engine.create({ id: 'bad2', source: `oci://${dir}:latest` }).catch((e) => e);
    expect(err.message).toContain('layer 2/2');
    expect(err.message).toContain(img.layers[1]!.digest);
    // Nothing else was in the store, so the failed create's volumes went too.
    noLeftovers();
  });
});

test('a 200-layer image mounts (new mount API) and shows its lowest and highest layers', async () => {
  const layers: TarEntry[][] = Array.from({ length: 200 }, (_, i) => [{ name: `layer-${i}.txt`, content: `layer ${i}` }, { name: 'which', content: `${i}` }]);
  const src = await layout('tall', layers);
  const { rootfs } = await engine.create({ id: 'tall', source: src });
  // Mounted through the new API with absolute paths, as operators see in /proc/mounts.
  expect((await mountTable()).find((m) => m.mountpoint === rootfs.path)?.superOptions).toContain(`lowerdir+=${storePath}/l/`);
  expect(readFileSync(join(rootfs.path, 'layer-0.txt'), 'utf8')).toBe('layer 0');
  expect(readFileSync(join(rootfs.path, 'layer-199.txt'), 'utf8')).toBe('layer 199');
  expect(readFileSync(join(rootfs.path, 'which'), 'utf8')).toBe('199');
  expect(readdirSync(rootfs.path).filter((n) => n.startsWith('layer-'))).toHaveLength(200);

  // The classic mount(2) fallback: the relative option string, after chdir into the store.
  const target = join(tmp, 'fallback');
  mkdirSync(target);
  const lowers = readFileSync(join(storePath, 'meta', 'rootfs', 'tall.json'), 'utf8');
  const rec = JSON.parse(lowers) as { mount: { options: string[] } };
  const rel = rec.mount.options[0]!.split(',')[0]!.slice('lowerdir='.length).split(':').map((p) => p.slice(storePath.length + 1));
  expect(rel).toHaveLength(200);
  const data = relativeMountData(overlayDirs('tall', rel));
  expect(Buffer.byteLength(data)).toBeLessThan(4096);
  // The real fallback code path (mount(2), chdir into the store, relative paths), read-only
  // since one upper must not serve two overlays.
  mountOverlayWithMount2({ lowers: rel.map((p) => join(storePath, p)), target, readonly: true, relativeTo: storePath });
  expect((await mountTable()).find((m) => m.mountpoint === target)?.superOptions).toContain('lowerdir=l/');
  try {
    expect(readFileSync(join(target, 'layer-0.txt'), 'utf8')).toBe('layer 0');
    expect(readFileSync(join(target, 'which'), 'utf8')).toBe('199');
  } finally {
    umount(target);
  }
  expect(await engine.delete('tall')).toBe(true);
}, 300_000);

test('capacity is the size of the store filesystem', async () => {
  const s = await statfs(storePath);
  expect(await engine.capacity()).toBe(s.blocks * s.bsize);
});

test('volume records say when a volume was made and (coarsely) last used', async () => {
  const src = await layout('img', [base]);
  await engine.pull(src);
  const key = volumes()[0]!;
  const metaPath = join(storePath, 'meta', 'volumes', `${key}.json`);
  const meta = JSON.parse(readFileSync(metaPath, 'utf8'));
  expect(meta).toMatchObject({ chainID: `sha256:${key}`, source: src, verified: true });
  expect(meta.size).toBeGreaterThan(0);
  expect(Date.parse(meta.createdAt)).toBeGreaterThan(Date.now() - 60_000);
  const old = new Date(Date.now() - 2 * 24 * 3600 * 1000).toISOString();
  writeFileSync(metaPath, JSON.stringify({ ...meta, lastUsedAt: old }));
  await engine.create({ id: 'user', source: src });
  const after = JSON.parse(readFileSync(metaPath, 'utf8'));
  expect(Date.parse(after.lastUsedAt)).toBeGreaterThan(Date.now() - 60_000);
  expect(after.createdAt).toBe(meta.createdAt);
  expect(after.shortLink).toBe(meta.shortLink);
});

test('large layers unpack in worker threads to the same volumes as on the main thread', async () => {
  const { randomBytes } = await import('node:crypto');
  const { Store } = await import('../../src/store/index.js');
  const { OverlayEngine } = await import('../../src/rootfs/engine.js');
  const { NoneQuota } = await import('../../src/quota/none.js');
  const { UnpackPool } = await import('../../src/layer/index.js');
  const { snapshot, comparable } = await import('./layer-tree.js');
  // 15 MiB in all: enough for the pool to start its workers (SPAWN_MIN_BYTES).
  const big = (i: number): TarEntry[] => [
    { name: `lib${i}/`, type: 'dir', mode: 0o755, mtime: 1600000000 },
    { name: `lib${i}/blob.so`, content: randomBytes(5 << 20), mode: 0o755, mtime: 1600000001 },
    { name: `lib${i}/link`, type: 'symlink', linkname: 'blob.so', mtime: 1600000002 },
    { name: `etc/conf${i}`, content: `n=${i}\n`, mode: 0o600, uid: 1000 + i },
  ];
  const src = await layout('workers', [big(0), big(1), [{ name: 'small', content: 'tiny' }], big(2)]);

  const pool = new UnpackPool(2);
  const handedOver = jest.spyOn(pool, 'apply');
  const prepared = jest.spyOn(pool, 'prepare');
  const threaded = new OverlayEngine(await Store.open(join(tmp, 'store-w'), { repair: false }), new NoneQuota(), { pool });
  const plain = await openEngine({ storePath: join(tmp, 'store-p'), quota: 'none', unpackWorkers: 0 });
  try {
    const a = await threaded.pull(src);
    // Both lanes were taken: some layers went to a worker, at least one (a tie) stayed here.
    expect(handedOver.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(handedOver.mock.calls.length).toBeLessThanOrEqual(3);
    const b = await plain.pull(src);
    expect(b.chainIDs).toEqual(a.chainIDs);
    for (const id of a.chainIDs) {
      const key = id.replace(/^sha256:/, '');
      const tree = (root: string) => comparable(snapshot(join(root, 'volumes', key)), { implicitDirs: true });
      expect(tree(join(tmp, 'store-w'))).toEqual(tree(join(tmp, 'store-p')));
    }
    // And a root filesystem over the worker-made volumes shows every layer; nothing is left
    // to unpack then, so no worker is asked to start.
    await threaded.create({ id: 'w', source: src });
    expect(prepared.mock.calls.map((c) => c[0])).toEqual([expect.any(Number), 0]);
    expect(prepared.mock.calls[0]![0]).toBeGreaterThan(15 << 20);
    expect(readFileSync(join(tmp, 'store-w', 'images', 'w', 'rootfs', 'etc', 'conf2'), 'utf8')).toBe('n=2\n');
    expect(statSync(join(tmp, 'store-w', 'images', 'w', 'rootfs', 'lib1', 'blob.so')).size).toBe(5 << 20);
  } finally {
    await threaded.close();
    await plain.close();
  }
});

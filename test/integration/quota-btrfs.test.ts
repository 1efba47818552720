// btrfs qgroups for real: a loop-mounted btrfs store made by initStore, subvolumes per rootfs,
// writes past the limit refused, usage numbers, release, reboot, delete-store. Root only.
import { mkdtemp, mkdir, writeFile, readFile, rm, stat, open } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initStore, ensureStoreMounted, deleteStore, capacity, backingFilePath } from '../../src/store/backing.js';
import { detectQuotaBackend, BtrfsQuotaBackend } from '../../src/quota/index.js';
import { qgroupInfo, subvolumeId, quotaStatus } from '../../src/sys/btrfs.js';
import { loopDevicesFor, detachLoop } from '../../src/sys/loop.js';
import { umount, mountTable, mountOverlay, MNT_DETACH } from '../../src/sys/mount.js';

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
const maybe = isRoot ? describe : describe.skip;

/** Write `total` bytes in 1 MiB chunks; the bytes written and the error that stopped it, if any. */
async function writeUpTo(path: string, total: number): Promise<{ written: number; error?: NodeJS.ErrnoException }> {
  const fh = await open(path, 'w');
  const chunk = Buffer.alloc(MiB, 0x61);
  let written = 0;
  try {
    while (written < total) {
      const { bytesWritten } = await fh.write(chunk, 0, Math.min(MiB, total - written));
      written += bytesWritten;
    }
    await fh.sync();
  } catch (e) {
    return { written, error: e as NodeJS.ErrnoException };
  } finally {
    await fh.close().catch(() => undefined);
  }
  return { written };
}

/** Node 20's libuv has no name for EDQUOT: it reports "Unknown system error -122". */
function quotaRefused(e: NodeJS.ErrnoException | undefined): boolean {
  return !!e && (e.code === 'EDQUOT' || e.code === 'ENOSPC' || e.errno === -122 || e.errno === -28);
}

async function mountsBelow(dir: string): Promise<string[]> {
  return (await mountTable()).filter((m) => m.mountpoint === dir || m.mountpoint.startsWith(dir + '/')).map((m) => m.mountpoint);
}

maybe('btrfs quota backend on a loop-mounted store', () => {
  let tmp: string;
  let store: string;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'groot-qbtrfs-'));
    store = join(tmp, 'store');
  });

  afterAll(async () => {
    // Whatever a failed test left: mounts, loop devices, files.
    try { await deleteStore(store); } catch { /* fall through to the hard way */ }
    for (const m of (await mountsBelow(tmp)).reverse()) umount(m, MNT_DETACH);
    for (const d of loopDevicesFor(backingFilePath(store))) { try { detachLoop(d); } catch { /* gone */ } }
    await rm(tmp, { recursive: true, force: true });
  });

  test('initStore makes a sparse backing file beside the store and mounts it, quotas on', async () => {
    const r = await initStore({ storePath: store, sizeBytes: 256 * MiB, fs: 'btrfs' });
    expect(r.action).toBe('created');
    expect(r.backingFile).toBe(`${store}.backing-store`);
    expect(r.quota.kind).toBe('btrfs');
    const m = (await mountTable()).find((x) => x.mountpoint === store);
    expect(m?.fstype).toBe('btrfs');
    expect(m?.options.split(',')).toContain('noatime');
    expect(m?.source).toMatch(/^\/dev\/loop\d+$/);
    expect(loopDevicesFor(r.backingFile!)).toEqual([m!.source]);
    const st = await stat(r.backingFile!);
    expect(st.size).toBe(256 * MiB);
    expect(st.blocks * 512).toBeLessThan(256 * MiB); // sparse
    expect((await stat(store)).mode & 0o777).toBe(0o700);
    expect(quotaStatus(store).enabled).toBe(true);
    const cap = await capacity(store);
    expect(cap).toBeGreaterThan(200 * MiB);
    expect(cap).toBeLessThanOrEqual(256 * MiB);
  });

  test('initStore again is a no-op, also when two run at once', async () => {
    const before = (await mountTable()).filter((x) => x.mountpoint === store).length;
    const [a, b] = await Promise.all([
      initStore({ storePath: store, sizeBytes: 256 * MiB, fs: 'btrfs' }),
      initStore({ storePath: store, sizeBytes: 512 * MiB, fs: 'btrfs' }),
    ]);
    expect([a.action, b.action]).toEqual(['none', 'none']);
    expect((await mountTable()).filter((x) => x.mountpoint === store).length).toBe(before);
    expect((await stat(backingFilePath(store))).size).toBe(256 * MiB);
  });

  test('detectQuotaBackend picks btrfs', async () => {
    expect((await detectQuotaBackend(store)).kind).toBe('btrfs');
  });

  test('a write past the limit fails with EDQUOT, usage follows, the store keeps working', async () => {
    const q = new BtrfsQuotaBackend();
    const dir = join(store, 'images', 'limited');
    await q.assign(dir);
    expect((await stat(dir)).ino).toBe(256); // a subvolume root
    await q.assign(dir); // idempotent
    await q.setLimit(dir, 10 * MiB);
    const empty = await q.usage(dir);
    expect(empty).toBeLessThan(64 * 1024);

    const r = await writeUpTo(join(dir, 'big'), 20 * MiB);
    expect(quotaRefused(r.error)).toBe(true);
    expect(r.written).toBeLessThanOrEqual(10 * MiB);
    expect(r.written).toBeGreaterThan(8 * MiB);
    const used = await q.usage(dir);
    expect(used).toBeGreaterThan(8 * MiB);
    expect(used).toBeLessThanOrEqual(10 * MiB + 64 * 1024);

    // Outside the limited subvolume the store is unaffected.
    const free = await writeUpTo(join(store, 'outside'), 20 * MiB);
    expect(free.error).toBeUndefined();
    await rm(join(store, 'outside'));

    // Freeing space under the limit makes room again.
    await rm(join(dir, 'big'));
    expect(await q.usage(dir)).toBeLessThan(1 * MiB);
    expect((await writeUpTo(join(dir, 'again'), 5 * MiB)).error).toBeUndefined();

    // 0 lifts the limit.
    await q.setLimit(dir, 0);
    expect((await writeUpTo(join(dir, 'unlimited'), 20 * MiB)).error).toBeUndefined();
    expect(await q.usage(dir)).toBeGreaterThanOrEqual(25 * MiB);
  });

  test('overlay upper and work in the subvolume: writing through the mounted rootfs hits the limit', async () => {
    const q = new BtrfsQuotaBackend();
    const lower = join(store, 'volumes', 'base');
    await mkdir(lower, { recursive: true });
    await writeFile(join(lower, 'hello'), 'from the image\n');
    const dir = join(store, 'images', 'ovl');
    await q.assign(dir);
    await q.setLimit(dir, 8 * MiB);
    for (const d of ['diff', 'workdir', 'rootfs']) await mkdir(join(dir, d));
    mountOverlay({ lowers: [lower], upper: join(dir, 'diff'), work: join(dir, 'workdir'), target: join(dir, 'rootfs') });
    try {
      expect(await readFile(join(dir, 'rootfs', 'hello'), 'utf8')).toBe('from the image\n');
      const r = await writeUpTo(join(dir, 'rootfs', 'fill'), 16 * MiB);
      expect(quotaRefused(r.error)).toBe(true);
      expect(r.written).toBeLessThanOrEqual(8 * MiB);
      expect(existsSync(join(dir, 'diff', 'fill'))).toBe(true); // it landed in the upper
      expect(await q.usage(dir)).toBeGreaterThan(6 * MiB);
    } finally {
      umount(join(dir, 'rootfs'));
    }
    await q.release(dir);
    expect(existsSync(dir)).toBe(false);
  });

  test('release deletes the subvolume and its qgroup', async () => {
    const q = new BtrfsQuotaBackend();
    const dir = join(store, 'images', 'to-release');
    await q.assign(dir);
    await q.setLimit(dir, 4 * MiB);
    await writeFile(join(dir, 'f'), Buffer.alloc(MiB));
    const id = subvolumeId(dir);
    expect(qgroupInfo(store, id)).toBeDefined();
    await q.release(dir);
    expect(existsSync(dir)).toBe(false);
    expect(qgroupInfo(store, id)).toBeUndefined();
    await q.release(dir); // twice is fine
    await expect(q.usage(dir)).rejects.toThrow(/never assigned/);
    await expect(q.setLimit(dir, 1)).rejects.toMatchObject({ code: 'GROOT_QUOTA' });
  });

  test('a plain dir in the way of assign: empty is replaced, non-empty is refused', async () => {
    const q = new BtrfsQuotaBackend();
    const empty = join(store, 'images', 'plain-empty');
    await mkdir(empty, { recursive: true });
    await q.assign(empty);
    expect((await stat(empty)).ino).toBe(256);
    await q.release(empty);
    const full = join(store, 'images', 'plain-full');
    await mkdir(full, { recursive: true });
    await writeFile(join(full, 'x'), 'x');
    await expect(q.assign(full)).rejects.toThrow(/not a btrfs subvolume/);
    await expect(q.release(full)).rejects.toThrow(/not a btrfs subvolume/);
    expect(await readFile(join(full, 'x'), 'utf8')).toBe('x'); // nothing lost
    await setNegative(q);
  });

  async function setNegative(q: BtrfsQuotaBackend) {
    await expect(q.setLimit(join(store, 'images', 'plain-full'), -1)).rejects.toThrow(/>= 0/);
  }

  test('after a "reboot" (mount gone, loop detached) ensureStoreMounted puts it back with its data', async () => {
    await writeFile(join(store, 'survives'), 'yes');
    const q = new BtrfsQuotaBackend();
    const dir = join(store, 'images', 'across-reboot');
    await q.assign(dir);
    await q.setLimit(dir, 3 * MiB);

    umount(store);
    expect(await mountsBelow(store)).toEqual([]);
    expect(loopDevicesFor(backingFilePath(store))).toEqual([]); // autoclear
    expect(existsSync(join(store, 'survives'))).toBe(false);

    const [a, b] = await Promise.all([ensureStoreMounted(store), ensureStoreMounted(store)]);
    expect([a, b].filter(Boolean)).toHaveLength(1); // one of them mounted it
    expect(await ensureStoreMounted(store)).toBe(false);
    expect(await mountsBelow(store)).toEqual([store]);
    expect(await readFile(join(store, 'survives'), 'utf8')).toBe('yes');
    expect(quotaStatus(store).enabled).toBe(true);
    // The limit is on disk, not in memory.
    const r = await writeUpTo(join(dir, 'f'), 8 * MiB);
    expect(quotaRefused(r.error)).toBe(true);
  });

  test('deleteStore leaves nothing mounted, attached or on disk', async () => {
    // Something mounted inside the store too, as a live rootfs would be.
    await new BtrfsQuotaBackend().setLimit(join(store, 'images', 'across-reboot'), 0);
    const inner = join(store, 'images', 'across-reboot', 'rootfs');
    await mkdir(inner, { recursive: true });
    const lower = join(store, 'volumes', 'base');
    await mkdir(join(store, 'images', 'across-reboot', 'w'), { recursive: true });
    await mkdir(join(store, 'images', 'across-reboot', 'u'), { recursive: true });
    mountOverlay({ lowers: [lower], upper: join(store, 'images', 'across-reboot', 'u'), work: join(store, 'images', 'across-reboot', 'w'), target: inner });
    const device = (await mountTable()).find((m) => m.mountpoint === store)!.source;

    await deleteStore(store);
    expect(await mountsBelow(store)).toEqual([]);
    expect(loopDevicesFor(backingFilePath(store))).toEqual([]);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(store);
    // The device may already serve someone else (tests run in parallel), but not our file.
    const sysBacking = `/sys/block/${device.replace('/dev/', '')}/loop/backing_file`;
    if (existsSync(sysBacking)) expect(readFileSync(sysBacking, 'utf8')).not.toContain(backingFilePath(store));
    expect(existsSync(store)).toBe(false);
    expect(existsSync(backingFilePath(store))).toBe(false);
    expect(existsSync(`${store}.backing-store.lock`)).toBe(false);
    await deleteStore(store); // nothing there: fine
  });
});

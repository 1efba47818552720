// The loop-mounted backing store with XFS (the default) on this machine's kernel, plus the
// store-path cases that make no backing file. Root only.
import { mkdtemp, mkdir, writeFile, readFile, rm, stat, readdir, truncate } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initStore, ensureStoreMounted, deleteStore, capacity, backingFilePath } from '../../src/store/backing.js';
import { detectQuota, detectQuotaBackend } from '../../src/quota/index.js';
import { blockDeviceOf } from '../../src/quota/xfs.js';
import { loopDevicesFor, detachLoop } from '../../src/sys/loop.js';
import { umount, mountTable, MNT_DETACH } from '../../src/sys/mount.js';

const MiB = 1024 * 1024;
const maybe = process.getuid?.() === 0 ? describe : describe.skip;

maybe('backing store', () => {
  let tmp: string;

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'groot-qback-'));
  });

  afterEach(async () => {
    for (const m of (await mountTable()).filter((x) => x.mountpoint.startsWith(tmp + '/')).reverse()) umount(m.mountpoint, MNT_DETACH);
    for (const name of await readdir(tmp)) {
      if (name.endsWith('.backing-store')) for (const d of loopDevicesFor(join(tmp, name))) { try { detachLoop(d); } catch { /* gone */ } }
    }
    await rm(tmp, { recursive: true, force: true });
  });

  test('XFS by default: formatted, loop-mounted noatime; quotas on exactly when the kernel takes prjquota', async () => {
    const store = join(tmp, 'store');
    const r = await initStore({ storePath: store, sizeBytes: 320 * MiB });
    expect(r.action).toBe('created');
    const m = (await mountTable()).find((x) => x.mountpoint === store)!;
    expect(m.fstype).toBe('xfs');
    expect(m.options.split(',')).toContain('noatime');
    expect(m.source).toMatch(/^\/dev\/loop\d+$/);
    expect(await blockDeviceOf(join(store))).toBe(m.source); // what quotactl is given when mountinfo says /dev/root
    expect((await stat(store)).mode & 0o777).toBe(0o700);
    const prj = /(^|,)(prjquota|pquota)(,|$)/.test(m.superOptions);
    // This build machine's kernel has no XFS quota: the store works with quotas off, and says why.
    expect(r.quota.kind).toBe(prj ? 'xfs' : 'none');
    expect((await detectQuotaBackend(store)).kind).toBe(prj ? 'xfs' : 'none');
    if (!prj) {
      expect(r.quota.reason).toMatch(/not mounted with prjquota/);
      expect(JSON.parse(await readFile(join(store, 'meta', 'quota.json'), 'utf8'))).toEqual({ kind: 'none', reason: r.quota.reason });
    }
    expect(await capacity(store)).toBeGreaterThan(250 * MiB);
    expect(await capacity(store)).toBeLessThanOrEqual(320 * MiB);

    expect((await initStore({ storePath: store, sizeBytes: 320 * MiB })).action).toBe('none');

    // Reboot: mount gone, file kept; the next command remounts.
    await writeFile(join(store, 'kept'), 'x');
    umount(store);
    expect(loopDevicesFor(backingFilePath(store))).toEqual([]);
    expect(await ensureStoreMounted(store)).toBe(true);
    expect(await readFile(join(store, 'kept'), 'utf8')).toBe('x');
    // initStore after a reboot remounts too.
    umount(store);
    expect((await initStore({ storePath: store, sizeBytes: 320 * MiB })).action).toBe('remounted');

    await deleteStore(store);
    expect((await mountTable()).some((x) => x.mountpoint.startsWith(store))).toBe(false);
    expect(loopDevicesFor(backingFilePath(store))).toEqual([]);
    expect(await readdir(tmp)).toEqual([]);
  });

  test('bad arguments are refused before anything is made', async () => {
    await expect(initStore({ storePath: 'relative/store', sizeBytes: 1 })).rejects.toMatchObject({ code: 'GROOT_INVALID_ARGUMENT' });
    await expect(initStore({ storePath: '/', sizeBytes: 320 * MiB })).rejects.toMatchObject({ code: 'GROOT_INVALID_ARGUMENT' });
    await expect(initStore({ storePath: join(tmp, 's'), sizeBytes: -1 })).rejects.toThrow(/store size -1/);
    await expect(initStore({ storePath: join(tmp, 's'), sizeBytes: 1.5 })).rejects.toThrow(/whole number/);
    await expect(initStore({ storePath: join(tmp, 's'), sizeBytes: 320 * MiB, fs: 'zfs' as never })).rejects.toThrow(/not one of xfs, btrfs/);
    expect(await readdir(tmp)).toEqual([]);
  });

  test('a size mkfs refuses: a clear error naming the store, nothing left behind', async () => {
    const store = join(tmp, 'small');
    await expect(initStore({ storePath: store, sizeBytes: 64 * MiB, fs: 'xfs' })).rejects.toThrow(/format xfs backing store for .*small.*mkfs\.xfs failed: .*300MB/);
    await expect(initStore({ storePath: store, sizeBytes: 32 * MiB, fs: 'btrfs' })).rejects.toThrow(/mkfs\.btrfs failed/);
    expect((await readdir(tmp)).filter((n) => n.includes('backing-store') && !n.endsWith('.lock'))).toEqual([]);
    expect((await mountTable()).some((x) => x.mountpoint === store)).toBe(false);
    await deleteStore(store);
    expect(await readdir(tmp)).toEqual([]);
  });

  test('no size: the store lives on the filesystem it is on, quotas as that filesystem allows', async () => {
    const store = join(tmp, 'plain');
    const r = await initStore({ storePath: store });
    expect(r.action).toBe('none');
    expect(r.backingFile).toBeUndefined();
    expect(await readdir(tmp)).toEqual(['plain']); // no backing file, no lock file beside it
    expect((await stat(store)).mode & 0o777).toBe(0o700);
    expect(r.quota).toEqual(await detectQuota(store));
    expect(await ensureStoreMounted(store)).toBe(false);
    await deleteStore(store);
    expect(existsSync(store)).toBe(false);
  });

  test('a store that already has contents gets no backing file over it (nothing hidden)', async () => {
    const store = join(tmp, 'used');
    await mkdir(store);
    await writeFile(join(store, 'precious'), 'keep me');
    const r = await initStore({ storePath: store, sizeBytes: 320 * MiB });
    expect(r.action).toBe('none');
    expect(existsSync(backingFilePath(store))).toBe(false);
    expect(await readFile(join(store, 'precious'), 'utf8')).toBe('keep me');
  });

  test('a backing file that holds no known filesystem is an error naming it', async () => {
    const store = join(tmp, 'junk');
    await writeFile(backingFilePath(store), '');
    await truncate(backingFilePath(store), 8 * MiB);
    await expect(ensureStoreMounted(store)).rejects.toThrow(/junk\.backing-store holds neither an XFS nor a btrfs/);
    expect(loopDevicesFor(backingFilePath(store))).toEqual([]);
  });
});

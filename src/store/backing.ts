// The store's own filesystem: a sparse backing file beside the store (`<store>.backing-store`,
// as GrootFS names it), formatted XFS (or btrfs) and loop-mounted on the store path with
// noatime and quotas on. A reboot drops the mount but keeps the file: ensureStoreMounted()
// puts it back. The loop device is attached with autoclear, so unmounting detaches it.
import { execFile } from 'node:child_process';
import { closeSync, constants as fsConstants } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { attachLoop, detachLoop, loopDevicesFor } from '../sys/loop.js';
import { mount, isMountpoint, MS_NOATIME } from '../sys/mount.js';
import { unmountTree } from './mounts.js';
import { lockFile } from '../sys/flock.js';
import * as btrfs from '../sys/btrfs.js';
import { InvalidArgumentError, StoreError, SyscallError } from '../errors/index.js';
import { detectQuota, warnQuotasOff, type QuotaDetection } from '../quota/index.js';
import { logger } from '../log/index.js';

const log = logger('store-backing');

export type StoreFs = 'xfs' | 'btrfs';

export interface InitStoreOptions {
  storePath: string;
  /** Size of the backing file; 0 or undefined: no backing store, use the filesystem the path is on. */
  sizeBytes?: number;
  /** Filesystem for a new backing store (default xfs). */
  fs?: StoreFs;
}

export interface InitStoreResult {
  /** What was done: a new backing store, a remount of an existing one, or nothing. */
  action: 'created' | 'remounted' | 'none';
  backingFile?: string;
  quota: QuotaDetection;
}

const EINVAL = 22, EOPNOTSUPP = 95;

/** `<store>.backing-store`: beside the store, never inside it (the mount would hide it). */
export function backingFilePath(storePath: string): string {
  return `${resolve(storePath)}.backing-store`;
}

function lockPath(storePath: string): string {
  return `${resolve(storePath)}.backing-store.lock`;
}

/**
 * Make the store's filesystem ready. Idempotent: an initialised store (mounted, or with a
 * backing file to remount, or an existing directory on some filesystem) is used as it is.
 */
export async function initStore(o: InitStoreOptions): Promise<InitStoreResult> {
  const storePath = checkStorePath(o.storePath);
  const size = o.sizeBytes ?? 0;
  if (!Number.isSafeInteger(size) || size < 0) throw new InvalidArgumentError(`store size ${o.sizeBytes} is not a whole number of bytes >= 0`);
  const fs = o.fs ?? 'xfs';
  if (fs !== 'xfs' && fs !== 'btrfs') throw new InvalidArgumentError(`store filesystem ${JSON.stringify(o.fs)} is not one of xfs, btrfs`);

  await mkdir(dirname(storePath), { recursive: true });
  const backing = backingFilePath(storePath);
  // Only making or mounting a backing store needs the lock (and its file beside the store).
  const needsLock = !(await isMountpoint(storePath)) && (size > 0 || (await exists(backing)));
  const lock = needsLock ? await lockFile(lockPath(storePath), 'exclusive') : undefined;
  try {
    let action: InitStoreResult['action'] = 'none';
    if (await isMountpoint(storePath)) {
      log.debug({ store: storePath }, 'store is mounted already: used as it is');
    } else if (await exists(backing)) {
      await mountBacking(storePath, backing);
      action = 'remounted';
    } else if (size > 0 && !(await hasContents(storePath))) {
      await createBacking(storePath, backing, size, fs);
      action = 'created';
    } else if (size > 0) {
      log.warn({ store: storePath }, 'store already has contents on the filesystem it is on: no backing store made');
    }
    await mkdir(storePath, { recursive: true, mode: 0o700 });
    await chmod(storePath, 0o700);
    const quota = await detectQuota(storePath);
    if (quota.kind === 'none') await warnQuotasOff(storePath, quota.reason);
    return { action, backingFile: (await exists(backing)) ? backing : undefined, quota };
  } finally {
    await lock?.release();
  }
}

/**
 * After a reboot the mount is gone but the backing file is not: mount it again. Cheap when
 * there is nothing to do (one stat, one read of mountinfo); the CLI and the engine call it
 * before every command. True when it mounted.
 */
export async function ensureStoreMounted(storePath: string): Promise<boolean> {
  storePath = checkStorePath(storePath);
  const backing = backingFilePath(storePath);
  if (!(await exists(backing)) || (await isMountpoint(storePath))) return false;
  const lock = await lockFile(lockPath(storePath), 'exclusive');
  try {
    if (await isMountpoint(storePath)) return false; // another process was first
    await mountBacking(storePath, backing);
    log.info({ store: storePath, backing }, 'store remounted from its backing file');
    return true;
  } finally {
    await lock.release();
  }
}

/**
 * Unmount everything at or below the store, detach its loop devices and remove the store
 * and its backing file. Nothing is left mounted or attached. A store that is not there is
 * not an error.
 */
export async function deleteStore(storePath: string): Promise<void> {
  storePath = checkStorePath(storePath);
  const backing = backingFilePath(storePath);
  const lock = await lockFile(lockPath(storePath), 'exclusive');
  try {
    await unmountTree(storePath);
    for (const dev of loopDevicesFor(backing)) {
      try { detachLoop(dev); } catch (e) { log.warn({ device: dev, err: (e as Error).message }, 'could not detach loop device'); }
    }
    await removeTree(storePath);
    await rm(backing, { force: true });
  } finally {
    await lock.release();
    await rm(lockPath(storePath), { force: true });
  }
}

/** Bytes the store's filesystem can hold (its size, as statfs reports it). */
export async function capacity(storePath: string): Promise<number> {
  storePath = checkStorePath(storePath);
  const s = await statfs(storePath);
  return s.blocks * s.bsize;
}

function checkStorePath(p: string): string {
  if (typeof p !== 'string' || p === '' || !isAbsolute(p)) throw new InvalidArgumentError(`store path ${JSON.stringify(p)} must be an absolute path`);
  const r = resolve(p);
  if (r === '/') throw new InvalidArgumentError('store path must not be /');
  return r;
}

async function createBacking(storePath: string, backing: string, size: number, fs: StoreFs): Promise<void> {
  // Format under a temporary name: a backing file that exists is always a whole filesystem.
  const tmp = `${backing}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    const fh = await open(tmp, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_RDWR, 0o600);
    try { await fh.truncate(size); } finally { await fh.close(); }
    await run(fs === 'xfs' ? 'mkfs.xfs' : 'mkfs.btrfs', ['-f', '-q', tmp], `format ${fs} backing store for ${storePath} (${size} bytes)`);
    await rename(tmp, backing);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  log.info({ store: storePath, backing, size, fs }, 'backing store created');
  await mountBacking(storePath, backing);
}

/** Attach the backing file to a loop device and mount it on the store with quotas on. */
async function mountBacking(storePath: string, backing: string): Promise<void> {
  const fs = await fsTypeOf(backing);
  await mkdir(storePath, { recursive: true, mode: 0o700 });
  const lo = attachLoop(backing, { autoclear: true });
  try {
    if (fs === 'xfs') {
      try {
        mount(lo.device, storePath, 'xfs', MS_NOATIME, 'prjquota');
      } catch (e) {
        // A kernel without XFS quota refuses prjquota: the store still works, without quotas.
        if (!(e instanceof SyscallError && [EINVAL, EOPNOTSUPP].includes(e.errno))) throw e;
        mount(lo.device, storePath, 'xfs', MS_NOATIME, null);
        log.debug({ store: storePath }, 'XFS mounted without prjquota: this kernel has no XFS quota support');
      }
    } else {
      mount(lo.device, storePath, 'btrfs', MS_NOATIME, null);
      try {
        if (!btrfs.quotaStatus(storePath).enabled) {
          btrfs.enableQuota(storePath);
          btrfs.waitQuotaRescan(storePath);
        }
      } catch (e) {
        log.debug({ store: storePath, err: (e as Error).message }, 'btrfs quotas could not be enabled');
      }
    }
  } catch (e) {
    throw new StoreError(`cannot mount backing store ${backing} on ${storePath}: ${(e as Error).message}`, { cause: e });
  } finally {
    // The mount now holds the device; with autoclear, our close never detaches it while mounted,
    // and detaches it at once if the mount failed.
    closeSync(lo.fd);
  }
  await chmod(storePath, 0o700);
}

/** The filesystem in a backing file, from its superblock magic. */
async function fsTypeOf(file: string): Promise<StoreFs> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(8);
    await fh.read(b, 0, 4, 0);
    if (b.subarray(0, 4).toString('latin1') === 'XFSB') return 'xfs';
    await fh.read(b, 0, 8, 0x10040);
    if (b.toString('latin1') === '_BHRfS_M') return 'btrfs';
  } finally {
    await fh.close();
  }
  throw new StoreError(`backing store ${file} holds neither an XFS nor a btrfs filesystem`);
}

/** rm -rf that also takes btrfs subvolumes (when the store was not on its own backing file). */
async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTEMPTY' && code !== 'EBUSY') throw e;
    // A subvolume root cannot always be rmdir'ed: delete it as a subvolume.
    await deleteSubvolumesBelow(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

async function deleteSubvolumesBelow(dir: string): Promise<void> {
  let entries;
  try { entries = await readdir(dir, { withFileTypes: true }); } catch { return; }
  for (const ent of entries) {
    if (!ent.isDirectory()) continue;
    const p = `${dir}/${ent.name}`;
    const st = await stat(p);
    if (st.ino === 256) {
      try { btrfs.deleteSubvolume(p); continue; } catch { /* not btrfs after all */ }
    }
    await deleteSubvolumesBelow(p);
  }
}

async function exists(p: string): Promise<boolean> {
  try { await stat(p); return true; } catch { return false; }
}

async function hasContents(dir: string): Promise<boolean> {
  try { return (await readdir(dir)).length > 0; } catch { return false; }
}

function run(cmd: string, args: string[], what: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { timeout: 300_000 }, (err, _stdout, stderr) => {
      if (!err) return resolvePromise();
      const detail = String(stderr).trim().split('\n')[0] || err.message;
      reject(new StoreError(`cannot ${what}: ${cmd} failed: ${detail}`, { cause: err }));
    });
  });
}


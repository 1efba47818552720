// The engine: root filesystems on overlay over the store's volumes, with quotas.
import { mkdir, readdir, rm, stat, lstat, chown, chmod, statfs } from 'node:fs/promises';
import { join, resolve, relative, sep } from 'node:path';
import { logger } from '../log/index.js';
import { GrootError, InvalidArgumentError, InvalidImageError, QuotaExceededError, RootfsExistsError, RootfsNotFoundError, StoreFullError, SyscallError, isGrootError, noSpaceCode, noSpaceWords } from '../errors/index.js';
import { mountTable } from '../sys/index.js';
import type { QuotaBackend } from '../quota/types.js';
import { Store, pullImage, checkName, unmountTree, isDir, digestKey, type PullDeps, type RootfsRecord, type VolumeMeta } from '../store/index.js';
import type { CleanResult, CreateOptions, Engine, ImageInfo, PullOptions, RootfsInfo, RuntimeSpec, Stats } from './types.js';
import { checkDiskLimit, upperLimit } from './limits.js';
import { overlayDirs, mountSpec, mountRootfs } from './overlay.js';
import { runtimeSpec } from './spec.js';

const log = logger('rootfs');

export class OverlayEngine implements Engine {
  constructor(readonly store: Store, readonly quota: QuotaBackend, private readonly deps: PullDeps = {}) {
    store.teardown = (id, dir) => this.teardown(id, dir);
  }

  get storePath(): string { return this.store.path; }

  get idMap() { return this.store.idMap; }

  pull(source: string, opts: PullOptions & { pin?: string } = {}): Promise<ImageInfo> {
    return this.pullImage(source, opts).catch((e: unknown) => { throw storeFull(e, this.store.path, source, `pull of ${source}`); });
  }

  create(o: CreateOptions): Promise<{ spec: RuntimeSpec; rootfs: RootfsInfo }> {
    return this.createRootfs(o).catch((e: unknown) => { throw storeFull(e, this.store.path, o.source, `create \`${o.id}\` from ${o.source}`); });
  }

  private async pullImage(source: string, opts: PullOptions & { pin?: string }): Promise<ImageInfo> {
    if (opts.pin !== undefined) checkName('pin name', opts.pin);
    const created: string[] = [];
    let ok = false;
    const lock = await this.store.locks.store('shared', opts.signal);
    try {
      const { info } = await pullImage(this.store, source, opts, created, this.deps);
      if (opts.pin !== undefined) await this.store.pins.pin(opts.pin, info);
      ok = true;
      return info;
    } finally {
      await lock.release();
      if (!ok) await this.discard(created);
    }
  }

  async unpin(name: string): Promise<void> {
    await this.store.pins.unpin(name);
  }

  private async createRootfs(o: CreateOptions): Promise<{ spec: RuntimeSpec; rootfs: RootfsInfo }> {
    checkName('id', o.id);
    const diskLimit = o.diskLimitBytes ?? 0;
    checkDiskLimit(diskLimit);
    const exclude = o.excludeImageFromQuota ?? false;
    const wantsMount = o.mount !== false;
    const L = this.store.layout;
    const dir = L.rootfsDir(o.id);
    const created: string[] = [];
    let ok = false;

    // The shared store lock spans pull to record, so clean cannot take volumes from under
    // a rootfs being made; the id lock keeps two creates/deletes of one id apart.
    const storeLock = await this.store.locks.store('shared', o.signal);
    try {
      const idLock = await this.store.locks.rootfs(o.id, o.signal);
      try {
        if (await this.store.rootfs.get(o.id)) throw new RootfsExistsError(`image for id \`${o.id}\` already exists`);
        if (await exists(dir)) {
          log.warn({ id: o.id }, 'removing the remains of an earlier, interrupted create');
          await this.teardown(o.id, dir);
        }
        const inclusiveCap = !exclude && diskLimit > 0 ? diskLimit : undefined;
        const { info, volumes } = await pullImage(this.store, o.source, { ...o, maxUnpackedBytes: inclusiveCap ?? o.maxUnpackedBytes }, created, this.deps)
          .catch((e: unknown) => {
            // A layer passing an inclusive limit while unpacking: say it as GrootFS does.
            if (inclusiveCap && isGrootError(e, 'GROOT_QUOTA_EXCEEDED') && !(e as Error).message.startsWith('disk limit')) {
              throw new QuotaExceededError(`disk limit is smaller than volume size: ${(e as Error).message}`, { cause: e });
            }
            throw e;
          });
        if (volumes.length === 0) throw new InvalidImageError(`${o.source}: image has no layers, so there is nothing to make a root filesystem from`);
        const quotaBytes = upperLimit(diskLimit, exclude, info.unpackedSize);
        const linked: VolumeMeta[] = [];
        for (const v of volumes) linked.push(await this.store.volumes.withLink(v, o.signal));
        await this.store.volumes.touch(linked, o.signal);
        const topFirst = [...linked].reverse();
        const dirs = overlayDirs(o.id, topFirst.map((v) => this.store.volumes.relativeLowerPath(v)));
        const mount = mountSpec(L, dirs);
        const rootPath = L.rootfsMountpoint(o.id);

        let rec: RootfsRecord;
        try {
          await this.quota.assign(dir);
          for (const d of [rootPath, L.rootfsUpper(o.id), L.rootfsWork(o.id)]) await mkdir(d, { mode: 0o755 });
          await copyRootAttrs(L.volume(volumeKey(topFirst[0]!)), L.rootfsUpper(o.id));
          if (quotaBytes > 0) await this.quota.setLimit(dir, quotaBytes);
          if (wantsMount) mountRootfs(L, dirs, rootPath);
          rec = {
            id: o.id, path: rootPath, source: o.source, imageDigest: info.digest, chainIDs: info.chainIDs, mount, wantsMount,
            diskLimitBytes: diskLimit, excludeImageFromQuota: exclude, createdAt: new Date().toISOString(),
            quotaBytes, imageSize: info.unpackedSize, quotaBackend: this.quota.kind,
          };
          await this.store.rootfs.put(rec);
        } catch (e) {
          await this.teardown(o.id, dir).catch((te) => log.error({ id: o.id, err: te }, 'cleanup after a failed create failed'));
          throw e;
        }
        ok = true;
        log.info({ id: o.id, source: o.source, digest: info.digest, layers: volumes.length, quotaBytes, mounted: wantsMount }, 'rootfs created');
        return { spec: runtimeSpec(rootPath, info.config.env ?? [], wantsMount ? undefined : mount), rootfs: toInfo(rec, wantsMount) };
      } finally {
        await idLock.release();
      }
    } finally {
      await storeLock.release();
      if (!ok) await this.discard(created);
    }
  }

  async get(id: string): Promise<RootfsInfo | undefined> {
    checkName('id', id);
    const rec = await this.store.rootfs.get(id);
    if (!rec) return undefined;
    const mounted = new Set((await mountTable()).map((m) => m.mountpoint));
    return toInfo(rec, mounted.has(rec.path));
  }

  async list(): Promise<RootfsInfo[]> {
    const mounted = new Set((await mountTable()).map((m) => m.mountpoint));
    return (await this.store.rootfs.list()).map((r) => toInfo(r, mounted.has(r.path)));
  }

  async remount(id: string): Promise<void> {
    checkName('id', id);
    const lock = await this.store.locks.store('shared');
    try {
      const idLock = await this.store.locks.rootfs(id);
      try {
        const rec = await this.store.rootfs.get(id);
        if (!rec) throw new RootfsNotFoundError(`image \`${id}\` not found`);
        if (!rec.wantsMount) return;
        if ((await mountTable()).some((m) => m.mountpoint === rec.path)) return;
        const L = this.store.layout;
        const lowers: string[] = [];
        for (const c of [...rec.chainIDs].reverse()) {
          const v = await this.store.volumes.get(c);
          if (!v) throw new RootfsNotFoundError(`rootfs \`${id}\`: its layer volume ${c} is missing from the store`);
          lowers.push(this.store.volumes.relativeLowerPath(await this.store.volumes.withLink(v)));
        }
        mountRootfs(L, overlayDirs(id, lowers), rec.path);
        log.info({ id }, 'rootfs remounted');
      } finally {
        await idLock.release();
      }
    } finally {
      await lock.release();
    }
  }

  async delete(idOrPath: string): Promise<boolean> {
    const id = this.idOf(idOrPath);
    const dir = this.store.layout.rootfsDir(id);
    const lock = await this.store.locks.store('shared');
    try {
      const idLock = await this.store.locks.rootfs(id);
      try {
        const rec = await this.store.rootfs.get(id);
        if (!rec && !(await exists(dir))) return false;
        // The record goes first: from here on the rootfs is gone, whatever happens next.
        if (rec) await this.store.rootfs.remove(id);
        await this.teardown(id, dir);
        log.info({ id }, 'rootfs deleted');
        return true;
      } finally {
        await idLock.release();
      }
    } finally {
      await lock.release();
    }
  }

  async stats(id: string): Promise<Stats> {
    checkName('id', id);
    const rec = await this.store.rootfs.get(id);
    if (!rec) throw new RootfsNotFoundError(`image \`${id}\` not found`);
    const exclusive = await this.quota.usage(this.store.layout.rootfsDir(id));
    const committedQuotaBytes = await this.store.committedQuotaBytes();
    return { totalBytesUsed: exclusive + rec.imageSize, exclusiveBytesUsed: exclusive, quotaSizeBytes: rec.quotaBytes, committedSpaceBytes: committedQuotaBytes };
  }

  async clean(opts: { thresholdBytes?: number } = {}): Promise<CleanResult> {
    const threshold = opts.thresholdBytes ?? 0;
    if (!Number.isSafeInteger(threshold) || threshold < 0) throw new InvalidArgumentError(`threshold cannot be negative or fractional: got ${threshold}`);
    if (threshold > 0) {
      const u = await this.store.usage();
      if (u.committedQuotaBytes + u.volumesBytes < threshold) {
        log.info({ threshold, ...u }, 'store usage below threshold: not cleaning');
        return { skipped: true, removedVolumes: [], removedImages: [], freedBytes: 0 };
      }
    }
    const lock = await this.store.locks.store('exclusive');
    try {
      await this.store.repair();
      const res = await this.store.collect();
      log.info({ volumes: res.removedVolumes.length, images: res.removedImages.length, freedBytes: res.freedBytes }, 'store cleaned');
      return { skipped: false, ...res };
    } finally {
      await lock.release();
    }
  }

  async capacity(): Promise<number> {
    const s = await statfs(this.store.path);
    return s.blocks * s.bsize;
  }

  async close(): Promise<void> {
    await this.deps.pool?.close();
  }

  /** An id, or a path `<store>/images/<id>[/rootfs]` (Garden passes either). */
  private idOf(idOrPath: string): string {
    if (!idOrPath.includes('/')) {
      checkName('id', idOrPath);
      return idOrPath;
    }
    const rel = relative(this.store.layout.imagesDir, resolve(idOrPath));
    const parts = rel.split(sep);
    if (rel.startsWith('..') || rel === '' || parts.length > 2 || (parts.length === 2 && parts[1] !== 'rootfs')) {
      throw new InvalidArgumentError(`path ${idOrPath} is not a root filesystem of store ${this.store.path}`);
    }
    checkName('id', parts[0]!);
    return parts[0]!;
  }

  /** Unmount and remove a rootfs dir and release its quota; nothing there is fine. */
  private async teardown(id: string, dir: string): Promise<void> {
    if (!(await exists(dir))) return;
    await unmountTree(dir);
    if (!(await isDir(dir))) {
      await rm(dir, { force: true }); // not ours to understand: a stray file in images/
      return;
    }
    // Contents first: the quota backend's release may need the dir itself (a btrfs subvolume).
    for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
    await this.quota.release(dir);
    await rm(dir, { recursive: true, force: true });
    log.debug({ id }, 'rootfs dir removed');
  }

  private async discard(created: string[]): Promise<void> {
    try {
      const removed = await this.store.discardIfUnused(created);
      if (removed.length) log.info({ removed }, 'removed the volumes a failed operation unpacked');
    } catch (e) {
      log.warn({ err: e }, 'could not remove the volumes of a failed operation; clean will');
    }
  }
}

/**
 * A full store's filesystem said once, in words, naming the store, and the source unless
 * the message already does (a layer's does): whichever file the disk filled on. Other
 * errors pass unchanged.
 */
function storeFull(e: unknown, store: string, source: string, subject: string): unknown {
  let detail: string;
  if (e instanceof StoreFullError) {
    detail = e.message; // a layer entry or a record, already in words
  } else {
    const code = noSpaceCode(e);
    if (!code) return e;
    const words = noSpaceWords(code);
    const x = e as NodeJS.ErrnoException;
    if (e instanceof SyscallError) detail = `${e.message.replace(/: [^:]*$/, '')} failed: ${words}`; // "mkdirat(path)"
    else if (e instanceof GrootError) detail = `${e.message}: ${words}`;
    else detail = `${x.syscall ?? 'writing'}${x.path ? ` ${x.path}` : ''} failed: ${words}`;
  }
  return new StoreFullError(`${detail.includes(source) ? detail : `${subject}: ${detail}`} (${store})`, { cause: e });
}

function toInfo(r: RootfsRecord, mounted: boolean): RootfsInfo {
  return {
    id: r.id, path: r.path, source: r.source, imageDigest: r.imageDigest, chainIDs: r.chainIDs, mount: r.mount, mounted,
    wantsMount: r.wantsMount, diskLimitBytes: r.diskLimitBytes, excludeImageFromQuota: r.excludeImageFromQuota, createdAt: r.createdAt,
  };
}

function volumeKey(v: VolumeMeta): string {
  return digestKey(v.chainID);
}

/**
 * The merged root dir takes its owner and mode from the upper dir, so the upper gets those
 * of the topmost layer's root (what `umoci unpack` gives the bundle's rootfs).
 */
async function copyRootAttrs(from: string, to: string): Promise<void> {
  const s = await stat(from);
  await chown(to, s.uid, s.gid);
  await chmod(to, s.mode & 0o7777);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

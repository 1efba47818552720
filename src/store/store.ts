// One store on disk: layout, locks and records, plus start-up repair and garbage collection.
import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { logger } from '../log/index.js';
import { StoreError } from '../errors/index.js';
import { StoreLayout, STORE_DIRS, META_DIRS, INCOMPLETE } from './layout.js';
import { StoreLocks } from './locks.js';
import { VolumeStore, isDir, isDirSync } from './volumes.js';
import { ImageRecords, Pins } from './images.js';
import { RootfsRecords } from './rootfs-records.js';
import { unmountTree } from './mounts.js';
import { idMapOf, readNamespace } from './namespace.js';
import type { IdMap } from '../layer/index.js';
import { digestKey } from './layout.js';

const log = logger('store');

/** Removes a rootfs dir that has no record (half created or half deleted). */
export type RootfsTeardown = (id: string, dir: string) => Promise<void>;

export interface OpenOptions {
  /** How to tear down a half-made rootfs found by repair; default: unmount and rm -rf. */
  teardown?: RootfsTeardown;
  /** Skip start-up repair (tests of repair itself, read-only tools). */
  repair?: boolean;
}

export interface RepairReport {
  incompleteVolumes: string[];
  tmpEntries: string[];
  orphanVolumeMetas: string[];
  links: string[];
  halfRootfs: string[];
  orphanRootfsRecords: string[];
}

export interface CollectResult { removedVolumes: string[]; removedImages: string[]; freedBytes: number }

export class Store {
  readonly layout: StoreLayout;
  readonly locks: StoreLocks;
  readonly volumes: VolumeStore;
  readonly images: ImageRecords;
  readonly pins: Pins;
  readonly rootfs: RootfsRecords;
  /** How repair removes a half-made rootfs; the engine sets one that releases its quota too. */
  teardown: RootfsTeardown;
  /** The uid/gid mappings every volume is unpacked with (namespace.ts); undefined: none. */
  idMap: IdMap | undefined;

  private constructor(root: string, teardown?: RootfsTeardown) {
    this.layout = new StoreLayout(root);
    this.locks = new StoreLocks(this.layout);
    this.volumes = new VolumeStore(this.layout, this.locks);
    this.images = new ImageRecords(this.layout);
    this.pins = new Pins(this.layout);
    this.rootfs = new RootfsRecords(this.layout);
    this.teardown = teardown ?? defaultTeardown;
  }

  get path(): string { return this.layout.root; }

  /**
   * Create the store at `path` (or open the one there) and repair what a crash left. Repair
   * needs the store to itself: when another process is working in it, repair is left to a
   * later open (what it removes is invisible garbage meanwhile).
   */
  static async open(path: string, opts: OpenOptions = {}): Promise<Store> {
    const store = new Store(resolve(path), opts.teardown);
    store.ensureLayout();
    store.idMap = idMapOf(readNamespace(store.path));
    if (opts.repair !== false) await store.tryRepair();
    return store;
  }

  /** Repair when no other process is in the store; undefined when one is. */
  async tryRepair(): Promise<RepairReport | undefined> {
    const lock = await this.locks.tryStoreExclusive();
    if (!lock) return undefined;
    try {
      return await this.repair();
    } finally {
      await lock.release();
    }
  }

  /**
   * Synchronous, as repair is: a dozen calls of microseconds each, where every await is a
   * thread pool round trip (seen: 14 ms for these while an unpack worker was starting).
   */
  private ensureLayout(): void {
    const root = this.layout.root;
    try {
      mkdirSync(root, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new StoreError(`cannot create store ${root}: ${(e as Error).message}`, { cause: e });
    }
    if (!isDirSync(root)) throw new StoreError(`store path ${root} is not a directory`);
    for (const d of STORE_DIRS) mkdirPrivate(join(root, d));
    for (const d of META_DIRS) mkdirPrivate(join(root, 'meta', d));
  }

  /**
   * Remove what interrupted operations left. The caller holds the store lock exclusively.
   * Every CLI command repairs first, so looking stays cheap however big the store: plain
   * synchronous directory reads and stats (microseconds each, where an await costs a thread
   * pool round trip), and no record is read but for a volume with two short links. Removing
   * (rare) takes its time.
   */
  async repair(): Promise<RepairReport> {
    const L = this.layout;
    const report: RepairReport = { incompleteVolumes: [], tmpEntries: [], orphanVolumeMetas: [], links: [], halfRootfs: [], orphanRootfsRecords: [] };

    for (const name of readdirSync(L.tmpDir)) {
      await rm(join(L.tmpDir, name), { recursive: true, force: true });
      report.tmpEntries.push(name);
    }
    for (const name of readdirSync(L.volumesDir)) {
      if (!name.includes(INCOMPLETE)) continue;
      await rm(join(L.volumesDir, name), { recursive: true, force: true });
      report.incompleteVolumes.push(name);
    }
    // Temp files of atomic writes that never got renamed.
    for (const d of META_DIRS) {
      const dir = join(L.metaDir, d);
      for (const name of readdirSync(dir)) {
        if (name.startsWith('.') && name.includes('.tmp-')) await rm(join(dir, name), { force: true });
      }
    }
    const whole = new Set<string>();
    for (const key of await this.volumes.listKeys()) {
      if (isDirSync(L.volume(key))) { whole.add(key); continue; }
      await this.volumes.remove(key);
      report.orphanVolumeMetas.push(key);
    }
    report.links = await this.volumes.pruneLinks(whole);

    const ids = new Set(await this.rootfs.ids());
    for (const id of readdirSync(L.imagesDir)) {
      if (ids.has(id)) continue;
      log.warn({ id }, 'removing a root filesystem that was half created or half deleted');
      await this.teardown(id, L.rootfsDir(id));
      report.halfRootfs.push(id);
    }
    for (const id of ids) {
      if (isDirSync(L.rootfsDir(id))) continue;
      await this.rootfs.remove(id);
      report.orphanRootfsRecords.push(id);
    }
    const changed = Object.values(report).some((v) => v.length > 0);
    if (changed) log.info({ report }, 'store repaired');
    return report;
  }

  /** Chain IDs that a root filesystem or a pin uses. */
  async referencedChains(): Promise<Set<string>> {
    const used = new Set<string>();
    for (const r of await this.rootfs.list()) for (const c of r.chainIDs) used.add(digestKey(c));
    for (const p of await this.pins.list()) for (const c of p.chainIDs) used.add(digestKey(c));
    return used;
  }

  /** Every rootfs's quota together (GrootFS's committed space). */
  async committedQuotaBytes(): Promise<number> {
    let sum = 0;
    for (const r of await this.rootfs.list()) sum += r.quotaBytes;
    return sum;
  }

  /** What GrootFS compares with the clean threshold: committed quota plus all volumes. */
  async usage(): Promise<{ committedQuotaBytes: number; volumesBytes: number }> {
    const committedQuotaBytes = await this.committedQuotaBytes();
    let volumesBytes = 0;
    for (const key of await this.volumes.listKeys()) volumesBytes += (await this.volumes.readByKey(key))?.size ?? 0;
    return { committedQuotaBytes, volumesBytes };
  }

  /**
   * Remove volumes no rootfs or pin uses, image records no rootfs or pin uses, and lock
   * files of things that are gone. The caller holds the store lock exclusively.
   */
  async collect(): Promise<CollectResult> {
    const L = this.layout;
    const used = await this.referencedChains();
    const res: CollectResult = { removedVolumes: [], removedImages: [], freedBytes: 0 };
    const keys = new Set(await this.volumes.listKeys());
    for (const name of await readdir(L.volumesDir)) if (!name.includes(INCOMPLETE)) keys.add(name);
    for (const key of keys) {
      if (used.has(key)) continue;
      const meta = await this.volumes.readByKey(key);
      await this.volumes.remove(key);
      if (await isDir(L.volume(key))) await rm(L.volume(key), { recursive: true, force: true });
      res.removedVolumes.push(key);
      res.freedBytes += meta?.size ?? 0;
    }
    const usedImages = new Set<string>();
    for (const r of await this.rootfs.list()) usedImages.add(r.imageDigest);
    for (const p of await this.pins.list()) usedImages.add(p.digest);
    for (const img of await this.images.list()) {
      if (usedImages.has(img.digest)) continue;
      await this.images.removeByDigest(img.digest);
      res.removedImages.push(img.digest);
    }
    await this.pruneLocks();
    return res;
  }

  /**
   * After a failed pull: drop the volumes it made when nothing else uses them, so a failed
   * create leaves nothing behind. Only when no other process is in the store (they may have
   * found these volumes already); otherwise `clean` collects them later.
   */
  async discardIfUnused(chainIDs: string[]): Promise<string[]> {
    if (chainIDs.length === 0) return [];
    const lock = await this.locks.tryStoreExclusive();
    if (!lock) return [];
    try {
      const used = await this.referencedChains();
      const removed: string[] = [];
      for (const c of chainIDs) {
        const key = digestKey(c);
        if (used.has(key)) continue;
        await this.volumes.remove(key);
        removed.push(key);
      }
      return removed;
    } finally {
      await lock.release();
    }
  }

  /** Lock files of volumes and rootfs that no longer exist. Exclusive store lock held. */
  private async pruneLocks(): Promise<void> {
    const L = this.layout;
    const ids = new Set(await this.rootfs.ids());
    const vols = new Set(await this.volumes.listKeys());
    for (const name of await readdir(L.locksDir)) {
      const chain = /^chain-(.+)\.lock$/.exec(name);
      const rootfs = /^rootfs-(.+)\.lock$/.exec(name);
      if ((chain && !vols.has(chain[1])) || (rootfs && !ids.has(rootfs[1]))) await rm(join(L.locksDir, name), { force: true });
    }
  }
}

function mkdirPrivate(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o700); // mkdir's mode is cut by the umask
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

/** Unmount anything below the rootfs dir, then remove it. */
export async function defaultTeardown(_id: string, dir: string): Promise<void> {
  await unmountTree(dir);
  await rm(dir, { recursive: true, force: true });
}

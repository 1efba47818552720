// Volumes: one unpacked layer per chain ID, shared by every image with that chain.
// A volume is whole once `volumes/<key>` exists; it gets there only by rename from an
// `-incomplete-` dir, after its meta record and short link were written. Start-up repair
// removes the leftovers of any step a crash interrupted.
import { lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { FilesystemSyncer } from '../sys/index.js';
import { logger } from '../log/index.js';
import { StoreError } from '../errors/index.js';
import type { ApplyResult } from '../layer/types.js';
import { StoreLayout, INCOMPLETE, digestKey } from './layout.js';
import { StoreLocks } from './locks.js';
import { readRecord, writeRecord, removeRecord, listRecords } from './records.js';

const log = logger('store');

export interface VolumeMeta {
  chainID: string;
  diffID: string;
  /** Digest of the blob it was unpacked from. */
  digest: string;
  /** The source it was first pulled from (for people; volumes are shared). */
  source: string;
  /** Unpacked bytes (sum of regular file sizes). */
  size: number;
  /** Name in l/ of the short link to this volume. */
  shortLink: string;
  /** False when unpacked with layer validation skipped. */
  verified: boolean;
  /** Parent dirs the layer did not declare (see ApplyResult.implicitDirs). */
  implicitDirs?: string[];
  /** Whether implicitDirs already carry the attributes of the layers below (see inherit.ts). */
  inherited?: boolean;
  createdAt: string;
  lastUsedAt: string;
}

/** How stale a volume's lastUsedAt may get before a use rewrites it. */
export const TOUCH_EVERY_MS = 60 * 60 * 1000;

export interface VolumeOrigin { chainID: string; diffID: string; digest: string; source: string; verified: boolean }

/** Unpacks a layer into `dir` (an empty dir it may fill). */
export type Unpacker = (dir: string) => Promise<ApplyResult>;

export interface EnsureResult { meta: VolumeMeta; created: boolean }

export class VolumeStore {
  private readonly syncer: FilesystemSyncer;

  constructor(private readonly layout: StoreLayout, private readonly locks: StoreLocks) {
    this.syncer = new FilesystemSyncer(layout.volumesDir);
  }

  /**
   * The volume's record when the volume is whole, else undefined. The dir is looked at
   * first: the record of a volume that is not whole may be one a crash left half-written.
   */
  async get(chainID: string): Promise<VolumeMeta | undefined> {
    const key = digestKey(chainID);
    if (!isDirSync(this.layout.volume(key))) return undefined;
    return readRecord<VolumeMeta>(this.layout.volumeMeta(key));
  }

  /** Path overlay uses as a lower: the short link, so option strings stay short. */
  lowerPath(meta: VolumeMeta): string {
    return this.layout.link(meta.shortLink);
  }

  /** Relative to the store root (for mount(2) after chdir into the store). */
  relativeLowerPath(meta: VolumeMeta): string {
    return `l/${meta.shortLink}`;
  }

  /**
   * The volume for `origin`, unpacking it with `unpack` when missing. Holds the chain lock
   * while unpacking, so concurrent callers (any process) unpack a chain once; the others wait
   * and then find it. The caller holds the store lock (shared).
   */
  async ensure(origin: VolumeOrigin, unpack: Unpacker, signal?: AbortSignal): Promise<EnsureResult> {
    const found = await this.get(origin.chainID);
    if (found) return { meta: found, created: false };
    const key = digestKey(origin.chainID);
    const lock = await this.locks.chain(key, signal);
    try {
      const again = await this.get(origin.chainID);
      if (again) return { meta: again, created: false };
      const final = this.layout.volume(key);
      if (isDirSync(final)) {
        // A whole volume without its record: only a hand-edited store gets here. Its
        // content is unknown, so it is replaced rather than trusted.
        log.warn({ volume: final }, 'volume without a meta record: unpacking it again');
        await discardDir(final);
      }
      // Metadata calls here are synchronous (microseconds each; an await costs a thread
      // pool round trip, and 40 layers make hundreds); only the unpack and the sync wait.
      const tmp = `${final}${INCOMPLETE}${randomBytes(6).toString('hex')}`;
      mkdirSync(tmp, { mode: 0o755 });
      let shortLink: string | undefined;
      let recorded = false;
      let renamed = false;
      try {
        const result = await unpack(tmp);
        const old = await this.readLeftover(key);
        if (old) unlinkQuiet(this.layout.link(old.shortLink));
        shortLink = this.makeLink(key);
        const now = new Date().toISOString();
        const implicit = result.implicitDirs ?? [];
        const meta: VolumeMeta = {
          ...origin, size: result.unpackedBytes, shortLink, createdAt: now, lastUsedAt: now,
          ...(implicit.length > 0 ? { implicitDirs: implicit, inherited: false } : {}),
        };
        // The rename says "whole": the files and the record must be on disk before it, or a
        // crash could leave a volume that looks complete and holds empty files. One syncfs
        // (shared with layers committing beside this one) covers them all. The rename itself
        // is made durable by flush(), once for all the layers of a pull.
        await writeRecord(this.layout.volumeMeta(key), meta, { sync: false });
        recorded = true;
        await this.syncer.sync();
        renameSync(tmp, final);
        renamed = true;
        return { meta, created: true };
      } catch (e) {
        // Not whole: nothing of it stays (a full disk must not leave a dangling l/ link or a
        // record for a volume that is not there); once renamed it is whole and stays.
        if (!renamed) {
          await rm(tmp, { recursive: true, force: true });
          try {
            if (shortLink) unlinkQuiet(this.layout.link(shortLink));
            if (recorded) await removeRecord(this.layout.volumeMeta(key));
          } catch (ce) {
            log.warn({ volume: key, err: ce }, 'could not undo a failed unpack; repair will');
          }
        }
        throw e;
      }
    } finally {
      await lock.release();
    }
  }

  /**
   * Make the volumes ensure() created so far durable (their renames): before anything that
   * must not outlive them after a crash (an image record) is written.
   */
  flush(): Promise<void> {
    return this.syncer.sync();
  }

  /**
   * Start writing unpacked data to disk now, without waiting: the sync that marks volumes
   * whole then finds little left to write, and the disk works while the CPU unpacks.
   */
  startWriteback(): void {
    this.syncer.sync().catch(() => { /* the sync before the rename reports for real */ });
  }

  /** Keys of volumes that have a record (whole or not). */
  listKeys(): Promise<string[]> {
    return listRecords(join(this.layout.metaDir, 'volumes'));
  }

  async readByKey(key: string): Promise<VolumeMeta | undefined> {
    return readRecord<VolumeMeta>(this.layout.volumeMeta(key));
  }

  /**
   * Remove a volume. The caller holds the store lock exclusively (nothing may be using it).
   * The rename to an incomplete name is the commit point: after it, the volume is gone
   * even if the process dies before the bytes are.
   */
  async remove(key: string): Promise<void> {
    const meta = await this.readLeftover(key);
    const final = this.layout.volume(key);
    const doomed = `${final}${INCOMPLETE}gc-${randomBytes(6).toString('hex')}`;
    let renamed = false;
    try {
      await rename(final, doomed);
      renamed = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (meta) unlinkQuiet(this.layout.link(meta.shortLink));
    await removeRecord(this.layout.volumeMeta(key));
    if (renamed) await rm(doomed, { recursive: true, force: true });
  }

  /** A record that may belong to a volume that never became whole: half-written counts as none. */
  private async readLeftover(key: string): Promise<VolumeMeta | undefined> {
    try {
      return await readRecord<VolumeMeta>(this.layout.volumeMeta(key));
    } catch (e) {
      if (e instanceof StoreError) return undefined;
      throw e;
    }
  }

  private makeLink(key: string): string {
    for (let attempt = 0; ; attempt++) {
      const short = shortName();
      try {
        symlinkSync(`../volumes/${key}`, this.layout.link(short));
        return short;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 20) throw e;
      }
    }
  }


  /**
   * Remove short links that no whole volume (`whole`: keys) has as its own: dangling ones,
   * and the spare of a volume with two (a re-link interrupted before its record was written).
   * One readlink a link; a record is read only for a volume with two links or more.
   */
  async pruneLinks(whole: ReadonlySet<string>): Promise<string[]> {
    const byKey = new Map<string, string[]>();
    const doomed: string[] = [];
    for (const name of readdirSync(this.layout.linksDir)) {
      const key = linkedKey(this.layout.link(name));
      if (key !== undefined && whole.has(key)) {
        const names = byKey.get(key);
        if (names) names.push(name);
        else byKey.set(key, [name]);
      } else {
        doomed.push(name);
      }
    }
    for (const [key, names] of byKey) {
      if (names.length < 2) continue;
      const own = (await this.readByKey(key))?.shortLink;
      for (const n of names) if (n !== own) doomed.push(n);
    }
    for (const name of doomed) await rm(join(this.layout.linksDir, name), { recursive: true, force: true });
    return doomed.sort();
  }

  /**
   * The volume's record with a short link that points at it, making a new link when the old
   * one went missing (a hand-cleaned l/). Caller holds the store lock (shared).
   */
  async withLink(meta: VolumeMeta, signal?: AbortSignal): Promise<VolumeMeta> {
    const key = digestKey(meta.chainID);
    if (this.linkOk(meta.shortLink, key)) return meta;
    const lock = await this.locks.chain(key, signal);
    try {
      const current = (await this.readByKey(key)) ?? meta;
      if (this.linkOk(current.shortLink, key)) return current;
      log.warn({ volume: key }, 'short link missing: making a new one');
      const fixed = { ...current, shortLink: this.makeLink(key) };
      await writeRecord(this.layout.volumeMeta(key), fixed);
      return fixed;
    } finally {
      await lock.release();
    }
  }

  /**
   * Note that volumes were used now. Coarse (at most once per TOUCH_EVERY_MS per volume), so
   * a warm create does not rewrite a record per layer. The caller holds the store lock.
   */
  async touch(metas: VolumeMeta[], signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    for (const m of metas) {
      if (now - Date.parse(m.lastUsedAt) < TOUCH_EVERY_MS) continue;
      const key = digestKey(m.chainID);
      const lock = await this.locks.chain(key, signal);
      try {
        const current = await this.readByKey(key);
        if (current) await this.update({ ...current, lastUsedAt: new Date(now).toISOString() });
      } finally {
        await lock.release();
      }
    }
  }

  /** Rewrite a volume's record (the caller holds its chain lock). */
  async update(meta: VolumeMeta): Promise<void> {
    await writeRecord(this.layout.volumeMeta(digestKey(meta.chainID)), meta);
  }

  /** Synchronous: a create checks one link a layer, and an await is a thread pool round trip. */
  private linkOk(short: string, key: string): boolean {
    try {
      return readlinkSync(this.layout.link(short)) === `../volumes/${key}`;
    } catch {
      return false;
    }
  }
}

async function discardDir(dir: string): Promise<void> {
  const doomed = `${dir}${INCOMPLETE}bad-${randomBytes(6).toString('hex')}`;
  await rename(dir, doomed);
  await rm(doomed, { recursive: true, force: true });
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** 10 random base62 characters (~59 bits). */
export function shortName(): string {
  const bytes = randomBytes(10);
  let s = '';
  for (const b of bytes) s += ALPHABET[b % 62];
  return s;
}

/** The volume key a short link points at (`../volumes/<key>`), if it is such a link. */
function linkedKey(link: string): string | undefined {
  let target: string;
  try {
    target = readlinkSync(link);
  } catch {
    return undefined; // not a symlink (or gone)
  }
  const m = /^\.\.\/volumes\/([^/]+)$/.exec(target);
  return m ? m[1] : undefined;
}

export function isDirSync(path: string): boolean {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st !== undefined && st.isDirectory();
}

export async function isDir(path: string): Promise<boolean> {
  return isDirSync(path);
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

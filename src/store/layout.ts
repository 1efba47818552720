// Where everything lives inside one store. Paths only: no I/O here.
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors/index.js';

/** Top-level dirs of a store, all created 0700. */
export const STORE_DIRS = ['volumes', 'images', 'meta', 'l', 'locks', 'tmp', 'projectids'] as const;
/** Record dirs under meta/. */
export const META_DIRS = ['volumes', 'images', 'rootfs', 'pins'] as const;

/** Marks a directory in volumes/ as not (or no longer) a whole volume. */
export const INCOMPLETE = '-incomplete-';

export class StoreLayout {
  constructor(readonly root: string) {}

  get volumesDir(): string { return join(this.root, 'volumes'); }
  get imagesDir(): string { return join(this.root, 'images'); }
  get metaDir(): string { return join(this.root, 'meta'); }
  get linksDir(): string { return join(this.root, 'l'); }
  get locksDir(): string { return join(this.root, 'locks'); }
  get tmpDir(): string { return join(this.root, 'tmp'); }

  volume(key: string): string { return join(this.volumesDir, key); }
  volumeMeta(key: string): string { return join(this.metaDir, 'volumes', `${key}.json`); }
  imageRecord(digestKey: string): string { return join(this.metaDir, 'images', `${digestKey}.json`); }
  pinRecord(name: string): string { return join(this.metaDir, 'pins', `${name}.json`); }
  rootfsRecord(id: string): string { return join(this.metaDir, 'rootfs', `${id}.json`); }

  /** images/<id>: the quota-accounted dir of one root filesystem. */
  rootfsDir(id: string): string { return join(this.imagesDir, id); }
  rootfsMountpoint(id: string): string { return join(this.imagesDir, id, 'rootfs'); }
  rootfsUpper(id: string): string { return join(this.imagesDir, id, 'diff'); }
  rootfsWork(id: string): string { return join(this.imagesDir, id, 'workdir'); }

  link(short: string): string { return join(this.linksDir, short); }
  storeLock(): string { return join(this.locksDir, 'store.lock'); }
  chainLock(key: string): string { return join(this.locksDir, `chain-${key}.lock`); }
  rootfsLock(id: string): string { return join(this.locksDir, `rootfs-${id}.lock`); }
}

/**
 * The file-name key of a digest or chain ID: the hex for sha256 (the common case, as the
 * design's `volumes/<chainID>` shows), `<alg>-<hex>` otherwise.
 */
export function digestKey(digest: string): string {
  const m = /^([a-z0-9]+):([a-zA-Z0-9=_-]+)$/.exec(digest);
  if (!m) throw new InvalidArgumentError(`digest ${JSON.stringify(digest)} cannot name a store entry`);
  return m[1] === 'sha256' ? m[2] : `${m[1]}-${m[2]}`;
}

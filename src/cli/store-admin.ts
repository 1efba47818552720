// init-store and delete-store: making and removing a whole store. The engine works inside
// a store; creating its directory, the optional loop-backed filesystem and the id mappings
// fixed at init, and tearing all of it down again, happen here.
import { StoreError } from '../errors/index.js';
import { logger } from '../log/index.js';
import type { Engine, EngineOptions } from '../rootfs/index.js';
import { mountTable, writeJsonAtomic } from '../sys/index.js';
import { namespaceFile, readNamespace, type StoreNamespace } from '../store/namespace.js';
import type { IdRange } from '../layer/id-map.js';
import { loadBackingStore } from './backing-hook.js';

import { storeExists } from './store-check.js';

const log = logger('cli.store');


export interface InitStoreOptions {
  storePath: string;
  storeSizeBytes: number;
  storeFs?: 'xfs' | 'btrfs';
  directIO: boolean;
  namespace: StoreNamespace;
  openEngine: (o: EngineOptions) => Promise<Engine>;
}

const same = (a: IdRange[], b: IdRange[]) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Idempotent: running it again on the same store with the same mappings changes nothing;
 * different mappings are refused, since every volume was unpacked for the first ones.
 */
export async function initStore(o: InitStoreOptions): Promise<void> {
  const existed = await storeExists(o.storePath);
  // The backing module makes the store's filesystem (a loop-mounted file when a size is
  // given), remounts one a reboot dropped, and warns when quotas cannot work there.
  const r = await (await loadBackingStore()).initStore({ storePath: o.storePath, sizeBytes: o.storeSizeBytes, fs: o.storeFs });
  log.info({ store: o.storePath, action: r.action, backingFile: r.backingFile, quota: r.quota.kind }, 'store filesystem ready');
  if (o.directIO) log.info({ store: o.storePath }, '--with-direct-io is accepted for GrootFS compatibility and has no effect');

  const current = readNamespace(o.storePath);
  const wanted = o.namespace;
  if (current && (!same(current.uidMappings, wanted.uidMappings) || !same(current.gidMappings, wanted.gidMappings))) {
    throw new StoreError(`store ${o.storePath} is already initialized with different uid/gid mappings (${namespaceFile(o.storePath)}); delete-store first to change them`);
  }
  // Only a store made with mappings records them: an existing store made without any,
  // and asked for none again, stays as it was.
  if (!current && (wanted.uidMappings.length > 0 || wanted.gidMappings.length > 0 || !existed)) {
    await writeJsonAtomic(namespaceFile(o.storePath), wanted);
  }
  // Opening the engine lays out (or repairs) the rest of the store.
  const engine = await o.openEngine({ storePath: o.storePath });
  await engine.close();
  log.info({ store: o.storePath, sizeBytes: o.storeSizeBytes, existed }, 'store initialized');
}

/**
 * Delete every rootfs (unmounting it), then whatever is still mounted under the store (a
 * loop-backed store's own mount included), the directory and any backing file. A store
 * that is not there is not an error.
 */
export async function deleteStore(storePath: string, openEngine: (o: EngineOptions) => Promise<Engine>): Promise<boolean> {
  if (!(await storeExists(storePath))) {
    log.info({ store: storePath }, 'no store to delete');
    return false;
  }
  const engine = await openEngine({ storePath });
  try {
    for (const r of await engine.list()) await engine.delete(r.id);
  } finally {
    await engine.close();
  }
  await (await loadBackingStore()).deleteStore(storePath);
  const still = (await mountTable()).filter((m) => m.mountpoint === storePath || m.mountpoint.startsWith(storePath + '/'));
  if (still.length > 0) throw new StoreError(`delete-store ${storePath}: still mounted: ${still.map((m) => m.mountpoint).join(', ')}`);
  log.info({ store: storePath }, 'store deleted');
  return true;
}

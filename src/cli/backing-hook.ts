// The store's own filesystem (`init-store --store-size-bytes N`: a sparse file, formatted
// and loop-mounted on the store path, as GrootFS does) belongs to the quota work in
// src/store/backing.ts. The CLI finds it at run time, so it builds and says plainly what is
// missing while that module is not there.
import { StoreError } from '../errors/index.js';

/** What the CLI uses of src/store/backing.ts. */
export interface BackingStore {
  initStore(o: { storePath: string; sizeBytes?: number }): Promise<{ action: string; backingFile?: string }>;
  /** Remount the backing file after a reboot; cheap no-op otherwise. */
  ensureStoreMounted(storePath: string): Promise<boolean>;
  /** Unmount everything at or below the store, detach loops, remove store and backing file. */
  deleteStore(storePath: string): Promise<void>;
}

let cached: Promise<BackingStore | undefined> | undefined;

export function loadBackingStore(): Promise<BackingStore | undefined> {
  cached ??= (async () => {
    // A computed specifier keeps tsc from requiring the module at build time.
    const specifier = ['..', 'store', 'backing.js'].join('/');
    try {
      const mod = (await import(specifier)) as Partial<BackingStore>;
      const ok = typeof mod.initStore === 'function' && typeof mod.ensureStoreMounted === 'function' && typeof mod.deleteStore === 'function';
      return ok ? (mod as BackingStore) : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes('backing')) return undefined;
      throw e;
    }
  })();
  return cached;
}

export async function requireBackingStore(): Promise<BackingStore> {
  const b = await loadBackingStore();
  if (!b) throw new StoreError('init-store --store-size-bytes: loop-backed stores are not available in this build (src/store/backing.ts is missing)');
  return b;
}

/** Before any command that reads the store: a backing store lost its mount at reboot. */
export async function ensureStoreMounted(storePath: string): Promise<void> {
  const b = await loadBackingStore();
  if (b) await b.ensureStoreMounted(storePath);
}

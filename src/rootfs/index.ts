// The engine factory: the CLI and the controller get an Engine only from here.
import type { Engine } from './types.js';
import { Store } from '../store/index.js';
import { quotaBackendFor } from './quota-backend.js';
import { OverlayEngine } from './engine.js';
export * from './types.js';

export interface EngineOptions {
  storePath: string;
  /** Quota backend to use: detected from the store's filesystem when left out. */
  quota?: 'xfs' | 'btrfs' | 'none';
}

/** Open (creating when missing) the store at storePath, repairing what a crash left there. */
export async function openEngine(opts: EngineOptions): Promise<Engine> {
  const store = await Store.open(opts.storePath, { repair: false });
  const quota = await quotaBackendFor(store.path, opts.quota);
  const engine = new OverlayEngine(store, quota);
  await store.tryRepair();
  return engine;
}

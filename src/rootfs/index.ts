// The engine factory: the CLI and the controller get an Engine only from here.
import type { Engine } from './types.js';
import { Store } from '../store/index.js';
import { quotaBackendFor } from './quota-backend.js';
import { OverlayEngine } from './engine.js';
import { UnpackPool, defaultWorkers, SPAWN_MIN_BYTES } from '../layer/index.js';
import { InvalidArgumentError } from '../errors/index.js';
export * from './types.js';

export interface EngineOptions {
  storePath: string;
  /** Quota backend to use: detected from the store's filesystem when left out. */
  quota?: 'xfs' | 'btrfs' | 'none';
  /**
   * Worker threads that unpack layers beside this thread; 0 = every layer unpacks here.
   * Default: GROOT_UNPACK_WORKERS, else one per CPU but one (layer/pool.ts says how they share).
   */
  unpackWorkers?: number;
  /**
   * Start the unpack workers now, before the store is even opened (a caller about to pull:
   * the CLI's `pull`), so they have loaded by the time the first layers stream in.
   */
  startWorkers?: boolean;
}

/** Open (creating when missing) the store at storePath, repairing what a crash left there. */
export async function openEngine(opts: EngineOptions): Promise<Engine> {
  const workers = opts.unpackWorkers ?? workersFromEnv() ?? defaultWorkers();
  const pool = workers > 0 ? new UnpackPool(workers) : undefined;
  if (opts.startWorkers) pool?.prepare(SPAWN_MIN_BYTES);
  try {
    const store = await Store.open(opts.storePath, { repair: false });
    const quota = await quotaBackendFor(store.path, opts.quota);
    const engine = new OverlayEngine(store, quota, pool ? { pool } : {});
    await store.tryRepair();
    return engine;
  } catch (e) {
    await pool?.close(); // workers started for an engine that is not there
    throw e;
  }
}

function workersFromEnv(): number | undefined {
  const env = process.env.GROOT_UNPACK_WORKERS;
  if (env === undefined || env === '') return undefined;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`GROOT_UNPACK_WORKERS=${env}: expected a whole number of worker threads (0 = none)`);
  return n;
}

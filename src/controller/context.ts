// What reconcilers share: the engine, the source, status, records, metrics and settings.
import type { Engine } from '../rootfs/types.js';
import type { Source } from './source.js';
import type { StatusStore } from './status-store.js';
import type { Records } from './records.js';
import type { Metrics } from './metrics.js';
import type { SourcePolicy } from './source-policy.js';
import type { SourceOptions } from '../image/types.js';

export interface ReconcileSettings {
  /** pullPolicy Always: re-resolve this often. Also the period of the full resync. */
  resyncMs: number;
  /** RootFS usage refresh period. */
  usageMs: number;
  /** Minimum time between progress status writes while pulling. */
  progressMs: number;
  /** Retry period while the source cannot be trusted (unsynced). */
  unsyncedRetryMs: number;
  /** Registry options of every pull and create (mirrors, layer concurrency, a credentials file); an object's own credentials win. */
  registry?: Pick<SourceOptions, 'mirrors' | 'concurrency' | 'credentialsFile'>;
}

export const DEFAULT_SETTINGS: ReconcileSettings = { resyncMs: 600_000, usageMs: 60_000, progressMs: 1_000, unsyncedRetryMs: 5_000 };

export interface ReconcileContext {
  engine: Engine;
  source: Source;
  statuses: StatusStore;
  records: Records;
  metrics: Metrics;
  settings: ReconcileSettings;
  /** What the source's objects may name (local paths, insecure registries): checked before any pull or create. */
  policy: SourcePolicy;
  /** Queue a key (coalesced). */
  enqueue(key: string): void;
  /** Measure this RootFS's usage ahead of its turn (it was just made, or has none yet). */
  measureUsageSoon(key: string): void;
}

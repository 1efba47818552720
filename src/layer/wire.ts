// Messages between the unpack pool (main thread) and an unpack worker. A worker runs
// several jobs at once, told apart by `id`. A job's blob either comes from the main thread
// (data chunks, then end or abort; the worker acks the bytes it took of each, so the main
// thread never queues more than a few MiB per job) or the worker fetches it itself from
// `remote` (reporting the bytes it read). Either way the worker answers done or error once.
// 'warm' readies a source before its jobs come ('warmed' once its code and credentials are
// loaded). The worker says 'ready' once its own code is loaded; log records come as 'log'
// at any time.
import type { ErrorData } from '../errors/index.js';
import type { LayerRef, PortableSource } from '../image/types.js';
import type { LogRecord } from '../log/index.js';
import type { SharedBudget } from './budget.js';
import type { IdMap } from './id-map.js';
import type { ApplyResult, LayerExpectation } from './types.js';

export interface JobOptions {
  userXattrs?: boolean;
  idMap?: IdMap;
  budget?: SharedBudget;
}

/** A layer blob a worker can open on its own. */
export interface RemoteBlob { from: PortableSource; layer: LayerRef }

export type ToWorker =
  | { t: 'job'; id: number; dir: string; expect: LayerExpectation; opts: JobOptions; remote?: RemoteBlob }
  | { t: 'data'; id: number; chunk: Uint8Array }
  | { t: 'end'; id: number }
  | { t: 'abort'; id: number; message: string }
  | { t: 'warm'; from: PortableSource };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'warmed' }
  | { t: 'ack'; id: number; n: number }
  | { t: 'read'; id: number; n: number }
  | { t: 'done'; id: number; result: ApplyResult }
  | { t: 'error'; id: number; error: ErrorData }
  | { t: 'log'; record: LogRecord };

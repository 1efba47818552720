// Messages between the unpack pool (main thread) and an unpack worker. A worker runs
// several jobs at once, told apart by `id`: job, then data chunks and end (or abort); the
// worker acks the bytes it took of each (so the main thread never queues more than a few
// MiB per job) and answers done or error once. Log records come as 'log' messages at any time.
import type { ErrorData } from '../errors/index.js';
import type { LogRecord } from '../log/index.js';
import type { SharedBudget } from './budget.js';
import type { ApplyResult, LayerExpectation } from './types.js';

export interface JobOptions {
  userXattrs?: boolean;
  budget?: SharedBudget;
}

export type ToWorker =
  | { t: 'job'; id: number; dir: string; expect: LayerExpectation; opts: JobOptions }
  | { t: 'data'; id: number; chunk: Uint8Array }
  | { t: 'end'; id: number }
  | { t: 'abort'; id: number; message: string };

export type FromWorker =
  | { t: 'ack'; id: number; n: number }
  | { t: 'done'; id: number; result: ApplyResult }
  | { t: 'error'; id: number; error: ErrorData }
  | { t: 'log'; record: LogRecord };

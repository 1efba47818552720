// Messages between the unpack pool (main thread) and an unpack worker. One job at a time
// per worker: job, then data chunks and end (or abort); the worker acks the bytes it took
// (so the main thread never queues more than a few MiB) and answers done or error once.
// Log records come as 'log' messages at any time.
import type { ErrorData } from '../errors/index.js';
import type { LogRecord } from '../log/index.js';
import type { SharedBudget } from './budget.js';
import type { ApplyResult, LayerExpectation } from './types.js';

export interface JobOptions {
  userXattrs?: boolean;
  budget?: SharedBudget;
}

export type ToWorker =
  | { t: 'job'; dir: string; expect: LayerExpectation; opts: JobOptions }
  | { t: 'data'; chunk: Uint8Array }
  | { t: 'end' }
  | { t: 'abort'; message: string };

export type FromWorker =
  | { t: 'ack'; n: number }
  | { t: 'done'; result: ApplyResult }
  | { t: 'error'; error: ErrorData }
  | { t: 'log'; record: LogRecord };

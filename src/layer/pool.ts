// A pool of unpack worker threads (worker.ts). Layers of one image are independent, so
// they unpack side by side; on the main thread they would take turns, because the file
// writes are synchronous (writer.ts says why) and hashing is too. The main thread keeps
// the network: it reads the blob and streams its bytes to a worker, at most WINDOW bytes
// ahead of what the worker took.
//
// A failure inside the worker comes back as the same error class (errors/ reviveError).
// A failing blob stream (the registry) stops the worker first, then rejects worded as
// applyLayer words it on the main thread (blobFailure). Either way the worker has closed everything in `dir` before the
// promise settles, so the caller may remove it. A worker that dies takes its job with it
// (StoreError) and is replaced by the next job.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AbortedError, GrootError, InvalidLayerError, StoreError, reviveError } from '../errors/index.js';
import { loggingSettings, logger, logRecord } from '../log/index.js';
import type { ApplyOptions, ApplyResult, LayerExpectation } from './types.js';
import type { FromWorker, JobOptions, ToWorker } from './wire.js';

const log = logger('layer');

/** Bytes sent to a worker and not yet taken by it before reading the blob pauses. */
const WINDOW = 8 << 20;
/** Blob bytes per message, and how long a partly filled batch may wait. */
const BATCH = 1 << 20;
const FLUSH_MS = 10;

/** Options a worker can honour: everything but callbacks stays in this thread. */
export type PoolApplyOptions = Pick<ApplyOptions, 'userXattrs' | 'budget' | 'onBytes' | 'signal'>;

/**
 * Workers when the caller does not say: one per CPU besides this thread's. The store
 * hands a worker only large layers, and only while one is free (store/pull.ts): each
 * worker pays its own start-up and JIT warm-up, which a small layer would not repay.
 */
export function defaultWorkers(): number {
  return Math.max(0, availableParallelism() - 1);
}

// Under the test runner this file is TypeScript; workers run the compiled file (npm test builds first).
const here = fileURLToPath(import.meta.url);
const WORKER_FILE = here.endsWith('.ts') ? here.replace(/\/src\/layer\/pool\.ts$/, '/dist/layer/worker.js') : new URL('./worker.js', import.meta.url);

interface Slot { worker: Worker; busy: boolean; dead: boolean; idle?: NodeJS.Timeout }

export class UnpackPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: { resolve: (s: Slot) => void; reject: (e: unknown) => void }[] = [];
  private closed = false;

  /** `size` workers at most (at least 1); an idle worker exits after idleMs. */
  constructor(readonly size: number, private readonly idleMs = 30_000) {
    if (!(size >= 1)) throw new RangeError(`an unpack pool needs at least one worker, not ${size}`);
  }

  /**
   * Unpack a layer in a worker. `open` is called once a worker is free, so a blob is never
   * left half-read while it waits its turn.
   */
  async apply(open: () => Promise<Readable>, dir: string, expect: LayerExpectation, opts: PoolApplyOptions = {}): Promise<ApplyResult> {
    const slot = await this.acquire(expect.label, opts.signal);
    try {
      if (opts.signal?.aborted) throw new AbortedError(`${expect.label}: unpack aborted`, { cause: opts.signal.reason });
      let blob: Readable;
      try {
        blob = await open();
      } catch (e) {
        throw blobFailure(e, expect.label, opts.signal);
      }
      try {
        return await this.run(slot, blob, dir, expect, opts);
      } finally {
        blob.destroy();
      }
    } finally {
      this.release(slot);
    }
  }

  /** Whether apply() would start at once (a worker is free, or one more may start). */
  hasFreeWorker(): boolean {
    if (this.closed) return false;
    return this.slots.some((s) => !s.busy && !s.dead) || this.slots.filter((s) => !s.dead).length < this.size;
  }

  /** Stop every worker (a busy one's job fails). */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new AbortedError('unpack pool closed'));
    await Promise.all(this.slots.splice(0).map((s) => { clearTimeout(s.idle); return s.worker.terminate(); }));
  }

  private run(slot: Slot, blob: Readable, dir: string, expect: LayerExpectation, opts: PoolApplyOptions): Promise<ApplyResult> {
    const w = slot.worker;
    const post = (m: ToWorker, transfer?: ArrayBuffer[]) => w.postMessage(m, transfer);
    const job: JobOptions = {};
    if (opts.userXattrs) job.userXattrs = true;
    if (opts.budget) job.budget = opts.budget.shared;

    return new Promise<ApplyResult>((resolve, reject) => {
      let inflight = 0;
      let credit: (() => void) | undefined;
      let settled = false;
      let blobError: unknown;
      let stopped = false; // the worker was told to stop (abort, blob failure)
      // Once settled the worker may already run another job: nothing more is posted to it.
      const stop = (message: string) => {
        if (!stopped && !settled) { stopped = true; post({ t: 'abort', message }); }
        credit?.();
      };
      const onAbort = () => stop(`${expect.label}: unpack aborted`);
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        w.off('message', onMessage);
        w.off('exit', onExit);
        w.off('error', onError);
        opts.signal?.removeEventListener('abort', onAbort);
        credit?.();
        fn();
      };
      const onMessage = (m: FromWorker) => {
        if (m.t === 'ack') {
          inflight -= m.n;
          if (inflight < WINDOW) { const c = credit; credit = undefined; c?.(); }
        } else if (m.t === 'log') {
          // logged by the slot's own listener
        } else if (m.t === 'done') {
          finish(() => (blobError !== undefined ? reject(blobFailure(blobError, expect.label, opts.signal)) : resolve(m.result)));
        } else {
          // After a blob failure the worker's abort is ours; report the blob's error.
          const e = blobError !== undefined ? blobFailure(blobError, expect.label, opts.signal)
            : opts.signal?.aborted && m.error.code === 'GROOT_ABORTED' ? new AbortedError(m.error.message, { cause: opts.signal.reason })
              : reviveError(m.error);
          finish(() => reject(e));
        }
      };
      const onError = (e: Error) => { slot.dead = true; finish(() => reject(new StoreError(`${expect.label}: the unpack worker failed: ${e.message}`, { cause: e }))); };
      const onExit = (code: number) => { slot.dead = true; finish(() => reject(new StoreError(`${expect.label}: the unpack worker exited (code ${code})`))); };
      w.on('message', onMessage);
      w.on('exit', onExit);
      w.on('error', onError);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      post({ t: 'job', dir, expect, opts: job });
      if (opts.signal?.aborted) onAbort();

      (async () => {
        // Bytes go over in batches of BATCH: a message costs both threads a wake-up, and
        // one per network read cost more than the unpacking itself. A batch that does not
        // fill within FLUSH_MS goes as it is (a slow registry).
        let batch = new Uint8Array(BATCH);
        let filled = 0;
        let timer: NodeJS.Timeout | undefined;
        const flush = () => {
          clearTimeout(timer);
          timer = undefined;
          if (filled === 0 || settled || stopped) return;
          inflight += filled;
          post({ t: 'data', chunk: batch.subarray(0, filled) }, [batch.buffer as ArrayBuffer]); // moved, not copied
          batch = new Uint8Array(BATCH);
          filled = 0;
        };
        try {
          for await (const c of blob) {
            if (settled || stopped) break;
            const bytes = c as Uint8Array;
            opts.onBytes?.(bytes.length);
            for (let off = 0; off < bytes.length;) {
              const n = Math.min(BATCH - filled, bytes.length - off);
              batch.set(bytes.subarray(off, off + n), filled);
              filled += n;
              off += n;
              if (filled === BATCH) flush();
            }
            if (filled > 0) timer ??= setTimeout(flush, FLUSH_MS);
            while (inflight >= WINDOW && !settled && !stopped) await new Promise<void>((r) => (credit = r));
          }
          flush();
          if (!settled && !stopped) post({ t: 'end' });
        } catch (e) {
          clearTimeout(timer);
          if (settled) return; // the blob was closed because the job ended
          blobError = e;
          stop(`${expect.label}: reading the blob failed`);
        }
      })();
    });
  }

  private acquire(label: string, signal?: AbortSignal): Promise<Slot> {
    if (this.closed) return Promise.reject(new AbortedError(`${label}: unpack pool closed`));
    if (signal?.aborted) return Promise.reject(new AbortedError(`${label}: unpack aborted`, { cause: signal.reason }));
    for (let i = this.slots.length - 1; i >= 0; i--) if (this.slots[i]!.dead && !this.slots[i]!.busy) this.slots.splice(i, 1);
    const free = this.slots.find((s) => !s.busy && !s.dead);
    if (free) return Promise.resolve(this.take(free));
    if (this.slots.length < this.size) return Promise.resolve(this.take(this.spawn()));
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new AbortedError(`${label}: unpack aborted while waiting for a worker`, { cause: signal?.reason }));
      };
      const entry = {
        resolve: (s: Slot) => { signal?.removeEventListener('abort', onAbort); resolve(s); },
        reject: (e: unknown) => { signal?.removeEventListener('abort', onAbort); reject(e); },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private take(s: Slot): Slot {
    s.busy = true;
    clearTimeout(s.idle);
    s.worker.ref();
    return s;
  }

  private release(s: Slot): void {
    s.busy = false;
    if (s.dead) {
      this.slots.splice(this.slots.indexOf(s), 1);
      void s.worker.terminate();
      const next = this.waiting.shift();
      if (next) next.resolve(this.take(this.spawn()));
      return;
    }
    const next = this.waiting.shift();
    if (next) { next.resolve(this.take(s)); return; }
    // Idle: don't keep the process alive, and give the memory back after a while.
    s.worker.unref();
    s.idle = setTimeout(() => {
      const i = this.slots.indexOf(s);
      if (i >= 0 && !s.busy) { this.slots.splice(i, 1); void s.worker.terminate(); }
    }, this.idleMs);
    s.idle.unref();
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_FILE, { workerData: { log: loggingSettings() } });
    const slot: Slot = { worker, busy: false, dead: false };
    // Errors outside a job (start-up failure) only mark the slot; a job reports its own.
    worker.on('error', (e) => { slot.dead = true; log.warn({ err: e.message }, 'unpack worker failed'); });
    worker.on('exit', () => { slot.dead = true; });
    worker.on('message', (m: FromWorker) => { if (m.t === 'log') logRecord(m.record); });
    this.slots.push(slot);
    return slot;
  }
}

/**
 * What a failed blob read means, worded as applyLayer words it on the main thread: an
 * abort is the abort (the stream only failed because of it), a GrootError (the registry's)
 * stands as it is, anything else names the layer.
 */
function blobFailure(e: unknown, label: string, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && !(e instanceof GrootError && e.code !== 'GROOT_ABORTED')) {
    return e instanceof AbortedError ? e : new AbortedError(`${label}: unpack aborted`, { cause: signal.reason });
  }
  if (e instanceof GrootError) return e;
  return new InvalidLayerError(`${label}: reading the layer failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

// Unpack lanes: this thread and a pool of worker threads (worker.ts). Layers of one image
// are independent, so they unpack side by side; on one thread they would take turns,
// because the file writes are synchronous (writer.ts says why) and hashing is too. A layer
// whose source can be opened again in the worker (opts.remote: a registry, an OCI layout)
// is fetched there too, so its bytes never cross this thread (measured: reading and
// forwarding every worker layer's bytes left this thread with twice the worker's CPU on a
// 2-core pull). Otherwise this thread reads the blob and streams its bytes to the worker,
// at most WINDOW bytes ahead of what the worker took. A worker runs several layers at once,
// interleaved as they are on this thread.
//
// unpack() puts each layer on the lane with the fewest compressed bytes still to go, this
// thread first on a tie, so a node's cores share an image's layers by size whatever their
// number and order (measured: 4 equal layers, 1 worker — the old one-layer-per-worker
// hand-over left 3 of them on the main thread). Workers start in prepare(), once an image
// has enough to unpack to repay their start-up (module loading and JIT warm-up, about
// 0.15 s of CPU each), while the caller still fetches; a small pull stays on this thread.
//
// A failure inside the worker comes back as the same error class (errors/ reviveError).
// A failing blob stream (the registry) stops the worker's job first, then rejects worded as
// applyLayer words it on the main thread (blobFailure). Either way the worker has closed
// everything in `dir` before the promise settles, so the caller may remove it. A worker
// that dies takes its jobs with it (StoreError) and is replaced by the next prepare()/apply().
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AbortedError, StoreError, reviveError } from '../errors/index.js';
import type { PortableSource } from '../image/types.js';
import { loggingSettings, logger, logRecord } from '../log/index.js';
import { holdV8Flags } from '../sys/v8-flags.js';
import { applyLayer } from './apply.js';
import { blobFailure } from './blob-failure.js';
import type { ApplyOptions, ApplyResult, LayerExpectation } from './types.js';
import type { FromWorker, JobOptions, RemoteBlob, ToWorker } from './wire.js';

const log = logger('layer');

/** Bytes sent to a worker for one job and not yet taken by it before reading the blob pauses. */
const WINDOW = 8 << 20;
/** Blob bytes per message, and how long a partly filled batch may wait. */
const BATCH = 1 << 20;
const FLUSH_MS = 10;
/** Compressed bytes to unpack from which prepare() starts the workers. */
export const SPAWN_MIN_BYTES = 8 << 20;
/** What a blob of unknown size weighs in the balance. */
const UNKNOWN_SIZE = 1 << 20;
/**
 * What a worker still loading its code weighs: it cannot start a layer for a while (about
 * 0.1-0.2 s with both cores busy), in which this thread unpacks about this much. Small
 * layers then stay here (measured: 40 layers of 1.4 MB in all, workers started early by
 * an explicit pull, took 470 ms instead of 400 when the booting worker got half of them).
 */
const STARTING_BYTES = 8 << 20;

/**
 * Options a worker can honour: everything but callbacks stays in this thread. `remote`:
 * where a worker may fetch the blob itself (then `open` is not called for it).
 */
export type PoolApplyOptions = Pick<ApplyOptions, 'userXattrs' | 'idMap' | 'budget' | 'onBytes' | 'signal'> & { remote?: RemoteBlob };

/**
 * Workers when the caller does not say: one per CPU besides this thread's, which unpacks
 * too (unpack()).
 */
export function defaultWorkers(): number {
  return Math.max(0, availableParallelism() - 1);
}

// Under the test runner this file is TypeScript: workers run the compiled file (npm test
// builds first). In the CLI's bundle (dist/bundle/main.cjs) the worker is its bundled sibling.
const here = fileURLToPath(import.meta.url);
const WORKER_FILE = here.endsWith('.ts') ? here.replace(/\/src\/layer\/pool\.ts$/, '/dist/layer/worker.js')
  : new URL(here.endsWith('.cjs') ? './worker.cjs' : './worker.js', import.meta.url);

/** Where layers unpack; `load` is the compressed bytes its layers have still to read. */
interface Lane { load: number }

/** What a worker lane tells one of its jobs. */
interface JobEnd { message(m: FromWorker): void; gone(why: string, cause?: Error): void }

interface WorkerLane extends Lane {
  /** Jobs running on it (holding it open). */
  active: number;
  worker: Worker;
  jobs: Map<number, JobEnd>;
  dead: boolean;
  /** Its code is loaded (it said 'ready'). */
  ready: boolean;
  /** Settles once it said 'ready', failed or exited. */
  booted: Promise<void>;
  idle?: NodeJS.Timeout;
  /** The source the last 'warm' named. */
  warmed?: string;
  /** Called at its next 'warmed' (or when it is gone). */
  warming: (() => void)[];
}

export class UnpackPool {
  private readonly workers: WorkerLane[] = [];
  private readonly here: Lane = { load: 0 };
  private nextId = 1;
  private closed = false;

  /** `size` workers at most (at least 1); a worker without jobs exits after idleMs. */
  constructor(readonly size: number, private readonly idleMs = 30_000) {
    if (!(size >= 1)) throw new RangeError(`an unpack pool needs at least one worker, not ${size}`);
  }

  /**
   * `bytes` (compressed) are about to be unpacked: start the workers now when that repays
   * their start-up, so they are ready by the time the layers stream in. `from`: the source
   * the workers will fetch from, to load its code and credentials meanwhile.
   */
  prepare(bytes: number, from?: PortableSource): void {
    if (this.closed || bytes < SPAWN_MIN_BYTES) return;
    this.prune();
    while (this.live().length < this.size) this.spawn();
    if (!from) return;
    const key = JSON.stringify(from);
    for (const w of this.live()) {
      if (w.warmed === key) continue; // told already (an eager prepare, then the pull's own)
      w.warmed = key;
      w.worker.postMessage({ t: 'warm', from } satisfies ToWorker);
      holdV8Flags(new Promise<void>((r) => w.warming.push(r))); // it loads the source's code
    }
  }

  /**
   * Unpack a layer of `size` compressed bytes on the least loaded lane: this thread, or a
   * worker that prepare() or apply() started. `open` is called once the lane is chosen.
   */
  async unpack(open: () => Promise<Readable>, dir: string, expect: LayerExpectation, opts: PoolApplyOptions, size: number): Promise<ApplyResult> {
    const lane = this.pick();
    if (lane !== this.here) return this.apply(open, dir, expect, opts, size, lane as WorkerLane);
    return this.track(lane, size, opts, async (o) => {
      const blob = await open();
      try {
        return await applyLayer(blob, dir, expect, o);
      } finally {
        blob.destroy();
      }
    });
  }

  /**
   * Unpack a layer in a worker: the least loaded, or a new one while fewer than `size` run
   * (`chosen`: the one unpack() picked).
   */
  async apply(open: () => Promise<Readable>, dir: string, expect: LayerExpectation, opts: PoolApplyOptions = {}, size = -1, chosen?: WorkerLane): Promise<ApplyResult> {
    if (this.closed) throw new AbortedError(`${expect.label}: unpack pool closed`);
    if (opts.signal?.aborted) throw new AbortedError(`${expect.label}: unpack aborted`, { cause: opts.signal.reason });
    let lane = chosen;
    if (!lane) {
      this.prune();
      const live = this.live();
      lane = live.length < this.size ? this.spawn() : live.reduce((a, b) => (b.load < a.load ? b : a));
    }
    const w = lane;
    return this.track(w, size, opts, async (o) => {
      if (o.remote) return this.run(w, undefined, dir, expect, o);
      let blob: Readable;
      try {
        blob = await open();
      } catch (e) {
        throw blobFailure(e, expect.label, o.signal);
      }
      try {
        return await this.run(w, blob, dir, expect, o);
      } finally {
        blob.destroy();
      }
    });
  }

  /** Stop every worker (their jobs fail). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.splice(0).map((s) => { clearTimeout(s.idle); return stop(s); }));
  }

  /** The lane with the least left to do; this thread on a tie (no hand-over to pay). */
  private pick(): Lane {
    let best: Lane = this.here;
    let least = this.here.load;
    if (this.closed) return best;
    for (const w of this.live()) {
      const load = w.load + (w.ready ? 0 : STARTING_BYTES);
      if (load < least) { best = w; least = load; }
    }
    return best;
  }

  /** Run a job on `lane`, its bytes counted in the lane's load until they are read. */
  private async track(lane: Lane, size: number, opts: PoolApplyOptions, job: (o: PoolApplyOptions) => Promise<ApplyResult>): Promise<ApplyResult> {
    let left = size > 0 ? size : UNKNOWN_SIZE;
    lane.load += left;
    if (lane !== this.here) this.hold(lane as WorkerLane);
    const onBytes = (n: number) => {
      const d = Math.min(n, left);
      left -= d;
      lane.load -= d;
      opts.onBytes?.(n);
    };
    try {
      return await job({ ...opts, onBytes });
    } finally {
      lane.load -= left;
      if (lane !== this.here) this.letGo(lane as WorkerLane);
    }
  }

  private live(): WorkerLane[] {
    return this.workers.filter((w) => !w.dead);
  }

  /** Forget dead workers that have no job left. */
  private prune(): void {
    for (let i = this.workers.length - 1; i >= 0; i--) {
      const w = this.workers[i]!;
      if (w.dead && w.active === 0) { this.workers.splice(i, 1); void stop(w); }
    }
  }

  /** One job on a worker: `blob` streamed from here, or (none) opts.remote, which the worker fetches. */
  private run(lane: WorkerLane, blob: Readable | undefined, dir: string, expect: LayerExpectation, opts: PoolApplyOptions): Promise<ApplyResult> {
    const w = lane.worker;
    const id = this.nextId++;
    const post = (m: ToWorker, transfer?: ArrayBuffer[]) => w.postMessage(m, transfer);
    const job: JobOptions = {};
    if (opts.userXattrs) job.userXattrs = true;
    if (opts.idMap) job.idMap = opts.idMap;
    if (opts.budget) job.budget = opts.budget.shared;

    return new Promise<ApplyResult>((resolve, reject) => {
      let inflight = 0;
      let credit: (() => void) | undefined;
      let settled = false;
      let blobError: unknown;
      let stopped = false; // the worker was told to stop (abort, blob failure)
      // Once settled, nothing more is posted for this job (the worker forgot it).
      const stop = (message: string) => {
        if (!stopped && !settled) { stopped = true; post({ t: 'abort', id, message }); }
        credit?.();
      };
      const onAbort = () => stop(`${expect.label}: unpack aborted`);
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        lane.jobs.delete(id);
        opts.signal?.removeEventListener('abort', onAbort);
        credit?.();
        fn();
      };
      lane.jobs.set(id, {
        message: (m) => {
          if (m.t === 'ack') {
            inflight -= m.n;
            if (inflight < WINDOW) { const c = credit; credit = undefined; c?.(); }
          } else if (m.t === 'read') {
            opts.onBytes?.(m.n);
          } else if (m.t === 'done') {
            finish(() => (blobError !== undefined ? reject(blobFailure(blobError, expect.label, opts.signal)) : resolve(m.result)));
          } else if (m.t === 'error') {
            // After a blob failure the worker's abort is ours; report the blob's error.
            const e = blobError !== undefined ? blobFailure(blobError, expect.label, opts.signal)
              : opts.signal?.aborted && m.error.code === 'GROOT_ABORTED' ? new AbortedError(m.error.message, { cause: opts.signal.reason })
                : reviveError(m.error);
            finish(() => reject(e));
          }
        },
        gone: (why, cause) => finish(() => reject(new StoreError(`${expect.label}: the unpack worker ${why}`, cause ? { cause } : undefined))),
      });
      // It may have died while the blob was being opened: nothing would answer.
      if (lane.dead) { lane.jobs.get(id)!.gone('exited before the layer reached it'); return; }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      post({ t: 'job', id, dir, expect, opts: job, ...(blob ? {} : { remote: opts.remote }) });
      if (opts.signal?.aborted) onAbort();
      if (!blob) return;
      const stream = blob;

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
          post({ t: 'data', id, chunk: batch.subarray(0, filled) }, [batch.buffer as ArrayBuffer]); // moved, not copied
          batch = new Uint8Array(BATCH);
          filled = 0;
        };
        try {
          for await (const c of stream) {
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
          if (!settled && !stopped) post({ t: 'end', id });
        } catch (e) {
          clearTimeout(timer);
          if (settled) return; // the blob was closed because the job ended
          blobError = e;
          stop(`${expect.label}: reading the blob failed`);
        }
      })();
    });
  }

  private hold(w: WorkerLane): void {
    w.active++;
    clearTimeout(w.idle);
    w.worker.ref();
  }

  private letGo(w: WorkerLane): void {
    if (--w.active > 0) return;
    if (w.dead) { this.prune(); return; }
    this.idle(w);
  }

  /** Without jobs: don't keep the process alive, and give the memory back after a while. */
  private idle(w: WorkerLane): void {
    w.worker.unref();
    w.idle = setTimeout(() => {
      const i = this.workers.indexOf(w);
      if (i >= 0 && w.active === 0) { this.workers.splice(i, 1); void stop(w); }
    }, this.idleMs);
    w.idle.unref();
  }

  private spawn(): WorkerLane {
    const worker = new Worker(WORKER_FILE, { workerData: { log: loggingSettings() } });
    let booted!: () => void;
    const lane: WorkerLane = { worker, jobs: new Map(), dead: false, ready: false, booted: new Promise((r) => { booted = r; }), load: 0, active: 0, warming: [] };
    // Its builtins come from Node's code cache only while no V8 flag differs (sys/v8-flags.ts).
    holdV8Flags(lane.booted);
    const warmed = () => { for (const r of lane.warming.splice(0)) r(); };
    const born = performance.now();
    const gone = (why: string, cause?: Error) => {
      lane.dead = true;
      booted();
      warmed();
      for (const j of [...lane.jobs.values()]) j.gone(why, cause);
    };
    // A failure outside any job (start-up) is logged; jobs report their own.
    worker.on('error', (e) => {
      if (lane.jobs.size === 0) log.warn({ err: e.message }, 'unpack worker failed');
      gone(`failed: ${e.message}`, e);
    });
    worker.on('exit', (code) => gone(`exited (code ${code})`));
    worker.on('message', (m: FromWorker) => {
      if (m.t === 'log') logRecord(m.record);
      else if (m.t === 'ready') { lane.ready = true; booted(); log.debug({ ms: Math.round(performance.now() - born) }, 'unpack worker ready'); }
      else if (m.t === 'warmed') warmed();
      else lane.jobs.get(m.id)?.message(m);
    });
    this.workers.push(lane);
    this.idle(lane); // until a job holds it (prepare() may start it for nothing)
    return lane;
  }
}

/** Longest a stop waits for a worker still starting. */
const BOOT_WAIT_MS = 5_000;

/**
 * Terminate a worker, once it has started: terminating one while it loads its native
 * addon (koffi) aborts the whole process ("FATAL ERROR: Error::ThrowAsJavaScriptException
 * napi_throw", seen in 1 of 40 cached `groot pull`s, whose eager worker was still loading
 * when the pull was done).
 */
async function stop(w: WorkerLane): Promise<void> {
  if (!w.ready && !w.dead) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([w.booted, new Promise<void>((r) => { timer = setTimeout(r, BOOT_WAIT_MS); })]);
    clearTimeout(timer);
  }
  await w.worker.terminate();
}

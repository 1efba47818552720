// An unpack worker thread: runs applyLayer on a layer's blob, so the CPU work of a layer
// (hashing, inflating, tar parsing, the synchronous file writes) runs beside the other
// layers' instead of sharing the main thread with them. The blob is either streamed here by
// the main thread or, for a source that can be opened again (a registry, an OCI layout),
// fetched here. See pool.ts.
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import { Readable } from 'node:stream';
import { AbortedError, errorData } from '../errors/index.js';
import { openImageSource } from '../image/open.js';
import type { ImageSource, PortableSource } from '../image/types.js';
import { forwardLogs, type LogSettings } from '../log/index.js';
import { applyLayer } from './apply.js';
import { blobFailure } from './blob-failure.js';
import { gzipImpl } from './compression.js';
import { attachBudget } from './budget.js';
import type { FromWorker, RemoteBlob, ToWorker } from './wire.js';

// Loaded by undici's first exchange here, once the work flags changed (so compiled from
// source then, sys/v8-flags.ts): loaded with this thread's code instead.
createRequire(import.meta.url)('node:perf_hooks');

const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);
forwardLogs((record) => send({ t: 'log', record }), (workerData as { log?: LogSettings } | undefined)?.log?.level);

/** Blob bytes read here before the main thread hears of them (progress, lane balance). */
const READ_REPORT = 1 << 20;
const READ_REPORT_MS = 50;
/** A source no job used for this long is closed (its connections, its tokens). */
const SOURCE_IDLE_MS = 5_000;

/** A job's input: chunks as they arrive, handed out in order. */
class Feed {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(private readonly id: number) {}

  push(b: Buffer): void { this.queue.push(b); this.notify(); }
  end(): void { this.ended = true; this.notify(); }

  private notify(): void { const w = this.wake; this.wake = undefined; w?.(); }

  async *chunks(): AsyncGenerator<Buffer> {
    for (;;) {
      const b = this.queue.shift();
      if (b) {
        send({ t: 'ack', id: this.id, n: b.length });
        yield b;
      } else if (this.ended) {
        return;
      } else {
        await new Promise<void>((r) => (this.wake = r));
      }
    }
  }
}

/**
 * Sources opened here, one per distinct PortableSource, shared by the jobs that fetch from
 * it (a registry source keeps its connections and tokens for the next layer).
 */
const sources = new Map<string, { src: ImageSource; users: number; idle?: NodeJS.Timeout }>();

function useSource(from: PortableSource): { src: ImageSource; release(): void } {
  const key = JSON.stringify(from);
  let e = sources.get(key);
  if (!e) sources.set(key, e = { src: openImageSource(from.source, from.options), users: 0 });
  const entry = e;
  clearTimeout(entry.idle);
  entry.users++;
  return {
    src: entry.src,
    release() {
      if (--entry.users > 0) return;
      entry.idle = setTimeout(() => { sources.delete(key); void entry.src.close(); }, SOURCE_IDLE_MS);
      entry.idle.unref();
    },
  };
}

/** Open a remote blob here, telling the main thread how many of its bytes were read. */
async function openRemote(id: number, remote: RemoteBlob, label: string, signal: AbortSignal): Promise<{ blob: Readable; done(): void }> {
  const { src, release } = useSource(remote.from);
  let unreported = 0;
  let timer: NodeJS.Timeout | undefined;
  const report = () => {
    clearTimeout(timer);
    timer = undefined;
    if (unreported > 0) send({ t: 'read', id, n: unreported });
    unreported = 0;
  };
  const onBytes = (n: number) => {
    unreported += n;
    if (unreported >= READ_REPORT) report();
    else timer ??= setTimeout(report, READ_REPORT_MS);
  };
  try {
    const blob = await src.openLayer(remote.layer, { signal, onBytes });
    return { blob, done: () => { report(); release(); } };
  } catch (e) {
    release();
    throw blobFailure(e, label, signal);
  }
}

/** Jobs running in this worker; messages for a job that ended are ignored. */
const jobs = new Map<number, { feed: Feed; abort: AbortController }>();

async function runJob(m: Extract<ToWorker, { t: 'job' }>, job: { feed: Feed; abort: AbortController }): Promise<FromWorker> {
  const signal = job.abort.signal;
  const opts = {
    signal,
    ...(m.opts.userXattrs ? { userXattrs: true } : {}),
    ...(m.opts.idMap ? { idMap: m.opts.idMap } : {}),
    ...(m.opts.budget ? { budget: attachBudget(m.opts.budget) } : {}),
  };
  if (!m.remote) return { t: 'done', id: m.id, result: await applyLayer(Readable.from(job.feed.chunks(), { objectMode: false }), m.dir, m.expect, opts) };
  const { blob, done } = await openRemote(m.id, m.remote, m.expect.label, signal);
  try {
    return { t: 'done', id: m.id, result: await applyLayer(blob, m.dir, m.expect, opts) };
  } finally {
    blob.destroy();
    done(); // the last bytes read are reported before the answer
  }
}

port.on('message', (m: ToWorker) => {
  if (m.t === 'job') {
    const job = { feed: new Feed(m.id), abort: new AbortController() };
    jobs.set(m.id, job);
    runJob(m, job).then(send, (e) => send({ t: 'error', id: m.id, error: errorData(e) })).finally(() => jobs.delete(m.id));
    return;
  }
  if (m.t === 'warm') {
    // Load the source's code and credentials now; a failure here shows again in the job.
    const { src, release } = useSource(m.from);
    void Promise.resolve(src.prepare?.()).catch(() => {}).finally(() => {
      release();
      gzipImpl(); // and the gzip inflater (~3 ms), before the first layer needs it
      send({ t: 'warmed' });
    });
    return;
  }
  const job = jobs.get(m.id);
  if (!job) return;
  switch (m.t) {
    case 'data': job.feed.push(Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength)); break;
    case 'end': job.feed.end(); break;
    case 'abort':
      job.abort.abort(new AbortedError(m.message));
      job.feed.end();
      break;
  }
});
send({ t: 'ready' });

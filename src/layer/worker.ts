// An unpack worker thread: runs applyLayer on bytes the main thread streams to it, so the
// CPU work of a layer (hashing, inflating, tar parsing, the synchronous file writes) runs
// beside the other layers' instead of sharing the main thread with them. See pool.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { Readable } from 'node:stream';
import { AbortedError, errorData } from '../errors/index.js';
import { forwardLogs, type LogSettings } from '../log/index.js';
import { applyLayer } from './apply.js';
import { attachBudget } from './budget.js';
import type { FromWorker, ToWorker } from './wire.js';

const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);
forwardLogs((record) => send({ t: 'log', record }), (workerData as { log?: LogSettings } | undefined)?.log?.level);

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

/** Jobs running in this worker; messages for a job that ended are ignored. */
const jobs = new Map<number, { feed: Feed; abort: AbortController }>();

port.on('message', (m: ToWorker) => {
  if (m.t === 'job') {
    const job = { feed: new Feed(m.id), abort: new AbortController() };
    jobs.set(m.id, job);
    const blob = Readable.from(job.feed.chunks(), { objectMode: false });
    applyLayer(blob, m.dir, m.expect, {
      signal: job.abort.signal,
      ...(m.opts.userXattrs ? { userXattrs: true } : {}),
      ...(m.opts.budget ? { budget: attachBudget(m.opts.budget) } : {}),
    }).then(
      (result) => send({ t: 'done', id: m.id, result }),
      (e) => send({ t: 'error', id: m.id, error: errorData(e) }),
    ).finally(() => jobs.delete(m.id));
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

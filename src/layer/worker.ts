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

/** The current job's input: chunks as they arrive, handed out in order. */
class Feed {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  push(b: Buffer): void { this.queue.push(b); this.notify(); }
  end(): void { this.ended = true; this.notify(); }

  private notify(): void { const w = this.wake; this.wake = undefined; w?.(); }

  async *chunks(): AsyncGenerator<Buffer> {
    for (;;) {
      const b = this.queue.shift();
      if (b) {
        send({ t: 'ack', n: b.length });
        yield b;
      } else if (this.ended) {
        return;
      } else {
        await new Promise<void>((r) => (this.wake = r));
      }
    }
  }
}

let feed: Feed | undefined;
let abort: AbortController | undefined;

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'job': {
      const f = (feed = new Feed());
      const ac = (abort = new AbortController());
      const blob = Readable.from(f.chunks(), { objectMode: false });
      applyLayer(blob, m.dir, m.expect, {
        signal: ac.signal,
        ...(m.opts.userXattrs ? { userXattrs: true } : {}),
        ...(m.opts.budget ? { budget: attachBudget(m.opts.budget) } : {}),
      }).then(
        (result) => send({ t: 'done', result }),
        (e) => send({ t: 'error', error: errorData(e) }),
      ).finally(() => {
        if (feed === f) { feed = undefined; abort = undefined; }
      });
      break;
    }
    case 'data': feed?.push(Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength)); break;
    case 'end': feed?.end(); break;
    case 'abort':
      abort?.abort(new AbortedError(m.message));
      feed?.end();
      break;
  }
});

// Small helpers for the layer streams sources hand out.
import { Transform, addAbortSignal, pipeline, type Readable } from 'node:stream';
import { AbortedError } from '../errors/index.js';
import type { OpenLayerOptions } from './types.js';

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortedError(`${what}: aborted`, { cause: signal.reason });
}

/** Attach abort and progress reporting to a stream without changing its bytes. */
export function withLayerOptions(stream: Readable, opts: OpenLayerOptions | undefined): Readable {
  // Already aborted: addAbortSignal would destroy the stream with an 'error' emitted before
  // the caller can listen for it, which crashes the process. Fail the open instead.
  if (opts?.signal?.aborted) {
    stream.destroy();
    throwIfAborted(opts.signal, 'layer stream');
  }
  let out = stream;
  if (opts?.onBytes) {
    const onBytes = opts.onBytes;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        onBytes(chunk.length);
        done(null, chunk);
      },
    });
    // pipeline (not pipe) so a read error reaches the consumer and both ends get destroyed.
    out = pipeline(stream, counter, () => {});
  }
  if (opts?.signal) addAbortSignal(opts.signal, out);
  if (out !== stream && opts?.signal) addAbortSignal(opts.signal, stream);
  return out;
}

// A layer blob as one stream of bytes, whatever happens to the connections under it: a cut
// or stalled connection is resumed where it stopped with a Range request (or, when the
// registry ignores Range, by skipping what was already delivered), after a back-off.
import { Readable, addAbortSignal } from 'node:stream';
import { AbortedError, GrootError, RegistryError } from '../errors/index.js';
import type { OpenLayerOptions } from '../image/types.js';
import { logger } from '../log/index.js';
import { CODES, describe, isTimeout } from './net-errors.js';
import type { Tuning } from './options.js';
import { backoffDelay, retryDelay, sleep } from './retry.js';
import { header, type HttpResponse } from './transport.js';

const log = logger('registry');

/** Fetch `digest` from `offset` on: a 200 or 206 answer (the caller checks which). */
export type BlobFetcher = (offset: number, signal?: AbortSignal) => Promise<HttpResponse>;

// However much progress each attempt makes, a blob is resumed at most this many times.
const MAX_RESUMES = 25;

class ShortBodyError extends Error {
  readonly code = 'GROOT_SHORT_BODY';
}

/** Where a 206's Content-Range says its bytes start. */
function rangeStart(res: HttpResponse): number | undefined {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header(res.headers, 'content-range') ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * Open a blob for streaming. The first request is made before returning, so a missing blob
 * or a refused login fails here; after that the bytes flow as the consumer reads them.
 * `size` is the size the manifest declares (-1 if unknown): a body that ends early is resumed.
 * The bytes are passed on exactly as received; verifying them is the consumer's job.
 */
export async function openBlobStream(label: string, size: number, fetch: BlobFetcher, t: Tuning, opts: OpenLayerOptions = {}): Promise<Readable> {
  const { signal, onBytes } = opts;
  let res = await fetch(0, signal);

  async function* bytes(): AsyncGenerator<Buffer> {
    let offset = 0;
    let failures = 0;
    let resumes = 0;
    let skip = 0;
    try {
      for (;;) {
        const before = offset;
        try {
          for await (const chunk of res.body) {
            let c = chunk as Buffer;
            if (skip > 0) {
              const n = Math.min(skip, c.length);
              skip -= n;
              c = c.subarray(n);
              if (c.length === 0) continue;
            }
            offset += c.length;
            onBytes?.(c.length);
            yield c;
          }
          if (skip > 0 || (size >= 0 && offset < size)) throw new ShortBodyError(`body ended after ${offset} of ${size} bytes`);
          return;
        } catch (e) {
          if (signal?.aborted) throw new AbortedError(`${label}: aborted`, { cause: signal.reason });
          if (e instanceof GrootError) throw e;
          // Progress since the last failure resets the count: only a connection that keeps
          // failing without delivering anything uses up the retries.
          if (offset > before) failures = 0;
          const delay = failures >= t.retries || resumes >= MAX_RESUMES + t.retries ? undefined : e instanceof ShortBodyError ? backoffDelay(failures, t) : retryDelay(e, failures, t);
          if (delay === undefined) {
            const code = isTimeout(e) ? CODES.timeout : CODES.unreachable;
            throw new RegistryError(`${label}: download failed after ${offset}${size >= 0 ? ` of ${size}` : ''} bytes: ${describe(e)}`, { code, cause: e });
          }
          failures++;
          resumes++;
          log.info({ blob: label, offset, size, attempt: failures, delayMs: Math.round(delay), error: describe(e) }, 'blob download interrupted, resuming');
          res.body.destroy();
          await sleep(delay, signal);
          res = await fetch(offset, signal);
          skip = 0;
          if (offset > 0 && res.status === 206) {
            const start = rangeStart(res);
            if (start !== offset) {
              throw new RegistryError(`${label}: asked for bytes from ${offset} on, the registry sent a range starting at ${start ?? '(unreadable Content-Range)'}`, { code: CODES.http });
            }
          } else if (offset > 0) {
            // The server ignored Range and sent the whole blob again.
            skip = offset;
          }
        }
      }
    } finally {
      if (!res.body.destroyed) res.body.destroy();
    }
  }

  const stream = Readable.from(bytes(), { objectMode: false, highWaterMark: 256 * 1024 });
  if (signal) addAbortSignal(signal, stream);
  return stream;
}

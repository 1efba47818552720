// applyLayer: one streaming pass over a layer blob. Compressed bytes are counted and
// hashed (digest, size), decompressed, the tar stream is hashed (diffID) and unpacked.
//
//   blob ──count, sha256──▶ gunzip | zstd | none ──count, sha256, quota──▶ tar reader ──▶ writer
//
// Errors name the layer (expect.label) and what did not match. Size and digest are
// checked as soon as the blob ends, before the decoder's own end-of-stream checks, so a
// truncated blob reports as a size/digest mismatch when those are known. The caller
// removes `dir` on failure; every stream and file handle is closed before we reject.
//
// Everything runs on the calling thread: gzip inflating (synchronously, compression.ts
// says why; zstd through a zlib stream on the libuv thread pool), hashing, tar parsing and
// the synchronous file writes. The calling thread is the main thread or an unpack worker
// (pool.ts runs this same function in worker threads).
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DigestMismatchError, InvalidLayerError, QuotaExceededError, AbortedError, GrootError } from '../errors/index.js';
import { logger } from '../log/index.js';
import type { ApplyOptions, ApplyResult, LayerExpectation } from './types.js';
import { createDecoder, DecodeError, declaredCompression, detectCompression, MAGIC_BYTES, type Compression, type Decoder } from './compression.js';
import { TarReader } from './tar-reader.js';
import { TarFormatError } from './tar-fields.js';
import { LayerWriter } from './writer.js';
import { settleV8Flags } from '../sys/v8-flags.js';

const log = logger('layer');

export async function applyLayer(blob: Readable, dir: string, expect: LayerExpectation, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const label = expect.label;
  const declared = expect.mediaType ? declaredCompression(expect.mediaType) : undefined;
  if (declared && typeof declared === 'object') {
    blob.destroy();
    throw new InvalidLayerError(`${label}: media type ${expect.mediaType}: ${declared.unsupported}`);
  }

  settleV8Flags(); // this process's work starts (sys/v8-flags.ts)
  const writer = new LayerWriter(dir, label, opts);
  const reader = new TarReader(writer);
  const blobHash = createHash('sha256');
  const tarHash = createHash('sha256');
  let compressedBytes = 0;
  let tarBytes = 0;
  let kind: Compression | undefined;
  let decoder: Decoder | undefined;
  let head: Buffer | undefined; // first bytes, until there are enough to tell the format
  const max = opts.maxUnpackedBytes;
  const budget = opts.budget;

  const onTar = (chunk: Buffer) => {
    tarBytes += chunk.length;
    if (max !== undefined && tarBytes > max) {
      throw new QuotaExceededError(`${label}: unpacks to more than the allowed ${max} bytes`);
    }
    if (budget && !budget.take(chunk.length)) {
      throw new QuotaExceededError(`${label}: the image unpacks to more than the allowed ${budget.limit} bytes`);
    }
    tarHash.update(chunk);
    reader.push(chunk);
  };
  const startDecoder = (first: Buffer) => {
    kind = detectCompression(first);
    if (declared && declared !== kind) {
      log.warn({ layer: label, mediaType: expect.mediaType, detected: kind }, 'layer media type and content disagree on compression; using the content');
    }
    // A failure while we wait for the next blob chunk stops the blob, so we notice at once.
    decoder = createDecoder(kind, onTar, () => blob.destroy());
  };

  const started = performance.now();
  const signal = opts.signal;
  const onAbort = () => blob.destroy(new AbortedError(`${label}: unpack aborted`, { cause: signal?.reason }));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw new AbortedError(`${label}: unpack aborted`, { cause: signal.reason });
    for await (const c of blob) {
      const chunk = asBuffer(c);
      compressedBytes += chunk.length;
      if (expect.size !== undefined && expect.size >= 0 && compressedBytes > expect.size) {
        throw new DigestMismatchError(`${label}: blob is larger than its declared size ${expect.size} bytes`);
      }
      blobHash.update(chunk);
      opts.onBytes?.(chunk.length);
      if (!decoder) {
        head = head ? Buffer.concat([head, chunk]) : chunk;
        if (head.length < MAGIC_BYTES) continue;
        startDecoder(head);
        const first = head;
        head = undefined;
        await decoder!.write(first);
      } else {
        await decoder.write(chunk);
      }
      if (signal?.aborted) throw new AbortedError(`${label}: unpack aborted`, { cause: signal.reason });
    }
    if (!decoder) startDecoder(head ?? Buffer.alloc(0));
    if (head) await decoder!.write(head);

    const digest = 'sha256:' + blobHash.digest('hex');
    if (expect.size !== undefined && expect.size >= 0 && compressedBytes !== expect.size) {
      throw new DigestMismatchError(`${label}: blob is ${compressedBytes} bytes, expected ${expect.size} (truncated)`);
    }
    if (expect.digest && expect.digest !== digest) {
      throw new DigestMismatchError(`${label}: blob digest mismatch: expected ${expect.digest}, got ${digest}`);
    }
    await decoder!.end();
    reader.end();
    const diffID = 'sha256:' + tarHash.digest('hex');
    if (expect.diffID && expect.diffID !== diffID) {
      throw new DigestMismatchError(`${label}: uncompressed tar digest (diffID) mismatch: expected ${expect.diffID}, got ${diffID}`);
    }
    writer.finish();
    const result: ApplyResult = { digest, diffID, compressedBytes, tarBytes, unpackedBytes: writer.unpackedBytes, entries: reader.entries };
    log.debug({ layer: label, compression: kind, ...result, ms: Math.round(performance.now() - started) }, 'layer unpacked');
    const implicitDirs = writer.implicitDirs();
    if (implicitDirs.length > 0) result.implicitDirs = implicitDirs;
    return result;
  } catch (e) {
    const cause = decoder?.failure ?? e; // the decoder's own error, not the premature close it caused
    decoder?.destroy();
    blob.destroy();
    writer.abort();
    throw explain(cause, label, kind, declared, reader.offset, signal);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function asBuffer(c: unknown): Buffer {
  if (Buffer.isBuffer(c)) return c;
  if (typeof c === 'string') return Buffer.from(c);
  if (c instanceof Uint8Array) return Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  throw new TypeError(`layer blob stream yielded a ${typeof c}, not bytes`);
}

/** Turn whatever failed into an error that names the layer. */
function explain(e: unknown, label: string, kind: Compression | undefined, declared: Compression | undefined,
  offset: number, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && !(e instanceof GrootError && e.code !== 'GROOT_ABORTED')) {
    return e instanceof AbortedError ? e : new AbortedError(`${label}: unpack aborted`, { cause: signal.reason });
  }
  if (e instanceof GrootError) return e;
  if (e instanceof TarFormatError) {
    const hint = offset <= 512 && declared && declared !== kind ? ` (the media type says ${declared}, the content looks ${kind === 'none' ? 'uncompressed' : kind})` : '';
    return new InvalidLayerError(`${label}: ${e.message}${hint}`, { cause: e });
  }
  if (e instanceof DecodeError) {
    return new InvalidLayerError(`${label}: ${e.kind} stream is corrupt or truncated: ${e.message}`, { cause: e.cause });
  }
  return new InvalidLayerError(`${label}: reading the layer failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

// Compression of layer blobs: detection from magic bytes and media type, and streaming
// decoders that push the uncompressed bytes to a callback.
import * as zlib from 'node:zlib';
import { createRequire } from 'node:module';
import type { Transform } from 'node:stream';
import type { Decompress as FzstdDecompress } from 'fzstd';
import { DecodeError, OUTPUT_CHUNK as CHUNK, type Compression, type Decoder } from './decoder.js';
import { IgzipDecoder, igzip } from './igzip.js';

export { DecodeError, type Compression, type Decoder };

// fzstd (~20 ms to load) is needed only for a zstd layer on a Node without zlib zstd.
const fzstd = () => createRequire(import.meta.url)('fzstd') as typeof import('fzstd');

/** Bytes needed to tell the formats apart. */
export const MAGIC_BYTES = 4;

/** What the first bytes say. Anything that is neither gzip nor zstd is taken as a plain tar. */
export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/**
 * What a layer media type declares: a compression, 'unsupported' with a reason, or
 * undefined when the type does not say (unknown types are the image code's business).
 * OCI: ...layer.v1.tar[+gzip|+zstd]; Docker: ...rootfs.diff.tar[.gzip].
 */
export function declaredCompression(mediaType: string): Compression | { unsupported: string } | undefined {
  const mt = mediaType.split(';')[0]!.trim().toLowerCase();
  if (mt.endsWith('+gzip') || mt.endsWith('.tar.gzip')) return 'gzip';
  if (mt.endsWith('+zstd')) return 'zstd';
  if (mt.endsWith('.tar')) return 'none';
  const m = /\+([a-z0-9]+)$/.exec(mt);
  if (m && mt.includes('.tar+')) return { unsupported: `${m[1]} layers are not supported (only gzip, zstd, uncompressed)` };
  return undefined;
}

/** Which gzip inflater: ISA-L's when this machine has it (see igzip.ts), else zlib's. */
export type GzipImpl = 'igzip' | 'zlib';

const unusable = (): never => { throw new Error('ISA-L (libisal.so.2) is not usable here'); };

/** The gzip inflater createDecoder uses on this thread. */
export function gzipImpl(): GzipImpl {
  return igzip() ? 'igzip' : 'zlib';
}

/**
 * `out` gets the decoded bytes; `onFailure` is told when decoding or `out` fails while the
 * caller is not waiting on write()/end() (e.g. to stop reading the source). `gzip` picks
 * the inflater (tests run both); igzip throws when this machine has no usable ISA-L.
 */
export function createDecoder(kind: Compression, out: (chunk: Buffer) => void, onFailure: () => void = () => {},
  gzip: GzipImpl = gzipImpl()): Decoder {
  if (kind === 'none') return { write: out, end() {}, destroy() {}, failure: undefined };
  if (kind === 'gzip') {
    if (gzip === 'igzip') return new IgzipDecoder(igzip() ?? unusable(), out);
    const z = zlib.createGunzip({ chunkSize: CHUNK });
    return SyncGunzip.usable(z) ? new SyncGunzip(z, out) : new StreamDecoder(kind, z, out, onFailure);
  }
  const native = (zlib as unknown as { createZstdDecompress?: (o: object) => Transform }).createZstdDecompress;
  if (native) return new StreamDecoder(kind, native({ chunkSize: CHUNK }), out, onFailure);
  return new FzstdDecoder(out);
}

/** The parts of a zlib stream's native handle SyncGunzip drives (node's lib/zlib.js uses them for gunzipSync). */
interface ZlibHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
  onerror: (message: string, errno: number, code: string) => void;
}
type ZlibInternals = { _handle?: ZlibHandle; _writeState?: Uint32Array };

const EMPTY = Buffer.alloc(0);

/**
 * gzip inflated on the calling thread, into one output buffer used again and again: `out`
 * consumes each chunk before it returns (tarHash, the tar reader and the writer all do).
 * Measured on a 27 MB layer (46 MB of tar): 50-60 ms of CPU, against 165-190 ms through the
 * zlib stream (a thread pool round trip per 64 KiB written, a new 256 KiB buffer per chunk
 * out), and the same errors: the native code is node's own, only driven synchronously, as
 * its gunzipSync does. Unpacking already runs beside the other layers' (pool.ts), so the
 * thread pool's parallelism bought nothing but that overhead.
 */
class SyncGunzip implements Decoder {
  private readonly h: ZlibHandle;
  private readonly state: Uint32Array;
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private error: unknown;
  private closed = false;

  /** Whether this node's zlib has what SyncGunzip uses (else the stream decoder is used). */
  static usable(z: Transform): boolean {
    const i = z as unknown as ZlibInternals;
    // Not instanceof: node's core and a test runner's sandbox have different Uint32Arrays.
    return typeof i._handle?.writeSync === 'function' && Object.prototype.toString.call(i._writeState) === '[object Uint32Array]';
  }

  constructor(private readonly z: Transform, private readonly out: (chunk: Buffer) => void) {
    const i = z as unknown as Required<ZlibInternals>;
    this.h = i._handle;
    this.state = i._writeState;
    z.on('error', () => {}); // reported through onerror below, synchronously
    // The handle reports a bad stream here, during writeSync; after that it must not be used.
    this.h.onerror = (message, errno, code) => {
      this.error ??= new DecodeError('gzip', Object.assign(new Error(message), { errno, code }));
      this.close();
    };
  }

  get failure(): unknown {
    return this.error;
  }

  private run(input: Buffer, flush: number): void {
    let inOff = 0;
    let inLen = input.length;
    for (;;) {
      if (this.error !== undefined) throw this.error;
      this.h.writeSync(flush, input, inOff, inLen, this.buf, 0, CHUNK);
      if (this.error !== undefined) throw this.error;
      const availOut = this.state[0]!;
      const availIn = this.state[1]!;
      const have = CHUNK - availOut;
      inOff += inLen - availIn;
      inLen = availIn;
      if (have > 0) {
        try {
          this.out(this.buf.subarray(0, have));
        } catch (e) {
          this.error = e;
          this.close();
          throw e;
        }
      }
      if (availOut !== 0) return; // all input taken, no output pending
    }
  }

  write(chunk: Buffer): void {
    this.run(chunk, zlib.constants.Z_NO_FLUSH);
  }

  end(): void {
    this.run(EMPTY, zlib.constants.Z_FINISH);
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    // After the stack that reported an error has unwound (closing inside onerror would free
    // the handle under the native call still running).
    queueMicrotask(() => (this.z as unknown as { close(): void }).close());
  }

  destroy(): void {
    this.close();
  }
}

/** Decoded bytes waiting for the consumer before the decoder is paused. */
const QUEUE_LIMIT = 4 << 20;

/**
 * A zlib Transform (inflating on the libuv thread pool). Its output is queued and handed
 * to `out` in a microtask rather than inside the 'data' event: zlib starts inflating the
 * next piece only after 'data' returns, so this lets inflating and unpacking overlap.
 * An exception from `out` (a bad tar entry, a quota) destroys the stream and is what
 * write()/end() reject with.
 */
class StreamDecoder implements Decoder {
  private error: unknown;
  private ended = false;
  private wake: (() => void) | undefined;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private scheduled = false;

  constructor(kind: Compression, private readonly z: Transform, private readonly out: (chunk: Buffer) => void,
    private readonly onFailure: () => void) {
    z.on('data', (chunk: Buffer) => {
      if (this.error !== undefined) return;
      this.queue.push(chunk);
      this.queued += chunk.length;
      if (this.queued >= QUEUE_LIMIT) z.pause();
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => this.deliver());
      }
    });
    z.on('error', (e) => this.fail(new DecodeError(kind, e)));
    z.on('drain', () => this.notify());
    z.on('end', () => {
      this.ended = true;
      this.notify();
    });
  }

  private deliver(): void {
    this.scheduled = false;
    while (this.queue.length > 0 && this.error === undefined) {
      const chunk = this.queue.shift()!;
      this.queued -= chunk.length;
      try {
        this.out(chunk);
      } catch (e) {
        this.fail(e);
        return;
      }
    }
    if (this.z.isPaused()) this.z.resume();
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  get failure(): unknown {
    return this.error;
  }

  private fail(e: unknown): void {
    if (this.error !== undefined) return;
    this.error = e ?? new Error('decoder failed');
    this.queue.length = 0;
    this.z.destroy();
    this.notify();
    this.onFailure();
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.error !== undefined) throw this.error;
    if (!this.z.write(chunk)) {
      while (this.error === undefined && this.z.writableNeedDrain) await this.wait();
    }
    if (this.error !== undefined) throw this.error;
  }

  async end(): Promise<void> {
    if (this.error !== undefined) throw this.error;
    this.z.end();
    while (this.error === undefined && !(this.ended && this.queue.length === 0 && !this.scheduled)) await this.wait();
    if (this.error !== undefined) throw this.error;
  }

  destroy(): void {
    this.queue.length = 0;
    this.z.destroy();
  }
}

/** Pure-JS zstd for Nodes without zlib zstd (before 22.15). Runs synchronously. */
class FzstdDecoder implements Decoder {
  private readonly d: FzstdDecompress;
  private outError: unknown;
  failure: unknown;

  constructor(out: (chunk: Buffer) => void) {
    // fzstd may reuse its window buffer: `out` consumes each chunk before returning.
    this.d = new (fzstd().Decompress)((data) => {
      if (data.length === 0) return;
      try {
        out(Buffer.from(data.buffer, data.byteOffset, data.length));
      } catch (e) {
        this.outError = e;
        throw e;
      }
    });
  }

  private push(chunk: Uint8Array, final: boolean): void {
    if (this.failure !== undefined) throw this.failure;
    try {
      this.d.push(chunk, final);
    } catch (e) {
      this.failure = e === this.outError ? e : new DecodeError('zstd', e);
      throw this.failure;
    }
  }

  write(chunk: Buffer): void {
    this.push(chunk, false);
  }

  end(): void {
    this.push(new Uint8Array(0), true);
  }

  destroy(): void {}
}

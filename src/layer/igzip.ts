// gzip inflated by ISA-L's igzip (Debian's libisal2) through koffi: on this project's
// benchmark layers 40% less CPU than zlib as groot drives it (big image: 140 vs 240 ms for
// 169 MB of tar; gunzipSync took 400), and inflating is one of a pull's larger CPU costs.
// Used when the library loads and decodes a self-test correctly; otherwise (not installed,
// another struct layout) the zlib decoder is used, as with GROOT_GZIP=zlib.
import { crc32, gzipSync } from 'node:zlib';
import { koffi } from '../sys/libc.js';
import { DecodeError, OUTPUT_CHUNK as CHUNK, type Decoder } from './decoder.js';

// struct inflate_state of ISA-L 2.30 (igzip_lib.h) on 64-bit Linux: the fields used here.
// Another layout fails the self-test (a gzip wrapper read as raw deflate, an end never
// seen) rather than decoding wrongly; the state is allocated with room to spare so a
// larger struct stays inside it while that test runs.
const STATE_BYTES = 256 * 1024; // sizeof is 87368 in 2.30
const NEXT_OUT = 0;
const AVAIL_OUT = 8;
const NEXT_IN = 16;
const AVAIL_IN = 32;
const BLOCK_STATE = 21160;
const CRC_FLAG = 21172;
// crc_flag: raw deflate, then check the CRC32 and ISIZE trailer. The header is parsed
// here: ISA-L 2.30 fails a header CRC (FHCRC) that arrives in several pieces.
const ISAL_GZIP_NO_HDR_VER = 6;
const ISAL_BLOCK_FINISH = 5;
/** Longest gzip header taken (extra field, name, comment): node's gunzip has no limit, a layer needs none. */
const MAX_HEADER = 1 << 20;

/** zlib's words for the same faults, so a corrupt layer reads the same either way. */
const MESSAGES: Record<number, [string, string]> = {
  [-1]: ['invalid block type', 'ISAL_INVALID_BLOCK'],
  [-2]: ['invalid literal/length code', 'ISAL_INVALID_SYMBOL'],
  [-3]: ['invalid distance too far back', 'ISAL_INVALID_LOOKBACK'],
  [-4]: ['incorrect header check', 'ISAL_INVALID_WRAPPER'],
  [-5]: ['unknown compression method', 'ISAL_UNSUPPORTED_METHOD'],
  [-6]: ['incorrect data or length check', 'ISAL_INCORRECT_CHECKSUM'],
};

/**
 * Length of the gzip member header in `h` (RFC 1952), or -1 while it is incomplete; a bad
 * header throws zlib's words for it as soon as the byte that shows it is there.
 */
export function gzipHeaderLength(h: Buffer): number {
  if ((h.length > 0 && h[0] !== 0x1f) || (h.length > 1 && h[1] !== 0x8b)) throw headerError('incorrect header check');
  if (h.length > 2 && h[2] !== 8) throw headerError('unknown compression method');
  if (h.length > 3 && (h[3]! & 0xe0) !== 0) throw headerError('unknown header flags set');
  if (h.length < 10) return -1;
  const flags = h[3]!;
  let p = 10;
  if (flags & 4) {
    if (h.length < p + 2) return -1;
    p += 2 + h.readUInt16LE(p);
    if (h.length < p) return -1;
  }
  for (const bit of [8, 16]) {
    if (!(flags & bit)) continue;
    const z = h.indexOf(0, p);
    if (z < 0) return -1;
    p = z + 1;
  }
  if (flags & 2) {
    if (h.length < p + 2) return -1;
    if ((crc32(h.subarray(0, p)) & 0xffff) !== h.readUInt16LE(p)) throw headerError('header crc mismatch');
    p += 2;
  }
  return p;
}

function headerError(message: string): DecodeError {
  return new DecodeError('gzip', Object.assign(new Error(message), { code: 'GZIP_BAD_HEADER' }));
}

interface Isal {
  init(state: Buffer): void;
  inflate(state: Buffer): number;
}

let loaded: Isal | null | undefined;

/** ISA-L on this thread, or null when it is missing or fails the self-test (once per thread). */
export function igzip(): Isal | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.env.GROOT_GZIP === 'zlib') return null;
  try {
    const lib = koffi.load('libisal.so.2');
    const candidate: Isal = {
      init: lib.func('void isal_inflate_init(void *state)') as (s: Buffer) => void,
      inflate: lib.func('int isal_inflate(void *state)') as (s: Buffer) => number,
    };
    if (selfTest(candidate)) loaded = candidate;
  } catch {
    // not installed: zlib
  }
  return loaded;
}

/** Two gzip members (Huffman and stored blocks) in odd pieces must come back byte for byte. */
function selfTest(isal: Isal): boolean {
  // Small: it runs on the way to the first layer of each thread.
  const plain = Buffer.alloc(8 * 1024);
  let x = 12345;
  for (let i = 0; i < plain.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    plain[i] = i < 4 * 1024 ? 97 + ((x >>> 16) % 7) : x >>> 24;
  }
  const input = Buffer.concat([gzipSync(plain), gzipSync(plain.subarray(0, 1000), { level: 0 })]);
  const parts: Buffer[] = [];
  try {
    const d = new IgzipDecoder(isal, (c) => parts.push(Buffer.from(c)));
    for (let i = 0; i < input.length; i += 1001) d.write(input.subarray(i, i + 1001));
    d.end();
  } catch {
    return false;
  }
  return Buffer.concat(parts).equals(Buffer.concat([plain, plain.subarray(0, 1000)]));
}

/**
 * A gzip stream (one member or several, as `gunzip` reads them) decoded synchronously on
 * the calling thread into one output buffer used again and again: `out` consumes each
 * chunk before it returns. Input is read where it lies (no copy). After a member, a zero
 * byte ends the stream and the rest is ignored, anything else must be another member
 * (node's gunzip does the same).
 */
export class IgzipDecoder implements Decoder {
  private readonly mem = spare.pop() ?? newMemory();
  private error: unknown;
  private member: 'none' | 'header' | 'open' | 'done' = 'none';
  /** The header bytes of the member being read, until it is whole. */
  private head = Buffer.alloc(0);
  private padding = false;
  private closed = false;

  constructor(private readonly isal: Isal, private readonly out: (chunk: Buffer) => void) {}

  get failure(): unknown {
    return this.error;
  }

  private fail(e: unknown): never {
    this.error ??= e;
    this.close();
    throw this.error;
  }

  /** Done with the memory: the next decoder of this thread takes it (never used here again). */
  private close(): void {
    if (this.closed) return;
    this.closed = true;
    if (spare.length < SPARE_MAX) spare.push(this.mem);
  }

  private corrupt(message: string, code: string): never {
    return this.fail(new DecodeError('gzip', Object.assign(new Error(message), { code })));
  }

  write(chunk: Buffer): void {
    if (this.error !== undefined) throw this.error;
    if (this.closed) throw new Error('gzip decoder used after it was closed');
    let off = 0;
    while (off < chunk.length && !this.padding) {
      if (this.member === 'none' || this.member === 'done') {
        if (this.member === 'done' && chunk[off] === 0) {
          this.padding = true;
          return;
        }
        this.member = 'header';
        this.head = Buffer.alloc(0);
      }
      if (this.member === 'header') off = this.header(chunk, off);
      else off = this.inflate(chunk, off);
    }
  }

  /** Take header bytes from chunk[off..]; once the header is whole, start inflating after it. */
  private header(chunk: Buffer, off: number): number {
    const had = this.head.length;
    const take = Math.min(chunk.length - off, 4096);
    this.head = Buffer.concat([this.head, chunk.subarray(off, off + take)]);
    let n: number;
    try {
      n = gzipHeaderLength(this.head);
    } catch (e) {
      this.fail(e);
    }
    if (n < 0) {
      if (this.head.length > MAX_HEADER) this.corrupt('gzip header longer than 1 MiB', 'GZIP_BAD_HEADER');
      return off + take;
    }
    this.isal.init(this.mem.state);
    this.mem.state.writeUInt32LE(ISAL_GZIP_NO_HDR_VER, CRC_FLAG);
    this.member = 'open';
    this.head = Buffer.alloc(0);
    return off + (n - had);
  }

  /** Inflate from chunk[off..] until the input is used up or the member ends; returns the new offset. */
  private inflate(chunk: Buffer, off: number): number {
    const { state: s, buf, bufAddr } = this.mem;
    const given = chunk.length - off;
    s.writeBigUInt64LE(koffi.address(chunk) + BigInt(off), NEXT_IN);
    s.writeUInt32LE(given, AVAIL_IN);
    for (;;) {
      s.writeBigUInt64LE(bufAddr, NEXT_OUT);
      s.writeUInt32LE(CHUNK, AVAIL_OUT);
      const ret = this.isal.inflate(s);
      if (ret < 0) {
        const [message, code] = MESSAGES[ret] ?? [`inflate failed (${ret})`, 'ISAL_ERROR'];
        this.corrupt(message, code);
      }
      const have = CHUNK - s.readUInt32LE(AVAIL_OUT);
      if (have > 0) {
        try {
          this.out(buf.subarray(0, have));
        } catch (e) {
          this.fail(e);
        }
      }
      const left = s.readUInt32LE(AVAIL_IN);
      if (s.readUInt32LE(BLOCK_STATE) === ISAL_BLOCK_FINISH) {
        this.member = 'done';
        return chunk.length - left;
      }
      if (have < CHUNK) {
        // ISA-L returns with output room left only once it has taken all the input.
        if (left !== 0) this.corrupt('inflate stopped before the end of its input', 'ISAL_STALLED');
        return chunk.length;
      }
    }
  }

  end(): void {
    if (this.error !== undefined) throw this.error;
    if (this.member !== 'done') this.corrupt('unexpected end of file', 'ISAL_END_INPUT');
    this.close();
  }

  destroy(): void {
    this.close();
  }
}

interface Memory {
  state: Buffer;
  buf: Buffer;
  bufAddr: bigint;
}

// A decoder's 512 KiB, kept for the thread's next layer: fresh memory costs a page fault per
// 4 KiB (the kernel zeroing it), ~128 per layer. As many as layers unpack at once here.
const SPARE_MAX = 4;
const spare: Memory[] = [];

function newMemory(): Memory {
  const buf = Buffer.allocUnsafeSlow(CHUNK);
  return { state: Buffer.allocUnsafeSlow(STATE_BYTES), buf, bufAddr: koffi.address(buf) };
}

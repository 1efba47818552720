// Both gzip decoders (layer/igzip.ts: ISA-L through koffi; layer/compression.ts SyncGunzip:
// node's zlib driven synchronously) against zlib.gunzipSync: the same bytes out, the same
// verdict, for every way the input may be split; errors are DecodeErrors (zlib's own words
// from zlib; from ISA-L zlib's words for the fault it names), and a decoder that failed
// stays failed (no second native call on a finished handle, which would abort the process).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync, gunzipSync, gzipSync } from 'node:zlib';
import { createDecoder, DecodeError, gzipImpl, type GzipImpl } from '../../src/layer/compression.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const IMPLS: GzipImpl[] = ['igzip', 'zlib'];
/** What ISA-L can say (igzip.ts MESSAGES and the two it finds itself). */
const IGZIP_WORDS = ['invalid block type', 'invalid literal/length code', 'invalid distance too far back',
  'incorrect header check', 'unknown compression method', 'incorrect data or length check', 'unexpected end of file'];

const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(20_000));
const noise = randomBytes(300_000);
const a = gzipSync(Buffer.concat([text, noise]));
const b = gzipSync(Buffer.from('second member\n'.repeat(5000)));

/** A member with every optional header field (extra, name, comment, header CRC), as gzip(1) and Go may write. */
function fullHeaderMember(body: Buffer): Buffer {
  const extra = Buffer.from('AB\x04\x00wxyz', 'latin1');
  const head = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0x1e, 1, 2, 3, 4, 0, 3]),
    Buffer.from([extra.length, 0]), extra, Buffer.from('layer.tar\0comment\0', 'latin1')]);
  const hcrc = Buffer.alloc(2);
  hcrc.writeUInt16LE(crc32(head) & 0xffff);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(body), 0);
  trailer.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, hcrc, deflateRawSync(body), trailer]);
}
const withByte = (input: Buffer, at: number, xor: number) => { const c = Buffer.from(input); c[at < 0 ? c.length + at : at]! ^= xor; return c; };
const full = fullHeaderMember(text);

const inputs: Record<string, Buffer> = {
  'full header': full,
  'full header, then one more member': Buffer.concat([full, b]),
  'wrong header crc': withByte(full, 35, 0x01),
  'wrong method': withByte(a, 2, 0x01),
  'reserved flag': withByte(a, 3, 0x80),
  'wrong crc': withByte(a, -8, 0x40),
  'wrong size': withByte(a, -4, 0x01),
  'one member': a,
  'two members': Buffer.concat([a, b]),
  'trailing zeros': Buffer.concat([a, Buffer.alloc(700)]),
  'trailing garbage': Buffer.concat([a, Buffer.from('not gzip')]),
  'truncated body': a.subarray(0, a.length >> 1),
  'truncated trailer': a.subarray(0, a.length - 3),
  'corrupt body': Buffer.from(a).fill(0x55, 40, 60),
  'header only': a.subarray(0, 10),
};

/** What decoding `input` in pieces of `piece` bytes gives: the bytes, or the error message. */
function decode(impl: GzipImpl, input: Buffer, piece: number): { out?: Buffer; error?: unknown; chunks: number } {
  const parts: Buffer[] = [];
  let chunks = 0;
  const d = createDecoder('gzip', (c) => { parts.push(Buffer.from(c)); chunks++; }, undefined, impl);
  try {
    for (let i = 0; i < input.length; i += piece) d.write(input.subarray(i, i + piece));
    d.end();
    return { out: Buffer.concat(parts), chunks };
  } catch (e) {
    d.destroy();
    return { error: e, chunks };
  }
}

function reference(input: Buffer): { out?: Buffer; message?: string } {
  try { return { out: gunzipSync(input) }; } catch (e) { return { message: (e as Error).message }; }
}

test('this machine inflates with ISA-L (hack/install.sh installs libisal2): it is the default', () => {
  expect(gzipImpl()).toBe('igzip');
});

test('GROOT_GZIP=zlib (as without a usable ISA-L) makes zlib the default, and igzip is refused', () => {
  const script = `
    const { gzipImpl, createDecoder } = await import(${JSON.stringify(join(repo, 'dist', 'layer', 'compression.js'))});
    let refused = false;
    try { createDecoder('gzip', () => {}, undefined, 'igzip'); } catch { refused = true; }
    console.log(JSON.stringify({ impl: gzipImpl(), refused }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, GROOT_GZIP: 'zlib' } });
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual({ impl: 'zlib', refused: true });
});

describe.each(IMPLS)('%s', (impl) => {
describe.each(Object.entries(inputs))('%s', (_name, input) => {
  test.each([1, 7, 4096, 65536, 1 << 20])('in pieces of %i bytes: as gunzipSync', (piece) => {
    const want = reference(input);
    const got = decode(impl, input, piece);
    if (want.out) {
      expect(got.error).toBeUndefined();
      expect(got.out!.equals(want.out)).toBe(true);
    } else {
      expect(got.error).toBeInstanceOf(DecodeError);
      const message = (got.error as Error).message;
      // A corrupt body or trailer is told in other words by another inflater.
      if (impl === 'zlib' || !['corrupt body', 'wrong crc', 'wrong size'].includes(_name)) expect(message).toBe(want.message);
      else expect(IGZIP_WORDS).toContain(message);
    }
  });
});

test('output comes in chunks of at most 256 KiB, one buffer reused (the consumer copies what it keeps)', () => {
  const seen = new Set<ArrayBuffer>();
  let max = 0;
  const d = createDecoder('gzip', (c) => { seen.add(c.buffer as ArrayBuffer); max = Math.max(max, c.length); }, undefined, impl);
  d.write(a);
  d.end();
  expect(max).toBe(256 * 1024);
  expect(seen.size).toBe(1);
});

test('an error from the consumer stops the decoder and is its failure; later writes throw it again', () => {
  const boom = new Error('tar entry refused');
  const d = createDecoder('gzip', () => { throw boom; }, undefined, impl);
  expect(() => d.write(a)).toThrow(boom);
  expect(d.failure).toBe(boom);
  expect(() => d.write(a)).toThrow(boom);
  expect(() => d.end()).toThrow(boom);
  d.destroy();
});

test('after a corrupt stream every further write and end throws the same DecodeError (the process survives)', () => {
  const d = createDecoder('gzip', () => {}, undefined, impl);
  const bad = inputs['corrupt body']!;
  let first: unknown;
  try { d.write(bad); d.end(); } catch (e) { first = e; }
  expect(first).toBeInstanceOf(DecodeError);
  expect(() => d.write(a)).toThrow(first as Error);
  expect(() => d.end()).toThrow(first as Error);
  d.destroy();
  d.destroy();
});
});

test('igzip: a finished or failed decoder leaves its memory to the next one; decoders open at once never share it', () => {
  const bufferOf = (d: (out: (c: Buffer) => void) => void) => { let b: ArrayBuffer | undefined; d((c) => { b ??= c.buffer as ArrayBuffer; }); return b; };
  const run = (input: Buffer) => (out: (c: Buffer) => void) => {
    const d = createDecoder('gzip', out, undefined, 'igzip');
    try { d.write(input); d.end(); } catch { d.destroy(); }
  };
  const first = bufferOf(run(a));
  expect(bufferOf(run(a))).toBe(first); // reused after end()
  bufferOf(run(inputs['corrupt body']!)); // fails, gives it back
  const parts: Buffer[] = [];
  const again = createDecoder('gzip', (c) => parts.push(Buffer.from(c)), undefined, 'igzip');
  again.write(a);
  again.end();
  expect(Buffer.concat(parts).equals(gunzipSync(a))).toBe(true); // nothing left over from the failure

  // Two at once, interleaved: different memory, both right.
  const outA: Buffer[] = [];
  const outB: Buffer[] = [];
  const seenA = new Set<ArrayBuffer>();
  const seenB = new Set<ArrayBuffer>();
  const da = createDecoder('gzip', (c) => { seenA.add(c.buffer as ArrayBuffer); outA.push(Buffer.from(c)); }, undefined, 'igzip');
  const db = createDecoder('gzip', (c) => { seenB.add(c.buffer as ArrayBuffer); outB.push(Buffer.from(c)); }, undefined, 'igzip');
  for (let i = 0; i < a.length; i += 50_000) { da.write(a.subarray(i, i + 50_000)); db.write(b.subarray(i, i + 50_000)); }
  da.end();
  db.end();
  expect([...seenA].some((x) => seenB.has(x))).toBe(false);
  expect(Buffer.concat(outA).equals(gunzipSync(a))).toBe(true);
  expect(Buffer.concat(outB).equals(gunzipSync(b))).toBe(true);
});

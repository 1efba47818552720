// The gzip decoder (layer/compression.ts SyncGunzip: node's zlib driven synchronously into
// one reused buffer) against zlib.gunzipSync: the same bytes out, the same verdict, for
// every way the input may be split; errors are DecodeErrors, and a decoder that failed
// stays failed (no second native call on a finished handle, which would abort the process).
import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createDecoder, DecodeError } from '../../src/layer/compression.js';

const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(20_000));
const noise = randomBytes(300_000);
const a = gzipSync(Buffer.concat([text, noise]));
const b = gzipSync(Buffer.from('second member\n'.repeat(5000)));

const inputs: Record<string, Buffer> = {
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
function decode(input: Buffer, piece: number): { out?: Buffer; error?: unknown; chunks: number } {
  const parts: Buffer[] = [];
  let chunks = 0;
  const d = createDecoder('gzip', (c) => { parts.push(Buffer.from(c)); chunks++; });
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

describe.each(Object.entries(inputs))('%s', (_name, input) => {
  test.each([1, 7, 4096, 65536, 1 << 20])('in pieces of %i bytes: as gunzipSync', (piece) => {
    const want = reference(input);
    const got = decode(input, piece);
    if (want.out) {
      expect(got.error).toBeUndefined();
      expect(got.out!.equals(want.out)).toBe(true);
    } else {
      expect(got.error).toBeInstanceOf(DecodeError);
      expect((got.error as Error).message).toBe(want.message);
    }
  });
});

test('output comes in chunks of at most 256 KiB, one buffer reused (the consumer copies what it keeps)', () => {
  const seen = new Set<ArrayBuffer>();
  let max = 0;
  const d = createDecoder('gzip', (c) => { seen.add(c.buffer as ArrayBuffer); max = Math.max(max, c.length); });
  d.write(a);
  d.end();
  expect(max).toBe(256 * 1024);
  expect(seen.size).toBe(1);
});

test('an error from the consumer stops the decoder and is its failure; later writes throw it again', () => {
  const boom = new Error('tar entry refused');
  const d = createDecoder('gzip', () => { throw boom; });
  expect(() => d.write(a)).toThrow(boom);
  expect(d.failure).toBe(boom);
  expect(() => d.write(a)).toThrow(boom);
  expect(() => d.end()).toThrow(boom);
  d.destroy();
});

test('after a corrupt stream every further write and end throws the same DecodeError (the process survives)', () => {
  const d = createDecoder('gzip', () => {});
  const bad = inputs['corrupt body']!;
  let first: unknown;
  try { d.write(bad); d.end(); } catch (e) { first = e; }
  expect(first).toBeInstanceOf(DecodeError);
  expect(() => d.write(a)).toThrow(first as Error);
  expect(() => d.end()).toThrow(first as Error);
  d.destroy();
  d.destroy();
});

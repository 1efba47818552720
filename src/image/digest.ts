// Content digests (OCI image spec "Digests"): `algorithm:encoded`, lowercase hex.
// Only sha256 and sha512 are registered algorithms; anything else is refused rather than
// trusted, because a digest we cannot compute is a digest we cannot verify.
import { createHash } from 'node:crypto';
import { DigestMismatchError, InvalidImageError } from '../errors/index.js';

const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface ParsedDigest { algorithm: DigestAlgorithm; hex: string }

/** Why `d` is not a usable digest, or undefined when it is one. */
export function digestProblem(d: unknown): string | undefined {
  if (typeof d !== 'string') return 'is not a string';
  const colon = d.indexOf(':');
  if (colon < 0) return 'has no algorithm prefix (want sha256:<64 hex> or sha512:<128 hex>)';
  const alg = d.slice(0, colon);
  const hex = d.slice(colon + 1);
  const len = HEX_LENGTH[alg];
  if (len === undefined) return `uses unsupported algorithm "${alg}" (sha256 and sha512 are supported)`;
  if (hex.length !== len || !/^[0-9a-f]+$/.test(hex)) return `is not ${alg}:<${len} lowercase hex digits>`;
  return undefined;
}

export function isDigest(d: unknown): d is string {
  return digestProblem(d) === undefined;
}

/**
 * Split a digest, or throw InvalidImageError naming `what` (e.g. "layer 2 of oci:///x").
 * Callers parsing user input wrap this into InvalidArgumentError themselves.
 */
export function parseDigest(d: unknown, what = 'digest'): ParsedDigest {
  const problem = digestProblem(d);
  if (problem) throw new InvalidImageError(`${what}: digest ${JSON.stringify(d)} ${problem}`);
  const s = d as string;
  const colon = s.indexOf(':');
  return { algorithm: s.slice(0, colon) as DigestAlgorithm, hex: s.slice(colon + 1) };
}

/** `algorithm:hex` of `data`. */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** A hash in the algorithm of `digest`, for streaming verification. */
export function hasherFor(digest: string): ReturnType<typeof createHash> {
  return createHash(parseDigest(digest).algorithm);
}

/**
 * Check bytes against a descriptor's digest and (when given) size.
 * Throws DigestMismatchError naming `what`.
 */
export function verifyBytes(data: Uint8Array, expected: { digest: string; size?: number }, what: string): void {
  if (expected.size !== undefined && expected.size >= 0 && data.length !== expected.size) {
    throw new DigestMismatchError(`${what}: size mismatch: expected ${expected.size} bytes, got ${data.length}`);
  }
  const { algorithm } = parseDigest(expected.digest, what);
  const actual = digestOf(data, algorithm);
  if (actual !== expected.digest) {
    throw new DigestMismatchError(`${what}: digest mismatch: expected ${expected.digest}, got ${actual}`);
  }
}

import { ImageNotFoundError, InvalidArgumentError } from '../../src/errors/index.js';
import { MT, hostPlatform, parsePlatform, selectPlatform, type Descriptor, type ImageIndex } from '../../src/image/index.js';

const entry = (n: number, os: string, architecture: string, variant?: string): Descriptor => ({
  mediaType: MT.ociManifest, digest: 'sha256:' + String(n).repeat(64), size: 1,
  platform: { os, architecture, ...(variant ? { variant } : {}) },
});
const index = (...manifests: Descriptor[]): ImageIndex => ({ kind: 'index', mediaType: MT.ociIndex, manifests });

const multi = index(
  entry(1, 'linux', 'amd64'),
  entry(2, 'linux', 'arm', 'v6'),
  entry(3, 'linux', 'arm', 'v7'),
  entry(4, 'linux', 'arm64', 'v8'),
  entry(5, 'windows', 'amd64'),
  entry(6, 'unknown', 'unknown'), // BuildKit attestation manifest
);

test('the default platform is this node in OCI names', () => {
  const p = hostPlatform();
  expect(p.os).toBe('linux');
  const want = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm' } as Record<string, string>)[process.arch] ?? process.arch;
  expect(p.architecture).toBe(want);
  expect(selectPlatform(multi).platform!.architecture).toBe(p.architecture);
});

test.each([
  ['linux/amd64', 1],
  ['linux/x86_64', 1],
  ['linux/amd64/v1', 1],
  ['linux/arm/v7', 3],
  ['linux/arm', 3],
  ['linux/armhf', 3],
  ['linux/arm/v6', 2],
  ['linux/arm/v8', 3], // an arm v8 CPU runs v7 code: closest older variant
  ['linux/arm64', 4],
  ['linux/aarch64', 4],
  ['linux/arm64/v8', 4],
  ['windows/amd64', 5],
])('%s picks entry %d', (p, n) => {
  expect(selectPlatform(multi, parsePlatform(p)).digest).toBe('sha256:' + String(n).repeat(64));
});

test('arm64 entries without a variant match arm64/v8, and exact variants beat older ones', () => {
  expect(selectPlatform(index(entry(1, 'linux', 'arm64')), parsePlatform('linux/arm64/v8')).digest).toMatch(/^sha256:1/);
  expect(selectPlatform(index(entry(1, 'linux', 'arm', 'v5'), entry(2, 'linux', 'arm', 'v7'), entry(3, 'linux', 'arm', 'v6')), parsePlatform('linux/arm/v7')).digest).toMatch(/^sha256:2/);
  expect(selectPlatform(index(entry(1, 'linux', 'arm', 'v5'), entry(3, 'linux', 'arm', 'v6')), parsePlatform('linux/arm/v7')).digest).toMatch(/^sha256:3/);
  // an amd64/v3 build is not run on a node that did not ask for v3
  expect(() => selectPlatform(index(entry(1, 'linux', 'amd64', 'v3')), parsePlatform('linux/amd64'))).toThrow(ImageNotFoundError);
  expect(selectPlatform(index(entry(1, 'linux', 'amd64'), entry(2, 'linux', 'amd64', 'v3')), parsePlatform('linux/amd64/v3')).digest).toMatch(/^sha256:2/);
});

test('no match: ImageNotFoundError listing the platforms on offer, without attestation entries', () => {
  let err: Error | undefined;
  try { selectPlatform(multi, parsePlatform('linux/s390x'), 'docker://reg/x:1'); } catch (e) { err = e as Error; }
  expect(err).toBeInstanceOf(ImageNotFoundError);
  expect(err!.message).toBe('docker://reg/x:1: no image for platform linux/s390x; available: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8, windows/amd64');
  expect(() => selectPlatform(index(), parsePlatform('linux/amd64'), 'x')).toThrow('x: no image for platform linux/amd64; available: none (the index lists no platforms)');
});

test('a single entry without platform data is taken as is', () => {
  const only = { mediaType: MT.ociManifest, digest: 'sha256:' + '9'.repeat(64), size: 1 };
  expect(selectPlatform(index(only))).toBe(only);
});

test('parsePlatform', () => {
  expect(parsePlatform('linux/arm/v7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
  expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' });
  for (const bad of ['linux', 'linux/', 'a/b/c/d', 'linux/am d64']) expect(() => parsePlatform(bad)).toThrow(InvalidArgumentError);
});

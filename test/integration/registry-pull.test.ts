// Pulling from a real registry (docker-registry, no auth): manifests in every form, platform
// choice, digest pins, byte-exact layer streams, parallel downloads, mirrors, not-found errors.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isGrootError } from '../../src/errors/index.js';
import { registrySource, type RegistryOptions } from '../../src/registry/index.js';
import type { ImageSource, LayerRef } from '../../src/image/types.js';
import { startRegistry, freePort, type RunningRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/registry-proxy.js';
import { noise, pushFixture, pushIndexFixture, type PushedImage, type PushedIndex } from '../helpers/registry-images.js';

let tmp: string;
let reg: RunningRegistry;
let single: PushedImage;
let multi: PushedImage;
let v2s2: PushedImage;
let index: PushedIndex;
const sources: ImageSource[] = [];

const FAST: RegistryOptions = { retries: 2, backoffMs: 10, maxBackoffMs: 50 };

function open(source: string, opts: RegistryOptions = {}): ImageSource {
  const s = registrySource(source, { insecureRegistries: [reg.host], ...FAST, ...opts });
  sources.push(s);
  return s;
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'groot-regpull-'));
  reg = await startRegistry();
  single = await pushFixture(tmp, reg.host, 'test/single', 'v1', [[{ name: 'hello.txt', content: 'hello\n' }]]);
  multi = await pushFixture(tmp, reg.host, 'test/multi', 'v1', [
    [{ name: 'base.bin', content: noise(600_000, 1) }],
    [{ name: 'mid.bin', content: noise(300_000, 2) }],
    [{ name: 'top.txt', content: 'top\n' }],
  ]);
  v2s2 = await pushFixture(tmp, reg.host, 'test/docker', 'v1', [[{ name: 'd.txt', content: 'docker\n' }], [{ name: 'e.txt', content: 'e\n' }]], { format: 'v2s2' });
  index = await pushIndexFixture(tmp, reg.host, 'test/multiarch', 'v1');
});

afterEach(async () => {
  for (const s of sources.splice(0)) await s.close().catch(() => {});
});

afterAll(async () => {
  await reg?.stop();
  await rm(tmp, { recursive: true, force: true });
});

test('resolves a single-layer OCI image by tag: digest, config, diff IDs and chain IDs', async () => {
  const img = await open(`docker://${single.ref}`).resolve();
  expect(img.digest).toBe(single.registryDigest);
  expect(img.layers).toHaveLength(1);
  expect(img.layers[0]).toMatchObject({ digest: single.layers[0]!.digest, diffID: single.layers[0]!.diffID, chainID: single.layers[0]!.diffID, size: single.layers[0]!.size, verifiable: true });
  expect(img.config.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  expect(img.compressedSize).toBe(single.layers[0]!.size);
});

test('streams every layer of a multi-layer image byte for byte, several at once', async () => {
  const src = open(`docker://${multi.ref}`, { concurrency: 3 });
  const img = await src.resolve();
  expect(img.layers.map((l) => l.digest)).toEqual(multi.layers.map((l) => l.digest));
  let progress = 0;
  const streams = await Promise.all(img.layers.map((l) => src.openLayer(l, { onBytes: (n) => { progress += n; } })));
  const bodies = await Promise.all(streams.map(readAll));
  bodies.forEach((b, i) => expect(b.equals(multi.blobs.get(img.layers[i]!.digest)!)).toBe(true));
  expect(progress).toBe(img.compressedSize);
  // chain IDs: the second layer's chain ID is not its diff ID.
  expect(img.layers[1]!.chainID).toBe(sha(Buffer.from(`${img.layers[0]!.chainID} ${img.layers[1]!.diffID}`)));
});

test('parallel openLayer calls really overlap on the wire', async () => {
  const proxy = await startFaultProxy(reg.url);
  try {
    // Hold every blob response after its first 1000 bytes until all three are in flight.
    proxy.fault = (r) => (r.url.includes('/blobs/') && !r.url.includes(multi.config.digest) ? { kind: 'stall', afterBytes: 1000 } : undefined);
    const src = open(`docker://${proxy.host}/test/multi:v1`, { insecureRegistries: [proxy.host], bodyTimeoutMs: 60_000 });
    const img = await src.resolve();
    const streams = await Promise.all(img.layers.map((l) => src.openLayer(l)));
    const blobRequests = proxy.requests.filter((r) => r.url.includes('/blobs/') && !r.url.includes(multi.config.digest));
    expect(blobRequests).toHaveLength(3);
    for (const s of streams) s.destroy();
  } finally {
    await proxy.stop();
  }
});

test('resolves a Docker schema 2 image (skopeo --format v2s2)', async () => {
  const img = await open(`docker://${v2s2.ref}`).resolve();
  expect(img.digest).toBe(v2s2.registryDigest);
  expect(img.layers.map((l) => l.mediaType)).toEqual(['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip']);
  expect(img.layers.map((l) => l.diffID)).toEqual(v2s2.layers.map((l) => l.diffID));
});

test('a two-platform index picks the requested platform, the node platform by default', async () => {
  const amd = await open(`docker://${index.ref}`, { platform: { os: 'linux', architecture: 'amd64' } }).resolve();
  expect(amd.digest).toBe(index.amd64.manifest.digest);
  expect(amd.layers[0]!.diffID).toBe(index.amd64.layers[0]!.diffID);
  const arm = await open(`docker://${index.ref}`, { platform: { os: 'linux', architecture: 'arm64' } }).resolve();
  expect(arm.digest).toBe(index.arm64.manifest.digest);
  expect(arm.layers[0]!.diffID).toBe(index.arm64.layers[0]!.diffID);
  if (process.arch === 'x64') expect((await open(`docker://${index.ref}`).resolve()).digest).toBe(index.amd64.manifest.digest);
  await expect(open(`docker://${index.ref}`, { platform: { os: 'linux', architecture: 's390x' } }).resolve())
    .rejects.toThrow(/no image for platform linux\/s390x; available: linux\/amd64, linux\/arm64\/v8/);
});

test('a digest-pinned source resolves that manifest; the index digest pins the index', async () => {
  const img = await open(`docker://${reg.host}/test/multi@${multi.registryDigest}`).resolve();
  expect(img.digest).toBe(multi.registryDigest);
  const byIndex = await open(`docker://${reg.host}/test/multiarch@${index.indexDigest}`, { platform: { os: 'linux', architecture: 'arm64' } }).resolve();
  expect(byIndex.digest).toBe(index.arm64.manifest.digest);
  // tag and digest: the digest wins.
  expect((await open(`docker://${reg.host}/test/multi:nonexistent@${multi.registryDigest}`).resolve()).digest).toBe(multi.registryDigest);
});

test('a digest-pinned source whose manifest bytes do not match the digest is refused', async () => {
  const proxy = await startFaultProxy(reg.url);
  try {
    proxy.fault = (r) => (r.url.includes('/manifests/') ? { kind: 'corrupt', at: 5 } : undefined);
    const err = await open(`docker://${proxy.host}/test/single@${single.registryDigest}`, { insecureRegistries: [proxy.host] }).resolve().catch((e) => e);
    expect(isGrootError(err, 'GROOT_DIGEST_MISMATCH')).toBe(true);
    expect(err.message).toContain(single.registryDigest);
    // By tag the registry's Docker-Content-Digest header catches the same corruption.
    const byTag = await open(`docker://${proxy.host}/test/single:v1`, { insecureRegistries: [proxy.host] }).resolve().catch((e) => e);
    expect(isGrootError(byTag, 'GROOT_DIGEST_MISMATCH')).toBe(true);
  } finally {
    await proxy.stop();
  }
});

test('unknown tags, repositories and digests say the image does not exist', async () => {
  for (const ref of [`${reg.host}/test/single:nope`, `${reg.host}/test/nothing-here:v1`, `${reg.host}/test/single@sha256:${'0'.repeat(64)}`]) {
    const err = await open(`docker://${ref}`).resolve().catch((e) => e);
    expect(isGrootError(err, 'GROOT_IMAGE_NOT_FOUND')).toBe(true);
    expect(err.message).toBe(`docker://${ref} does not exist or you do not have permissions to see it.`);
  }
});

test('a missing layer blob fails openLayer with a message naming the layer', async () => {
  const src = open(`docker://${single.ref}`);
  const img = await src.resolve();
  const fake: LayerRef = { ...img.layers[0]!, digest: `sha256:${'1'.repeat(64)}` };
  await expect(src.openLayer(fake)).rejects.toThrow(`layer sha256:${'1'.repeat(64)} is missing from registry ${reg.host}`);
});

test('a schema 1 manifest gets a clear "unsupported" error', async () => {
  const proxy = await startFaultProxy(reg.url);
  try {
    const schema1 = JSON.stringify({ schemaVersion: 1, name: 'test/single', tag: 'v1', architecture: 'amd64', fsLayers: [], history: [] });
    proxy.fault = (r) => (r.url.includes('/manifests/') ? { kind: 'status', status: 200, headers: { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }, body: schema1 } : undefined);
    const err = await open(`docker://${proxy.host}/test/single:v1`, { insecureRegistries: [proxy.host] }).resolve().catch((e) => e);
    expect(isGrootError(err, 'GROOT_INVALID_IMAGE')).toBe(true);
    expect(err.message).toMatch(/schema 1 is unsupported/);
    // The request asked for every schema 2 / OCI form, and not for schema 1.
    const accept = String(proxy.requests.find((r) => r.url.includes('/manifests/'))!.headers.accept);
    for (const mt of ['application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json']) expect(accept).toContain(mt);
    expect(accept).not.toContain('distribution.manifest.v1');
  } finally {
    await proxy.stop();
  }
});

test('mirrors are tried before the origin; a dead mirror falls through to the origin', async () => {
  const deadPort = await freePort();
  const mirror = await startFaultProxy(reg.url);
  try {
    // Origin unreachable: everything must come from the mirror.
    const viaMirror = open(`docker://127.0.0.1:${deadPort}/test/single:v1`, {
      insecureRegistries: [`127.0.0.1:${deadPort}`], mirrors: { [`127.0.0.1:${deadPort}`]: [mirror.url] },
    });
    const img = await viaMirror.resolve();
    expect(img.digest).toBe(single.registryDigest);
    expect((await readAll(await viaMirror.openLayer(img.layers[0]!))).equals(single.blobs.get(img.layers[0]!.digest)!)).toBe(true);
    expect(mirror.requests.map((r) => r.url)).toContain(`/v2/test/single/blobs/${img.layers[0]!.digest}`);

    // Mirror answering 500 / unreachable: the origin serves.
    mirror.fault = () => ({ kind: 'status', status: 500 });
    const before = mirror.requests.length;
    const viaOrigin = await open(`docker://${single.ref}`, { mirrors: { [reg.host]: [mirror.url, `http://127.0.0.1:${deadPort}`] } }).resolve();
    expect(viaOrigin.digest).toBe(single.registryDigest);
    expect(mirror.requests.length).toBeGreaterThan(before);
  } finally {
    await mirror.stop();
  }
});

test('a registry answering plain HTTP to a host not marked insecure fails with the --insecure-registry hint', async () => {
  const err = await registrySource(`docker://${single.ref}`, FAST).resolve().catch((e) => e);
  expect(isGrootError(err, 'GROOT_REGISTRY_TLS')).toBe(true);
  expect(err.message).toContain('please use the --insecure-registry option');
});

test('an unreachable registry is reported as such', async () => {
  const port = await freePort();
  const err = await open(`docker://127.0.0.1:${port}/x/y:z`, { insecureRegistries: [`127.0.0.1:${port}`] }).resolve().catch((e) => e);
  expect(isGrootError(err, 'GROOT_REGISTRY_UNREACHABLE')).toBe(true);
  expect(err.message).toMatch(/cannot reach the registry \(after 3 attempts\).*ECONNREFUSED/);
});

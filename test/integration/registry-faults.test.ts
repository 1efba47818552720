// A real registry behind a fault-injecting proxy: the client retries 5xx and 429 (honouring
// Retry-After), resumes cut or stalled blob downloads with Range requests, times out silent
// connections, and passes on exactly the bytes the server sent (verification is the engine's).
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isGrootError } from '../../src/errors/index.js';
import { registrySource, type RegistryOptions } from '../../src/registry/index.js';
import type { ImageSource, ResolvedImage } from '../../src/image/types.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../helpers/registry-proxy.js';
import { noise, pushFixture, type PushedImage } from '../helpers/registry-images.js';

let tmp: string;
let reg: RunningRegistry;
let img: PushedImage;
let proxy: FaultProxy;
const sources: ImageSource[] = [];

const FAST: RegistryOptions = { retries: 3, backoffMs: 20, maxBackoffMs: 100, headersTimeoutMs: 2000, bodyTimeoutMs: 2000 };
const BIG = 2_000_000;

function open(opts: RegistryOptions = {}): ImageSource {
  const s = registrySource(`docker://${proxy.host}/test/faults:v1`, { insecureRegistries: [proxy.host], ...FAST, ...opts });
  sources.push(s);
  return s;
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const isBlob = (digest: string) => (r: ProxiedRequest) => r.method === 'GET' && r.url.endsWith(`/blobs/${digest}`);

/** A fault for the first `times` matching requests only. */
function firstN(times: number, match: (r: ProxiedRequest) => boolean, action: ReturnType<NonNullable<FaultProxy['fault']>>): FaultProxy['fault'] {
  let n = 0;
  return (r) => (match(r) && n++ < times ? action : undefined);
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'groot-regfault-'));
  reg = await startRegistry();
  img = await pushFixture(tmp, reg.host, 'test/faults', 'v1', [[{ name: 'big.bin', content: noise(BIG, 7) }], [{ name: 'small.txt', content: 'small\n' }]]);
});

beforeEach(async () => { proxy = await startFaultProxy(reg.url); });

afterEach(async () => {
  for (const s of sources.splice(0)) await s.close().catch(() => {});
  await proxy.stop();
});

afterAll(async () => {
  await reg?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const bigLayer = () => img.layers[0]!;
const bigBytes = () => img.blobs.get(bigLayer().digest)!;

async function resolved(src: ImageSource): Promise<ResolvedImage> {
  const fault = proxy.fault;
  proxy.fault = undefined;
  try { return await src.resolve(); } finally { proxy.fault = fault; }
}

test('500s then success: the manifest request is retried', async () => {
  proxy.fault = firstN(2, (r) => r.url.includes('/manifests/'), { kind: 'status', status: 500, body: '{"errors":[{"code":"UNKNOWN","message":"boom"}]}' });
  const got = await open().resolve();
  expect(got.digest).toBe(img.registryDigest);
  expect(proxy.requests.filter((r) => r.url.includes('/manifests/'))).toHaveLength(3);
});

test('500s that never stop: fails after the configured attempts with the registry\'s message', async () => {
  proxy.fault = (r) => (r.url.includes('/manifests/') ? { kind: 'status', status: 503, body: '{"errors":[{"code":"UNAVAILABLE","message":"down for maintenance"}]}' } : undefined);
  const e = await open({ retries: 2 }).resolve().catch((x) => x);
  expect(isGrootError(e, 'GROOT_REGISTRY')).toBe(true);
  expect(e.message).toBe(`docker://${proxy.host}/test/faults:v1: manifest v1: registry ${proxy.host} answered HTTP 503 (UNAVAILABLE: down for maintenance) (after 3 attempts)`);
  expect(proxy.requests.filter((r) => r.url.includes('/manifests/'))).toHaveLength(3);
});

test('429 with Retry-After: waits as told, then succeeds', async () => {
  proxy.fault = firstN(1, (r) => r.url.includes('/manifests/'), { kind: 'status', status: 429, headers: { 'retry-after': '1' } });
  const t0 = Date.now();
  await open({ backoffMs: 1 }).resolve();
  expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  const times = proxy.requests.filter((r) => r.url.includes('/manifests/'));
  expect(times).toHaveLength(2);
});

test('429 with a Retry-After beyond the limit fails at once, saying it was rate limited', async () => {
  proxy.fault = (r) => (r.url.includes('/manifests/') ? { kind: 'status', status: 429, headers: { 'retry-after': '3600' } } : undefined);
  const e = await open({ maxRetryAfterMs: 5000 }).resolve().catch((x) => x);
  expect(isGrootError(e, 'GROOT_REGISTRY_RATE_LIMITED')).toBe(true);
  expect(proxy.requests.filter((r) => r.url.includes('/manifests/'))).toHaveLength(1);
});

test('a connection cut mid-blob is resumed with a Range request; the stream carries the whole blob once', async () => {
  const src = open();
  const got = await resolved(src);
  proxy.fault = firstN(2, isBlob(bigLayer().digest), { kind: 'cut', afterBytes: 300_000 });
  let progress = 0;
  const body = await readAll(await src.openLayer(got.layers[0]!, { onBytes: (n) => { progress += n; } }));
  expect(body.length).toBe(bigBytes().length);
  expect(sha(body)).toBe(bigLayer().digest);
  expect(progress).toBe(bigBytes().length);
  const reqs = proxy.requests.filter(isBlob(bigLayer().digest));
  expect(reqs).toHaveLength(3);
  expect(reqs[0]!.headers.range).toBeUndefined();
  // Each resume starts where the delivered bytes stopped.
  const starts = reqs.slice(1).map((r) => Number(/^bytes=(\d+)-$/.exec(String(r.headers.range))?.[1]));
  expect(starts[0]).toBeGreaterThan(0);
  expect(starts[1]).toBeGreaterThan(starts[0]!);
  expect(starts[1]).toBeLessThanOrEqual(600_000);
});

test('a stalled body times out and resumes from where it stopped', async () => {
  const src = open({ bodyTimeoutMs: 500 });
  const got = await resolved(src);
  proxy.fault = firstN(1, isBlob(bigLayer().digest), { kind: 'stall', afterBytes: 500_000 });
  const t0 = Date.now();
  const body = await readAll(await src.openLayer(got.layers[0]!));
  expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
  expect(sha(body)).toBe(bigLayer().digest);
  const reqs = proxy.requests.filter(isBlob(bigLayer().digest));
  expect(reqs).toHaveLength(2);
  expect(reqs[1]!.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
});

test('a server that never answers times out (headers time-out) and the request is retried', async () => {
  proxy.fault = firstN(1, (r) => r.url.includes('/manifests/'), { kind: 'hang' });
  const got = await open({ headersTimeoutMs: 400 }).resolve();
  expect(got.digest).toBe(img.registryDigest);
});

test('a server that always stalls fails with a time-out naming the layer', async () => {
  const src = open({ bodyTimeoutMs: 300, retries: 1 });
  const got = await resolved(src);
  proxy.fault = (r) => (isBlob(bigLayer().digest)(r) ? { kind: 'stall', afterBytes: 0 } : undefined);
  const stream = await src.openLayer(got.layers[0]!);
  const e = await readAll(stream).catch((x) => x);
  expect(isGrootError(e, 'GROOT_REGISTRY_TIMEOUT')).toBe(true);
  expect(e.message).toContain(`layer ${bigLayer().digest}: download failed after 0 of ${bigLayer().size} bytes`);
});

test('wrong bytes are passed on exactly as sent (the digest no longer matches)', async () => {
  const src = open();
  const got = await resolved(src);
  proxy.fault = (r) => (isBlob(bigLayer().digest)(r) ? { kind: 'corrupt', at: 123_456 } : undefined);
  const body = await readAll(await src.openLayer(got.layers[0]!));
  const expected = Buffer.from(bigBytes());
  expected[123_456] ^= 0xff;
  expect(body.equals(expected)).toBe(true);
  expect(sha(body)).not.toBe(bigLayer().digest);
});

test('a blob that keeps failing with 500 fails openLayer with the layer named', async () => {
  const src = open({ retries: 1 });
  const got = await resolved(src);
  proxy.fault = (r) => (isBlob(bigLayer().digest)(r) ? { kind: 'status', status: 500 } : undefined);
  const e = await src.openLayer(got.layers[0]!).catch((x) => x);
  expect(isGrootError(e, 'GROOT_REGISTRY')).toBe(true);
  expect(e.message).toContain(`layer ${bigLayer().digest}: registry ${proxy.host} answered HTTP 500 (after 2 attempts)`);
});

test('aborting a download destroys the stream with an abort error and stops fetching', async () => {
  const src = open();
  const got = await resolved(src);
  proxy.fault = (r) => (isBlob(bigLayer().digest)(r) ? { kind: 'stall', afterBytes: 100_000 } : undefined);
  const ac = new AbortController();
  const stream = await src.openLayer(got.layers[0]!, { signal: ac.signal });
  setTimeout(() => ac.abort(), 100);
  const e = await readAll(stream).catch((x) => x);
  expect(e.name).toBe('AbortError');
  expect(proxy.requests.filter(isBlob(bigLayer().digest))).toHaveLength(1);
});

// Registry layers unpacked in a worker thread are fetched by that worker (layer/pool.ts,
// opts.remote): this thread never opens them, and everything the registry client does on
// this thread it does there too — resume a cut connection, fail wrong bytes naming the
// layer, log in with credentials without logging them, stop on abort, count progress.
// Real registry, real store; every layer is sent to the worker (the balance would keep
// some of these small layers here).
import { jest } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGrootError } from '../../src/errors/index.js';
import { UnpackPool } from '../../src/layer/index.js';
import { configureLogging } from '../../src/log/index.js';
import { RegistrySource } from '../../src/registry/source.js';
import type { RegistryOptions } from '../../src/registry/index.js';
import { openEngine, type Engine, type PullOptions, type PullProgress } from '../../src/rootfs/index.js';
import { selfSignedCert, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { startTokenServer, type TokenServer } from '../helpers/registry-token.js';
import type { FaultProxy } from '../helpers/registry-proxy.js';
import { startProxiedEngine, type ProxiedEngine } from '../helpers/registry-engine.js';
import { noise, pushFixture, type PushedImage } from '../helpers/registry-images.js';

const BOB = { username: 'bob', password: 'worker-secret-Qx7' };
const ALICE = { username: 'alice', password: 'worker-token-secret-Zz4' };

let tmp: string;
let reg: RunningRegistry;
let authReg: RunningRegistry;
let app: PushedImage;
let privateApp: PushedImage;
let tokens: TokenServer;
let tokenReg: RunningRegistry;
let tokenApp: PushedImage;
let proxy: FaultProxy;
let engine: Engine;
let storePath: string;
let logFile: string;
const base = noise(3_000_000, 21);
const mid = noise(1_500_000, 22);

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'groot-regworker-'));
  logFile = join(tmp, 'groot.log');
  configureLogging({ level: 'debug', file: logFile });
  reg = await startRegistry();
  app = await pushFixture(tmp, reg.host, 'test/app', 'v1', [[{ name: 'base.bin', content: base }], [{ name: 'mid.bin', content: mid }], [{ name: 'app.txt', content: 'app\n' }]]);
  authReg = await startRegistry({ htpasswd: { [BOB.username]: BOB.password } });
  privateApp = await pushFixture(tmp, authReg.host, 'private/app', 'v1', [[{ name: 'base.bin', content: base }], [{ name: 'p.txt', content: 'private\n' }]], { creds: BOB });
  const { cert, key } = await selfSignedCert(tmp, 'worker-token-signer');
  const service = 'groot-worker-test';
  tokens = await startTokenServer({ key, cert, service, issuer: 'groot-worker-issuer', users: { [ALICE.username]: ALICE.password } });
  tokenReg = await startRegistry({ token: { realm: tokens.realm, service, issuer: 'groot-worker-issuer', rootCertBundle: cert } });
  tokenApp = await pushFixture(tmp, tokenReg.host, 'private/tok', 'v1', [[{ name: 'base.bin', content: base }], [{ name: 'mid.bin', content: mid }]], { creds: ALICE });
});

let opened: jest.SpiedFunction<RegistrySource['openLayer']>;
let applied: jest.SpiedFunction<UnpackPool['apply']>;
let setup: ProxiedEngine;
beforeEach(async () => {
  setup = await startProxiedEngine(reg.url, tmp, { unpackWorkers: 1 });
  ({ proxy, engine, storePath } = setup);
  opened = jest.spyOn(RegistrySource.prototype, 'openLayer');
  applied = jest.spyOn(UnpackPool.prototype, 'apply');
  jest.spyOn(UnpackPool.prototype, 'unpack').mockImplementation(function (this: UnpackPool, open, dir, expect_, opts, size) {
    return this.apply(open, dir, expect_, opts, size);
  });
});

afterEach(async () => {
  jest.restoreAllMocks();
  setup.engine = engine; // a test may have reopened it
  await setup.stop();
});

afterAll(async () => {
  configureLogging({});
  await reg?.stop();
  await authReg?.stop();
  await tokenReg?.stop();
  await tokens?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const opts = (extra: RegistryOptions & PullOptions = {}): PullOptions & RegistryOptions => ({ insecureRegistries: [proxy.host, authReg.host, tokenReg.host, '127.0.0.1'], retries: 2, backoffMs: 10, maxBackoffMs: 50, ...extra });
const src = (img: PushedImage) => `docker://${proxy.host}/${img.ref.slice(reg.host.length + 1)}`;
const leftovers = () => (existsSync(join(storePath, 'volumes')) ? readdirSync(join(storePath, 'volumes')) : []).filter((d) => d.includes('-incomplete-'));
const failed = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (x: unknown) => x as Error & { code?: string });
const layerRequests = (digest: string) => proxy.requests.filter((r) => r.url.endsWith(`/blobs/${digest}`));

test('a layer in a worker is fetched by the worker: this thread never opens it; progress counts its bytes as they come', async () => {
  const seen: PullProgress[] = [];
  const { rootfs } = await engine.create({ id: 'r1', source: src(app), ...opts({ onProgress: (p) => seen.push(structuredClone(p)) }) });
  expect(readFileSync(join(rootfs.path, 'base.bin')).equals(base)).toBe(true);
  expect(readFileSync(join(rootfs.path, 'mid.bin')).equals(mid)).toBe(true);
  expect(readFileSync(join(rootfs.path, 'app.txt'), 'utf8')).toBe('app\n');
  expect(applied.mock.calls.map((c) => c[3]?.remote?.layer.digest)).toEqual(app.layers.map((l) => l.digest));
  expect(opened).not.toHaveBeenCalled();
  for (const l of app.layers) expect(layerRequests(l.digest)).toHaveLength(1);
  // The base layer (3 MB) reported part of its bytes before all of them.
  const baseDigest = app.layers[0]!.digest;
  const partial = seen.map((p) => p.layers.find((l) => l.digest === baseDigest)!).filter((l) => l.bytesDone > 0 && l.bytesDone < l.bytesTotal);
  expect(partial.length).toBeGreaterThan(0);
  const last = seen.at(-1)!;
  expect(last.bytesDone).toBe(last.bytesTotal);
});

test('in a worker, a connection cut mid-layer is resumed with a Range request', async () => {
  const big = app.layers[0]!;
  let n = 0;
  proxy.fault = (r) => (r.url.endsWith(`/blobs/${big.digest}`) && n++ === 0 ? { kind: 'cut', afterBytes: 250_000 } : undefined);
  const info = await engine.pull(src(app), opts());
  expect(info.chainIDs).toHaveLength(3);
  expect(opened).not.toHaveBeenCalled();
  const reqs = layerRequests(big.digest);
  expect(reqs).toHaveLength(2);
  expect(reqs[1]!.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
  // The worker's log line about it reached this thread's log.
  expect(readFileSync(logFile, 'utf8')).toMatch(/blob download interrupted, resuming/);
});

test('in a worker, wrong bytes fail the pull naming the layer; nothing half-written stays', async () => {
  const bad = app.layers[1]!;
  proxy.fault = (r) => (r.url.endsWith(`/blobs/${bad.digest}`) ? { kind: 'corrupt', at: 1000 } : undefined);
  const e = await failed(engine.pull(src(app), opts()));
  // A flipped byte breaks the gzip stream (or, where it still inflates, the digest).
  expect(['GROOT_INVALID_LAYER', 'GROOT_DIGEST_MISMATCH']).toContain(e.code);
  expect(e.message).toContain(`layer 2/3 ${bad.digest}`);
  expect(opened).not.toHaveBeenCalled();
  expect(leftovers()).toEqual([]);
});

test('in a worker, a layer missing from the registry fails with the registry\'s error', async () => {
  const gone = app.layers[2]!;
  proxy.fault = (r) => (r.url.endsWith(`/blobs/${gone.digest}`) ? { kind: 'status', status: 404, body: '{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}' } : undefined);
  const e = await failed(engine.pull(src(app), opts()));
  expect(e.name).toBe('RegistryError');
  expect(e.message).toContain(`layer ${gone.digest} is missing from registry ${proxy.host} (BLOB_UNKNOWN: blob unknown to registry)`);
  expect(leftovers()).toEqual([]);
});

test('in a worker, credentials log in to the registry and never reach the log', async () => {
  const source = `docker://${privateApp.ref}`;
  const anonymous = await failed(engine.pull(source, opts()));
  expect(anonymous.message).toContain('does not exist or you do not have permissions to see it');
  const info = await engine.pull(source, opts({ credentials: BOB }));
  expect(info.chainIDs).toHaveLength(2);
  expect(applied.mock.calls.at(-1)![3]?.remote).toBeDefined();
  expect(opened).not.toHaveBeenCalled();
  const log = readFileSync(logFile, 'utf8');
  expect(log).toContain(authReg.host); // the worker's requests were logged, ...
  expect(log).not.toContain(BOB.password); // ... without the secret in any form
  expect(log).not.toContain(Buffer.from(`${BOB.username}:${BOB.password}`).toString('base64'));
});

test('a worker starts with the main thread\'s bearer token and scheme: one token for the whole pull, no https attempt', async () => {
  const before = tokens.requests.length;
  const info = await engine.pull(`docker://${tokenApp.ref}`, opts({ credentials: ALICE }));
  expect(info.chainIDs).toHaveLength(2);
  expect(applied.mock.calls.map((c) => c[3]?.remote?.layer.digest)).toEqual(tokenApp.layers.map((l) => l.digest));
  expect(opened).not.toHaveBeenCalled();
  expect(tokens.requests.slice(before)).toHaveLength(1);
  // Only the main thread found out that this insecure registry speaks plain http.
  const log = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('https failed on an insecure registry') && l.includes(tokenReg.host));
  expect(log).toHaveLength(1);
  expect(readFileSync(logFile, 'utf8')).not.toContain(ALICE.password);
});

test('aborting a pull while a worker waits on a stalled blob stops it at once; nothing is left', async () => {
  const big = app.layers[0]!;
  proxy.fault = (r) => (r.url.endsWith(`/blobs/${big.digest}`) ? { kind: 'stall', afterBytes: 300_000 } : undefined);
  const ac = new AbortController();
  const started = Date.now();
  const pulling = engine.pull(src(app), opts({
    bodyTimeoutMs: 60_000,
    signal: ac.signal,
    onProgress: (p) => { if (p.layers[0]!.bytesDone >= 300_000) ac.abort(new Error('operator stop')); },
  }));
  const e = await failed(pulling);
  expect(isGrootError(e, 'GROOT_ABORTED')).toBe(true);
  expect(Date.now() - started).toBeLessThan(20_000);
  expect(leftovers()).toEqual([]);
});

test('an explicit pull (eagerWorkers) starts the workers before the manifest is read; a warm create starts none', async () => {
  const prepare = jest.spyOn(UnpackPool.prototype, 'prepare');
  const resolved = jest.spyOn(RegistrySource.prototype, 'resolve');
  await engine.pull(src(app), opts({ eagerWorkers: true }));
  expect(prepare.mock.invocationCallOrder[0]).toBeLessThan(resolved.mock.invocationCallOrder[0]!);
  expect(prepare.mock.calls[0]![1]).toEqual({ source: src(app), options: expect.objectContaining({ insecureRegistries: opts().insecureRegistries }) });
  // A new engine (no worker yet) creating from the image now in the store: nothing to unpack, no worker.
  await engine.close();
  engine = await openEngine({ storePath, quota: 'none', unpackWorkers: 1 });
  prepare.mockClear();
  await engine.create({ id: 'warm', source: src(app), ...opts() });
  expect(prepare.mock.calls.map((c) => c[0])).toEqual([0]);
  const pool = prepare.mock.contexts[0] as unknown as { workers: unknown[] };
  expect(pool.workers).toHaveLength(0);
  expect(await engine.delete('warm')).toBe(true);
});

test('startWorkers: the workers start as the engine opens; a store that cannot be opened leaves none running', async () => {
  const prepare = jest.spyOn(UnpackPool.prototype, 'prepare');
  const early = await openEngine({ storePath: join(tmp, 'early-store'), quota: 'none', unpackWorkers: 1, startWorkers: true });
  try {
    expect(prepare).toHaveBeenCalledTimes(1);
    const pool = prepare.mock.contexts[0] as unknown as { workers: unknown[] };
    expect(pool.workers).toHaveLength(1);
  } finally {
    await early.close();
  }
  prepare.mockClear();
  const file = join(tmp, 'not-a-dir');
  writeFileSync(file, 'x');
  const e = await failed(openEngine({ storePath: file, quota: 'none', unpackWorkers: 1, startWorkers: true }));
  expect(e.message).toContain(file);
  const pool = prepare.mock.contexts[0] as unknown as { workers: unknown[] };
  expect(pool.workers).toHaveLength(0); // closed, the worker terminated
});

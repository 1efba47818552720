// Registry pulls through the engine (real store, real overlay mounts): wrong or truncated
// bytes fail the pull naming the layer and leave no volume behind; a cut connection is
// resumed; layers already in the store are not downloaded again.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGrootError } from '../../src/errors/index.js';
import { chainIDs } from '../../src/image/index.js';
import type { Engine, PullOptions } from '../../src/rootfs/index.js';
import type { RegistryOptions } from '../../src/registry/index.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import type { FaultProxy } from '../helpers/registry-proxy.js';
import { startProxiedEngine, type ProxiedEngine } from '../helpers/registry-engine.js';
import { noise, pushFixture, type PushedImage } from '../helpers/registry-images.js';

let tmp: string;
let reg: RunningRegistry;
let app: PushedImage;
let sibling: PushedImage;
let proxy: FaultProxy;
let engine: Engine;
let storePath: string;
const base = noise(700_000, 9);

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'groot-regengine-'));
  reg = await startRegistry();
  app = await pushFixture(tmp, reg.host, 'test/app', 'v1', [[{ name: 'base.bin', content: base }], [{ name: 'app.txt', content: 'app\n' }]]);
  sibling = await pushFixture(tmp, reg.host, 'test/sibling', 'v1', [[{ name: 'base.bin', content: base }], [{ name: 'sibling.txt', content: 'sibling\n' }]]);
});

let setup: ProxiedEngine;
beforeEach(async () => {
  setup = await startProxiedEngine(reg.url, tmp);
  ({ proxy, engine, storePath } = setup);
});

afterEach(() => setup.stop());

afterAll(async () => {
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const opts = (extra: RegistryOptions = {}): PullOptions & RegistryOptions => ({ insecureRegistries: [proxy.host], retries: 2, backoffMs: 10, maxBackoffMs: 50, ...extra });
const src = (img: PushedImage) => `docker://${proxy.host}/${img.ref.slice(reg.host.length + 1)}`;
const volumeDirs = () => (existsSync(join(storePath, 'volumes')) ? readdirSync(join(storePath, 'volumes')) : []);
const layerRequests = (digest: string) => proxy.requests.filter((r) => r.url.endsWith(`/blobs/${digest}`));

test('create from a registry: the root filesystem holds every layer', async () => {
  const { rootfs } = await engine.create({ id: 'r1', source: src(app), ...opts() });
  expect(readFileSync(join(rootfs.path, 'app.txt'), 'utf8')).toBe('app\n');
  expect(readFileSync(join(rootfs.path, 'base.bin')).equals(base)).toBe(true);
  expect(await engine.delete('r1')).toBe(true);
});

test('wrong bytes from the registry fail the pull, naming the layer; nothing half-written stays', async () => {
  const bad = app.layers[1]!;
  proxy.fault = (r) => (r.url.endsWith(`/blobs/${bad.digest}`) ? { kind: 'corrupt', at: 10 } : undefined);
  const e = await engine.pull(src(app), opts()).catch((x) => x);
  expect(isGrootError(e)).toBe(true);
  expect(e.message).toContain(`layer 2/2 ${bad.digest}`);
  expect(volumeDirs().filter((d) => d.includes('-incomplete-'))).toEqual([]);
  const topChain = chainIDs(app.layers.map((l) => l.diffID))[1]!;
  expect(volumeDirs().some((d) => d.includes(topChain.slice(7)))).toBe(false);
  proxy.fault = undefined;
  await engine.pull(src(app), opts());
  expect(volumeDirs()).toContain(topChain.slice(7));
});

test('a body that is always cut short fails the pull naming the layer', async () => {
  const big = app.layers[0]!;
  // The first answer stops after 100 kB; every resume is cut before its first byte.
  proxy.fault = (r) => (r.url.endsWith(`/blobs/${big.digest}`) ? { kind: 'cut', afterBytes: r.headers.range ? 0 : 100_000 } : undefined);
  const e = await engine.pull(src(app), opts({ retries: 1 })).catch((x) => x);
  expect(isGrootError(e)).toBe(true);
  expect(e.message).toContain(big.digest);
  expect(e.message).toMatch(/download failed after 100000 of \d+ bytes/);
  expect(volumeDirs().filter((d) => d.includes('-incomplete-'))).toEqual([]);
});

test('a connection cut once mid-layer is resumed and the pull succeeds', async () => {
  const big = app.layers[0]!;
  let n = 0;
  proxy.fault = (r) => (r.url.endsWith(`/blobs/${big.digest}`) && n++ === 0 ? { kind: 'cut', afterBytes: 250_000 } : undefined);
  const info = await engine.pull(src(app), opts());
  expect(info.chainIDs).toHaveLength(2);
  const reqs = layerRequests(big.digest);
  expect(reqs).toHaveLength(2);
  expect(reqs[1]!.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
});

test('layers already in the store are not downloaded again', async () => {
  await engine.pull(src(app), opts());
  expect(layerRequests(app.layers[0]!.digest)).toHaveLength(1);
  await engine.pull(src(sibling), opts());
  // Same base layer (same chain ID): fetched once, for the first image only.
  expect(sibling.layers[0]!.digest).toBe(app.layers[0]!.digest);
  expect(layerRequests(app.layers[0]!.digest)).toHaveLength(1);
  expect(layerRequests(sibling.layers[1]!.digest)).toHaveLength(1);
});

test('preferCached: a digest-pinned create uses the store without asking a registry that is down; a tag still asks', async () => {
  const info = await engine.pull(src(app), opts());
  proxy.fault = () => ({ kind: 'status', status: 503 });
  const pinned = `docker://${proxy.host}/test/app@${info.digest}`;
  // Without it the registry is asked (and fails).
  await expect(engine.create({ id: 'asks', source: pinned, ...opts() })).rejects.toThrow(/HTTP 503/);
  const before = proxy.requests.length;
  const { rootfs } = await engine.create({ id: 'cached', source: pinned, ...opts(), preferCached: true });
  expect(readFileSync(join(rootfs.path, 'app.txt'), 'utf8')).toBe('app\n');
  expect(readFileSync(join(rootfs.path, 'base.bin')).equals(base)).toBe(true);
  expect(proxy.requests.length).toBe(before); // not one request
  // A tag can move: it is never taken from the store.
  await expect(engine.create({ id: 'tag', source: src(app), ...opts(), preferCached: true })).rejects.toThrow(/HTTP 503/);
  // A pinned image that is not (wholly) in the store goes to the registry as usual.
  await expect(engine.create({ id: 'other', source: `docker://${proxy.host}/test/sibling@${sibling.registryDigest}`, ...opts(), preferCached: true })).rejects.toThrow(/HTTP 503/);
});

test('a warm create by tag asks for the manifest only: the config comes from the store', async () => {
  await engine.pull(src(app), opts());
  const before = proxy.requests.length;
  const { rootfs } = await engine.create({ id: 'warm', source: src(app), ...opts() });
  expect(readFileSync(join(rootfs.path, 'app.txt'), 'utf8')).toBe('app\n');
  const asked = proxy.requests.slice(before).map((r) => r.url).filter((u) => u.startsWith('/v2/test/'));
  expect(asked).toEqual(['/v2/test/app/manifests/v1']);
  // A tag that moved is followed: the new manifest's image is pulled as usual.
  await engine.create({ id: 'moved', source: `docker://${proxy.host}/test/sibling:v1`, ...opts() });
  expect(proxy.requests.some((r) => r.url.endsWith(`/blobs/${sibling.config.digest}`))).toBe(true);
});

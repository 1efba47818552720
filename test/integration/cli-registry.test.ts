// The CLI's registry settings against real registries: --registry-mirror / the config
// file's create.registry_mirrors (origin unreachable: everything comes from the mirror),
// --credentials-file / create.credentials_file (htpasswd registry), --layer-concurrency,
// and no secret in any output, even at debug level.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { groot, removeWithMounts } from '../helpers/cli.js';
import { freePort, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/registry-proxy.js';
import { noise, pushFixture, type PushedImage } from '../helpers/registry-images.js';

const BOB = { username: 'bob', password: 'cli-S3cret!pw' };
const B64 = Buffer.from(`${BOB.username}:${BOB.password}`).toString('base64');

let tmp: string;
let plain: RunningRegistry;
let locked: RunningRegistry;
let img: PushedImage;
let lockedImg: PushedImage;
let mirror: FaultProxy;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'groot-cli-reg-'));
  plain = await startRegistry();
  locked = await startRegistry({ htpasswd: { [BOB.username]: BOB.password } });
  const layers = [[{ name: 'base.bin', content: noise(300_000, 3) }], [{ name: 'app.txt', content: 'app\n' }], [{ name: 'more.txt', content: 'more\n' }]];
  img = await pushFixture(tmp, plain.host, 'test/app', 'v1', layers);
  lockedImg = await pushFixture(tmp, locked.host, 'test/private', 'v1', layers, { creds: BOB });
  mirror = await startFaultProxy(plain.url);
}, 120_000);

afterAll(async () => {
  await mirror?.stop();
  await plain?.stop();
  await locked?.stop();
  await rm(tmp, { recursive: true, force: true });
});

let store: string;
beforeEach(async () => { store = await mkdtemp(join(tmp, 'store-')); });
afterEach(async () => { await removeWithMounts(store); });

test('--registry-mirror serves a registry that cannot be reached', async () => {
  const dead = `127.0.0.1:${await freePort()}`;
  const source = `docker://${dead}/${img.ref.slice(plain.host.length + 1)}`;
  const r = await groot(['--store', store, 'pull', source, '--insecure-registry', dead, '--registry-mirror', `${dead}=${mirror.url}`]);
  expect(r).toMatchObject({ code: 0 });
  expect(JSON.parse(r.stdout)).toMatchObject({ digest: img.registryDigest, layers: 3 });
  for (const l of img.layers) expect(mirror.requests.map((q) => q.url)).toContain(`/v2/test/app/blobs/${l.digest}`);
  // Without the mirror the same pull fails, naming the source.
  const without = await groot(['--store', store, 'pull', source, '--insecure-registry', dead]);
  expect(without.code).toBe(1);
  expect(without.stdout).toContain(dead);
});

test('create.registry_mirrors and create.layer_concurrency from the config file', async () => {
  const dead = `127.0.0.1:${await freePort()}`;
  const cfg = join(tmp, 'mirrors.yml');
  await writeFile(cfg, `create:\n  insecure_registries: ["${dead}"]\n  registry_mirrors:\n    "${dead}": ["${mirror.url}/"]\n  layer_concurrency: 1\n`);
  const before = mirror.requests.length;
  const r = await groot(['--config', cfg, '--store', store, 'create', `docker://${dead}/test/app:v1`, 'c1']);
  expect(r).toMatchObject({ code: 0 });
  expect(JSON.parse(r.stdout).root.path).toBe(join(store, 'images', 'c1', 'rootfs'));
  expect(mirror.requests.length).toBeGreaterThan(before);
  // layer_concurrency 1: the blobs were asked for one after another, in layer order, each
  // only once the one before was all sent.
  const blobs = mirror.requests.slice(before).filter((q) => q.url.includes('/blobs/') && !q.url.endsWith(img.config.digest));
  expect(blobs.map((q) => q.url.split('/').pop())).toEqual(img.layers.map((l) => l.digest));
  for (let i = 1; i < blobs.length; i++) expect(blobs[i]!.at).toBeGreaterThanOrEqual(blobs[i - 1]!.doneAt!);
});

test('--credentials-file logs in to an htpasswd registry; without it the pull is refused; no secret is printed', async () => {
  const file = join(tmp, 'auth.json');
  await writeFile(file, JSON.stringify({ auths: { [locked.host]: { auth: B64 } } }), { mode: 0o600 });
  const source = `docker://${lockedImg.ref}`;
  const anonymous = await groot(['--store', store, 'pull', source, '--insecure-registry', locked.host]);
  expect(anonymous.code).toBe(1);
  expect(anonymous.stdout).toMatch(/does not exist or you do not have permissions to see it/);
  const r = await groot(['--store', store, '--log-level', 'debug', 'pull', source, '--insecure-registry', locked.host, '--credentials-file', file]);
  expect(r).toMatchObject({ code: 0 });
  expect(JSON.parse(r.stdout)).toMatchObject({ digest: lockedImg.registryDigest });
  for (const out of [anonymous.stdout, anonymous.stderr, r.stdout, r.stderr]) {
    expect(out).not.toContain(BOB.password);
    expect(out).not.toContain(B64);
  }
  // The same file through the config file.
  const cfg = join(tmp, 'creds.yml');
  await writeFile(cfg, `create:\n  credentials_file: ${file}\n  insecure_registries: ["${locked.host}"]\n`);
  const viaConfig = await groot(['--config', cfg, '--store', store, 'create', source, 'c2']);
  expect(viaConfig).toMatchObject({ code: 0 });
});

test('bad registry flags are refused before anything is fetched', async () => {
  // Through the mirror proxy, so every request would be seen.
  const source = `docker://${mirror.host}/test/app:v1`;
  const before = mirror.requests.length;
  const r = await groot(['--store', store, 'pull', source, '--insecure-registry', mirror.host, '--registry-mirror', 'nohost']);
  expect(r.code).toBe(1);
  expect(r.stdout).toMatch(/--registry-mirror "nohost": expected HOST=URL/);
  const c = await groot(['--store', store, 'pull', source, '--insecure-registry', mirror.host, '--layer-concurrency', '0']);
  expect(c.code).toBe(1);
  expect(c.stdout).toMatch(/--layer-concurrency "0"/);
  expect(mirror.requests.length).toBe(before);
});

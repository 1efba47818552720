// Which certificate authorities a verified registry connection trusts (registry/trust.ts):
// the system bundle (SSL_CERT_FILE or /etc/ssl/certs/...; Node's roots only where there is
// none), and the files in NODE_EXTRA_CA_CERTS / GROOT_EXTRA_CA_CERTS — the last through the `bin/groot` launcher,
// which hands NODE_EXTRA_CA_CERTS over so Node does not load it at start-up. A real TLS
// registry with a self-signed certificate.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGrootError } from '../../src/errors/index.js';
import { configureLogging } from '../../src/log/index.js';
import { registrySource, type RegistryOptions } from '../../src/registry/index.js';
import { caFiles } from '../../src/registry/trust.js';
import type { ImageSource } from '../../src/image/types.js';
import { groot, removeWithMounts } from '../helpers/cli.js';
import { startRegistry, selfSignedCert, type RunningRegistry } from '../helpers/registry.js';
import { pushFixture, type PushedImage } from '../helpers/registry-images.js';

const FAST: RegistryOptions = { retries: 1, backoffMs: 10, maxBackoffMs: 20 };
const VARS = ['SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS', 'GROOT_EXTRA_CA_CERTS'] as const;

let tmp: string;
let cert: string;
let reg: RunningRegistry;
let img: PushedImage;
let logFile: string;
const saved: Partial<Record<(typeof VARS)[number], string>> = {};
const sources: ImageSource[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'groot-trust-'));
  logFile = join(tmp, 'groot.log');
  ({ cert } = await selfSignedCert(tmp, 'trust-registry'));
  const key = cert.replace(/\.pem$/, '-key.pem');
  reg = await startRegistry({ tls: { cert, key } });
  img = await pushFixture(tmp, reg.host, 'tls/app', 'v1', [[{ name: 't', content: 'trusted\n' }]]);
  for (const v of VARS) saved[v] = process.env[v];
});

beforeEach(() => {
  // An empty system bundle: only what a case adds is trusted besides Node's roots.
  for (const v of VARS) delete process.env[v];
  process.env.SSL_CERT_FILE = '/dev/null';
});

afterEach(async () => {
  for (const s of sources.splice(0)) await s.close();
  configureLogging({});
});

afterAll(async () => {
  for (const v of VARS) { if (saved[v] === undefined) delete process.env[v]; else process.env[v] = saved[v]; }
  await reg?.stop();
  await removeWithMounts(tmp);
});

const resolve = async () => {
  const s = registrySource(`docker://${img.ref}`, FAST);
  sources.push(s);
  return s.resolve();
};

test('caFiles: the system bundle (SSL_CERT_FILE first, else Go\'s paths), then both extra files, each once', () => {
  expect(caFiles({ SSL_CERT_FILE: '/a.pem', NODE_EXTRA_CA_CERTS: '/b.pem', GROOT_EXTRA_CA_CERTS: '/b.pem' })).toEqual({ system: '/a.pem', extra: ['/b.pem'] });
  expect(caFiles({ GROOT_EXTRA_CA_CERTS: '/c.pem' })).toEqual({ system: '/etc/ssl/certs/ca-certificates.crt', extra: ['/c.pem'] });
});

test('a self-signed registry is refused with an empty system bundle and no extra file', async () => {
  const e = await resolve().then(() => { throw new Error('expected a failure'); }, (x: unknown) => x as Error);
  expect(isGrootError(e, 'GROOT_REGISTRY_TLS')).toBe(true);
  expect(e.message).toMatch(/TLS certificate not trusted/);
});

test.each([
  ['SSL_CERT_FILE (the system bundle)', 'SSL_CERT_FILE'],
  ['GROOT_EXTRA_CA_CERTS', 'GROOT_EXTRA_CA_CERTS'],
  ['NODE_EXTRA_CA_CERTS', 'NODE_EXTRA_CA_CERTS'],
] as const)('its CA in %s: the registry is verified and trusted, not marked insecure', async (_what, v) => {
  process.env[v] = cert;
  const got = await resolve();
  expect(got.digest).toBe(img.registryDigest);
});

test('an unreadable CA file is logged and skipped; the other files are still trusted', async () => {
  configureLogging({ level: 'warn', file: logFile });
  process.env.SSL_CERT_FILE = cert;
  process.env.GROOT_EXTRA_CA_CERTS = join(tmp, 'missing.pem');
  expect((await resolve()).digest).toBe(img.registryDigest);
  const warning = readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('cannot read CA certificates file'));
  expect(warning).toContain(join(tmp, 'missing.pem'));
});

test('bin/groot: NODE_EXTRA_CA_CERTS reaches groot, not Node\'s start-up, and a pull from the registry it trusts works', async () => {
  const store = join(tmp, 'store');
  const env = { SSL_CERT_FILE: '/dev/null', NODE_EXTRA_CA_CERTS: cert };
  expect((await groot(['--store', store, 'init-store'])).code).toBe(0);
  const ok = await groot(['--store', store, 'pull', `docker://${img.ref}`], { env });
  expect(ok.stderr).toBe('');
  expect(ok.code).toBe(0);
  expect(JSON.parse(ok.stdout).digest).toBe(img.registryDigest);
  // Node itself would warn at start-up about a file it cannot load; groot warns only when it needs it.
  const missing = await groot(['--store', store, 'list'], { env: { NODE_EXTRA_CA_CERTS: join(tmp, 'missing.pem') } });
  expect(missing.code).toBe(0);
  expect(missing.stderr).not.toMatch(/Ignoring extra certs/);
  const untrusted = await groot(['--store', store, 'pull', `docker://${img.ref}`], { env: { SSL_CERT_FILE: '/dev/null' } });
  expect(untrusted.code).not.toBe(0);
  expect(untrusted.stderr).toMatch(/TLS certificate not trusted/);
});

// Insecure hosts that answered plain http (store/scheme-memo.ts, registry/client.ts): the
// store remembers them, and the next command tries http first instead of a TLS attempt; a
// host that speaks TLS now is still reached (https after the plain http fails) and leaves
// the memo. Real registries: one plain, one TLS with a self-signed certificate.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isGrootError } from '../../src/errors/index.js';
import { configureLogging } from '../../src/log/index.js';
import { registrySource, type RegistryOptions } from '../../src/registry/index.js';
import { groot, removeWithMounts } from '../helpers/cli.js';
import { startRegistry, selfSignedCert, type RunningRegistry } from '../helpers/registry.js';
import { pushFixture, type PushedImage } from '../helpers/registry-images.js';

const FAST: RegistryOptions = { retries: 1, backoffMs: 10, maxBackoffMs: 20 };

let tmp: string;
let plain: RunningRegistry;
let tls: RunningRegistry;
let plainImg: PushedImage;
let tlsImg: PushedImage;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'groot-memo-'));
  const { cert } = await selfSignedCert(tmp, 'memo-registry');
  plain = await startRegistry();
  tls = await startRegistry({ tls: { cert, key: cert.replace(/\.pem$/, '-key.pem') } });
  plainImg = await pushFixture(tmp, plain.host, 'memo/plain', 'v1', [[{ name: 'p', content: 'plain\n' }]]);
  tlsImg = await pushFixture(tmp, tls.host, 'memo/tls', 'v1', [[{ name: 't', content: 'tls\n' }]]);
});

afterAll(async () => {
  await plain?.stop();
  await tls?.stop();
  await removeWithMounts(tmp);
});

afterEach(() => configureLogging({}));

/** Resolve through a source with debug logs to a file; the log lines and the schemes found. */
async function resolveLogged(ref: string, opts: RegistryOptions, name: string) {
  const logFile = join(tmp, `${name}.log`);
  configureLogging({ level: 'debug', file: logFile });
  const s = registrySource(`docker://${ref}`, { ...FAST, ...opts });
  try {
    const r = await s.resolve();
    return { digest: r.digest, found: s.schemesFound(), log: readFileSync(logFile, 'utf8') };
  } finally {
    await s.close();
  }
}

test('a host remembered as plain http: no TLS attempt, http straight away', async () => {
  const first = await resolveLogged(plainImg.ref, { insecureRegistries: [plain.host] }, 'first');
  expect(first.log).toMatch(/https failed on an insecure registry/); // the usual order without a memo
  expect(first.found).toEqual({ http: [plain.host], https: [] });
  const again = await resolveLogged(plainImg.ref, { insecureRegistries: [plain.host], plainHttpHosts: [plain.host] }, 'again');
  expect(again.digest).toBe(plainImg.registryDigest);
  expect(again.log).not.toMatch(/https failed/);
  expect(again.log).toMatch(new RegExp(`"url":"http://${plain.host}/v2/memo/plain/manifests/v1","status":200`));
});

test('a remembered host that speaks TLS now: plain http gets 400, https follows and is found', async () => {
  const r = await resolveLogged(tlsImg.ref, { insecureRegistries: [tls.host], plainHttpHosts: [tls.host] }, 'stale');
  expect(r.digest).toBe(tlsImg.registryDigest);
  expect(r.log).toMatch(/plain http answered 400 on an insecure registry that took it before, trying https/);
  expect(r.found).toEqual({ http: [], https: [tls.host] });
});

test('a memo for a host not marked insecure is ignored: https only, never plain http', async () => {
  const logFile = join(tmp, 'not-insecure.log');
  configureLogging({ level: 'debug', file: logFile });
  const s = registrySource(`docker://${tlsImg.ref}`, { ...FAST, plainHttpHosts: [tls.host] });
  try {
    const e = await s.resolve().then(() => { throw new Error('expected a failure'); }, (x: unknown) => x as Error);
    expect(isGrootError(e, 'GROOT_REGISTRY_TLS')).toBe(true); // self-signed, and not marked insecure
  } finally {
    await s.close();
  }
  // Plain http to the TLS port would have been answered (400) and logged.
  expect(existsSync(logFile) ? readFileSync(logFile, 'utf8') : '').not.toMatch(/"url":"http:/);
});

test('a remembered host that does not answer at all: no https attempt after the plain http', async () => {
  const closed = await new Promise<number>((r) => { const srv = createServer().listen(0, '127.0.0.1', () => { const { port } = srv.address() as AddressInfo; srv.close(() => r(port)); }); });
  const host = `127.0.0.1:${closed}`;
  const logFile = join(tmp, 'refused.log');
  configureLogging({ level: 'debug', file: logFile });
  const s = registrySource(`docker://${host}/memo/none:v1`, { ...FAST, insecureRegistries: [host], plainHttpHosts: [host] });
  try {
    const e = await s.resolve().then(() => { throw new Error('expected a failure'); }, (x: unknown) => x as Error);
    expect(isGrootError(e, 'GROOT_REGISTRY_UNREACHABLE')).toBe(true);
  } finally {
    await s.close();
  }
  expect(existsSync(logFile) ? readFileSync(logFile, 'utf8') : '').not.toMatch(/trying https/);
});

test('CLI: the store remembers, the next command skips the TLS attempt; a stale or damaged memo costs only that', async () => {
  const store = join(tmp, 'store');
  expect((await groot(['--store', store, 'init-store'])).code).toBe(0);
  const memo = join(store, 'meta', 'registry-hosts.json');
  const pull = (ref: string, host: string, log: string) =>
    groot(['--store', store, '--log-level', 'debug', '--log-file', join(tmp, log), 'pull', `docker://${ref}`, '--insecure-registry', host]);

  expect((await pull(plainImg.ref, plain.host, 'cli1.log')).code).toBe(0);
  expect(readFileSync(join(tmp, 'cli1.log'), 'utf8')).toMatch(/https failed on an insecure registry/);
  expect(JSON.parse(readFileSync(memo, 'utf8'))).toEqual({ plainHttp: [plain.host] });

  expect((await pull(plainImg.ref, plain.host, 'cli2.log')).code).toBe(0);
  expect(readFileSync(join(tmp, 'cli2.log'), 'utf8')).not.toMatch(/https failed/);

  // The TLS registry written into the memo by hand (it moved to TLS): reached, and dropped.
  writeFileSync(memo, JSON.stringify({ plainHttp: [plain.host, tls.host] }));
  expect((await pull(tlsImg.ref, tls.host, 'cli3.log')).code).toBe(0);
  expect(JSON.parse(readFileSync(memo, 'utf8'))).toEqual({ plainHttp: [plain.host] });

  writeFileSync(memo, '{not json');
  const damaged = await pull(plainImg.ref, plain.host, 'cli4.log');
  expect(damaged.code).toBe(0);
  expect(JSON.parse(readFileSync(memo, 'utf8'))).toEqual({ plainHttp: [plain.host] });
  await groot(['--store', store, 'delete-store']);
});

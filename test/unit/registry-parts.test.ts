// The registry client's small parts: challenge parsing, credentials files, insecure-host
// matching, Retry-After, back-off, mirror entries.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseChallenges } from '../../src/registry/auth.js';
import { credentialsFor, loadCredentialsFile, normalizeHost } from '../../src/registry/credentials.js';
import { InsecureHosts } from '../../src/registry/transport.js';
import { HttpStatusError, describe as describeError, isRetryable, parseRetryAfter, safeUrl } from '../../src/registry/net-errors.js';
import { backoffDelay, retryDelay, withRetry } from '../../src/registry/retry.js';
import { parseMirror } from '../../src/registry/client.js';
import { tuningOf } from '../../src/registry/options.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(join(tmpdir(), 'groot-regunit-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

describe('WWW-Authenticate', () => {
  test('Docker Hub style bearer challenge', () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ]);
  });
  test('several challenges, unquoted values, escapes and odd spacing', () => {
    expect(parseChallenges(['Basic realm="Registry Realm"', 'Bearer  realm = "https://x/t" , service=svc, error="invalid_token", x="a\\"b"'])).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://x/t', service: 'svc', error: 'invalid_token', x: 'a"b' } },
    ]);
    expect(parseChallenges('Basic realm="a", Bearer realm="b"').map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('Negotiate abc==')).toEqual([{ scheme: 'negotiate', params: {} }]);
  });
});

describe('credentials', () => {
  test('host keys: scheme, path, case and Docker Hub aliases are normalised', () => {
    expect(normalizeHost('https://index.docker.io/v1/')).toBe('registry-1.docker.io');
    expect(normalizeHost('docker.io')).toBe('registry-1.docker.io');
    expect(normalizeHost('HTTP://Reg.Example:5000/v2/')).toBe('reg.example:5000');
  });

  test('config.json entries: auth, username/password, identitytoken; explicit credentials only for the image registry', async () => {
    const f = join(tmp, 'config.json');
    await writeFile(f, JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hubuser:hub:pass:with:colons').toString('base64') },
        'reg.example:5000': { username: 'u', password: 'p' },
        'id.example': { identitytoken: 'refresh-me' },
        'empty.example': {},
      },
      credsStore: 'desktop',
    }));
    const store = await loadCredentialsFile(f);
    expect(store.get('registry-1.docker.io')).toEqual({ username: 'hubuser', password: 'hub:pass:with:colons' });
    expect(credentialsFor('docker.io', 'registry-1.docker.io', undefined, store)).toEqual({ username: 'hubuser', password: 'hub:pass:with:colons' });
    expect(store.get('reg.example:5000')).toEqual({ username: 'u', password: 'p' });
    expect(store.get('id.example')).toEqual({ identityToken: 'refresh-me' });
    expect(store.has('empty.example')).toBe(false);
    expect(credentialsFor('reg.example:5000', 'reg.example:5000', { username: 'x', password: 'y' }, store)).toEqual({ username: 'x', password: 'y' });
    // A mirror or other host never gets the explicit ones.
    expect(credentialsFor('mirror.example', 'reg.example:5000', { username: 'x', password: 'y' }, store)).toBeUndefined();
  });

  test('bad files are named, their content never quoted', async () => {
    const f = join(tmp, 'bad.json');
    await writeFile(f, '{"auths": {"h": {"auth": "c2VjcmV0LW5vLWNvbG9u"}}}'); // base64 "secret-no-colon"
    await expect(loadCredentialsFile(f)).rejects.toThrow(`credentials file ${f}: auths["h"].auth is not base64 of "username:password"`);
    await writeFile(f, '{"auths": [1]}');
    await expect(loadCredentialsFile(f)).rejects.toThrow(/"auths" is not an object/);
    await writeFile(f, 'topsecret-not-json');
    const e = await loadCredentialsFile(f).catch((x) => x);
    expect(e.message).toBe(`credentials file ${f}: is not valid JSON`);
    expect(e.cause).toBeUndefined();
    expect((await loadCredentialsFile(join(tmp, 'missing.json')).catch((x) => x)).message).toMatch(/missing\.json: does not exist/);
  });
});

test('insecure hosts: "host" covers every port, "host:port" only that one', () => {
  const h = new InsecureHosts(['reg.example', '10.0.0.1:5000', 'https://other.example:443/']);
  expect(h.has(new URL('https://reg.example:8443/v2/'))).toBe(true);
  expect(h.has('reg.example')).toBe(true);
  expect(h.has('10.0.0.1:5000')).toBe(true);
  expect(h.has('10.0.0.1:5001')).toBe(false);
  expect(h.has(new URL('https://other.example/v2/'))).toBe(true);
  expect(h.has('evil.example')).toBe(false);
  expect(new InsecureHosts().has('reg.example')).toBe(false);
});

test('Retry-After as seconds or a date; messages drop URL queries (signed URLs)', () => {
  expect(parseRetryAfter('3')).toBe(3000);
  expect(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())).toBeGreaterThan(8000);
  expect(parseRetryAfter('soon')).toBeUndefined();
  expect(parseRetryAfter(undefined)).toBeUndefined();
  expect(safeUrl('https://user:pw@s3.example/bucket/blob?X-Amz-Signature=abc')).toBe('https://s3.example/bucket/blob');
  const ssl = Object.assign(new Error('806C65EE937F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/ssl/record/ssl3_record.c:350:\n'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
  expect(describeError(ssl)).toBe('wrong version number (ERR_SSL_WRONG_VERSION_NUMBER)');
});

test('what is retried, and how long to wait', async () => {
  const t = tuningOf({ backoffMs: 100, maxBackoffMs: 1000, maxRetryAfterMs: 5000 });
  expect(isRetryable(new HttpStatusError('x', 503))).toBe(true);
  expect(isRetryable(new HttpStatusError('x', 429))).toBe(true);
  expect(isRetryable(new HttpStatusError('x', 404))).toBe(false);
  expect(isRetryable(new HttpStatusError('x', 501))).toBe(false);
  expect(isRetryable(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true);
  expect(isRetryable(Object.assign(new Error('tls'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }))).toBe(false);
  for (let a = 0; a < 8; a++) {
    const d = backoffDelay(a, t);
    expect(d).toBeGreaterThanOrEqual(Math.min(1000, 100 * 2 ** a) / 2);
    expect(d).toBeLessThanOrEqual(Math.min(1000, 100 * 2 ** a));
  }
  expect(retryDelay(new HttpStatusError('x', 429, 2000), 0, t)).toBe(2000);
  expect(retryDelay(new HttpStatusError('x', 429, 60_000), 0, t)).toBeUndefined();
  let calls = 0;
  const e = await withRetry('x', { ...t, backoffMs: 1 }, undefined, async () => { calls++; throw new HttpStatusError('x', 500); }, 2).catch((x) => x);
  expect(calls).toBe(3);
  expect(e.attempts).toBe(3);
});

test('mirror entries: URLs keep scheme and path prefix; bare hosts choose their scheme later', () => {
  const m = parseMirror('https://mirror.example/prefix/');
  expect(m.host).toBe('mirror.example');
  expect(m.base?.href).toBe('https://mirror.example/prefix');
  expect(parseMirror('mirror.example:5000')).toEqual({ host: 'mirror.example:5000', mirror: true });
  expect(() => parseMirror('ftp://x')).toThrow(/want an http\(s\) URL/);
});

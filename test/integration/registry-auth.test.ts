// Authentication against real registries: htpasswd (Basic) and a token server (Bearer),
// credentials given directly or in a Docker config.json, redirects to blob storage, and
// no secret in any error message or log line.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isGrootError } from '../../src/errors/index.js';
import { configureLogging } from '../../src/log/index.js';
import { registrySource, RegistrySource, type RegistryOptions } from '../../src/registry/index.js';
import type { ImageSource } from '../../src/image/types.js';
import { startRegistry, selfSignedCert, type RunningRegistry } from '../helpers/registry.js';
import { startTokenServer, type TokenServer, type TokenServerOptions } from '../helpers/registry-token.js';
import { startBlobServer, startFaultProxy } from '../helpers/registry-proxy.js';
import { noise, pushFixture, type PushedImage } from '../helpers/registry-images.js';

const BOB = { username: 'bob', password: 'b0b-S3cret!pw' };
const ALICE = { username: 'alice', password: 'al1ce-T0ken#pw' };
const IDENTITY_TOKEN = 'idtok-5ecret-refresh-value';
const SECRETS = [BOB.password, ALICE.password, IDENTITY_TOKEN,
  Buffer.from(`${BOB.username}:${BOB.password}`).toString('base64'), Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64'), 'wrong-pw-zz9'];
const FAST: RegistryOptions = { retries: 2, backoffMs: 10, maxBackoffMs: 50 };

let tmp: string;
let logFile: string;
let basicReg: RunningRegistry;
let tokenReg: RunningRegistry;
let tokens: TokenServer;
let tokenOpts: TokenServerOptions;
let basicImg: PushedImage;
let privateImg: PushedImage;
let publicImg: PushedImage;
const messages: string[] = [];
const sources: ImageSource[] = [];

function open(source: string, opts: RegistryOptions): RegistrySource {
  const s = registrySource(source, { ...FAST, ...opts }) as RegistrySource;
  sources.push(s);
  return s;
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  const e = await p.then(() => { throw new Error('expected a failure'); }, (err: Error) => err);
  messages.push(e.message, String((e as { cause?: unknown }).cause ?? ''));
  return e;
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'groot-regauth-'));
  logFile = join(tmp, 'groot.log');
  configureLogging({ level: 'debug', file: logFile });

  basicReg = await startRegistry({ htpasswd: { [BOB.username]: BOB.password } });
  basicImg = await pushFixture(tmp, basicReg.host, 'private/app', 'v1', [[{ name: 'a', content: noise(200_000, 1) }], [{ name: 'b', content: 'b\n' }]], { creds: BOB });

  const { cert, key } = await selfSignedCert(tmp, 'token-signer');
  tokenOpts = {
    key, cert, service: 'groot-test-registry', issuer: 'groot-test-issuer', users: { [ALICE.username]: ALICE.password },
    anonymousPull: (repo) => repo.startsWith('public/'), refreshTokens: { [IDENTITY_TOKEN]: ALICE.username },
  };
  tokens = await startTokenServer(tokenOpts);
  tokenReg = await startRegistry({ token: { realm: tokens.realm, service: tokenOpts.service, issuer: tokenOpts.issuer, rootCertBundle: cert } });
  privateImg = await pushFixture(tmp, tokenReg.host, 'private/app', 'v1',
    [[{ name: 'a', content: noise(100_000, 2) }], [{ name: 'b', content: noise(100_000, 3) }], [{ name: 'c', content: 'c\n' }]], { creds: ALICE });
  publicImg = await pushFixture(tmp, tokenReg.host, 'public/app', 'v1', [[{ name: 'p', content: 'public\n' }]], { creds: ALICE });
});

afterEach(async () => {
  for (const s of sources.splice(0)) await s.close().catch(() => {});
});

afterAll(async () => {
  configureLogging({});
  await basicReg?.stop();
  await tokenReg?.stop();
  await tokens?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('htpasswd (Basic)', () => {
  test('anonymous: the image "does not exist or you do not have permissions to see it"', async () => {
    const e = await failure(open(`docker://${basicImg.ref}`, { insecureRegistries: [basicReg.host] }).resolve());
    expect(isGrootError(e, 'GROOT_IMAGE_NOT_FOUND')).toBe(true);
    expect(e.message).toBe(`docker://${basicImg.ref} does not exist or you do not have permissions to see it.`);
  });

  test('with the right username and password: resolves and streams the layers', async () => {
    const src = open(`docker://${basicImg.ref}`, { insecureRegistries: [basicReg.host], credentials: BOB });
    const img = await src.resolve();
    expect(img.digest).toBe(basicImg.registryDigest);
    const got = await Promise.all(img.layers.map(async (l) => readAll(await src.openLayer(l))));
    got.forEach((b, i) => expect(b.equals(basicImg.blobs.get(img.layers[i]!.digest)!)).toBe(true));
  });

  test('with a wrong password: "authorization failed: username and password are invalid"', async () => {
    const e = await failure(open(`docker://${basicImg.ref}`, { insecureRegistries: [basicReg.host], credentials: { username: 'bob', password: 'wrong-pw-zz9' } }).resolve());
    expect(isGrootError(e, 'GROOT_AUTH')).toBe(true);
    expect(e.message).toBe('authorization failed: username and password are invalid');
  });

  test('credentials from a config.json: base64 "auth" and username/password entries', async () => {
    const f1 = join(tmp, 'config-auth.json');
    await writeFile(f1, JSON.stringify({ auths: { [basicReg.host]: { auth: Buffer.from(`${BOB.username}:${BOB.password}`).toString('base64') } } }));
    expect((await open(`docker://${basicImg.ref}`, { insecureRegistries: [basicReg.host], credentialsFile: f1 }).resolve()).digest).toBe(basicImg.registryDigest);
    const f2 = join(tmp, 'config-fields.json');
    await writeFile(f2, JSON.stringify({ auths: { [`http://${basicReg.host}/v2/`]: { username: BOB.username, password: BOB.password } } }));
    expect((await open(`docker://${basicImg.ref}`, { insecureRegistries: [basicReg.host], credentialsFile: f2 }).resolve()).digest).toBe(basicImg.registryDigest);
    // An entry for another host does not apply.
    const f3 = join(tmp, 'config-other.json');
    await writeFile(f3, JSON.stringify({ auths: { 'other.example:5000': { username: BOB.username, password: BOB.password } } }));
    const e = await failure(open(`docker://${basicImg.ref}`, { insecureRegistries: [basicReg.host], credentialsFile: f3 }).resolve());
    expect(isGrootError(e, 'GROOT_IMAGE_NOT_FOUND')).toBe(true);
  });

  test('a broken credentials file is named without quoting its content', async () => {
    const f = join(tmp, 'broken.json');
    await writeFile(f, `{"auths": {"x": {"auth": "${BOB.password}"`);
    const e = await failure(open(`docker://${basicImg.ref}`, { insecureRegistries: [basicReg.host], credentialsFile: f }).resolve());
    expect(e.message).toBe(`credentials file ${f}: is not valid JSON`);
    const missing = await failure(open(`docker://${basicImg.ref}`, { credentialsFile: join(tmp, 'nope.json') }).resolve());
    expect(missing.message).toMatch(/nope\.json: does not exist/);
  });

  test('a redirect to blob storage on another host is followed without the Authorization header', async () => {
    const blobServer = await startBlobServer(new Map([...basicImg.blobs].map(([d, b]) => [`/store/${d}`, b])));
    const proxy = await startFaultProxy(basicReg.url);
    try {
      const layerDigests = new Set(basicImg.layers.map((l) => l.digest));
      proxy.fault = (r) => {
        const d = /\/blobs\/(sha256:[0-9a-f]+)/.exec(r.url)?.[1];
        return d && layerDigests.has(d) ? { kind: 'redirect', location: `${blobServer.url}/store/${d}?X-Amz-Signature=sig-s3cr3t` } : undefined;
      };
      const src = open(`docker://${proxy.host}/private/app:v1`, { insecureRegistries: [proxy.host, '127.0.0.2'], credentials: BOB });
      const img = await src.resolve();
      for (const l of img.layers) expect((await readAll(await src.openLayer(l))).equals(basicImg.blobs.get(l.digest)!)).toBe(true);
      const layerReqs = proxy.requests.filter((r) => layerDigests.has(/\/blobs\/(sha256:[0-9a-f]+)/.exec(r.url)?.[1] ?? ''));
      expect(layerReqs.length).toBe(2);
      for (const r of layerReqs) expect(r.headers.authorization).toMatch(/^Basic /);
      expect(blobServer.requests.length).toBe(2);
      for (const r of blobServer.requests) expect(r.headers.authorization).toBeUndefined();
    } finally {
      await proxy.stop();
      await blobServer.stop();
    }
  });

  test('a redirect to a scheme other than http(s) is refused', async () => {
    const proxy = await startFaultProxy(basicReg.url);
    try {
      proxy.fault = (r) => (r.url.includes('/manifests/') ? { kind: 'redirect', location: 'ftp://127.0.0.2/x' } : undefined);
      const e = await failure(open(`docker://${proxy.host}/private/app:v1`, { insecureRegistries: [proxy.host], credentials: BOB }).resolve());
      expect(isGrootError(e, 'GROOT_REGISTRY_REDIRECT')).toBe(true);
    } finally {
      await proxy.stop();
    }
  });
});

describe('token server (Bearer)', () => {
  test('with credentials: one token for the repository scope serves the manifest, config and all layers', async () => {
    const before = tokens.requests.length;
    const src = open(`docker://${privateImg.ref}`, { insecureRegistries: [tokenReg.host, '127.0.0.1'], credentials: ALICE });
    const img = await src.resolve();
    expect(img.digest).toBe(privateImg.registryDigest);
    const got = await Promise.all(img.layers.map(async (l) => readAll(await src.openLayer(l))));
    got.forEach((b, i) => expect(b.equals(privateImg.blobs.get(img.layers[i]!.digest)!)).toBe(true));
    const mine = tokens.requests.slice(before);
    expect(mine).toEqual([{ method: 'GET', service: 'groot-test-registry', scopes: ['repository:private/app:pull'], user: 'alice' }]);
    expect(src.authn.tokenFetches).toBe(1);
  });

  test('an expired token is replaced', async () => {
    tokenOpts.expiresIn = 1;
    try {
      const before = tokens.requests.length;
      const src = open(`docker://${privateImg.ref}`, { insecureRegistries: [tokenReg.host, '127.0.0.1'], credentials: ALICE });
      const img = await src.resolve();
      expect(tokens.requests.length - before).toBe(1);
      await new Promise((r) => setTimeout(r, 1100));
      await readAll(await src.openLayer(img.layers[2]!));
      expect(tokens.requests.length - before).toBe(2);
    } finally {
      tokenOpts.expiresIn = undefined;
    }
  });

  test('anonymous: a public repository pulls, a private one "does not exist or you do not have permissions"', async () => {
    const pub = open(`docker://${publicImg.ref}`, { insecureRegistries: [tokenReg.host] });
    expect((await pub.resolve()).digest).toBe(publicImg.registryDigest);
    const e = await failure(open(`docker://${privateImg.ref}`, { insecureRegistries: [tokenReg.host] }).resolve());
    expect(isGrootError(e, 'GROOT_IMAGE_NOT_FOUND')).toBe(true);
    expect(e.message).toBe(`docker://${privateImg.ref} does not exist or you do not have permissions to see it.`);
  });

  test('a wrong password: "authorization failed: username and password are invalid"', async () => {
    const e = await failure(open(`docker://${privateImg.ref}`, { insecureRegistries: [tokenReg.host, '127.0.0.1'], credentials: { username: 'alice', password: 'wrong-pw-zz9' } }).resolve());
    expect(isGrootError(e, 'GROOT_AUTH')).toBe(true);
    expect(e.message).toBe('authorization failed: username and password are invalid');
  });

  test('credentials are not sent to a plain-http token server unless that host is marked insecure', async () => {
    const e = await failure(open(`docker://${privateImg.ref}`, { insecureRegistries: [tokenReg.host], credentials: ALICE }).resolve());
    expect(isGrootError(e, 'GROOT_AUTH')).toBe(true);
    expect(e.message).toMatch(/refusing to send credentials to token server http:\/\/127\.0\.0\.1:\d+\/token over plain http/);
  });

  test('an identity token from config.json is exchanged with the OAuth2 refresh-token grant', async () => {
    const f = join(tmp, 'config-identity.json');
    await writeFile(f, JSON.stringify({ auths: { [tokenReg.host]: { auth: Buffer.from('<token>:').toString('base64'), identitytoken: IDENTITY_TOKEN } } }));
    const before = tokens.requests.length;
    const img = await open(`docker://${privateImg.ref}`, { insecureRegistries: [tokenReg.host, '127.0.0.1'], credentialsFile: f }).resolve();
    expect(img.digest).toBe(privateImg.registryDigest);
    expect(tokens.requests.slice(before)).toEqual([{ method: 'POST', service: 'groot-test-registry', scopes: ['repository:private/app:pull'], user: 'alice', grantType: 'refresh_token' }]);
  });
});

test('TLS: a self-signed registry fails verification by default and works when marked insecure (that host only)', async () => {
  const { cert, key } = await selfSignedCert(tmp, 'tls-registry');
  const tlsReg = await startRegistry({ tls: { cert, key } });
  try {
    const img = await pushFixture(tmp, tlsReg.host, 'tls/app', 'v1', [[{ name: 't', content: 'tls\n' }]]);
    const e = await failure(open(`docker://${img.ref}`, {}).resolve());
    expect(isGrootError(e, 'GROOT_REGISTRY_TLS')).toBe(true);
    expect(e.message).toMatch(/TLS certificate not trusted \(self-signed certificate.*please use the --insecure-registry option/);
    const other = await failure(open(`docker://${img.ref}`, { insecureRegistries: ['127.0.0.1:1'] }).resolve());
    expect(isGrootError(other, 'GROOT_REGISTRY_TLS')).toBe(true);
    const src = open(`docker://${img.ref}`, { insecureRegistries: [tlsReg.host] });
    const got = await src.resolve();
    expect(got.digest).toBe(img.registryDigest);
    expect((await readAll(await src.openLayer(got.layers[0]!))).equals(img.blobs.get(got.layers[0]!.digest)!)).toBe(true);
  } finally {
    await tlsReg.stop();
  }
});

test('no password, credential, token or signed URL appears in error messages or logs', async () => {
  const log = await readFile(logFile, 'utf8');
  expect(log.length).toBeGreaterThan(0);
  expect(log).toMatch(/"component":"registry"/);
  const all = [log, ...messages].join('\n');
  for (const s of [...SECRETS, ...tokens.tokens, 'sig-s3cr3t']) expect(all).not.toContain(s);
  expect(messages.length).toBeGreaterThan(8);
});

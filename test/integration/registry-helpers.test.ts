// The registry fixtures themselves: each mode starts, accepts a skopeo push and stops cleanly.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildImage } from '../helpers/oci.js';
import { startRegistry, pushImage, selfSignedCert, type RunningRegistry } from '../helpers/registry.js';
import { startTokenServer, type TokenServer } from '../helpers/registry-token.js';

let tmp: string;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => { tmp = await mkdtemp(join(tmpdir(), 'groot-reghelp-')); });
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await rm(tmp, { recursive: true, force: true });
});

async function layout(): Promise<string> {
  const dir = join(tmp, 'layout');
  await buildImage(dir, { tag: 'v1', layers: [[{ name: 'hello.txt', content: 'hello' }]] });
  return dir;
}

test('plain registry accepts a push', async () => {
  const reg = await startRegistry();
  cleanups.push(reg.stop);
  await pushImage(await layout(), 'v1', `${reg.host}/test/plain:v1`);
  const out = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/test/plain:v1`]).toString();
  expect(JSON.parse(out).layers).toHaveLength(1);
});

test('token registry accepts a push with the token server credentials and rejects bad ones', async () => {
  const { cert, key } = await selfSignedCert(tmp, 'token');
  const ts: TokenServer = await startTokenServer({ key, cert, service: 'groot-test', issuer: 'groot-test-issuer', users: { alice: 'pw-alice' } });
  cleanups.push(ts.stop);
  const reg: RunningRegistry = await startRegistry({ token: { realm: ts.realm, service: 'groot-test', issuer: 'groot-test-issuer', rootCertBundle: cert } });
  cleanups.push(reg.stop);
  await pushImage(await layout(), 'v1', `${reg.host}/test/tok:v1`, { creds: { username: 'alice', password: 'pw-alice' } });
  expect(ts.requests.some((r) => r.user === 'alice')).toBe(true);
  await expect(pushImage(await layout(), 'v1', `${reg.host}/test/tok:v2`, { creds: { username: 'alice', password: 'nope' } })).rejects.toThrow();
});

test('htpasswd registry accepts a push with bcrypt credentials', async () => {
  const reg = await startRegistry({ htpasswd: { bob: 'pw-bob' } });
  cleanups.push(reg.stop);
  await pushImage(await layout(), 'v1', `${reg.host}/test/basic:v1`, { creds: { username: 'bob', password: 'pw-bob' } });
  await expect(pushImage(await layout(), 'v1', `${reg.host}/test/basic:v2`, { creds: { username: 'bob', password: 'bad' } })).rejects.toThrow();
});

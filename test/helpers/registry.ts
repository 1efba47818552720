// Start and stop real registries (Debian's docker-registry, distribution v2) for tests and
// benchmarks, and push fixture OCI layouts to them with skopeo.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import koffi from 'koffi';

const execFileP = promisify(execFile);

export const REGISTRY_BIN = process.env.GROOT_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry';

export interface TokenAuthConfig {
  realm: string;
  service: string;
  issuer: string;
  /** PEM file holding the certificate(s) whose keys sign tokens. */
  rootCertBundle: string;
}

export interface StartRegistryOptions {
  /** htpasswd basic auth with these users (user -> password). */
  htpasswd?: Record<string, string>;
  /** Bearer token auth (the tests provide the token server). */
  token?: TokenAuthConfig;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
  /** Use this storage directory instead of a fresh temp dir (kept on stop). */
  storageDir?: string;
}

export interface RunningRegistry {
  /** host:port as it goes in image references. */
  host: string;
  port: number;
  /** Base URL, http:// or https://. */
  url: string;
  dir: string;
  logFile: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
// A safety net: a test runner that dies between start and stop still takes its registries along.
process.once('exit', () => { for (const c of running) try { c.kill('SIGKILL'); } catch { /* gone */ } });

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, host, () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

let cryptFns: { gensalt: (p: string, n: number, r: null, l: number) => string; crypt: (k: string, s: string) => string } | undefined;

/** bcrypt hash (the only htpasswd format docker-registry reads) via libxcrypt, no extra package. */
export function bcrypt(password: string): string {
  if (!cryptFns) {
    const lib = koffi.load('libcrypt.so.1');
    cryptFns = {
      gensalt: lib.func('char *crypt_gensalt(const char *prefix, unsigned long count, const char *rbytes, int nrbytes)') as never,
      crypt: lib.func('char *crypt(const char *phrase, const char *setting)') as never,
    };
  }
  const salt = cryptFns.gensalt('$2b$', 5, null, 0);
  const hash = cryptFns.crypt(password, salt);
  if (!hash || !hash.startsWith('$2b$')) throw new Error('libcrypt could not make a bcrypt hash');
  return hash;
}

/** A self-signed certificate for 127.0.0.1/localhost (TLS registries, token signing). */
export async function selfSignedCert(dir: string, name = 'cert'): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  await execFileP('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', `/CN=groot-test-${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
  return { cert, key };
}

function configYaml(o: { dir: string; port: number; opts: StartRegistryOptions; htpasswdFile: string }): string {
  const lines = [
    'version: 0.1',
    'log: {level: error, accesslog: {disabled: true}}',
    'storage:',
    `  filesystem: {rootdirectory: ${JSON.stringify(o.opts.storageDir ?? join(o.dir, 'data'))}}`,
    '  delete: {enabled: true}',
    'http:',
    `  addr: 127.0.0.1:${o.port}`,
    '  secret: groot-test-http-secret',
  ];
  if (o.opts.tls) lines.push(`  tls: {certificate: ${JSON.stringify(o.opts.tls.cert)}, key: ${JSON.stringify(o.opts.tls.key)}}`);
  if (o.opts.htpasswd) lines.push('auth:', `  htpasswd: {realm: groot-test, path: ${JSON.stringify(o.htpasswdFile)}}`);
  if (o.opts.token) {
    const t = o.opts.token;
    lines.push('auth:', '  token:', `    realm: ${JSON.stringify(t.realm)}`, `    service: ${JSON.stringify(t.service)}`,
      `    issuer: ${JSON.stringify(t.issuer)}`, `    rootcertbundle: ${JSON.stringify(t.rootCertBundle)}`);
  }
  return lines.join('\n') + '\n';
}

function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = (url.startsWith('https') ? httpsRequest : httpRequest)(url + '/v2/', { rejectUnauthorized: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => { req.destroy(); resolve(0); });
    req.end();
  });
}

/** Start docker-registry on 127.0.0.1 with a random free port and a temp storage dir. */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'groot-registry-'));
  const htpasswdFile = join(dir, 'htpasswd');
  if (opts.htpasswd) {
    await writeFile(htpasswdFile, Object.entries(opts.htpasswd).map(([u, p]) => `${u}:${bcrypt(p)}\n`).join(''));
  }
  const logFile = join(dir, 'registry.log');
  let lastErr = '';
  // The free port can be taken between probe and bind; a couple of tries make that harmless.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const config = join(dir, 'config.yml');
    await writeFile(config, configYaml({ dir, port, opts, htpasswdFile }));
    const { openSync, closeSync } = await import('node:fs');
    const fd = openSync(logFile, 'a');
    const child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    running.add(child);
    let exited = false;
    child.once('exit', () => { exited = true; running.delete(child); });
    const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    const deadline = Date.now() + 15000;
    while (!exited && Date.now() < deadline) {
      const status = await probe(url);
      if (status === 200 || status === 401) {
        const stop = async () => {
          await killChild(child);
          await rm(dir, { recursive: true, force: true });
        };
        return { host: `127.0.0.1:${port}`, port, url, dir, logFile, child, stop };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await killChild(child);
    const { readFile } = await import('node:fs/promises');
    lastErr = await readFile(logFile, 'utf8').catch(() => '');
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`docker-registry did not start: ${lastErr.slice(-2000)}`);
}

export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) { running.delete(child); return; }
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } }, 3000);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    try { child.kill('SIGTERM'); } catch { clearTimeout(t); resolve(); }
  });
  running.delete(child);
}

export interface PushOptions {
  /** skopeo --format: keep the layout's OCI media types (default) or convert to Docker schema 2. */
  format?: 'oci' | 'v2s2';
  /** Copy every image of an index (multi-platform), not just the host's. */
  all?: boolean;
  creds?: { username: string; password: string };
}

/** skopeo copy oci:<layout>:<tag> docker://<dest>. dest is host:port/repo:tag. */
export async function pushImage(layout: string, tag: string, dest: string, opts: PushOptions = {}): Promise<void> {
  const args = ['copy', '--quiet', '--dest-tls-verify=false'];
  if (opts.format === 'v2s2') args.push('--format', 'v2s2');
  if (opts.all) args.push('--all');
  if (opts.creds) args.push('--dest-creds', `${opts.creds.username}:${opts.creds.password}`);
  args.push(`oci:${layout}:${tag}`, `docker://${dest}`);
  await execFileP('skopeo', args, { maxBuffer: 16 << 20 });
}

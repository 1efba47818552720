// Transport rules checked against small local servers: https never redirects to plain http
// unless that host is insecure, Authorization stays on its origin, and a blob whose server
// ignores Range is resumed by skipping what was already delivered.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttp, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { InsecureHosts, Transport, readBody } from '../../src/registry/transport.js';
import { openBlobStream } from '../../src/registry/blob-stream.js';
import { tuningOf } from '../../src/registry/options.js';
import { isGrootError } from '../../src/errors/index.js';

const t = tuningOf({ retries: 3, backoffMs: 5, maxBackoffMs: 20, bodyTimeoutMs: 2000, headersTimeoutMs: 2000 });
let tmp: string;
const servers: Server[] = [];
const transports: Transport[] = [];

function listen(s: Server, host = '127.0.0.1'): Promise<number> {
  servers.push(s);
  return new Promise((r) => s.listen(0, host, () => r((s.address() as AddressInfo).port)));
}

function transport(insecure: string[]): Transport {
  const tr = new Transport(t, new InsecureHosts(insecure));
  transports.push(tr);
  return tr;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'groot-regtr-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tmp, 'k.pem'), '-out', join(tmp, 'c.pem'),
    '-days', '1', '-subj', '/CN=t', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
});

afterAll(async () => {
  for (const tr of transports) await tr.close();
  for (const s of servers) { s.closeAllConnections(); await new Promise((r) => s.close(r)); }
  rmSync(tmp, { recursive: true, force: true });
});

test('an https origin does not redirect to plain http unless the target host is insecure', async () => {
  const seen: IncomingHttpHeaders[] = [];
  const plainPort = await listen(createHttp((req, res) => { seen.push(req.headers); res.end('plain'); }), '127.0.0.2');
  const tlsPort = await listen(createHttps({ key: readFileSync(join(tmp, 'k.pem')), cert: readFileSync(join(tmp, 'c.pem')) }, (_req, res) => {
    res.writeHead(307, { location: `http://127.0.0.2:${plainPort}/blob` }).end();
  }));
  const url = new URL(`https://127.0.0.1:${tlsPort}/v2/x/blobs/y`);
  const e = await transport([`127.0.0.1:${tlsPort}`]).send(url, { headers: { authorization: 'Bearer t0ken' } }).catch((x) => x);
  expect(isGrootError(e, 'GROOT_REGISTRY_REDIRECT')).toBe(true);
  expect(e.message).toMatch(/refusing redirect from https to plain http/);
  expect(seen).toHaveLength(0);

  const res = await transport([`127.0.0.1:${tlsPort}`, '127.0.0.2']).send(url, { headers: { authorization: 'Bearer t0ken' } });
  expect((await readBody(res, 100, 'x')).toString()).toBe('plain');
  expect(seen).toHaveLength(1);
  expect(seen[0]!.authorization).toBeUndefined();
});

test('same-origin redirects keep the Authorization header', async () => {
  const seen: (string | undefined)[] = [];
  const port = await listen(createHttp((req, res) => {
    seen.push(req.headers.authorization);
    if (req.url === '/a') res.writeHead(302, { location: '/b' }).end(); else res.end('b');
  }));
  const res = await transport([]).send(new URL(`http://127.0.0.1:${port}/a`), { headers: { authorization: 'Basic eDp5' } });
  expect((await readBody(res, 10, 'x')).toString()).toBe('b');
  expect(seen).toEqual(['Basic eDp5', 'Basic eDp5']);
});

test('a blob server that ignores Range: the resumed stream skips what was delivered', async () => {
  const blob = Buffer.alloc(1_000_000);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 31) & 0xff;
  const ranges: (string | undefined)[] = [];
  const port = await listen(createHttp((req, res) => {
    ranges.push(req.headers.range);
    res.writeHead(200, { 'content-length': String(blob.length) });
    if (ranges.length === 1) {
      res.write(blob.subarray(0, 400_000), () => setTimeout(() => res.destroy(), 20));
    } else {
      res.end(blob);
    }
  }));
  const tr = transport([]);
  const fetch = (offset: number, signal?: AbortSignal) => tr.send(new URL(`http://127.0.0.1:${port}/blob`), { headers: offset ? { range: `bytes=${offset}-` } : {}, signal });
  let counted = 0;
  const s: Readable = await openBlobStream('test blob', blob.length, fetch, t, { onBytes: (n) => { counted += n; } });
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  const got = Buffer.concat(chunks);
  expect(got.length).toBe(blob.length);
  expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(blob).digest('hex'));
  expect(counted).toBe(blob.length);
  expect(ranges).toHaveLength(2);
  expect(ranges[1]).toMatch(/^bytes=[1-9]\d*-$/);
});

test('a body shorter than the declared size (clean end) is resumed', async () => {
  const blob = Buffer.from('0123456789'.repeat(1000));
  const ranges: (string | undefined)[] = [];
  const port = await listen(createHttp((req, res) => {
    ranges.push(req.headers.range);
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (!m) { res.end(blob.subarray(0, 3000)); return; } // chunked, ends cleanly but early
    const start = Number(m[1]);
    res.writeHead(206, { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` }).end(blob.subarray(start));
  }));
  const tr = transport([]);
  const fetch = (offset: number, signal?: AbortSignal) => tr.send(new URL(`http://127.0.0.1:${port}/blob`), { headers: offset ? { range: `bytes=${offset}-` } : {}, signal });
  const chunks: Buffer[] = [];
  for await (const c of await openBlobStream('short blob', blob.length, fetch, t)) chunks.push(c as Buffer);
  expect(Buffer.concat(chunks).equals(blob)).toBe(true);
  expect(ranges).toEqual([undefined, 'bytes=3000-']);
});

// A small HTTP proxy in front of a test registry that injects faults: error statuses, 429s,
// connections cut mid-body, wrong bytes, redirects, stalls. It records every request.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ProxiedRequest {
  n: number;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** performance.now() when it arrived, and when its answer was all sent. */
  at: number;
  doneAt?: number;
}

export type FaultAction =
  /** Answer directly with this status (and headers/body); the registry never sees the request. */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Forward, then destroy the connection after this many body bytes. */
  | { kind: 'cut'; afterBytes: number }
  /** Forward, but flip one byte of the body at this offset. */
  | { kind: 'corrupt'; at: number }
  /** Forward the headers and this many body bytes, then send nothing more (keep the socket open). */
  | { kind: 'stall'; afterBytes: number }
  /** Accept the request and never answer. */
  | { kind: 'hang' }
  /** Answer 307 to this location. */
  | { kind: 'redirect'; location: string; status?: number };

export type Fault = (req: ProxiedRequest) => FaultAction | undefined;

export interface FaultProxy {
  host: string;
  port: number;
  url: string;
  requests: ProxiedRequest[];
  fault: Fault | undefined;
  stop(): Promise<void>;
}

/** Forward to `target` (http://host:port), applying `proxy.fault` to each request. */
export async function startFaultProxy(target: string, opts: { bind?: string } = {}): Promise<FaultProxy> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  const requests: ProxiedRequest[] = [];
  let n = 0;
  const proxy: FaultProxy = { host: '', port: 0, url: '', requests, fault: undefined, stop: async () => {} };

  const server: Server = createServer((req, res) => {
    const rec: ProxiedRequest = { n: n++, method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers }, at: performance.now() };
    requests.push(rec);
    res.on('finish', () => { rec.doneAt = performance.now(); });
    const action = proxy.fault?.(rec);
    if (action?.kind === 'status') {
      req.resume();
      res.writeHead(action.status, { 'content-type': 'application/json', ...action.headers }).end(action.body ?? '');
      return;
    }
    if (action?.kind === 'redirect') {
      req.resume();
      res.writeHead(action.status ?? 307, { location: action.location, 'content-length': '0' }).end();
      return;
    }
    if (action?.kind === 'hang') { req.resume(); return; }
    const up = httpRequest({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (action?.kind === 'stall' || action?.kind === 'cut') res.flushHeaders();
      forwardBody(ur, res, action);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, opts.bind ?? '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  proxy.port = port;
  proxy.host = `${opts.bind ?? '127.0.0.1'}:${port}`;
  proxy.url = `http://${proxy.host}`;
  proxy.stop = () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); });
  return proxy;
}

function forwardBody(ur: NodeJS.ReadableStream, res: ServerResponse, action: FaultAction | undefined): void {
  let sent = 0;
  ur.on('data', (chunk: Buffer) => {
    if (res.destroyed) return;
    if (action?.kind === 'cut' || action?.kind === 'stall') {
      const room = action.afterBytes - sent;
      if (room <= 0) {
        if (action.kind === 'cut') setTimeout(() => res.destroy(), 20);
        return;
      }
      const part = chunk.subarray(0, room);
      sent += part.length;
      res.write(part);
      if (sent >= action.afterBytes && action.kind === 'cut') {
        // Let the bytes reach the client before the cut, so it has something to resume from.
        res.once('drain', () => res.destroy());
        if (!res.writableNeedDrain) setTimeout(() => res.destroy(), 20);
      }
      return;
    }
    if (action?.kind === 'corrupt' && action.at >= sent && action.at < sent + chunk.length) {
      chunk = Buffer.from(chunk);
      chunk[action.at - sent] ^= 0xff;
    }
    sent += chunk.length;
    res.write(chunk);
  });
  ur.on('end', () => { if (action?.kind !== 'stall' && action?.kind !== 'cut') res.end(); });
  ur.on('error', () => res.destroy());
}

/** A plain "blob storage" server on another host that serves fixed bytes and records requests. */
export async function startBlobServer(blobs: Map<string, Buffer>, bind = '127.0.0.2'): Promise<{ url: string; requests: ProxiedRequest[]; stop(): Promise<void> }> {
  const requests: ProxiedRequest[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    requests.push({ n: n++, method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers }, at: performance.now() });
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const body = blobs.get(path);
    if (!body) { res.writeHead(404).end(); return; }
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    if (range) {
      const start = Number(range[1]);
      res.writeHead(206, { 'content-length': String(body.length - start), 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` }).end(body.subarray(start));
      return;
    }
    res.writeHead(200, { 'content-length': String(body.length), 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, bind, r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://${bind}:${port}`, requests, stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

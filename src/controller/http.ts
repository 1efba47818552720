// /metrics (Prometheus), /healthz (the process serves), /readyz (synced and repaired).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { InvalidArgumentError } from '../errors/index.js';

export interface HttpEndpoints { registry: Registry; ready(): boolean; healthy(): boolean }

/** "HOST:PORT", ":PORT" or "[V6]:PORT". */
export function parseAddress(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(`--metrics-address ${JSON.stringify(s)}: want HOST:PORT (e.g. 127.0.0.1:9476, :9476, [::1]:9476)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export async function serveHttp(address: string, ep: HttpEndpoints): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const { host, port } = parseAddress(address);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET, HEAD' }).end(); return; }
    if (path === '/metrics') {
      ep.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': ep.registry.contentType }).end(body),
        (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics: ${e.message}\n`),
      );
      return;
    }
    if (path === '/healthz' || path === '/livez') {
      const ok = ep.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'shutting down\n');
      return;
    }
    if (path === '/readyz') {
      const ok = ep.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready: waiting for a complete list of objects\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const a = server.address() as AddressInfo;
  const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  return { server, url, close: () => new Promise<void>((r) => { server.closeAllConnections?.(); server.close(() => r()); }) };
}

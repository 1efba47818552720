// HTTP on undici: one connection pool for verified TLS and one for the hosts the operator
// marked insecure, time-outs on every exchange, and redirects followed by hand so that
// credentials never travel to another host (blob storage behind a 307).
import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, Dispatcher } from 'undici';
import { AbortedError, RegistryError } from '../errors/index.js';
import { logger } from '../log/index.js';
import { settleV8Flags } from '../sys/v8-flags.js';
import { compileParser } from './parser.js';
import { CODES, safeUrl } from './net-errors.js';
import { InsecureHosts } from './insecure-hosts.js';
import { trustedContext, unverifiedContext } from './trust.js';
import type { Tuning } from './options.js';

const log = logger('registry');

// undici's index.js loads ~113 files (fetch, WebSocket, caches, mocks): ~90 ms of every
// CLI pull/create. Its Agent and request() alone load ~25. These paths are internal (undici
// has no "exports" map), so package.json pins undici ~7.30.2; see README "Versions, and why".
// index.js adds request() to Dispatcher.prototype and maps a URL to origin + path: send()
// calls it on the agent with origin and path itself.
// A thread's first exchange compiles undici's HTTP parser on the baseline tier first and
// starts the process's work flags (registry/parser.ts, sys/v8-flags.ts). TLS is loaded
// before when the exchange is https: a builtin loaded while a flag differs from its default
// is compiled from source (measured ~3.5 ms of a create on an insecure host).
let tlsLoaded = false;
function workFlags(url: URL): void {
  if (url.protocol === 'https:' && !tlsLoaded) { requireUndici('node:tls'); tlsLoaded = true; }
  compileParser();
  settleV8Flags();
}
// In the CLI's bundle, the three come from dist/bundle/undici.cjs (hack/undici-entry.cjs).
const requireUndici = createRequire(import.meta.url);
type Undici = {
  Agent: typeof UndiciAgent;
  request: (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
  buildConnector: (opts: object) => Connector;
};
const undici: Undici = import.meta.url.endsWith('.cjs') ? requireUndici('./undici.cjs') as Undici : {
  Agent: requireUndici('undici/lib/dispatcher/agent.js') as Undici['Agent'],
  request: requireUndici('undici/lib/api/api-request.js') as Undici['request'],
  buildConnector: requireUndici('undici/lib/core/connect.js') as Undici['buildConnector'],
};
const { Agent, request, buildConnector } = undici;
type Connector = (opts: object, callback: (err: Error | null, socket: unknown) => void) => unknown;

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export type Headers = Record<string, string>;

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered (after redirects). */
  url: URL;
}

export interface SendInit {
  method?: 'GET' | 'HEAD' | 'POST';
  headers?: Headers;
  body?: string;
  signal?: AbortSignal;
}

export { InsecureHosts };

export function header(h: HttpResponse['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Read a whole body, refusing one larger than `max` bytes. */
export async function readBody(res: HttpResponse, max: number, what: string): Promise<Buffer> {
  const declared = Number(header(res.headers, 'content-length') ?? NaN);
  if (declared > max) {
    res.body.destroy();
    throw new RegistryError(`${what}: response of ${declared} bytes is over the ${max}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > max) {
      res.body.destroy();
      throw new RegistryError(`${what}: response is over the ${max}-byte limit`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Throw away a body we do not need, so its connection goes back to the pool. */
export async function drain(res: HttpResponse): Promise<void> {
  try {
    await res.body.dump({ limit: 64 * 1024 });
  } catch { /* the connection is dropped instead */ }
}

export class Transport {
  private readonly verified: UndiciAgent;
  private readonly unverified: UndiciAgent;

  constructor(private readonly t: Tuning, readonly insecure: InsecureHosts) {
    // connections: null = no per-origin cap; the engine decides how many layers it opens at once.
    const common = { headersTimeout: t.headersTimeoutMs, bodyTimeout: t.bodyTimeoutMs, keepAliveTimeout: 30_000, connections: null } as const;
    // CAs are loaded on the first verified connection, none for unverified ones (trust.ts).
    const lazy = (context: () => object): Connector => {
      let tls: Connector | undefined;
      let plain: Connector | undefined;
      return (o, cb) => ((o as { protocol?: string }).protocol === 'https:'
        ? (tls ??= buildConnector({ timeout: t.connectTimeoutMs, ...context() }))
        : (plain ??= buildConnector({ timeout: t.connectTimeoutMs })))(o, cb);
    };
    this.verified = new Agent({ ...common, connect: lazy(() => ({ secureContext: trustedContext() })) as never });
    this.unverified = new Agent({ ...common, connect: lazy(() => ({ secureContext: unverifiedContext(), rejectUnauthorized: false })) as never });
  }

  /**
   * One exchange. 3xx answers are followed up to MAX_REDIRECTS hops; Authorization goes
   * only to the origin it was meant for, and an https URL never redirects to plain http
   * unless that host is marked insecure.
   */
  async send(url: URL, init: SendInit = {}): Promise<HttpResponse> {
    let current = url;
    let headers: Headers = { 'user-agent': this.t.userAgent, ...init.headers };
    for (let hop = 0; ; hop++) {
      if (init.signal?.aborted) throw new AbortedError(`${safeUrl(current)}: aborted`, { cause: init.signal.reason });
      const dispatcher = this.insecure.has(current) ? this.unverified : this.verified;
      workFlags(current);
      const res = await request.call(dispatcher, {
        origin: current.origin,
        path: current.pathname + current.search,
        method: init.method ?? 'GET',
        headers,
        body: init.body,
        signal: init.signal,
        headersTimeout: this.t.headersTimeoutMs,
        bodyTimeout: this.t.bodyTimeoutMs,
      });
      const location = header(res.headers, 'location');
      log.debug({ method: init.method ?? 'GET', url: safeUrl(current), status: res.statusCode }, 'registry http');
      if (!REDIRECTS.has(res.statusCode) || !location || init.method === 'POST') {
        return { status: res.statusCode, headers: res.headers, body: res.body, url: current };
      }
      await drain({ status: res.statusCode, headers: res.headers, body: res.body, url: current });
      if (hop >= MAX_REDIRECTS) throw new RegistryError(`${safeUrl(url)}: more than ${MAX_REDIRECTS} redirects`, { code: CODES.redirect });
      const next = new URL(location, current);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new RegistryError(`${safeUrl(current)}: redirect to unsupported scheme ${next.protocol}`, { code: CODES.redirect });
      }
      if (current.protocol === 'https:' && next.protocol === 'http:' && !this.insecure.has(next)) {
        throw new RegistryError(`${safeUrl(current)}: refusing redirect from https to plain http ${safeUrl(next)} (mark the host insecure to allow it)`, { code: CODES.redirect });
      }
      if (next.origin !== current.origin) {
        // Blob storage (S3, a CDN) authenticates with its signed URL, never our registry credentials.
        const { authorization: _drop, ...rest } = headers;
        headers = rest;
      }
      current = next;
    }
  }

  async close(): Promise<void> {
    // destroy, not close: close waits for bodies nobody reads any more (an abandoned stream).
    await Promise.all([this.verified.destroy(), this.unverified.destroy()]);
  }
}

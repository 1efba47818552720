// The distribution API for one repository: GET manifests and blobs from the configured
// mirrors, then the registry itself, with authentication, https->http fallback for insecure
// hosts, retries, and registry answers turned into errors people can act on.
import { AbortedError, AuthError, GrootError, ImageNotFoundError, RegistryError } from '../errors/index.js';
import type { DockerSourceRef } from '../image/source-ref.js';
import { logger } from '../log/index.js';
import { AUTH_FAILED, type Authenticator, type DenyReason } from './auth.js';
import { normalizeHost } from './credentials.js';
import { CODES, HttpStatusError, describe, errCode, isCertError, isRetryableStatus, isTimeout, isTlsProtocolError, isUnreachable, parseRetryAfter, safeUrl } from './net-errors.js';
import type { LearnedScheme, Tuning } from './options.js';
import { withRetry } from './retry.js';
import { drain, header, readBody, type HttpResponse, type Transport } from './transport.js';

const log = logger('registry');

export interface Endpoint {
  /** host[:port]: what auth, credentials and the insecure list key on. */
  host: string;
  /** Base URL (with any path prefix) when the scheme is fixed, as for a mirror given as a URL. */
  base?: URL;
  mirror: boolean;
}

export interface GetOptions {
  accept?: string;
  /** Ask for the bytes from this offset on (Range: bytes=N-). */
  offset?: number;
  signal?: AbortSignal;
  /** "manifest latest", "blob sha256:…": for messages. */
  what: string;
  kind: 'manifest' | 'blob';
}

const INSECURE_HINT = 'This registry is insecure. To pull images from this registry, please use the --insecure-registry option.';

/** Mirror list entries: "https://host[/prefix]", "http://host:port", or a bare "host[:port]". */
export function parseMirror(m: string): Endpoint {
  if (/^[a-z]+:\/\//i.test(m)) {
    const base = new URL(m);
    if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new RegistryError(`mirror ${safeUrl(base)}: want an http(s) URL`);
    base.pathname = base.pathname.replace(/\/+$/, '');
    return { host: base.host, base, mirror: true };
  }
  return { host: m.replace(/\/+$/, ''), mirror: true };
}

export class RegistryClient {
  /** Scheme that worked for an insecure host (https tried first, then http). */
  private readonly learnedScheme = new Map<string, 'https:' | 'http:'>();
  /** Insecure hosts that answered plain http in an earlier process: http tried first. */
  private readonly plainBefore = new Set<string>();
  readonly endpoints: Endpoint[];

  constructor(
    readonly source: string,
    readonly ref: DockerSourceRef,
    private readonly transport: Transport,
    private readonly authn: Authenticator,
    private readonly t: Tuning,
    mirrors: Record<string, string[]> = {},
    learned: LearnedScheme[] = [],
    plainHttpHosts: string[] = [],
  ) {
    // Plain http only ever for a host the operator marked insecure.
    for (const [host, scheme] of learned) if (scheme === 'https:' || transport.insecure.has(host)) this.learnedScheme.set(host, scheme);
    for (const host of plainHttpHosts) if (transport.insecure.has(host)) this.plainBefore.add(host);
    const key = normalizeHost(ref.registry);
    const list = Object.entries(mirrors).filter(([h]) => normalizeHost(h) === key).flatMap(([, l]) => l);
    this.endpoints = [...list.map(parseMirror), { host: ref.registry, mirror: false }];
  }

  /** The scheme found to work per host (https first, then http, for insecure ones). */
  knownSchemes(): LearnedScheme[] {
    return [...this.learnedScheme];
  }

  get scope(): string {
    return `repository:${this.ref.repository}:pull`;
  }

  /** A 2xx answer for `path` (under /v2/<repo>/) from the first endpoint that has it. */
  async get(path: string, o: GetOptions): Promise<HttpResponse> {
    for (const ep of this.endpoints) {
      try {
        return await this.getAt(ep, path, o);
      } catch (e) {
        if (o.signal?.aborted) throw new AbortedError(`${this.source}: aborted`, { cause: o.signal.reason });
        if (!ep.mirror) throw e;
        log.warn({ source: this.source, mirror: ep.base ? safeUrl(ep.base) : ep.host, what: o.what, error: describe(e) }, 'mirror failed, trying the next endpoint');
      }
    }
    throw new RegistryError(`${this.source}: no endpoint to ask`); // unreachable: the origin is always last
  }

  private async getAt(ep: Endpoint, path: string, o: GetOptions): Promise<HttpResponse> {
    const retries = ep.mirror ? Math.min(1, this.t.retries) : this.t.retries;
    try {
      return await withRetry(`${this.source}: ${o.what} from ${ep.host}`, this.t, o.signal, async () => {
        const { res, deny } = await this.exchange(ep, path, o);
        if (res.status >= 200 && res.status <= 299) return res;
        const detail = await errorDetail(res);
        if (isRetryableStatus(res.status)) {
          throw new HttpStatusError(`${this.source}: ${o.what}: registry ${ep.host} answered HTTP ${res.status}${detail}`, res.status, parseRetryAfter(header(res.headers, 'retry-after')));
        }
        throw this.statusError(ep, res.status, detail, o, deny);
      }, retries);
    } catch (e) {
      throw this.humanize(e, ep, o);
    }
  }

  /** One request at one endpoint: pick the scheme, authenticate (one challenge round). */
  private async exchange(ep: Endpoint, path: string, o: GetOptions): Promise<{ res: HttpResponse; deny?: DenyReason }> {
    const learned = this.learnedScheme.get(ep.host);
    const insecure = this.transport.insecure.has(ep.host);
    // A host that answered plain http before gets it first (saves the TLS attempt, ~15 ms of
    // every command); should it speak TLS now, the usual order follows (https, then http).
    const hinted = !ep.base && !learned && insecure && this.plainBefore.has(ep.host);
    const schemes: ('https:' | 'http:')[] = ep.base ? [ep.base.protocol as 'https:' | 'http:']
      : learned ? [learned] : hinted ? ['http:', 'https:', 'http:'] : insecure ? ['https:', 'http:'] : ['https:'];
    for (let i = 0; ; i++) {
      const url = ep.base ? new URL(`${ep.base.href.replace(/\/+$/, '')}/v2/${this.ref.repository}/${path}`)
        : new URL(`${schemes[i]}//${ep.host}/v2/${this.ref.repository}/${path}`);
      try {
        const r = await this.authorized(url, o);
        // A TLS server answers plain http with 400 (Go's, nginx's): the hint is stale.
        if (hinted && i === 0 && r.res.status === 400) {
          await drain(r.res);
          log.debug({ host: ep.host }, 'plain http answered 400 on an insecure registry that took it before, trying https');
          continue;
        }
        if (!ep.base && !learned) this.learnedScheme.set(ep.host, schemes[i]!);
        return r;
      } catch (e) {
        if (i + 1 >= schemes.length) throw e;
        if (hinted && i === 0 && !o.signal?.aborted && !isUnreachable(e)) {
          log.debug({ host: ep.host, error: describe(e) }, 'plain http failed on an insecure registry that took it before, trying https');
          continue;
        }
        // An insecure host that does not speak TLS: plain http next, as GrootFS/containerd do.
        if (isTlsProtocolError(e) || errCode(e) === 'ECONNRESET') {
          log.debug({ host: ep.host, error: describe(e) }, 'https failed on an insecure registry, trying http');
          continue;
        }
        throw e;
      }
    }
  }

  private async authorized(url: URL, o: GetOptions): Promise<{ res: HttpResponse; deny?: DenyReason }> {
    let sent = await this.authn.authorization(url, this.scope, o.signal);
    for (let round = 0; ; round++) {
      const headers: Record<string, string> = {};
      if (o.accept) headers.accept = o.accept;
      if (o.offset) headers.range = `bytes=${o.offset}-`;
      if (sent) headers.authorization = sent;
      const res = await this.transport.send(url, { headers, signal: o.signal });
      if (res.status !== 401) return { res };
      const outcome = this.authn.challenged(url, res.headers['www-authenticate'], this.scope, sent);
      if (round > 0 || !outcome.retry) return { res, deny: outcome.reason };
      await drain(res);
      sent = await this.authn.authorization(url, this.scope, o.signal);
    }
  }

  private notFound(): ImageNotFoundError {
    return new ImageNotFoundError(`${this.source} does not exist or you do not have permissions to see it.`);
  }

  private statusError(ep: Endpoint, status: number, detail: string, o: GetOptions, deny?: DenyReason): GrootError {
    if (status === 401 && deny === 'bad-credentials') return new AuthError(AUTH_FAILED);
    if (status === 401 || status === 403 || (status === 404 && o.kind === 'manifest')) return this.notFound();
    if (status === 404) return new RegistryError(`${this.source}: ${o.what} is missing from registry ${ep.host}${detail}`, { status });
    return new RegistryError(`${this.source}: ${o.what}: registry ${ep.host} answered HTTP ${status}${detail}`, { status });
  }

  /** Low-level failures as messages that say what to do; our own errors pass through. */
  private humanize(e: unknown, ep: Endpoint, o: GetOptions): unknown {
    const attempts = (e as { attempts?: number }).attempts;
    const tries = attempts && attempts > 1 ? ` (after ${attempts} attempts)` : '';
    if (e instanceof HttpStatusError) return new RegistryError(e.message + tries, { status: e.status, code: e.code, cause: e });
    if (e instanceof GrootError) return e;
    const where = `${this.source}: ${o.what} from ${ep.host}`;
    if (isCertError(e)) return new RegistryError(`${where}: TLS certificate not trusted (${describe(e)}). ${INSECURE_HINT}`, { code: CODES.tls, cause: e });
    if (isTlsProtocolError(e)) return new RegistryError(`${where}: TLS handshake failed; the registry may speak plain HTTP (${describe(e)}). ${INSECURE_HINT}`, { code: CODES.tls, cause: e });
    if (isTimeout(e)) return new RegistryError(`${where}: timed out${tries} (${describe(e)})`, { code: CODES.timeout, cause: e });
    return new RegistryError(`${where}: cannot reach the registry${tries} (${describe(e)})`, { code: CODES.unreachable, cause: e });
  }
}

/** " (MANIFEST_UNKNOWN: manifest unknown)" from a distribution error body, or "". */
async function errorDetail(res: HttpResponse): Promise<string> {
  try {
    const text = (await readBody(res, 64 * 1024, 'error body')).toString('utf8');
    const doc = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const parts = (doc.errors ?? []).slice(0, 3).map((x) => [x.code, x.message].filter((v) => typeof v === 'string' && v).join(': ')).filter(Boolean);
    return parts.length ? ` (${parts.join('; ').slice(0, 300)})` : '';
  } catch {
    return '';
  }
}

// Registry authentication (distribution "token" spec): learn the scheme from a 401's
// WWW-Authenticate challenge, then send Basic credentials or a bearer token fetched from
// the challenge's realm. Tokens are cached per (realm, service, scope, host) until they expire,
// and concurrent requests for the same token share one fetch.
import { AuthError, RegistryError } from '../errors/index.js';
import { logger } from '../log/index.js';
import type { HostCredentials } from './credentials.js';
import { CODES, HttpStatusError, parseRetryAfter, safeUrl } from './net-errors.js';
import type { Tuning } from './options.js';
import { withRetry } from './retry.js';
import { drain, header, readBody, type Transport } from './transport.js';

const log = logger('registry');

export interface Challenge { scheme: string; params: Record<string, string> }

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/** Parse WWW-Authenticate (RFC 7235): `Bearer realm="...",service="...", Basic realm="..."`. */
export function parseChallenges(value: string | string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  for (const v of Array.isArray(value) ? value : value ? [value] : []) {
    let i = 0;
    let cur: Challenge | undefined;
    const word = () => { const s = i; while (i < v.length && TOKEN.test(v[i]!)) i++; return v.slice(s, i); };
    const spaces = () => { while (v[i] === ' ' || v[i] === '\t') i++; };
    while (i < v.length) {
      while (v[i] === ' ' || v[i] === '\t' || v[i] === ',') i++;
      const w = word();
      if (!w) { i++; continue; }
      spaces();
      if (v[i] === '=' && (v[i + 1] === '=' || i + 1 >= v.length)) {
        // token68 ("Negotiate abc=="): nothing we use.
        while (v[i] === '=') i++;
      } else if (v[i] === '=' && cur) {
        i++;
        spaces();
        let val = '';
        if (v[i] === '"') {
          i++;
          while (i < v.length && v[i] !== '"') { if (v[i] === '\\') i++; val += v[i] ?? ''; i++; }
          i++;
        } else {
          val = word();
        }
        cur.params[w.toLowerCase()] = val;
      } else if (v[i] === '=') {
        // token68 or a parameter before any scheme: nothing we use.
        while (v[i] === '=') i++;
      } else {
        cur = { scheme: w.toLowerCase(), params: {} };
        out.push(cur);
      }
    }
  }
  return out;
}

export function basicAuthorization(c: HostCredentials): string {
  return 'Basic ' + Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64');
}

type HostScheme = { kind: 'basic' } | { kind: 'bearer'; realm: string; service?: string };

/** Why the registry keeps saying 401. */
export type DenyReason = 'no-credentials' | 'bad-credentials' | 'no-access' | 'no-challenge';

export interface ChallengeOutcome { retry: boolean; reason: DenyReason }

export const AUTH_FAILED = 'authorization failed: username and password are invalid';

/** What an Authenticator learned (schemes, unexpired tokens), for another thread's to start with. */
export interface AuthState {
  schemes: [host: string, scheme: HostScheme][];
  tokens: [key: string, token: { value: string; expiresAt: number }][];
}

export class Authenticator {
  private readonly schemes = new Map<string, HostScheme>();
  private readonly tokens = new Map<string, { value: string; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<string>>();
  /** Token fetches made, for tests and metrics. */
  tokenFetches = 0;

  constructor(
    private readonly transport: Transport,
    private readonly credentials: (host: string) => HostCredentials | undefined,
    private readonly t: Tuning,
    private readonly now: () => number = Date.now,
  ) {}

  exportState(): AuthState {
    const now = this.now();
    return { schemes: [...this.schemes], tokens: [...this.tokens].filter(([, t]) => t.expiresAt > now) };
  }

  importState(s: AuthState): void {
    for (const [host, scheme] of s.schemes) if (!this.schemes.has(host)) this.schemes.set(host, scheme);
    for (const [key, tok] of s.tokens) if (!this.tokens.has(key)) this.tokens.set(key, tok);
  }

  /** The Authorization header for a request to `url`, from what earlier challenges taught. */
  async authorization(url: URL, scope: string, signal?: AbortSignal): Promise<string | undefined> {
    const s = this.schemes.get(url.host);
    if (!s) return undefined;
    if (s.kind === 'basic') {
      const c = this.credentials(url.host);
      return c?.username !== undefined ? basicAuthorization(c) : undefined;
    }
    return 'Bearer ' + await this.token(url.host, s, scope, signal);
  }

  /** Learn from a 401. `sent` is the Authorization header the registry refused, if any. */
  challenged(url: URL, wwwAuthenticate: string | string[] | undefined, scope: string, sent: string | undefined): ChallengeOutcome {
    const challenges = parseChallenges(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    const basic = challenges.find((c) => c.scheme === 'basic');
    const creds = this.credentials(url.host);
    if (bearer) {
      const s: HostScheme = { kind: 'bearer', realm: bearer.params.realm!, ...(bearer.params.service !== undefined ? { service: bearer.params.service } : {}) };
      this.schemes.set(url.host, s);
      // A refused token is expired, revoked or short of access: drop it so the next request asks afresh.
      if (sent?.startsWith('Bearer ')) this.tokens.delete(this.tokenKey(url.host, s, scope));
      return { retry: true, reason: 'no-access' };
    }
    if (basic) {
      if (creds?.username === undefined) return { retry: false, reason: 'no-credentials' };
      if (sent?.startsWith('Basic ')) return { retry: false, reason: 'bad-credentials' };
      this.schemes.set(url.host, { kind: 'basic' });
      return { retry: true, reason: 'bad-credentials' };
    }
    return { retry: false, reason: creds ? 'no-challenge' : 'no-credentials' };
  }

  private tokenKey(host: string, s: { realm: string; service?: string }, scope: string): string {
    return `${s.realm}\n${s.service ?? ''}\n${scope}\n${host}`;
  }

  private async token(host: string, s: { realm: string; service?: string }, scope: string, signal?: AbortSignal): Promise<string> {
    const key = this.tokenKey(host, s, scope);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > this.now()) return cached.value;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetchToken(host, s, scope, signal).then((tok) => {
        this.tokens.set(key, tok);
        return tok.value;
      }).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async fetchToken(host: string, s: { realm: string; service?: string }, scope: string, signal?: AbortSignal): Promise<{ value: string; expiresAt: number }> {
    let realm: URL;
    try {
      realm = new URL(s.realm);
    } catch {
      throw new RegistryError(`registry ${host}: auth challenge has an invalid realm ${JSON.stringify(s.realm)}`);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new RegistryError(`registry ${host}: auth realm ${safeUrl(realm)} is not http(s)`);
    const creds = this.credentials(host);
    const withCreds = creds?.username !== undefined || creds?.identityToken !== undefined;
    if (withCreds && realm.protocol === 'http:' && !this.transport.insecure.has(realm)) {
      throw new AuthError(`registry ${host}: refusing to send credentials to token server ${safeUrl(realm)} over plain http (mark ${realm.host} as an insecure registry to allow it)`);
    }
    const what = `token for ${host} from ${safeUrl(realm)}`;
    return withRetry(what, this.t, signal, async () => {
      this.tokenFetches++;
      let res;
      if (creds?.identityToken) {
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'groot', scope });
        if (s.service !== undefined) form.set('service', s.service);
        res = await this.transport.send(realm, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(), signal });
      } else {
        const u = new URL(realm);
        if (s.service !== undefined) u.searchParams.set('service', s.service);
        u.searchParams.append('scope', scope);
        if (creds?.username) u.searchParams.set('account', creds.username);
        res = await this.transport.send(u, { headers: creds?.username !== undefined ? { authorization: basicAuthorization(creds) } : {}, signal });
      }
      if (res.status === 401 || res.status === 403) {
        await drain(res);
        log.info({ host, realm: safeUrl(realm), status: res.status, withCredentials: withCreds }, 'token server refused');
        throw new AuthError(withCreds ? AUTH_FAILED : `authorization failed: registry ${host} needs credentials (token server ${safeUrl(realm)} refused an anonymous token)`);
      }
      if (res.status < 200 || res.status > 299) {
        await drain(res);
        throw new HttpStatusError(`${what}: token server answered HTTP ${res.status}`, res.status, parseRetryAfter(header(res.headers, 'retry-after')));
      }
      const body = await readBody(res, 1 << 20, what);
      let doc: Record<string, unknown>;
      try {
        doc = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new RegistryError(`${what}: token server answer is not JSON`, { code: CODES.http });
      }
      const value = typeof doc.token === 'string' && doc.token ? doc.token : doc.access_token;
      if (typeof value !== 'string' || !value) throw new RegistryError(`${what}: token server answer has no token`, { code: CODES.http });
      // The spec's default lifetime is 60 s; renew a little early so a token never expires in flight.
      const lifetime = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60;
      log.debug({ host, realm: safeUrl(realm), scope, lifetime }, 'got registry token');
      return { value, expiresAt: this.now() + lifetime * 1000 * 0.9 };
    });
  }
}

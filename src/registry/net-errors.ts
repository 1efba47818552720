// What a failed request means: worth retrying, a TLS problem, a time-out. Node and undici
// report these as error codes; registries as HTTP statuses.
import { RegistryError } from '../errors/index.js';

/** Stable codes of the RegistryErrors this client raises. */
export const CODES = {
  http: 'GROOT_REGISTRY',
  unreachable: 'GROOT_REGISTRY_UNREACHABLE',
  timeout: 'GROOT_REGISTRY_TIMEOUT',
  tls: 'GROOT_REGISTRY_TLS',
  rateLimited: 'GROOT_REGISTRY_RATE_LIMITED',
  redirect: 'GROOT_REGISTRY_REDIRECT',
} as const;

const CONNECTION_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_INFO',
]);

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

// Nothing answers at that address (whatever the scheme).
const NO_PEER_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN']);

// Certificate checks that failed: the peer speaks TLS but we do not trust it.
const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE', 'INVALID_CA',
]);

export function errCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown })?.code;
  if (typeof c === 'string') return c;
  const cause = (e as { cause?: unknown })?.cause;
  return cause && cause !== e ? errCode(cause) : undefined;
}

/** The peer's certificate was not trusted. */
export function isCertError(e: unknown): boolean {
  return CERT_CODES.has(errCode(e) ?? '');
}

/** The TLS handshake itself failed, typically because the peer speaks plain HTTP. */
export function isTlsProtocolError(e: unknown): boolean {
  const c = errCode(e) ?? '';
  return c.startsWith('ERR_SSL_') || c === 'EPROTO' || /wrong version number|packet length too long|unknown protocol/i.test((e as Error)?.message ?? '');
}

export function isTimeout(e: unknown): boolean {
  return TIMEOUT_CODES.has(errCode(e) ?? '');
}

/** The host did not answer at all (refused, no route, no name, timed out): another scheme would meet the same. */
export function isUnreachable(e: unknown): boolean {
  return isTimeout(e) || NO_PEER_CODES.has(errCode(e) ?? '');
}

/** An HTTP status the registry answered with, kept for retry decisions and messages. */
export class HttpStatusError extends RegistryError {
  readonly retryAfterMs?: number;
  constructor(message: string, status: number, retryAfterMs?: number) {
    super(message, { status, code: status === 429 ? CODES.rateLimited : CODES.http });
    this.retryAfterMs = retryAfterMs;
  }
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

/** Worth another attempt: a dropped or timed-out connection, a 5xx, a 429. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof HttpStatusError) return e.status !== undefined && isRetryableStatus(e.status);
  if (isCertError(e) || isTlsProtocolError(e)) return false;
  return CONNECTION_CODES.has(errCode(e) ?? '');
}

/** Retry-After: delta-seconds or an HTTP date. Undefined when absent or unreadable. */
export function parseRetryAfter(v: string | string[] | undefined, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  if (/^\s*\d+\s*$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** A URL fit for messages and logs: no query (signed blob URLs carry secrets there), no userinfo. */
export function safeUrl(u: URL | string): string {
  const url = typeof u === 'string' ? new URL(u) : u;
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** A short description of a low-level error, without anything request-specific. */
export function describe(e: unknown): string {
  const code = errCode(e);
  let msg = (e as Error)?.message ?? String(e);
  // OpenSSL's "8060...:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:file.c:350:" -> the reason.
  const ssl = /routines:[^:]*:([^:]+):/.exec(msg);
  if (ssl) msg = ssl[1]!;
  if (code && !msg.includes(code)) return `${msg} (${code})`;
  return msg;
}

// Registry client options: the engine's SourceOptions plus transport tuning (time-outs,
// retries) that tests and operators may change. Defaults suit a registry on a WAN.
import type { SourceOptions } from '../image/types.js';
import type { AuthState } from './auth.js';

export interface RegistryTuning {
  /** Attempts after the first one, per request (and per resume of a blob). */
  retries?: number;
  /** First back-off delay; doubles per attempt (with jitter) up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A Retry-After longer than this is not waited for: the request fails instead. */
  maxRetryAfterMs?: number;
  /** Time to wait for response headers once a request is sent. */
  headersTimeoutMs?: number;
  /** Longest silence allowed between two chunks of a response body. */
  bodyTimeoutMs?: number;
  connectTimeoutMs?: number;
  userAgent?: string;
}

/** The scheme a host was found to answer on (https first, then http for an insecure one). */
export type LearnedScheme = [host: string, scheme: 'https:' | 'http:'];

/**
 * What a registry source learned, handed to the source another thread opens for the same
 * pull (ImageSource.portable), so it asks for no token and tries no scheme again. Internal.
 */
export interface RegistryHandover {
  auth?: AuthState;
  schemes?: LearnedScheme[];
}

export type RegistryOptions = SourceOptions & RegistryTuning & { handover?: RegistryHandover };

export type Tuning = Required<RegistryTuning>;

export function tuningOf(o: RegistryTuning): Tuning {
  return {
    retries: o.retries ?? 5,
    backoffMs: o.backoffMs ?? 250,
    maxBackoffMs: o.maxBackoffMs ?? 10_000,
    maxRetryAfterMs: o.maxRetryAfterMs ?? 60_000,
    headersTimeoutMs: o.headersTimeoutMs ?? 30_000,
    bodyTimeoutMs: o.bodyTimeoutMs ?? 30_000,
    connectTimeoutMs: o.connectTimeoutMs ?? 15_000,
    userAgent: o.userAgent ?? 'groot/0.1',
  };
}

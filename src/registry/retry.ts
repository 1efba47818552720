// Retries with exponential back-off and jitter; a registry's Retry-After wins over the back-off.
import { AbortedError } from '../errors/index.js';
import { logger } from '../log/index.js';
import { HttpStatusError, describe, isRetryable } from './net-errors.js';
import type { Tuning } from './options.js';

const log = logger('registry');

export function backoffDelay(attempt: number, t: Pick<Tuning, 'backoffMs' | 'maxBackoffMs'>): number {
  const full = Math.min(t.maxBackoffMs, t.backoffMs * 2 ** attempt);
  return full / 2 + Math.random() * (full / 2);
}

/** The delay before attempt `attempt + 1`, or undefined when `e` should not be retried. */
export function retryDelay(e: unknown, attempt: number, t: Tuning): number | undefined {
  if (!isRetryable(e)) return undefined;
  const after = e instanceof HttpStatusError ? e.retryAfterMs : undefined;
  if (after !== undefined) return after > t.maxRetryAfterMs ? undefined : after;
  return backoffDelay(attempt, t);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(new AbortedError('aborted', { cause: signal.reason })); return; }
    const onAbort = () => { clearTimeout(timer); reject(new AbortedError('aborted', { cause: signal!.reason })); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Run `fn` until it succeeds, fails with something not worth retrying, or runs out of attempts.
 * The last error is thrown as is; `attempts` (1-based) is stamped on it for messages.
 */
export async function withRetry<T>(what: string, t: Tuning, signal: AbortSignal | undefined, fn: (attempt: number) => Promise<T>, retries = t.retries): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (signal?.aborted) throw new AbortedError(`${what}: aborted`, { cause: signal.reason });
      const delay = attempt < retries ? retryDelay(e, attempt, t) : undefined;
      if (delay === undefined) {
        if (e && typeof e === 'object') (e as { attempts?: number }).attempts = attempt + 1;
        throw e;
      }
      log.info({ what, attempt: attempt + 1, delayMs: Math.round(delay), error: describe(e) }, 'registry request failed, retrying');
      await sleep(delay, signal);
    }
  }
}

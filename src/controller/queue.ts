// A keyed work queue in the style of client-go's workqueue:
// - a key is queued at most once (events for one object coalesce) and is never worked on
//   by two workers at once (an add while it runs re-queues it after);
// - failures re-queue with per-key exponential backoff, and all rate-limited re-adds share
//   one token bucket (the larger of the two delays wins);
// - each key belongs to a class (Image pulls, RootFS operations) with its own concurrency;
// - shutdown stops taking work and waits for in-flight work up to a deadline, then aborts it.
import { logger } from '../log/index.js';

const log = logger('queue');

export interface Result { requeueAfter?: number }
export type Reconcile = (key: string, signal: AbortSignal) => Promise<Result | void>;

export interface QueueOptions {
  reconcile: Reconcile;
  /** Class of a key -> max concurrent reconciles of that class. */
  concurrency: Record<string, number>;
  classOf: (key: string) => string;
  /** Per-key backoff: base * 2^failures, capped. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Overall rate limit on re-adds after failure. */
  qps?: number;
  burst?: number;
  onError?: (key: string, err: unknown, failures: number) => void;
  onDone?: (key: string, ms: number, err?: unknown) => void;
}

export class WorkQueue {
  private readonly pending = new Map<string, string[]>();
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly active = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; t: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private tokens: number;
  private lastRefill = Date.now();
  private stopping = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: QueueOptions) {
    this.tokens = opts.burst ?? 100;
    for (const c of Object.keys(opts.concurrency)) { this.pending.set(c, []); this.active.set(c, 0); }
  }

  /** Queue a key now. No-op if it is already queued; re-queued after if it is running. */
  add(key: string): void {
    if (this.stopping || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.queueFor(key).push(key);
    this.pump();
  }

  /** Queue a key after a delay; an earlier pending delay for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopping) return;
    if (ms <= 0) { this.add(key); return; }
    const at = Date.now() + ms;
    const cur = this.timers.get(key);
    if (cur && cur.at <= at) return;
    if (cur) clearTimeout(cur.t);
    const t = setTimeout(() => { this.timers.delete(key); this.add(key); }, ms);
    t.unref?.();
    this.timers.set(key, { at, t });
  }

  /** Queue after the larger of the key's backoff and the overall rate limit. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const base = this.opts.baseDelayMs ?? 5;
    const max = this.opts.maxDelayMs ?? 300_000;
    const delay = Math.max(Math.min(base * 2 ** n, max), this.bucketDelay());
    this.addAfter(key, delay);
    return delay;
  }

  /** Reset a key's backoff (after a success). */
  forget(key: string): void { this.failures.delete(key); }

  failuresOf(key: string): number { return this.failures.get(key) ?? 0; }

  /** Keys ready to be worked on (not running, not waiting on a timer). */
  depth(): number {
    let n = 0;
    for (const q of this.pending.values()) n += q.length;
    return n;
  }

  /** Keys waiting on a timer (requeueAfter or backoff). */
  delayed(): number { return this.timers.size; }

  running(): number { return this.processing.size; }

  get signal(): AbortSignal { return this.abort.signal; }

  /** Resolves when nothing is queued or running (timers may still be pending). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /**
   * Stop taking work, drop what is queued, wait for in-flight reconciles up to `deadlineMs`,
   * then abort them (their signal fires) and wait for them to unwind.
   * Returns how many had to be aborted.
   */
  async shutdown(deadlineMs = 30_000): Promise<number> {
    this.stopping = true;
    for (const { t } of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const q of this.pending.values()) q.length = 0;
    this.dirty.clear();
    if (this.inflight.size === 0) return 0;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), deadlineMs); });
    const all = Promise.allSettled([...this.inflight]).then(() => 'done' as const);
    const first = await Promise.race([all, deadline]);
    clearTimeout(timer);
    if (first === 'done') return 0;
    const n = this.inflight.size;
    log.warn({ inflight: n }, 'shutdown deadline passed: aborting in-flight work');
    this.abort.abort();
    await all;
    return n;
  }

  private queueFor(key: string): string[] {
    const c = this.opts.classOf(key);
    let q = this.pending.get(c);
    if (!q) { q = []; this.pending.set(c, q); this.active.set(c, 0); }
    return q;
  }

  private bucketDelay(): number {
    const qps = this.opts.qps ?? 10;
    const burst = this.opts.burst ?? 100;
    const now = Date.now();
    this.tokens = Math.min(burst, this.tokens + ((now - this.lastRefill) / 1000) * qps);
    this.lastRefill = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / qps) * 1000);
  }

  private pump(): void {
    if (this.stopping) return;
    for (const [c, q] of this.pending) {
      const limit = this.opts.concurrency[c] ?? 1;
      while (q.length && (this.active.get(c) ?? 0) < limit) {
        const key = q.shift()!;
        this.dirty.delete(key);
        this.processing.add(key);
        this.active.set(c, (this.active.get(c) ?? 0) + 1);
        const p = this.run(key, c);
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
      }
    }
  }

  private async run(key: string, cls: string): Promise<void> {
    const t0 = Date.now();
    try {
      const res = await this.opts.reconcile(key, this.abort.signal);
      this.forget(key);
      this.opts.onDone?.(key, Date.now() - t0);
      if (res?.requeueAfter !== undefined && res.requeueAfter >= 0) this.addAfter(key, res.requeueAfter);
    } catch (err) {
      this.opts.onDone?.(key, Date.now() - t0, err);
      if (!this.stopping) {
        const failures = (this.failures.get(key) ?? 0) + 1;
        const delay = this.addRateLimited(key);
        this.opts.onError?.(key, err, failures);
        log.debug({ key, delay, failures }, 'reconcile failed; retrying with backoff');
      }
    } finally {
      this.processing.delete(key);
      this.active.set(cls, (this.active.get(cls) ?? 1) - 1);
      if (this.dirty.has(key) && !this.stopping) this.queueFor(key).push(key);
      this.pump();
      if (this.isIdle()) { const w = this.idleWaiters; this.idleWaiters = []; for (const r of w) r(); }
    }
  }

  private isIdle(): boolean {
    return this.processing.size === 0 && this.depth() === 0;
  }
}

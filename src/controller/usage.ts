// RootFS usage, measured off the reconcile path: engine.stats is not free (a tree walk
// without a quota backend, and store-wide accounting), so one measurement at a time,
// spread evenly over the usage period, with just-made root filesystems measured first.
// Creates and deletes never wait behind usage refreshes.
import { READY, getCondition, parseKey, type RootFS, type RootFSStatus } from '../api/index.js';
import { messageOf } from '../errors/index.js';
import { logger } from '../log/index.js';
import type { ReconcileContext } from './context.js';
import { rootfsId } from './records.js';

const log = logger('usage');

export class UsageRefresher {
  private order: string[] = [];
  private next = 0;
  private readonly soon: string[] = [];
  private readonly soonSet = new Set<string>();
  private readonly totals = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private current?: Promise<void>;

  constructor(private readonly ctx: ReconcileContext) {}

  start(): void { this.schedule(0); }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.current;
  }

  measureSoon(key: string): void {
    if (this.soonSet.has(key)) return;
    this.soonSet.add(key);
    this.soon.push(key);
    if (this.soon.length === 1 && !this.current) this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.current = this.tick().finally(() => { this.current = undefined; }); }, ms);
    this.timer.unref?.();
  }

  private pick(): string | undefined {
    const k = this.soon.shift();
    if (k) { this.soonSet.delete(k); return k; }
    if (this.next >= this.order.length) {
      this.order = this.ctx.source.list('RootFS').map((o) => `RootFS/${o.metadata.namespace ?? 'default'}/${o.metadata.name}`);
      this.next = 0;
    }
    return this.order[this.next++];
  }

  private async tick(): Promise<void> {
    const key = this.pick();
    if (key) {
      try { await this.measure(key); } catch (e) { log.debug({ key, err: messageOf(e) }, 'usage not measured'); }
    }
    const count = Math.max(1, this.ctx.source.list('RootFS').length);
    this.schedule(this.soon.length ? 0 : Math.max(10, this.ctx.settings.usageMs / count));
  }

  private async measure(key: string): Promise<void> {
    const { source, statuses, engine, records } = this.ctx;
    const obj = source.get(key) as RootFS | undefined;
    if (!obj || obj.metadata.deletionTimestamp) { this.totals.delete(key); return; }
    if (getCondition(statuses.get<RootFSStatus>(obj)?.conditions, READY)?.status !== 'True') return;
    const id = rootfsId(parseKey(key));
    if (!(await records.getRootfs(id))) return; // not ours (yet)
    const s = await engine.stats(id);
    const usage = { totalBytesUsed: s.totalBytesUsed, exclusiveBytesUsed: s.exclusiveBytesUsed, quotaSizeBytes: s.quotaSizeBytes };
    this.totals.set(key, s.totalBytesUsed);
    let sum = 0;
    for (const v of this.totals.values()) sum += v;
    this.ctx.metrics.rootfsUsageBytes.set(sum);
    await statuses.update(obj, (cur) => {
      const c = (cur ?? {}) as RootFSStatus;
      if (JSON.stringify(c.usage) === JSON.stringify(usage)) return undefined; // unchanged: no write
      return { ...c, usage, lastUsageTime: new Date().toISOString() };
    });
  }
}

// The controller: one work queue fed by a source, two reconcilers, start-up repair,
// periodic resync and garbage collection.
import { KINDS, READY, getCondition, imageRefKind, keyOf, parseKey, type RootFS } from '../api/index.js';
import type { Engine } from '../rootfs/types.js';
import { messageOf } from '../errors/index.js';
import { logger } from '../log/index.js';
import { WorkQueue } from './queue.js';
import type { Change, Source } from './source.js';
import { StatusStore } from './status-store.js';
import { Records } from './records.js';
import { Metrics } from './metrics.js';
import { DEFAULT_SETTINGS, type ReconcileContext, type ReconcileSettings } from './context.js';
import { ImageReconciler } from './reconcile-image.js';
import { RootfsReconciler } from './reconcile-rootfs.js';
import { UsageRefresher } from './usage.js';
import { TRUST_ALL, restrictedPolicy, type SourcePolicyOptions } from './source-policy.js';

const log = logger('controller');

export interface ControllerOptions {
  engine: Engine;
  source: Source;
  settings?: Partial<ReconcileSettings>;
  /** Concurrent Image pulls. */
  pullConcurrency?: number;
  /** Concurrent RootFS operations. */
  rootfsConcurrency?: number;
  /** Run engine.clean when the store's use passes this many bytes; undefined: no automatic GC. */
  gcThresholdBytes?: number;
  gcIntervalMs?: number;
  /**
   * What objects from a source that is not the operator's own (Kubernetes) may name.
   * Default: no local sources, no insecure registries. Drop-in objects may name anything.
   */
  sourcePolicy?: SourcePolicyOptions;
  /** Also export Node.js process metrics (the CLI does; tests don't). */
  processMetrics?: boolean;
  queue?: { baseDelayMs?: number; maxDelayMs?: number; qps?: number; burst?: number };
}

export class Controller {
  readonly metrics: Metrics;
  readonly statuses: StatusStore;
  readonly records: Records;
  readonly queue: WorkQueue;
  readonly settings: ReconcileSettings;
  private readonly images: ImageReconciler;
  private readonly rootfses: RootfsReconciler;
  private readonly usage: UsageRefresher;
  private readonly timers: NodeJS.Timeout[] = [];
  private isReady = false;
  /** Changes are queued from the moment start-up repair takes its snapshot. */
  private accepting = false;
  private stopped = false;
  private started?: Promise<void>;
  private gcRunning = false;

  constructor(private readonly opts: ControllerOptions) {
    const { engine, source } = opts;
    this.settings = { ...DEFAULT_SETTINGS, ...opts.settings };
    this.records = new Records(engine.storePath);
    this.statuses = new StatusStore(source.status);
    this.metrics = new Metrics({ storePath: engine.storePath, defaults: opts.processMetrics, queue: () => this.queue, objectCounts: () => this.objectCounts() });
    this.queue = new WorkQueue({
      reconcile: (key, signal) => this.reconcile(key, signal),
      concurrency: { Image: opts.pullConcurrency ?? 2, RootFS: opts.rootfsConcurrency ?? 4 },
      classOf: (key) => key.slice(0, key.indexOf('/')),
      ...opts.queue,
      onError: (key, err, failures) => {
        this.metrics.reconcileErrors.inc({ kind: key.slice(0, key.indexOf('/')) });
        (failures >= 3 ? log.warn : log.info).call(log, { key, failures, err: messageOf(err) }, 'reconcile failed; will retry');
      },
      onDone: (key, ms, err) => {
        const kind = key.slice(0, key.indexOf('/'));
        this.metrics.reconcileTotal.inc({ kind, result: err ? 'error' : 'success' });
        this.metrics.reconcileDuration.observe({ kind }, ms / 1000);
      },
    });
    const ctx: ReconcileContext = {
      engine, source, statuses: this.statuses, records: this.records, metrics: this.metrics, settings: this.settings,
      policy: source.operatorOwned ? TRUST_ALL : restrictedPolicy(opts.sourcePolicy),
      enqueue: (key) => this.queue.add(key),
      measureUsageSoon: (key) => this.usage.measureSoon(key),
    };
    this.usage = new UsageRefresher(ctx);
    this.images = new ImageReconciler(ctx, (imageKey) => this.enqueueDependents(imageKey));
    this.rootfses = new RootfsReconciler(ctx);
  }

  /** Start watching; reconciling begins once the source has listed everything once. */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.opts.source.start((c) => this.onChange(c));
      void this.afterSync();
    })();
    return this.started;
  }

  /** True once the first complete list is in and start-up repair has been queued. */
  ready(): boolean { return this.isReady && !this.stopped; }

  /** Resolves when the queue has nothing ready or running (delayed keys may remain). */
  whenIdle(): Promise<void> { return this.queue.whenIdle(); }

  /** Stop taking work; wait for in-flight work up to the deadline, then abort it. */
  async stop(deadlineMs = 30_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.usage.stop();
    const aborted = await this.queue.shutdown(deadlineMs);
    if (aborted) log.warn({ aborted }, 'in-flight work aborted at shutdown; the engine rolls it back');
    await this.opts.source.stop();
  }

  private onChange(c: Change): void {
    if (!this.accepting) return; // before the first complete list, repair queues everything
    this.queue.add(c.key);
    if (c.object.kind === 'Image') this.enqueueDependents(c.key);
  }

  private async afterSync(): Promise<void> {
    const { source } = this.opts;
    while (!this.stopped && !(await source.waitForSync(5000))) {
      log.warn({ source: source.name }, 'waiting for a complete list of objects before reconciling (nothing is created or removed until then)');
    }
    if (this.stopped) return;
    await this.repair();
    this.isReady = true;
    this.usage.start();
    this.every(this.settings.resyncMs, () => this.resync());
    if (this.opts.gcThresholdBytes !== undefined) {
      this.every(this.opts.gcIntervalMs ?? 60_000, () => { void this.gc(); });
    }
  }

  /**
   * Start-up repair: reconcile every declared object (recreating or remounting what a
   * reboot or crash took) and every record of something we made whose object is gone
   * (those reconciles remove it: the source is synced, so absence is real).
   */
  private async repair(): Promise<void> {
    this.accepting = true;
    const keys = new Set(this.opts.source.list().map((o) => keyOf({ kind: o.kind, namespace: o.metadata.namespace ?? 'default', name: o.metadata.name })));
    let orphans = 0;
    try {
      for (const r of await this.records.listRootfs()) {
        const k = keyOf({ kind: 'RootFS', namespace: r.namespace, name: r.name });
        if (!keys.has(k)) { keys.add(k); orphans++; }
      }
      for (const r of await this.records.listImages()) {
        const k = keyOf({ kind: 'Image', namespace: r.namespace, name: r.name });
        if (!keys.has(k)) { keys.add(k); orphans++; }
      }
    } catch (e) {
      log.error({ err: messageOf(e) }, 'cannot read the controller records: orphans are not removed this time');
    }
    log.info({ objects: keys.size - orphans, orphans }, 'start-up: reconciling every object and every orphan');
    // Images first, so RootFS that wait for them find them Ready sooner.
    for (const kind of KINDS) for (const k of keys) if (k.startsWith(`${kind}/`)) this.queue.add(k);
  }

  private resync(): void {
    for (const o of this.opts.source.list()) this.queue.add(keyOf({ kind: o.kind, namespace: o.metadata.namespace ?? 'default', name: o.metadata.name }));
  }

  /** RootFS objects that name this Image (same namespace) and are not Ready yet. */
  private enqueueDependents(imageKey: string): void {
    const ref = parseKey(imageKey);
    for (const o of this.opts.source.list('RootFS') as RootFS[]) {
      if ((o.metadata.namespace ?? 'default') !== ref.namespace || o.spec?.image !== ref.name || imageRefKind(o.spec.image) !== 'name') continue;
      const st = this.statuses.get(o);
      if (getCondition(st?.conditions, READY)?.status === 'True') continue;
      this.queue.add(keyOf({ kind: 'RootFS', namespace: ref.namespace, name: o.metadata.name }));
    }
  }

  private async reconcile(key: string, signal: AbortSignal): Promise<{ requeueAfter?: number }> {
    return key.startsWith('Image/') ? this.images.reconcile(key, signal) : this.rootfses.reconcile(key, signal);
  }

  /** GC: the engine checks the threshold against its own accounting and skips below it. */
  async gc(): Promise<void> {
    if (this.gcRunning || this.opts.gcThresholdBytes === undefined) return;
    this.gcRunning = true;
    try {
      const res = await this.opts.engine.clean({ thresholdBytes: this.opts.gcThresholdBytes });
      this.metrics.gcRuns.inc({ result: res.skipped ? 'skipped' : 'cleaned' });
      if (!res.skipped) {
        this.metrics.gcFreedBytes.inc(res.freedBytes);
        log.info({ volumes: res.removedVolumes.length, images: res.removedImages.length, freedBytes: res.freedBytes }, 'garbage collected');
      }
    } catch (e) {
      this.metrics.gcRuns.inc({ result: 'failed' });
      log.warn({ err: messageOf(e) }, 'garbage collection failed');
    } finally {
      this.gcRunning = false;
    }
  }

  /** Objects by kind and Ready status (for the groot_objects gauge). */
  objectCounts(): { kind: string; ready: string; n: number }[] {
    const counts = new Map<string, number>();
    for (const o of this.opts.source.list()) {
      const ready = getCondition(this.statuses.get(o)?.conditions, READY)?.status ?? 'Unknown';
      const k = `${o.kind}|${ready}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return [...counts].map(([k, n]) => { const [kind, ready] = k.split('|'); return { kind: kind!, ready: ready!, n }; });
  }

  private every(ms: number, f: () => void): void {
    const t = setInterval(f, ms);
    t.unref?.();
    this.timers.push(t);
  }
}

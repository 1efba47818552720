// Prometheus metrics (prom-client), in a registry of our own so tests can make several.
import { statfs } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export interface QueueStats { depth(): number; delayed(): number; running(): number }

export class Metrics {
  readonly registry = new Registry();
  readonly pullDuration: Histogram<'result'>;
  readonly pullBytes: Counter;
  readonly unpackDuration: Histogram;
  readonly unpackBytes: Counter;
  readonly createDuration: Histogram<'result'>;
  readonly createBytes: Counter;
  readonly deleteDuration: Histogram<'result'>;
  readonly reconcileTotal: Counter<'kind' | 'result'>;
  readonly reconcileErrors: Counter<'kind'>;
  readonly reconcileDuration: Histogram<'kind'>;
  readonly gcRuns: Counter<'result'>;
  readonly gcFreedBytes: Counter;
  readonly objects: Gauge<'kind' | 'ready'>;
  readonly rootfsUsageBytes: Gauge;

  constructor(opts: { storePath: string; queue?: () => QueueStats | undefined; defaults?: boolean; objectCounts?: () => { kind: string; ready: string; n: number }[] }) {
    const r = this.registry;
    if (opts.defaults) collectDefaultMetrics({ register: r, prefix: 'groot_' });
    this.pullDuration = new Histogram({ name: 'groot_pull_duration_seconds', help: 'Time to pull an image (resolve, fetch and unpack missing layers)', labelNames: ['result'], buckets: DURATION_BUCKETS, registers: [r] });
    this.pullBytes = new Counter({ name: 'groot_pull_bytes_total', help: 'Compressed layer bytes fetched by pulls (cached layers not counted)', registers: [r] });
    this.unpackDuration = new Histogram({ name: 'groot_unpack_duration_seconds', help: 'Time from a layer starting to fetch to its volume being complete (fetch and unpack stream together)', buckets: DURATION_BUCKETS, registers: [r] });
    this.unpackBytes = new Counter({ name: 'groot_unpack_bytes_total', help: 'Unpacked bytes of images pulled by the controller', registers: [r] });
    this.createDuration = new Histogram({ name: 'groot_create_duration_seconds', help: 'Time to create (and mount) a root filesystem', labelNames: ['result'], buckets: DURATION_BUCKETS, registers: [r] });
    this.createBytes = new Counter({ name: 'groot_create_bytes_total', help: 'Disk limit bytes granted to root filesystems created', registers: [r] });
    this.deleteDuration = new Histogram({ name: 'groot_delete_duration_seconds', help: 'Time to unmount and remove a root filesystem', labelNames: ['result'], buckets: DURATION_BUCKETS, registers: [r] });
    this.reconcileTotal = new Counter({ name: 'groot_reconcile_total', help: 'Reconciles by kind and result', labelNames: ['kind', 'result'], registers: [r] });
    this.reconcileErrors = new Counter({ name: 'groot_reconcile_errors_total', help: 'Reconciles that failed (and were retried with backoff)', labelNames: ['kind'], registers: [r] });
    this.reconcileDuration = new Histogram({ name: 'groot_reconcile_duration_seconds', help: 'Reconcile time by kind', labelNames: ['kind'], buckets: DURATION_BUCKETS, registers: [r] });
    this.gcRuns = new Counter({ name: 'groot_gc_runs_total', help: 'Garbage collection runs by result (cleaned, skipped, failed)', labelNames: ['result'], registers: [r] });
    this.gcFreedBytes = new Counter({ name: 'groot_gc_freed_bytes_total', help: 'Bytes garbage collection freed', registers: [r] });
    this.rootfsUsageBytes = new Gauge({ name: 'groot_rootfs_usage_bytes', help: 'Sum of root filesystem usage last measured (bytes)', registers: [r] });
    const counts = opts.objectCounts;
    this.objects = new Gauge({
      name: 'groot_objects', help: 'Declared objects by kind and Ready status', labelNames: ['kind', 'ready'], registers: [r],
      collect() { this.reset(); for (const c of counts?.() ?? []) this.set({ kind: c.kind, ready: c.ready }, c.n); },
    });
    const queue = opts.queue;
    new Gauge({
      name: 'groot_queue_depth', help: 'Work queue keys: ready (waiting for a worker), delayed (backoff or requeueAfter), running', labelNames: ['state'], registers: [r],
      collect() {
        const q = queue?.();
        this.set({ state: 'ready' }, q?.depth() ?? 0);
        this.set({ state: 'delayed' }, q?.delayed() ?? 0);
        this.set({ state: 'running' }, q?.running() ?? 0);
      },
    });
    const store = opts.storePath;
    new Gauge({
      name: 'groot_store_bytes', help: "The store filesystem's size and use (statfs)", labelNames: ['kind'], registers: [r],
      async collect() {
        try {
          const s = await statfs(store);
          this.set({ kind: 'capacity' }, s.blocks * s.bsize);
          this.set({ kind: 'used' }, (s.blocks - s.bfree) * s.bsize);
          this.set({ kind: 'available' }, s.bavail * s.bsize);
        } catch { /* store not there yet */ }
      },
    });
  }
}

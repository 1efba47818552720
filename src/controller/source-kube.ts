// Desired state from the Kubernetes API: list+watch Images and RootFSes labelled
// groot.dev/node=<node> with @kubernetes/client-node. Watches that end (timeout) are
// re-opened from the last resourceVersion; watches that fail or return 410 Gone are
// re-established after backoff with a fresh list (a list is complete by definition, so
// objects gone meanwhile are reported deleted). A periodic relist catches anything missed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { CoreV1Api, CustomObjectsApi, KubeConfig, Watch, ConfigurationOptions } from '@kubernetes/client-node';
import { FINALIZER, GROUP, KINDS, NODE_LABEL, PLURAL, VERSION, API_VERSION, objectKey, type AnyStatus, type GrootObject, type Image, type Kind, type ObjectRef } from '../api/index.js';
import { messageOf } from '../errors/index.js';
import { logger } from '../log/index.js';
import { importModule } from '../launch/import.js';
import type { Change, ChangeHandler, EventType, Source, SourceProblem, StatusWriter } from './source.js';

const log = logger('kube');

export interface KubeSourceOptions {
  node: string;
  kubeconfig?: string;
  /** A KubeConfig made by the caller (tests). */
  kubeConfig?: KubeConfig;
  /** Full relist period. */
  resyncMs?: number;
  /** Server-side watch timeout. */
  watchTimeoutSeconds?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

/** Every status field, so a merge patch can null the ones a new status leaves out. */
const STATUS_FIELDS: Record<Kind, string[]> = {
  Image: ['observedGeneration', 'conditions', 'digest', 'layers', 'size', 'progress', 'lastPullTime'],
  RootFS: ['observedGeneration', 'conditions', 'path', 'mounts', 'imageDigest', 'usage', 'lastUsageTime'],
};

type KubeClient = typeof import('@kubernetes/client-node');
let kube: KubeClient | undefined;
let mergePatch: ConfigurationOptions;
let jsonPatch: ConfigurationOptions;

/**
 * Load @kubernetes/client-node. It is an ES module only, and the CLI runs as a CommonJS
 * bundle (hack/bundle.mjs), which can reach it only through import(). create() calls this;
 * whoever calls the constructor directly must have awaited it.
 */
export async function loadKubeClient(): Promise<KubeClient> {
  if (!kube) {
    const k = await importModule<KubeClient>('@kubernetes/client-node');
    mergePatch = k.setHeaderOptions('Content-Type', k.PatchStrategy.MergePatch);
    jsonPatch = k.setHeaderOptions('Content-Type', k.PatchStrategy.JsonPatch);
    kube = k;
  }
  return kube;
}

function client(): KubeClient {
  if (!kube) throw new Error('the Kubernetes client is not loaded (await loadKubeClient() first)');
  return kube;
}

function codeOf(e: unknown): number | undefined {
  const x = e as { code?: unknown; statusCode?: unknown };
  return typeof x?.code === 'number' ? x.code : typeof x?.statusCode === 'number' ? x.statusCode : undefined;
}

function normalize(o: GrootObject, kind: Kind): GrootObject {
  return { ...o, apiVersion: o.apiVersion ?? API_VERSION, kind, metadata: { ...o.metadata, namespace: o.metadata.namespace ?? 'default' } } as GrootObject;
}

/** What makes a change worth reconciling: status-only updates (ours) are not. */
function fingerprint(o: GrootObject): string {
  const m = o.metadata;
  return JSON.stringify([m.labels ?? {}, m.annotations ?? {}, m.generation, m.uid, m.finalizers ?? [], m.deletionTimestamp ?? null, o.spec]);
}

class KubeStatusWriter implements StatusWriter {
  constructor(private readonly api: CustomObjectsApi, private readonly onPatched: (o: GrootObject) => void) {}
  async write(obj: GrootObject, status: AnyStatus): Promise<void> {
    const body: Record<string, unknown> = {};
    for (const f of STATUS_FIELDS[obj.kind]) body[f] = (status as Record<string, unknown>)[f] ?? null;
    try {
      const res = await this.api.patchNamespacedCustomObjectStatus({
        group: GROUP, version: VERSION, namespace: obj.metadata.namespace ?? 'default', plural: PLURAL[obj.kind], name: obj.metadata.name, body: { status: body },
      }, mergePatch);
      this.onPatched(res as GrootObject);
    } catch (e) {
      if (codeOf(e) === 404) return; // gone meanwhile: nothing to report on
      throw new Error(`status of ${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}: ${messageOf(e)}`, { cause: e });
    }
  }
  async forget(): Promise<void> {}
}

export class KubeSource implements Source {
  readonly name = 'kube' as const;
  readonly usesFinalizers = true;
  readonly operatorOwned = false;
  readonly status: StatusWriter;
  private readonly api: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly watcher: Watch;
  private readonly cache = new Map<string, GrootObject>();
  private readonly listed = new Set<Kind>();
  private readonly reflectors: Reflector[] = [];
  private onChange: ChangeHandler = () => {};
  private syncWaiters: (() => void)[] = [];
  private readonly eventSeries = new Map<string, { name: string; count: number; first: string; at: number }>();
  private lastError?: string;

  static async create(o: KubeSourceOptions): Promise<KubeSource> {
    const { KubeConfig } = await loadKubeClient();
    let kc = o.kubeConfig;
    if (!kc) {
      kc = new KubeConfig();
      if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
      else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
      else kc.loadFromDefault();
    }
    return new KubeSource(kc, o);
  }

  constructor(readonly kc: KubeConfig, private readonly opts: KubeSourceOptions) {
    const { CustomObjectsApi, CoreV1Api, Watch } = client();
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
    this.watcher = new Watch(kc);
    this.status = new KubeStatusWriter(this.api, (o) => this.absorb(o));
  }

  get selector(): string { return `${NODE_LABEL}=${this.opts.node}`; }

  async start(onChange: ChangeHandler): Promise<void> {
    this.onChange = onChange;
    for (const kind of KINDS) {
      const r = new Reflector(kind, this, this.opts);
      this.reflectors.push(r);
      r.run();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.reflectors.map((r) => r.stop()));
  }

  synced(): boolean { return KINDS.every((k) => this.listed.has(k)); }

  waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.synced()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.synced()), timeoutMs);
      this.syncWaiters.push(() => { clearTimeout(t); resolve(true); });
    });
  }

  get(key: string): GrootObject | undefined { return this.cache.get(key); }

  list(kind?: Kind): GrootObject[] { return [...this.cache.values()].filter((o) => !kind || o.kind === kind); }

  problems(): SourceProblem[] {
    return this.lastError ? [{ where: this.kc.getCurrentCluster()?.server ?? 'kubernetes', message: this.lastError }] : [];
  }

  async addFinalizer(obj: GrootObject): Promise<GrootObject> {
    const fins = obj.metadata.finalizers;
    if (fins?.includes(FINALIZER)) return obj;
    const patch = fins && fins.length
      ? [{ op: 'add', path: '/metadata/finalizers/-', value: FINALIZER }]
      : [{ op: 'add', path: '/metadata/finalizers', value: [FINALIZER] }];
    const res = await this.api.patchNamespacedCustomObject({ ...this.target(obj), body: patch }, jsonPatch) as GrootObject;
    return this.absorb(res) ?? obj;
  }

  async removeFinalizer(obj: GrootObject): Promise<void> {
    const i = (obj.metadata.finalizers ?? []).indexOf(FINALIZER);
    if (i < 0) return;
    // test+remove: never drops someone else's finalizer if the list moved meanwhile.
    const patch = [{ op: 'test', path: `/metadata/finalizers/${i}`, value: FINALIZER }, { op: 'remove', path: `/metadata/finalizers/${i}` }];
    try {
      const res = await this.api.patchNamespacedCustomObject({ ...this.target(obj), body: patch }, jsonPatch) as GrootObject;
      this.absorb(res);
    } catch (e) {
      if (codeOf(e) === 404) return;
      throw new Error(`removing finalizer ${FINALIZER} from ${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}: ${messageOf(e)}`, { cause: e });
    }
  }

  event(obj: GrootObject, type: EventType, reason: string, message: string): void {
    void this.postEvent(obj, type, reason, message).catch((e) => log.warn({ reason, err: messageOf(e) }, 'cannot record event'));
  }

  async credentials(obj: Image): Promise<{ options: { credentialsFile?: string }; release(): Promise<void> }> {
    const name = obj.spec.credentialsSecretRef?.name;
    if (!name) return { options: {}, release: async () => {} };
    const namespace = obj.metadata.namespace ?? 'default';
    let secret;
    try { secret = await this.core.readNamespacedSecret({ name, namespace }); } catch (e) {
      throw new Error(`Image ${namespace}/${obj.metadata.name}: credentials Secret ${namespace}/${name}: ${codeOf(e) === 404 ? 'not found' : messageOf(e)}`, { cause: e });
    }
    const data = secret.data ?? {};
    let json: string | undefined;
    if (data['.dockerconfigjson']) json = Buffer.from(data['.dockerconfigjson'], 'base64').toString('utf8');
    else if (data['.dockercfg']) {
      try {
        json = JSON.stringify({ auths: JSON.parse(Buffer.from(data['.dockercfg'], 'base64').toString('utf8')) });
      } catch {
        // JSON.parse quotes the text it choked on: the secret must not reach status or logs.
        throw new Error(`Image ${namespace}/${obj.metadata.name}: Secret ${namespace}/${name}: .dockercfg is not valid JSON`);
      }
    }
    if (!json) throw new Error(`Image ${namespace}/${obj.metadata.name}: Secret ${namespace}/${name} has no .dockerconfigjson (type kubernetes.io/dockerconfigjson)`);
    // A private file for the registry client; removed as soon as the pull is done.
    const dir = await mkdtemp(join(tmpdir(), 'groot-creds-'));
    const file = join(dir, 'config.json');
    await writeFile(file, json, { mode: 0o600 });
    return { options: { credentialsFile: file }, release: () => rm(dir, { recursive: true, force: true }) };
  }

  // --- used by the reflectors ---

  apiClient(): CustomObjectsApi { return this.api; }
  watchClient(): Watch { return this.watcher; }

  /** A complete list of one kind: replaces the cache for that kind, reporting the differences. */
  replace(kind: Kind, items: GrootObject[]): void {
    const seen = new Set<string>();
    const changes: Change[] = [];
    for (const raw of items) {
      const o = normalize(raw, kind);
      const key = objectKey(o);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, o);
      if (!old) changes.push({ type: 'added', key, object: o });
      else if (fingerprint(old) !== fingerprint(o)) changes.push({ type: 'modified', key, object: o });
    }
    for (const [key, o] of this.cache) {
      if (o.kind === kind && !seen.has(key)) { this.cache.delete(key); changes.push({ type: 'deleted', key, object: o }); }
    }
    this.listed.add(kind);
    this.lastError = undefined;
    if (this.synced()) { const w = this.syncWaiters; this.syncWaiters = []; for (const r of w) r(); }
    for (const c of changes) this.onChange(c);
  }

  apply(kind: Kind, type: 'ADDED' | 'MODIFIED' | 'DELETED', raw: GrootObject): void {
    const o = normalize(raw, kind);
    const key = objectKey(o);
    const old = this.cache.get(key);
    if (type === 'DELETED') {
      if (old) { this.cache.delete(key); this.onChange({ type: 'deleted', key, object: o }); }
      return;
    }
    // Keep the newest: a patch response may have put a later version in already.
    if (old && Number(old.metadata.resourceVersion) > Number(o.metadata.resourceVersion)) return;
    this.cache.set(key, o);
    if (!old) this.onChange({ type: 'added', key, object: o });
    else if (fingerprint(old) !== fingerprint(o)) this.onChange({ type: 'modified', key, object: o });
  }

  noteError(msg: string | undefined): void { this.lastError = msg; }

  /** A write's response: newer than what the watch has delivered so far. */
  private absorb(o: GrootObject | undefined): GrootObject | undefined {
    if (!o?.metadata) return undefined;
    const n = normalize(o, o.kind);
    if ((n.metadata.labels ?? {})[NODE_LABEL] !== this.opts.node) return n;
    const key = objectKey(n);
    const old = this.cache.get(key);
    if (!old || Number(old.metadata.resourceVersion) <= Number(n.metadata.resourceVersion)) this.cache.set(key, n);
    return n;
  }

  private target(obj: GrootObject): { group: string; version: string; namespace: string; plural: string; name: string } {
    return { group: GROUP, version: VERSION, namespace: obj.metadata.namespace ?? 'default', plural: PLURAL[obj.kind], name: obj.metadata.name };
  }

  private async postEvent(obj: GrootObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = obj.metadata.namespace ?? 'default';
    const now = new Date().toISOString();
    const seriesKey = `${obj.metadata.uid}|${type}|${reason}|${message}`;
    const prev = this.eventSeries.get(seriesKey);
    if (prev && Date.now() - prev.at < 10 * 60_000) {
      prev.count++; prev.at = Date.now();
      try {
        await this.core.patchNamespacedEvent({ name: prev.name, namespace, body: { count: prev.count, lastTimestamp: now } }, mergePatch);
        return;
      } catch { /* expired or removed: make a new one */ }
    }
    const name = `${obj.metadata.name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
    await this.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { name, namespace },
        involvedObject: { apiVersion: API_VERSION, kind: obj.kind, name: obj.metadata.name, namespace, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion },
        type, reason, message,
        source: { component: 'groot', host: this.opts.node },
        reportingComponent: 'groot.dev/controller', reportingInstance: this.opts.node,
        firstTimestamp: new Date(now), lastTimestamp: new Date(now), count: 1,
      },
    });
    this.eventSeries.set(seriesKey, { name, count: 1, first: now, at: Date.now() });
    if (this.eventSeries.size > 1000) this.eventSeries.delete(this.eventSeries.keys().next().value!);
  }
}

/** list, then watch from the list's resourceVersion; relist on failure, 410 or resync. */
class Reflector {
  private stopped = false;
  private abort?: AbortController;
  private cancel?: () => void;
  private wake?: () => void;
  private loop?: Promise<void>;
  private failures = 0;
  private lastList = 0;

  constructor(private readonly kind: Kind, private readonly src: KubeSource, private readonly o: KubeSourceOptions) {}

  run(): void { this.loop = this.main(); }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.cancel?.();
    this.wake?.();
    await this.loop;
  }

  private path(): string { return `/apis/${GROUP}/${VERSION}/${PLURAL[this.kind]}`; }

  private backoff(): number {
    const base = this.o.backoffInitialMs ?? 500;
    const max = this.o.backoffMaxMs ?? 30_000;
    const d = Math.min(max, base * 2 ** Math.min(this.failures, 16));
    this.failures++;
    return d / 2 + Math.random() * (d / 2);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => { const t = setTimeout(r, ms); this.wake = () => { clearTimeout(t); r(); }; });
  }

  private async main(): Promise<void> {
    while (!this.stopped) {
      let rv: string;
      try {
        const res = await this.src.apiClient().listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL[this.kind], labelSelector: this.src.selector }) as { items?: GrootObject[]; metadata?: { resourceVersion?: string } };
        rv = res.metadata?.resourceVersion ?? '0';
        this.src.replace(this.kind, res.items ?? []);
        this.lastList = Date.now();
      } catch (e) {
        const msg = `listing ${PLURAL[this.kind]}.${GROUP} failed: ${messageOf(e)}`;
        this.src.noteError(msg);
        log.warn({ kind: this.kind, failures: this.failures + 1 }, msg);
        await this.sleep(this.backoff());
        continue;
      }
      // Watch until something says relist.
      while (!this.stopped) {
        if (Date.now() - this.lastList > (this.o.resyncMs ?? 600_000)) break; // periodic relist
        const r = await this.watchOnce(rv);
        if (r.rv) rv = r.rv;
        if (r.outcome === 'closed') { if (r.events > 0) this.failures = 0; continue; }
        if (r.outcome === 'gone') { log.info({ kind: this.kind }, 'watch resourceVersion too old (410 Gone): relisting'); await this.sleep(Math.min(this.backoff(), 1000)); break; }
        log.warn({ kind: this.kind, err: r.error }, 'watch failed: relisting after backoff');
        this.src.noteError(`watch of ${PLURAL[this.kind]}.${GROUP} failed: ${r.error}`);
        await this.sleep(this.backoff());
        break;
      }
      if (!this.stopped && this.failures > 0 && Date.now() - this.lastList < 1000) this.failures = Math.max(0, this.failures - 1);
    }
  }

  private watchOnce(rv: string): Promise<{ outcome: 'closed' | 'gone' | 'error'; rv?: string; events: number; error?: string }> {
    const timeoutSeconds = this.o.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 60);
    return new Promise((resolve) => {
      let last = rv;
      let events = 0;
      let gone = false;
      let failure: string | undefined;
      let settled = false;
      // A connection that went silent (no FIN) must not hang us: give up a while after the server's own timeout.
      const guard = setTimeout(() => { failure = 'watch went silent'; this.abort?.abort(); finish(); }, timeoutSeconds * 1000 + 15_000);
      const finish = () => {
        if (settled) return;
        settled = true;
        this.cancel = undefined;
        clearTimeout(guard);
        resolve({ outcome: gone ? 'gone' : failure ? 'error' : 'closed', rv: last, events, error: failure });
      };
      this.cancel = () => { this.abort?.abort(); finish(); };
      this.src.watchClient().watch(this.path(), { labelSelector: this.src.selector, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds },
        (type: string, obj: GrootObject & { code?: number; message?: string }) => {
          events++;
          if (type === 'ERROR') {
            if (obj?.code === 410) gone = true;
            else failure = `watch error ${obj?.code ?? ''}: ${obj?.message ?? 'unknown'}`;
            this.abort?.abort();
            return;
          }
          const v = obj?.metadata?.resourceVersion;
          if (v) last = v;
          if (type === 'BOOKMARK') return;
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.src.apply(this.kind, type, obj);
        },
        (err: unknown) => {
          if (err && !this.stopped && !gone && !failure) {
            if (codeOf(err) === 410) gone = true;
            else if ((err as Error).name !== 'AbortError') failure = messageOf(err);
          }
          finish();
        },
      ).then((ac) => { this.abort = ac; if (this.stopped || settled) ac.abort(); }, (e) => { failure = messageOf(e); finish(); });
    });
  }
}

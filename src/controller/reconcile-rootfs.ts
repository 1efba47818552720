// RootFS reconciler: wait for the Image, create (and mount) with quota, refresh usage,
// remount after a reboot, refuse immutable changes in status, delete when the object goes.
import {
  FINALIZER, READY, SOURCE_FILE_ANNOTATION, formatErrors, getCondition, imageRefKind, keyOf, parseKey, rootfsDefaults, setCondition, validateObject,
  type Condition, type IDMapping, type Image, type ImageStatus, type ObjectRef, type RootFS, type RootFSSpec, type RootFSStatus,
} from '../api/index.js';
import type { IdMap, RootfsInfo } from '../rootfs/types.js';
import { isGrootError, messageOf } from '../errors/index.js';
import { logger } from '../log/index.js';
import type { Result } from './queue.js';
import type { ReconcileContext } from './context.js';
import { pinName, rootfsId, type RootfsRecord } from './records.js';
import { formatSource, parseSource } from '../image/source-ref.js';
import { pullOptions } from './reconcile-image.js';

const log = logger('rootfs-reconciler');

export const IMAGE_READY = 'ImageReady';
export const MOUNTED = 'Mounted';
export const QUOTA_APPLIED = 'QuotaApplied';

const IMMUTABLE: (keyof RootFSSpec)[] = ['image', 'diskLimitBytes', 'excludeImageFromQuota', 'mount', 'uidMappings', 'gidMappings'];

export class RootfsReconciler {
  private readonly reported = new Set<string>();
  constructor(private readonly ctx: ReconcileContext) {}

  async reconcile(key: string, signal: AbortSignal): Promise<Result> {
    const ref = parseKey(key);
    let obj = this.ctx.source.get(key) as RootFS | undefined;
    const id = rootfsId(ref);
    if (!obj || obj.metadata.deletionTimestamp) return this.remove(ref, id, obj);
    if (this.ctx.source.usesFinalizers && !(obj.metadata.finalizers ?? []).includes(FINALIZER)) {
      obj = (await this.ctx.source.addFinalizer(obj)) as RootFS;
    }

    const gen = obj.metadata.generation ?? 1;
    const prev = this.ctx.statuses.get<RootFSStatus>(obj) ?? {};
    const errors = validateObject(obj);
    if (errors.length) {
      const file = obj.metadata.annotations?.[SOURCE_FILE_ANNOTATION];
      const message = formatErrors(ref, errors, file);
      this.once(`${key}@${gen}:invalid`, () => log.warn({ object: `${ref.namespace}/${ref.name}`, file, fields: errors.map((e) => e.field) }, message));
      // Whatever exists stays as it is: an invalid edit changes nothing on the node.
      await this.setReady(obj, prev, gen, 'False', 'InvalidSpec', message);
      return {};
    }
    const spec = rootfsDefaults(obj.spec);

    let rec = await this.ctx.records.getRootfs(id);
    if (rec && rec.uid && obj.metadata.uid && rec.uid !== obj.metadata.uid) {
      // Same name, new object (deleted and re-made while we were not looking): start over.
      log.info({ id, old: rec.uid, new: obj.metadata.uid }, 'object was re-created: replacing its root filesystem');
      await this.deleteRootfs(id);
      rec = undefined;
    }
    if (rec) {
      const changed = IMMUTABLE.filter((f) => JSON.stringify(rec!.spec[f] ?? null) !== JSON.stringify(spec[f] ?? null));
      if (changed.length) {
        const what = changed.map((f) => `spec.${f} ${JSON.stringify(rec!.spec[f] ?? null)} -> ${JSON.stringify(spec[f] ?? null)}`).join(', ');
        const message = `RootFS ${ref.namespace}/${ref.name}: ${what}: these fields cannot change on an existing root filesystem; the change is not applied (delete the RootFS and create it again to change them)`;
        this.once(`${key}@${gen}:immutable`, () => log.warn({ id, fields: changed }, message));
        await this.setReady(obj, prev, gen, 'False', 'ImmutableFieldChanged', message);
        return {};
      }
      const info = await this.ctx.engine.get(id);
      if (info) return this.keep(obj, prev, gen, info, spec);
      log.info({ id }, 'root filesystem recorded but not in the store: creating it again');
    }
    return this.create(obj, ref, id, spec, prev, gen, signal);
  }

  private async create(obj: RootFS, ref: ObjectRef, id: string, spec: ReturnType<typeof rootfsDefaults>, prev: RootFSStatus, gen: number, signal: AbortSignal): Promise<Result> {
    const { engine, records, source, metrics } = this.ctx;
    // Which image: an Image object (must be Ready) or a source string.
    let sourceString = spec.image;
    let opts: Record<string, unknown> = {};
    let release = async () => {};
    let conditions = prev.conditions;
    if (imageRefKind(spec.image) === 'name') {
      const imgKey = keyOf({ kind: 'Image', namespace: ref.namespace, name: spec.image });
      const img = source.get(imgKey) as Image | undefined;
      if (!img) {
        const msg = `Image ${ref.namespace}/${spec.image} does not exist: create it, or set spec.image to a source (docker://..., oci:///...)`;
        conditions = setCondition(conditions, { type: IMAGE_READY, status: 'False', reason: 'ImageNotFound', message: msg }, gen);
        await this.setReady(obj, { ...prev, conditions }, gen, 'False', 'ImageNotFound', msg);
        return {};
      }
      const imgStatus = this.ctx.statuses.get<ImageStatus>(img);
      const imgGen = img.metadata.generation ?? 1;
      const ready = getCondition(imgStatus?.conditions, READY);
      if (!ready || ready.status !== 'True' || imgStatus?.observedGeneration !== imgGen) {
        const why = ready && ready.status !== 'True' ? `: ${ready.reason}: ${ready.message}` : '';
        const msg = `waiting for Image ${ref.namespace}/${spec.image} to be Ready${why}`;
        conditions = setCondition(conditions, { type: IMAGE_READY, status: 'False', reason: 'ImageNotReady', message: msg }, gen);
        await this.setReady(obj, { ...prev, conditions }, gen, 'False', 'WaitingForImage', msg);
        return {};
      }
      // The exact image the Image pulled, by digest: a tag that moved since cannot slip in.
      const pulled = (await records.getImage(pinName({ namespace: ref.namespace, name: spec.image })))?.digest ?? imgStatus?.digest;
      sourceString = pulled ? pinnedSource(img.spec.source, pulled) : img.spec.source;
      // The Image was allowed when it pulled, but its Ready status is only what the API says
      // (status can be written by others): what is read here is checked here too.
      const v = await this.ctx.policy.check(`Image ${ref.namespace}/${spec.image}`, { source: sourceString, field: 'spec.source', insecure: img.spec.insecure });
      if (!v.allowed) return this.refuse(obj, prev, gen, v.reason, `RootFS ${ref.namespace}/${ref.name}: ${v.message}`);
      sourceString = v.source;
      const creds = await source.credentials(img);
      // Pulled by its Image with that Image's credentials: the store's copy is used as it is.
      opts = { ...pullOptions(img.spec), ...creds.options, ...(pulled ? { preferCached: true } : {}) };
      release = creds.release;
      conditions = setCondition(conditions, { type: IMAGE_READY, status: 'True', reason: 'ImageReady', message: `Image ${ref.namespace}/${spec.image} is Ready (${imgStatus?.digest ?? 'digest unknown'})` }, gen);
    } else {
      const v = await this.ctx.policy.check(`RootFS ${ref.namespace}/${ref.name}`, { source: spec.image, field: 'spec.image' });
      if (!v.allowed) return this.refuse(obj, prev, gen, v.reason, v.message);
      sourceString = v.source;
      conditions = setCondition(conditions, { type: IMAGE_READY, status: 'True', reason: 'SourceGiven', message: `made from ${spec.image}` }, gen);
    }

    // ID mappings are fixed per store (init-store): a RootFS can only ask for the same ones.
    const mismatch = idMappingMismatch(engine.idMap, spec);
    if (mismatch) {
      await release();
      await this.setReady(obj, { ...prev, conditions }, gen, 'False', 'IDMappingsMismatch', `RootFS ${ref.namespace}/${ref.name}: ${mismatch}`);
      return {};
    }

    // The record goes first: whatever happens next, start-up repair knows this id is ours.
    const rec: RootfsRecord = { id, namespace: ref.namespace, name: ref.name, uid: obj.metadata.uid, spec, source: sourceString, createdAt: new Date().toISOString() };
    const existing = await engine.get(id);
    if (existing) {
      await release();
      const msg = `a root filesystem with id ${id} already exists in store ${engine.storePath} and was not made for this object; delete it (groot delete ${id}) or rename the RootFS`;
      await this.setReady(obj, { ...prev, conditions }, gen, 'False', 'NameConflict', msg);
      return {};
    }
    await records.putRootfs(rec);
    const t0 = Date.now();
    let created: { rootfs: RootfsInfo };
    try {
      created = await engine.create({
        ...this.ctx.settings.registry,
        ...opts,
        id,
        source: sourceString,
        diskLimitBytes: spec.diskLimitBytes,
        excludeImageFromQuota: spec.excludeImageFromQuota,
        mount: spec.mount,
        signal,
      });
    } catch (e) {
      metrics.createDuration.observe({ result: 'failure' }, (Date.now() - t0) / 1000);
      // The engine rolls back a failed create; the record must not outlive it.
      if (!(await engine.get(id).catch(() => undefined))) await records.removeRootfs(id);
      if (signal.aborted) throw e;
      const reason = isGrootError(e, 'GROOT_QUOTA_EXCEEDED') ? 'QuotaExceeded' : isGrootError(e, 'GROOT_STORE_FULL') ? 'StoreFull' : 'CreateFailed';
      const message = `creating the root filesystem from ${sourceString} failed: ${messageOf(e)}`;
      await this.ctx.statuses.trySet(obj, withReady({ ...prev, observedGeneration: gen, conditions }, gen, 'False', reason, `${message} (retrying with backoff)`));
      source.event(obj, 'Warning', reason, message);
      throw e;
    } finally {
      await release();
    }
    metrics.createDuration.observe({ result: 'success' }, (Date.now() - t0) / 1000);
    metrics.createBytes.inc(spec.diskLimitBytes);
    source.event(obj, 'Normal', 'Created', `Created root filesystem ${created.rootfs.path} from ${sourceString}${spec.mount ? ' and mounted it' : ''}`);
    return this.keep(obj, { ...prev, conditions }, gen, created.rootfs, spec, true);
  }

  /** It exists: remount if a reboot took the mount, refresh usage, report. */
  private async keep(obj: RootFS, prev: RootFSStatus, gen: number, info: RootfsInfo, spec: ReturnType<typeof rootfsDefaults>, justCreated = false): Promise<Result> {
    const { engine, source } = this.ctx;
    if (info.wantsMount && !info.mounted) {
      try {
        await engine.remount(info.id);
        info = { ...info, mounted: true };
        source.event(obj, 'Normal', 'Remounted', `Mounted ${info.path} again (it was not mounted)`);
      } catch (e) {
        const message = `root filesystem ${info.path} is not mounted and remounting failed: ${messageOf(e)}`;
        const conditions = setCondition(prev.conditions, { type: MOUNTED, status: 'False', reason: 'RemountFailed', message }, gen);
        await this.ctx.statuses.trySet(obj, withReady({ ...prev, observedGeneration: gen, conditions, path: info.path }, gen, 'False', 'RemountFailed', message));
        source.event(obj, 'Warning', 'RemountFailed', message);
        throw e;
      }
    }

    let conditions: Condition[] | undefined = prev.conditions;
    if (!getCondition(conditions, IMAGE_READY)) {
      conditions = setCondition(conditions, { type: IMAGE_READY, status: 'True', reason: 'ImageReady', message: `made from ${info.source} (${info.imageDigest})` }, gen);
    }
    conditions = setCondition(conditions, info.wantsMount
      ? { type: MOUNTED, status: 'True', reason: 'Mounted', message: `mounted at ${info.path}` }
      : { type: MOUNTED, status: 'False', reason: 'MountDelegated', message: 'spec.mount is false: status.mounts holds the mount for the runtime to make' }, gen);
    conditions = setCondition(conditions, spec.diskLimitBytes > 0
      ? { type: QUOTA_APPLIED, status: 'True', reason: 'QuotaSet', message: `limit ${spec.diskLimitBytes} bytes, ${spec.excludeImageFromQuota ? 'counting only what the container writes' : 'counting the image too'}` }
      : { type: QUOTA_APPLIED, status: 'False', reason: 'NoLimit', message: 'spec.diskLimitBytes is 0: no quota' }, gen);
    const status: RootFSStatus = {
      observedGeneration: gen,
      conditions,
      path: info.path,
      ...(info.wantsMount ? {} : { mounts: [info.mount] }),
      imageDigest: info.imageDigest,
      // Usage is measured by the usage refresher (usage.ts), off this path.
      ...(prev.usage ? { usage: prev.usage } : {}),
      ...(prev.lastUsageTime ? { lastUsageTime: prev.lastUsageTime } : {}),
    };
    const readyMsg = info.wantsMount ? `mounted at ${info.path}` : `created at ${info.path}; the runtime mounts it (status.mounts)`;
    await this.ctx.statuses.set(obj, withReady(status, gen, 'True', info.wantsMount ? 'Mounted' : 'Created', readyMsg));
    if (justCreated || !prev.usage) this.ctx.measureUsageSoon(keyOf({ kind: 'RootFS', namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name }));
    return {};
  }

  /** Object gone (or being deleted): remove what we made, then let the object go. */
  private async remove(ref: ObjectRef, id: string, obj: RootFS | undefined): Promise<Result> {
    if (!obj && !this.ctx.source.synced()) {
      // Absent from a source we cannot fully read: not evidence of deletion.
      return { requeueAfter: this.ctx.settings.unsyncedRetryMs };
    }
    const rec = await this.ctx.records.getRootfs(id);
    if (rec && (!obj || !rec.uid || !obj.metadata.uid || rec.uid === obj.metadata.uid)) {
      await this.deleteRootfs(id);
      if (obj) this.ctx.source.event(obj, 'Normal', 'Deleted', `Unmounted and removed root filesystem ${id}`);
    }
    if (obj && (obj.metadata.finalizers ?? []).includes(FINALIZER)) await this.ctx.source.removeFinalizer(obj);
    await this.ctx.statuses.forget(ref);
    return {};
  }

  private async deleteRootfs(id: string): Promise<void> {
    const t0 = Date.now();
    try {
      const existed = await this.ctx.engine.delete(id);
      this.ctx.metrics.deleteDuration.observe({ result: 'success' }, (Date.now() - t0) / 1000);
      if (existed) log.info({ id }, 'root filesystem deleted');
    } catch (e) {
      this.ctx.metrics.deleteDuration.observe({ result: 'failure' }, (Date.now() - t0) / 1000);
      throw e;
    }
    await this.ctx.records.removeRootfs(id);
  }

  /** Its source is not allowed from where the object came from: status and an Event; nothing is read. */
  private async refuse(obj: RootFS, prev: RootFSStatus, gen: number, reason: string, message: string): Promise<Result> {
    const ready = getCondition(prev.conditions, READY);
    const told = ready?.reason === reason && ready.message === message && ready.observedGeneration === gen;
    const conditions = setCondition(prev.conditions, { type: IMAGE_READY, status: 'False', reason, message }, gen);
    await this.setReady(obj, { ...prev, conditions }, gen, 'False', reason, message);
    if (!told) {
      log.warn({ object: `${obj.metadata.namespace}/${obj.metadata.name}`, reason }, message);
      this.ctx.source.event(obj, 'Warning', reason, message);
    }
    return {};
  }

  private async setReady(obj: RootFS, prev: RootFSStatus, gen: number, status: 'True' | 'False', reason: string, message: string): Promise<void> {
    await this.ctx.statuses.set(obj, withReady({ ...prev, observedGeneration: gen }, gen, status, reason, message));
  }

  private once(stamp: string, f: () => void): void {
    if (this.reported.has(stamp)) return;
    this.reported.add(stamp);
    f();
  }
}

/** `source` pinned to a manifest digest (registry and OCI layout sources; tarballs have none). */
export function pinnedSource(source: string, digest: string): string {
  try {
    const r = parseSource(source, '/');
    if (r.kind === 'docker') return `docker://${r.domain}/${r.repository}@${digest}`;
    if (r.kind === 'oci') return formatSource({ kind: 'oci', path: r.path, digest });
  } catch { /* validated before; keep it as given */ }
  return source;
}

/** Why the spec's uid/gid mappings cannot be had from this store (`store`: its mappings), or undefined. */
function idMappingMismatch(store: IdMap | undefined, spec: RootFSSpec): string | undefined {
  const norm = (l: readonly IDMapping[] | undefined) => JSON.stringify((l ?? []).map((m) => [m.containerID, m.hostID, m.size]));
  for (const [f, mine] of [['uidMappings', store?.uid], ['gidMappings', store?.gid]] as const) {
    if (spec[f] && norm(spec[f]) !== norm(mine)) {
      return `spec.${f} ${norm(spec[f])} differ from the store's ${norm(mine)} (fixed by groot init-store --${f === 'uidMappings' ? 'uid' : 'gid'}-mapping): every root filesystem of a store shares its mappings`;
    }
  }
  return undefined;
}

function withReady(s: RootFSStatus, gen: number, status: 'True' | 'False', reason: string, message: string): RootFSStatus {
  return { ...s, conditions: setCondition(s.conditions, { type: READY, status, reason, message }, gen) };
}


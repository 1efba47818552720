// Image reconciler: pull (with progress in status), pin so GC keeps the layers, re-resolve
// every resync period for pullPolicy Always, unpin when the Image goes away.
import { SOURCE_FILE_ANNOTATION, READY, formatErrors, getCondition, imageDefaults, isTrue, parseKey, refOf, setCondition, validateObject, type Image, type ImageStatus, type ObjectRef } from '../api/index.js';
import { parseSource } from '../image/source-ref.js';
import { parsePlatform } from '../image/platform.js';
import type { PullProgress } from '../rootfs/types.js';
import { isGrootError, messageOf } from '../errors/index.js';
import { logger } from '../log/index.js';
import type { Result } from './queue.js';
import type { ReconcileContext } from './context.js';
import { pinName, specHash, type ImageRecord } from './records.js';

const log = logger('image');

export const PULLED = 'Pulled';

export class ImageReconciler {
  /** Spec hashes pulled by this process: IfNotPresent pulls once per spec per process. */
  private readonly reported = new Set<string>();

  constructor(private readonly ctx: ReconcileContext, private readonly onReady: (key: string) => void) {}

  async reconcile(key: string, signal: AbortSignal): Promise<Result> {
    const ref = parseKey(key);
    const obj = this.ctx.source.get(key) as Image | undefined;
    if (!obj) return this.gone(ref);

    const gen = obj.metadata.generation ?? 1;
    const errors = validateObject(obj);
    const prev = this.ctx.statuses.get<ImageStatus>(obj) ?? {};
    if (errors.length) {
      const file = obj.metadata.annotations?.[SOURCE_FILE_ANNOTATION];
      const message = formatErrors(ref, errors, file);
      this.logOnce(`${key}@${gen}:invalid`, () => log.warn({ object: `${ref.namespace}/${ref.name}`, file, fields: errors.map((e) => e.field) }, message));
      // The last good pull (if any) stays pinned: a bad edit must not let GC take the layers.
      await this.ctx.statuses.set(obj, {
        ...prev, observedGeneration: gen, progress: undefined,
        conditions: setCondition(prev.conditions, { type: READY, status: 'False', reason: 'InvalidSpec', message }, gen),
      });
      return {};
    }

    const spec = imageDefaults(obj.spec);
    // Before anything reads the source or reports it pulled (a record from an earlier, more
    // permissive run included): what this object's origin may name (source-policy.ts).
    const verdict = await this.ctx.policy.check(`Image ${ref.namespace}/${ref.name}`, { source: spec.source, field: 'spec.source', insecure: spec.insecure });
    if (!verdict.allowed) return this.refuse(obj, prev, gen, verdict);
    const hash = specHash(spec);
    const pin = pinName(ref);
    const rec = await this.ctx.records.getImage(pin);
    const upToDate = rec && rec.specHash === hash;
    if (upToDate && spec.pullPolicy === 'IfNotPresent') {
      // Pulled and pinned before (maybe by an earlier process): nothing to fetch.
      await this.setPulled(obj, prev, rec, gen, false);
      return {};
    }
    if (upToDate && spec.pullPolicy === 'Always') {
      const due = Date.parse(rec.pulledAt) + this.ctx.settings.resyncMs - Date.now();
      if (due > 0) {
        await this.setPulled(obj, prev, rec, gen, false);
        return { requeueAfter: due };
      }
    }
    return this.pull(obj, ref, spec, verdict.source, hash, pin, prev, rec, gen, signal);
  }

  /** Not allowed from where the object came from: said in status and an Event; nothing is pulled. */
  private async refuse(obj: Image, prev: ImageStatus, gen: number, v: { reason: string; message: string }): Promise<Result> {
    const ready = getCondition(prev.conditions, READY);
    const told = ready?.reason === v.reason && ready.message === v.message && ready.observedGeneration === gen;
    // The last allowed pull (if any) stays pinned, as for an invalid edit.
    await this.ctx.statuses.set(obj, {
      ...prev, observedGeneration: gen, progress: undefined,
      conditions: setCondition(prev.conditions, { type: READY, status: 'False', reason: v.reason, message: v.message }, gen),
    });
    if (!told) {
      log.warn({ object: `${obj.metadata.namespace}/${obj.metadata.name}`, reason: v.reason }, v.message);
      this.ctx.source.event(obj, 'Warning', v.reason, v.message);
      // RootFS waiting for this Image say why it is not coming.
      this.onReady(`Image/${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`);
    }
    return {};
  }

  /** `from`: the source as the policy let it through (a local path resolved), given to the engine. */
  private async pull(obj: Image, ref: ObjectRef, spec: ReturnType<typeof imageDefaults>, from: string, hash: string, pin: string, prev: ImageStatus, rec: ImageRecord | undefined, gen: number, signal: AbortSignal): Promise<Result> {
    const { engine, statuses, metrics, source } = this.ctx;
    // Re-resolving an image that is already usable does not make it unusable meanwhile.
    const stillUsable = rec !== undefined && rec.specHash === hash && isTrue(prev.conditions, READY);
    let status: ImageStatus = { ...prev, observedGeneration: gen };
    if (!stillUsable) {
      status.conditions = setCondition(status.conditions, { type: READY, status: 'False', reason: 'Pulling', message: `pulling ${spec.source}` }, gen);
    }
    status.conditions = setCondition(status.conditions, { type: PULLED, status: 'False', reason: 'Pulling', message: `pulling ${spec.source}` }, gen);
    await statuses.set(obj, status);
    source.event(obj, 'Normal', 'Pulling', `Pulling image ${spec.source}`);

    // Progress: at most one status write per progressMs, never after the pull ended.
    let latest: PullProgress | undefined;
    let lastWrite = 0;
    let writing: Promise<void> = Promise.resolve();
    let done = false;
    const layerStart = new Map<string, number>();
    const onProgress = (p: PullProgress) => {
      latest = p;
      for (const l of p.layers) {
        if (l.state === 'fetching' && !layerStart.has(l.digest)) layerStart.set(l.digest, Date.now());
        if (l.state === 'done' && layerStart.has(l.digest) && layerStart.get(l.digest)! > 0) {
          metrics.unpackDuration.observe((Date.now() - layerStart.get(l.digest)!) / 1000);
          layerStart.set(l.digest, -1);
        }
      }
      const now = Date.now();
      if (now - lastWrite < this.ctx.settings.progressMs || done) return;
      lastWrite = now;
      const progress = { bytesDone: p.bytesDone, bytesTotal: p.bytesTotal };
      const msg = `pulling ${spec.source}: ${p.bytesDone} of ${p.bytesTotal} bytes`;
      status = { ...status, progress };
      if (!stillUsable) status.conditions = setCondition(status.conditions, { type: READY, status: 'False', reason: 'Pulling', message: msg }, gen);
      status.conditions = setCondition(status.conditions, { type: PULLED, status: 'False', reason: 'Pulling', message: msg }, gen);
      const snapshot = status;
      writing = writing.then(() => (done ? undefined : statuses.trySet(obj, snapshot)));
    };

    let release = async () => {};
    const t0 = Date.now();
    try {
      const creds = await source.credentials(obj);
      release = creds.release;
      const info = await engine.pull(from, {
        ...this.ctx.settings.registry,
        ...pullOptions(spec),
        ...creds.options,
        pin,
        onProgress,
        signal,
      });
      done = true;
      await writing;
      const secs = (Date.now() - t0) / 1000;
      metrics.pullDuration.observe({ result: 'success' }, secs);
      const fetched = (latest?.layers ?? []).filter((l) => l.state !== 'cached').reduce((s, l) => s + l.bytesDone, 0);
      metrics.pullBytes.inc(fetched);
      if (fetched > 0) metrics.unpackBytes.inc(info.unpackedSize);
      const newRec: ImageRecord = {
        namespace: ref.namespace, name: ref.name, uid: obj.metadata.uid, pin, specHash: hash, source: spec.source, digest: info.digest,
        layers: info.chainIDs.length, compressedBytes: info.compressedSize, unpackedBytes: info.unpackedSize, pulledAt: new Date().toISOString(),
      };
      await this.ctx.records.putImage(newRec);
      const changed = rec?.digest !== info.digest;
      if (changed || !stillUsable) source.event(obj, 'Normal', 'Pulled', `Successfully pulled image ${spec.source} (${info.digest}) in ${secs.toFixed(1)}s`);
      await this.setPulled(obj, status, newRec, gen, true);
      return spec.pullPolicy === 'Always' ? { requeueAfter: this.ctx.settings.resyncMs } : {};
    } catch (e) {
      done = true;
      await writing;
      if (signal.aborted) throw e; // shutting down: status stays "Pulling"; the next start pulls again
      metrics.pullDuration.observe({ result: 'failure' }, (Date.now() - t0) / 1000);
      const message = `pull of ${spec.source} failed: ${messageOf(e)}`;
      const next: ImageStatus = { ...status, progress: undefined };
      // A full store is the operator's to fix (clean, a bigger store), not the image's.
      const reason = isGrootError(e, 'GROOT_STORE_FULL') ? 'StoreFull' : 'PullFailed';
      if (!stillUsable) next.conditions = setCondition(next.conditions, { type: READY, status: 'False', reason, message: `${message} (retrying with backoff)` }, gen);
      next.conditions = setCondition(next.conditions, { type: PULLED, status: 'False', reason, message }, gen);
      await statuses.trySet(obj, next);
      source.event(obj, 'Warning', 'Failed', message);
      throw e;
    } finally {
      await release();
    }
  }

  private async setPulled(obj: Image, prev: ImageStatus, rec: ImageRecord, gen: number, fresh: boolean): Promise<void> {
    const wasReady = isTrue(prev.conditions, READY) && getCondition(prev.conditions, READY)?.observedGeneration === gen;
    const message = `${rec.source} pulled: ${rec.digest}, ${rec.layers} layers, ${rec.unpackedBytes} bytes unpacked`;
    let conditions = setCondition(prev.conditions, { type: READY, status: 'True', reason: 'Pulled', message }, gen);
    conditions = setCondition(conditions, { type: PULLED, status: 'True', reason: 'Pulled', message: `last pulled ${rec.pulledAt}` }, gen);
    const status: ImageStatus = {
      observedGeneration: gen,
      conditions,
      digest: rec.digest,
      layers: rec.layers,
      size: { compressedBytes: rec.compressedBytes, unpackedBytes: rec.unpackedBytes },
      lastPullTime: rec.pulledAt,
    };
    await this.ctx.statuses.set(obj, status);
    if (!wasReady || fresh) this.onReady(`${obj.kind}/${refOf(obj).namespace}/${obj.metadata.name}`);
  }

  /** The Image is gone: unpin (GC may take its layers once no RootFS uses them). */
  private async gone(ref: ObjectRef): Promise<Result> {
    const pin = pinName(ref);
    const rec = await this.ctx.records.getImage(pin);
    if (rec) {
      if (!this.ctx.source.synced()) return { requeueAfter: this.ctx.settings.unsyncedRetryMs };
      await this.ctx.engine.unpin(pin);
      await this.ctx.records.removeImage(pin);
      log.info({ image: `${ref.namespace}/${ref.name}`, digest: rec.digest }, 'image object gone: unpinned');
    }
    await this.ctx.statuses.forget(ref);
    this.onReady(`Image/${ref.namespace}/${ref.name}`);
    return {};
  }

  private logOnce(stamp: string, f: () => void): void {
    if (this.reported.has(stamp)) return;
    this.reported.add(stamp);
    f();
  }
}

/** Engine pull options from an Image spec (platform, insecure registry). */
export function pullOptions(spec: { source: string; platform?: string; insecure?: boolean }): { platform?: ReturnType<typeof parsePlatform>; insecureRegistries?: string[] } {
  const out: { platform?: ReturnType<typeof parsePlatform>; insecureRegistries?: string[] } = {};
  if (spec.platform) out.platform = parsePlatform(spec.platform);
  if (spec.insecure) {
    const r = parseSource(spec.source, '/');
    if (r.kind === 'docker') out.insecureRegistries = [...new Set([r.registry, r.domain])];
  }
  return out;
}

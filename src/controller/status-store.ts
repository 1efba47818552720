// The status the controller last wrote for each object, in memory, in front of the source's
// status writer: reconcilers build on it (the source's copy may lag its own write), and a
// write that changes nothing is skipped. Writes for one object are serialized.
import { objectKey, type AnyStatus, type GrootObject, type ObjectRef } from '../api/index.js';
import { logger } from '../log/index.js';
import type { StatusWriter } from './source.js';

const log = logger('status');

export class StatusStore {
  private readonly mem = new Map<string, { status: AnyStatus; stamp: string }>();
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly writer: StatusWriter) {}

  /** Last written status, else what the object came with. */
  get<T extends AnyStatus>(obj: GrootObject): T | undefined {
    return (this.mem.get(objectKey(obj))?.status ?? obj.status) as T | undefined;
  }

  getByKey(key: string): AnyStatus | undefined {
    return this.mem.get(key)?.status;
  }

  /** Write `status` unless it equals what was last written for this object (same generation and labels). */
  async set(obj: GrootObject, status: AnyStatus): Promise<void> {
    const key = objectKey(obj);
    const stamp = JSON.stringify([status, obj.metadata.generation ?? 0, obj.metadata.labels ?? {}, obj.metadata.uid ?? '']);
    const prev = this.mem.get(key);
    if (prev?.stamp === stamp) return;
    if (!prev && obj.status && JSON.stringify([obj.status, obj.metadata.generation ?? 0, obj.metadata.labels ?? {}, obj.metadata.uid ?? '']) === stamp) {
      this.mem.set(key, { status, stamp });
      return;
    }
    const run = async () => {
      await this.writer.write(obj, status);
      this.mem.set(key, { status, stamp });
    };
    const next = (this.chains.get(key) ?? Promise.resolve()).then(run, run);
    const tail = next.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.finally(() => { if (this.chains.get(key) === tail) this.chains.delete(key); });
    await next;
  }

  /**
   * Change part of the status based on the latest one (read inside the write chain, so a
   * concurrent set() is not undone). `f` returns undefined to write nothing.
   */
  async update(obj: GrootObject, f: (cur: AnyStatus | undefined) => AnyStatus | undefined): Promise<void> {
    const key = objectKey(obj);
    const run = async () => {
      const next = f(this.mem.get(key)?.status ?? obj.status);
      if (!next) return;
      const stamp = JSON.stringify([next, obj.metadata.generation ?? 0, obj.metadata.labels ?? {}, obj.metadata.uid ?? '']);
      if (this.mem.get(key)?.stamp === stamp) return;
      await this.writer.write(obj, next);
      this.mem.set(key, { status: next, stamp });
    };
    const next = (this.chains.get(key) ?? Promise.resolve()).then(run, run);
    const tail = next.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.finally(() => { if (this.chains.get(key) === tail) this.chains.delete(key); });
    await next;
  }

  /** Best effort: a failed status write is logged, not fatal (the next reconcile writes again). */
  async trySet(obj: GrootObject, status: AnyStatus): Promise<void> {
    try { await this.set(obj, status); } catch (e) {
      log.warn({ key: objectKey(obj), err: (e as Error).message }, 'status write failed');
    }
  }

  async forget(ref: ObjectRef): Promise<void> {
    const key = `${ref.kind}/${ref.namespace}/${ref.name}`;
    this.mem.delete(key);
    await (this.chains.get(key) ?? Promise.resolve());
    await this.writer.forget(ref);
  }
}

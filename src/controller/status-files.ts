// Status of drop-in objects, kept as files under the store so `groot get` and
// `groot describe` can print them (the drop-in mode's API server, in effect):
//   <store>/meta/status/<plural>/<namespace>/<name>.json   the object with its status
//   <store>/meta/status/events/<plural>/<namespace>/<name>.json   its recent events
//   <store>/meta/status/problems.json   source problems no object can carry
// Writes are temp+rename (readers never see half a file), through sys/fsync.ts. Routine
// writes are not fsynced: status is rebuilt by the next reconcile, so losing the last write in
// a crash costs nothing. A write that carries a drop-in object's identity (uid, creation
// time, generation) for the first time is durable (`sync: true`, FileStatusWriter in
// source-dropins.ts decides), and so is an object's removal: the identity is what tells the
// RootFS reconciler "same object" from "re-created", so it must survive a power loss.
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { KINDS, PLURAL, type GrootObject, type Kind } from '../api/index.js';
import type { EventType, SourceProblem } from './source.js';

export interface RecordedEvent { type: EventType; reason: string; message: string; count: number; firstTimestamp: string; lastTimestamp: string }

export interface ProblemsFile { source: string; updated: string; problems: SourceProblem[] }

/** A status file that is there but holds no usable object (empty after a crash, garbage, another object). */
export interface BadStatusFile { path: string; kind: Kind; namespace: string; name: string; reason: string }

const MAX_EVENTS = 20;

export function statusDir(storePath: string): string {
  return join(storePath, 'meta', 'status');
}

// sys/fsync.ts loads koffi (~20 ms): `groot get` and `groot describe` only read, so the
// writers load it on their first write.
const fsync = () => import('../sys/fsync.js');

async function writeJson(path: string, value: unknown, sync = false): Promise<void> {
  await (await fsync()).writeJsonAtomic(path, value, { sync });
}

type Parsed<T> = { ok: true; value: T | undefined } | { ok: false; reason: string };

async function parseJson<T>(path: string): Promise<Parsed<T>> {
  let text: string;
  try { text = await readFile(path, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, value: undefined };
    throw e;
  }
  if (text.trim() === '') return { ok: false, reason: text.length ? 'only whitespace' : 'empty (0 bytes)' };
  try { return { ok: true, value: JSON.parse(text) as T }; } catch (e) {
    return { ok: false, reason: `not JSON: ${(e as Error).message}` };
  }
}

async function readJson<T>(path: string): Promise<T | undefined> {
  const r = await parseJson<T>(path);
  return r.ok ? r.value : undefined; // a torn or empty file (a crash before the data reached the disk): ignore it
}

/** Why `v`, read from the status file of kind/namespace/name, is not that object; undefined when it is. */
function notTheObject(v: unknown, kind: Kind, namespace: string, name: string): string | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const o = v as Partial<GrootObject>;
  if (o.kind !== kind) return `kind is ${JSON.stringify(o.kind)}, not ${kind}`;
  const md = o.metadata as Partial<GrootObject['metadata']> | undefined;
  if (!md || typeof md !== 'object') return 'no metadata';
  if (md.name !== name) return `metadata.name is ${JSON.stringify(md.name)}, not ${JSON.stringify(name)}`;
  if ((md.namespace ?? 'default') !== namespace) return `metadata.namespace is ${JSON.stringify(md.namespace)}, not ${JSON.stringify(namespace)}`;
  return undefined;
}

export class StatusFiles {
  readonly root: string;
  constructor(storePath: string) { this.root = statusDir(storePath); }

  objectPath(kind: Kind, namespace: string, name: string): string {
    return join(this.root, PLURAL[kind], namespace, `${name}.json`);
  }

  eventsPath(kind: Kind, namespace: string, name: string): string {
    return join(this.root, 'events', PLURAL[kind], namespace, `${name}.json`);
  }

  /** `durable`: fsync file and directory (a new identity); otherwise temp+rename only. */
  async writeObject(obj: GrootObject, opts: { durable?: boolean } = {}): Promise<void> {
    await writeJson(this.objectPath(obj.kind, obj.metadata.namespace ?? 'default', obj.metadata.name), obj, opts.durable);
  }

  async readObject(kind: Kind, namespace: string, name: string): Promise<GrootObject | undefined> {
    const r = await parseJson<unknown>(this.objectPath(kind, namespace, name));
    return r.ok && r.value !== undefined && !notTheObject(r.value, kind, namespace, name) ? r.value as GrootObject : undefined;
  }

  /** Every object of a kind, sorted by namespace then name. Unusable files are skipped. */
  async listObjects(kind: Kind): Promise<GrootObject[]> {
    return (await this.scanObjects(kind)).objects;
  }

  /** Every object of a kind, and the status files that hold no usable object. */
  async scanObjects(kind: Kind): Promise<{ objects: GrootObject[]; bad: BadStatusFile[] }> {
    const base = join(this.root, PLURAL[kind]);
    const out: GrootObject[] = [];
    const bad: BadStatusFile[] = [];
    let namespaces: string[] = [];
    try { namespaces = (await readdir(base)).sort(); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    for (const ns of namespaces) {
      let files: string[] = [];
      try { files = (await readdir(join(base, ns))).filter((f) => f.endsWith('.json') && !f.startsWith('.')).sort(); } catch { continue; }
      for (const f of files) {
        const path = join(base, ns, f);
        const name = basename(f, '.json');
        let r: Parsed<unknown>;
        try { r = await parseJson<unknown>(path); } catch (e) {
          bad.push({ path, kind, namespace: ns, name, reason: `cannot be read: ${(e as Error).message}` });
          continue;
        }
        if (!r.ok) { bad.push({ path, kind, namespace: ns, name, reason: r.reason }); continue; }
        if (r.value === undefined) continue; // removed meanwhile
        const why = notTheObject(r.value, kind, ns, name);
        if (why) { bad.push({ path, kind, namespace: ns, name, reason: why }); continue; }
        out.push(r.value as GrootObject);
      }
    }
    const objects = out.sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
    return { objects, bad };
  }

  /** The object is gone: its status file's removal is durable (it ends the object's identity). */
  async removeObject(kind: Kind, namespace: string, name: string): Promise<void> {
    const { removeFile } = await fsync();
    await removeFile(this.objectPath(kind, namespace, name), { sync: true });
    await removeFile(this.eventsPath(kind, namespace, name));
  }

  async appendEvent(kind: Kind, namespace: string, name: string, ev: { type: EventType; reason: string; message: string }, now = new Date()): Promise<void> {
    const path = this.eventsPath(kind, namespace, name);
    const read = await readJson<RecordedEvent[]>(path);
    const list = Array.isArray(read) ? read : [];
    const last = list[list.length - 1];
    const ts = now.toISOString();
    if (last && last.type === ev.type && last.reason === ev.reason && last.message === ev.message) {
      last.count += 1;
      last.lastTimestamp = ts;
    } else {
      list.push({ ...ev, count: 1, firstTimestamp: ts, lastTimestamp: ts });
    }
    await writeJson(path, list.slice(-MAX_EVENTS));
  }

  async readEvents(kind: Kind, namespace: string, name: string): Promise<RecordedEvent[]> {
    const list = await readJson<RecordedEvent[]>(this.eventsPath(kind, namespace, name));
    return Array.isArray(list) ? list : [];
  }

  async writeProblems(source: string, problems: SourceProblem[]): Promise<void> {
    await writeJson(join(this.root, 'problems.json'), { source, updated: new Date().toISOString(), problems } satisfies ProblemsFile);
  }

  async readProblems(): Promise<ProblemsFile | undefined> {
    return readJson<ProblemsFile>(join(this.root, 'problems.json'));
  }

  async allObjects(): Promise<GrootObject[]> {
    return (await this.scanAll()).objects;
  }

  async scanAll(): Promise<{ objects: GrootObject[]; bad: BadStatusFile[] }> {
    const objects: GrootObject[] = []; const bad: BadStatusFile[] = [];
    for (const k of KINDS) {
      const r = await this.scanObjects(k);
      objects.push(...r.objects); bad.push(...r.bad);
    }
    return { objects, bad };
  }
}

// Status of drop-in objects, kept as files under the store so `groot get` and
// `groot describe` can print them (the drop-in mode's API server, in effect):
//   <store>/meta/status/<plural>/<namespace>/<name>.json   the object with its status
//   <store>/meta/status/events/<plural>/<namespace>/<name>.json   its recent events
//   <store>/meta/status/problems.json   source problems no object can carry
// Writes are temp+rename (readers never see half a file). No fsync: status is rebuilt by
// the next reconcile, so losing the last write in a crash costs nothing.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KINDS, PLURAL, type GrootObject, type Kind } from '../api/index.js';
import type { EventType, SourceProblem } from './source.js';

export interface RecordedEvent { type: EventType; reason: string; message: string; count: number; firstTimestamp: string; lastTimestamp: string }

export interface ProblemsFile { source: string; updated: string; problems: SourceProblem[] }

const MAX_EVENTS = 20;

export function statusDir(storePath: string): string {
  return join(storePath, 'meta', 'status');
}

async function writeQuick(path: string, value: unknown): Promise<void> {
  const dir = join(path, '..');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
  await writeFile(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, path);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (e instanceof SyntaxError) return undefined; // a torn file from an older writer: ignore it
    throw e;
  }
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

  async writeObject(obj: GrootObject): Promise<void> {
    await writeQuick(this.objectPath(obj.kind, obj.metadata.namespace ?? 'default', obj.metadata.name), obj);
  }

  async readObject(kind: Kind, namespace: string, name: string): Promise<GrootObject | undefined> {
    return readJson<GrootObject>(this.objectPath(kind, namespace, name));
  }

  /** Every object of a kind, sorted by namespace then name. */
  async listObjects(kind: Kind): Promise<GrootObject[]> {
    const base = join(this.root, PLURAL[kind]);
    const out: GrootObject[] = [];
    let namespaces: string[] = [];
    try { namespaces = (await readdir(base)).sort(); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    for (const ns of namespaces) {
      let files: string[] = [];
      try { files = (await readdir(join(base, ns))).filter((f) => f.endsWith('.json') && !f.startsWith('.')).sort(); } catch { continue; }
      for (const f of files) {
        const o = await readJson<GrootObject>(join(base, ns, f));
        if (o && o.kind === kind) out.push(o);
      }
    }
    return out.sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  }

  async removeObject(kind: Kind, namespace: string, name: string): Promise<void> {
    await rm(this.objectPath(kind, namespace, name), { force: true });
    await rm(this.eventsPath(kind, namespace, name), { force: true });
  }

  async appendEvent(kind: Kind, namespace: string, name: string, ev: { type: EventType; reason: string; message: string }, now = new Date()): Promise<void> {
    const path = this.eventsPath(kind, namespace, name);
    const list = (await readJson<RecordedEvent[]>(path)) ?? [];
    const last = list[list.length - 1];
    const ts = now.toISOString();
    if (last && last.type === ev.type && last.reason === ev.reason && last.message === ev.message) {
      last.count += 1;
      last.lastTimestamp = ts;
    } else {
      list.push({ ...ev, count: 1, firstTimestamp: ts, lastTimestamp: ts });
    }
    await writeQuick(path, list.slice(-MAX_EVENTS));
  }

  async readEvents(kind: Kind, namespace: string, name: string): Promise<RecordedEvent[]> {
    return (await readJson<RecordedEvent[]>(this.eventsPath(kind, namespace, name))) ?? [];
  }

  async writeProblems(source: string, problems: SourceProblem[]): Promise<void> {
    await writeQuick(join(this.root, 'problems.json'), { source, updated: new Date().toISOString(), problems } satisfies ProblemsFile);
  }

  async readProblems(): Promise<ProblemsFile | undefined> {
    return readJson<ProblemsFile>(join(this.root, 'problems.json'));
  }

  async allObjects(): Promise<GrootObject[]> {
    const out: GrootObject[] = [];
    for (const k of KINDS) out.push(...(await this.listObjects(k)));
    return out;
  }
}

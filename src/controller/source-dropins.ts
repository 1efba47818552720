// Desired state from a directory of YAML drop-ins (*.yaml / *.yml, several documents per
// file), watched with chokidar. Every change triggers a rescan of the directory (cheap, and
// a rescan is a complete list by construction); unchanged files are not re-read.
//
// Safety rules:
// - a file that cannot be read or parsed keeps the objects it held before (an editor's
//   half-saved file must not delete a container's root filesystem); the problem is reported;
// - a document that cannot be named (no kind, no metadata.name) likewise keeps the file's
//   previous objects; named objects with a bad spec are delivered, the reconciler reports them;
// - a directory that cannot be read (vanished, EACCES) makes the source unsynced: the cache
//   is kept and nothing is reported deleted until a complete read succeeds again;
// - at start there is no "before" in memory: a file that cannot be read or parsed (or has
//   unnamed documents) on the first scan holds the objects whose status files name it
//   (groot.dev/source-file), as they were last known, until it parses again; this is
//   reported as a problem of that file. (Otherwise start-up repair would remove their root
//   filesystems over a typo.) A file that is gone is gone: its objects are deleted.
//
// Identity (uid, creationTimestamp, generation) is the source's to give, and the RootFS
// reconciler replaces a root filesystem whose controller record has another uid, so:
// - it is kept across restarts in the status files, written durably when it is new or
//   changes (FileStatusWriter; routine status writes are not fsynced);
// - an object with no usable status file (lost in a crash, emptied, garbage, removed by hand)
//   takes the uid and creation time of its controller record: without a persisted identity,
//   the record is the identity;
// - a fresh uid is given only to an object never seen before, or seen gone (a complete scan
//   without it) and back.
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { randomUUID } from 'node:crypto';
import { watch, type FSWatcher } from 'chokidar';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_NAMESPACE, NODE_LABEL, SOURCE_FILE_ANNOTATION, describeRef, formatErrors, identify, keyOf, objectKey, type GrootObject, type Image, type Kind, type ObjectRef } from '../api/index.js';
import { parseSource, formatSource } from '../image/source-ref.js';
import { messageOf } from '../errors/index.js';
import { logger } from '../log/index.js';
import type { Change, ChangeHandler, EventType, Source, SourceProblem, StatusWriter } from './source.js';
import { StatusFiles } from './status-files.js';
import { Records, specHash } from './records.js';

const log = logger('dropins');

export interface DropinOptions {
  dir: string;
  node: string;
  storePath: string;
  /** Full rescan period: a safety net behind the watcher, and how a vanished directory is noticed coming back. */
  rescanMs?: number;
  /** Coalesce bursts of file events. */
  debounceMs?: number;
  /** A file changed less than this long ago is read only once it stopped changing (default 200). */
  settleMs?: number;
}

interface FileState { sig: string; objects: GrootObject[]; problems: SourceProblem[] }
/** specHash undefined: taken from a controller record, the spec it was for unknown (the first scan's spec is generation 1). */
interface Meta { uid: string; creationTimestamp: string; generation: number; specHash?: string }

const identityOf = (o: GrootObject) => JSON.stringify([o.metadata.uid ?? '', o.metadata.creationTimestamp ?? '', o.metadata.generation ?? 0]);

/**
 * Status files of drop-in objects. A write whose object carries an identity (uid, creation
 * time, generation) not yet on disk is durable (file and dir fsynced): the identity survives
 * a power loss. Other writes are temp+rename only. Writes for one object come serialized
 * (status-store.ts).
 */
export class FileStatusWriter implements StatusWriter {
  /** key -> identity the object's status file holds durably. */
  private readonly persisted = new Map<string, string>();
  constructor(private readonly files: StatusFiles) {}
  /** The status file of `obj` was read at start: its identity is on disk. */
  notePersisted(obj: GrootObject): void { this.persisted.set(objectKey(obj), identityOf(obj)); }
  async write(obj: GrootObject, status: GrootObject['status']): Promise<void> {
    const key = objectKey(obj);
    const id = identityOf(obj);
    const durable = this.persisted.get(key) !== id;
    await this.files.writeObject({ ...obj, status } as GrootObject, { durable });
    if (durable) this.persisted.set(key, id);
  }
  async forget(ref: ObjectRef): Promise<void> {
    this.persisted.delete(`${ref.kind}/${ref.namespace}/${ref.name}`);
    await this.files.removeObject(ref.kind, ref.namespace, ref.name);
  }
}

const toSeconds = (iso: string) => new Date(iso).toISOString().replace(/\.\d{3}Z$/, 'Z');

export class DropinSource implements Source {
  readonly name = 'dropins' as const;
  readonly usesFinalizers = false;
  readonly operatorOwned = true;
  readonly status: FileStatusWriter;
  readonly files: StatusFiles;

  private fileStates = new Map<string, FileState>();
  private objects = new Map<string, { obj: GrootObject; file: string }>();
  private readonly meta = new Map<string, Meta>();
  private readonly seededStatus = new Map<string, GrootObject['status']>();
  /** Until the first complete scan: drop-in file -> the objects its status files say it held. */
  private lastKnownByFile = new Map<string, GrootObject[]>();
  /** Objects that had status files at start; those gone from the first complete scan lose them. */
  private seededKeys = new Map<string, GrootObject>();
  private problemList: SourceProblem[] = [];
  private problemsStamp = '';
  private isSynced = false;
  private firstScanDone = false;
  private onChange: ChangeHandler = () => {};
  private watcher?: FSWatcher;
  private rescanTimer?: NodeJS.Timeout;
  private debounceTimer?: NodeJS.Timeout;
  private scanning?: Promise<void>;
  private rescanAgain = false;
  private stopped = false;
  private syncWaiters: (() => void)[] = [];

  constructor(private readonly opts: DropinOptions) {
    this.files = new StatusFiles(opts.storePath);
    this.status = new FileStatusWriter(this.files);
  }

  async start(onChange: ChangeHandler): Promise<void> {
    this.onChange = onChange;
    await this.seedIdentities();
    await this.scan();
    this.rescanTimer = setInterval(() => this.schedule(0), this.opts.rescanMs ?? 5000);
    this.rescanTimer.unref?.();
  }

  /**
   * Keep uid, creation time and generation stable across restarts: they come from the status
   * files written for the objects last time, else from the controller's records.
   */
  private async seedIdentities(): Promise<void> {
    const { objects, bad } = await this.files.scanAll();
    for (const o of objects) {
      const key = objectKey(o);
      const md = o.metadata;
      if (md.uid && md.creationTimestamp) {
        this.meta.set(key, { uid: md.uid, creationTimestamp: md.creationTimestamp, generation: md.generation ?? 1, specHash: specHash(o.spec) });
        this.status.notePersisted(o);
      }
      if (o.status) this.seededStatus.set(key, o.status);
      this.seededKeys.set(key, o);
      const file = md.annotations?.[SOURCE_FILE_ANNOTATION];
      if (typeof file === 'string' && file !== '' && md.uid && o.spec && typeof o.spec === 'object') {
        const { status: _status, ...obj } = o as GrootObject & { status?: unknown };
        const list = this.lastKnownByFile.get(resolvePath(file)) ?? [];
        list.push(obj as GrootObject);
        this.lastKnownByFile.set(resolvePath(file), list);
      }
    }
    for (const b of bad) {
      log.warn({ file: b.path, reason: b.reason }, `status file of ${b.kind} ${b.namespace}/${b.name} holds no usable object (${b.reason}): ignored; the object keeps the identity of its controller record if there is one, and the file is written again (or removed, if the object is gone)`);
      const key = keyOf({ kind: b.kind, namespace: b.namespace, name: b.name });
      if (!this.seededKeys.has(key)) this.seededKeys.set(key, { kind: b.kind, metadata: { namespace: b.namespace, name: b.name } } as GrootObject);
    }
    // No status file (or an unusable one): what the controller made for the object carries
    // its uid. A new uid here would make the RootFS reconciler replace the root filesystem.
    const records = new Records(this.opts.storePath);
    let recs: { kind: Kind; namespace: string; name: string; uid?: string; at?: string }[] = [];
    try {
      recs = [
        ...(await records.listRootfs()).map((r) => ({ kind: 'RootFS' as const, namespace: r.namespace, name: r.name, uid: r.uid, at: r.createdAt })),
        ...(await records.listImages()).map((r) => ({ kind: 'Image' as const, namespace: r.namespace, name: r.name, uid: r.uid, at: r.pulledAt })),
      ];
    } catch (e) {
      log.warn({ err: messageOf(e) }, 'cannot read the controller records: objects without a status file get new uids');
    }
    for (const r of recs) {
      if (!r.uid || typeof r.namespace !== 'string' || typeof r.name !== 'string') continue;
      const key = keyOf({ kind: r.kind, namespace: r.namespace, name: r.name });
      if (this.meta.has(key)) continue; // the status file's identity wins: it is the source's own word
      let created: string;
      try { created = toSeconds(r.at ?? ''); } catch { created = toSeconds(new Date().toISOString()); }
      this.meta.set(key, { uid: r.uid, creationTimestamp: created, generation: 1 });
      log.info({ key, uid: r.uid }, 'no status file for the object: taking its uid from the controller record');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.rescanTimer);
    clearTimeout(this.debounceTimer);
    await this.closeWatcher();
    await this.scanning;
  }

  synced(): boolean { return this.isSynced; }

  waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.isSynced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.isSynced), timeoutMs);
      this.syncWaiters.push(() => { clearTimeout(t); resolve(true); });
    });
  }

  get(key: string): GrootObject | undefined { return this.objects.get(key)?.obj; }

  list(kind?: Kind): GrootObject[] {
    return [...this.objects.values()].map((e) => e.obj).filter((o) => !kind || o.kind === kind);
  }

  problems(): SourceProblem[] { return [...this.problemList]; }

  async addFinalizer(obj: GrootObject): Promise<GrootObject> { return obj; }
  async removeFinalizer(): Promise<void> {}

  event(obj: GrootObject, type: EventType, reason: string, message: string): void {
    const ref = { kind: obj.kind, namespace: obj.metadata.namespace ?? DEFAULT_NAMESPACE, name: obj.metadata.name };
    (type === 'Warning' ? log.warn : log.info).call(log, { object: describeRef(ref), reason }, message);
    this.files.appendEvent(ref.kind, ref.namespace, ref.name, { type, reason, message }).catch((e) => log.warn({ err: messageOf(e) }, 'event file write failed'));
  }

  async credentials(obj: Image): Promise<{ options: { credentialsFile?: string }; release(): Promise<void> }> {
    const name = obj.spec.credentialsSecretRef?.name;
    return { options: name ? { credentialsFile: name } : {}, release: async () => {} };
  }

  /** Rescan soon (coalescing bursts). */
  private schedule(delay = this.opts.debounceMs ?? 30): void {
    if (this.stopped) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => { void this.scan(); }, delay);
    this.debounceTimer.unref?.();
  }

  private scan(): Promise<void> {
    if (this.scanning) { this.rescanAgain = true; return this.scanning; }
    this.scanning = (async () => {
      try {
        do {
          this.rescanAgain = false;
          await this.scanOnce();
        } while (this.rescanAgain && !this.stopped);
      } catch (e) {
        log.error({ err: messageOf(e) }, 'drop-in scan failed');
      } finally {
        this.scanning = undefined;
      }
    })();
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const dir = this.opts.dir;
    let names: string[];
    try {
      const entries = await readdir(dir, { withFileTypes: true });
      names = entries.filter((e) => /\.ya?ml$/i.test(e.name) && !e.name.startsWith('.') && (e.isFile() || e.isSymbolicLink())).map((e) => join(dir, e.name)).sort();
    } catch (e) {
      if (this.isSynced) log.warn({ dir, err: messageOf(e) }, 'drop-in directory cannot be read: keeping what was last read; nothing is removed until it can be read again');
      this.isSynced = false;
      await this.closeWatcher();
      await this.setProblems([{ where: dir, message: `drop-in directory cannot be read: ${messageOf(e)}; keeping the ${this.objects.size} objects last read` }]);
      return;
    }
    if (!this.watcher && !this.stopped) this.openWatcher();

    const next = new Map<string, FileState>();
    for (const f of names) {
      let sig: string;
      try {
        const st = await this.settledStat(f);
        if (!st.isFile()) continue;
        sig = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed while scanning
        next.set(f, this.unreadable(f, '', this.fileStates.get(f), e));
        continue;
      }
      const prev = this.fileStates.get(f);
      next.set(f, prev && prev.sig === sig ? prev : await this.parseFile(f, sig, prev));
    }
    if (this.stopped) return;

    const objects = new Map<string, { obj: GrootObject; file: string }>();
    const problems: SourceProblem[] = [];
    for (const [f, st] of next) {
      problems.push(...st.problems);
      for (const o of st.objects) {
        const key = objectKey(o);
        const other = objects.get(key);
        if (other) {
          problems.push({ where: f, object: describeRef({ kind: o.kind, namespace: o.metadata.namespace!, name: o.metadata.name }), message: `defined again: already defined in ${other.file}; this copy is ignored` });
          continue;
        }
        objects.set(key, { obj: o, file: f });
      }
    }

    const changes: Change[] = [];
    for (const [key, e] of objects) {
      const obj = this.stamp(key, e.obj);
      e.obj = obj;
      const old = this.objects.get(key);
      if (!old) changes.push({ type: 'added', key, object: obj });
      else if (fingerprint(old.obj) !== fingerprint(obj)) changes.push({ type: 'modified', key, object: obj });
      else e.obj = old.obj;
    }
    for (const [key, old] of this.objects) {
      if (!objects.has(key)) { changes.push({ type: 'deleted', key, object: old.obj }); this.meta.delete(key); }
    }
    this.fileStates = next;
    this.objects = objects;
    await this.setProblems(problems);
    const wasSynced = this.isSynced;
    this.isSynced = true;
    if (!this.firstScanDone) {
      this.firstScanDone = true;
      this.lastKnownByFile = new Map();
      // Identities (from status files or records) of objects gone while the controller was
      // down end here: if one comes back later, it is a new object.
      for (const k of [...this.meta.keys()]) if (!objects.has(k)) this.meta.delete(k);
    }
    if (this.seededKeys.size) {
      // Status files of objects deleted while the controller was down. (What those objects
      // made on the node is removed by start-up repair, from the controller's records.)
      const stale = [...this.seededKeys].filter(([k]) => !objects.has(k));
      this.seededKeys = new Map();
      for (const [k, o] of stale) {
        log.info({ key: k }, 'object gone while the controller was down: removing its status file');
        await this.status.forget({ kind: o.kind, namespace: o.metadata.namespace ?? DEFAULT_NAMESPACE, name: o.metadata.name }).catch(() => undefined);
      }
    }
    if (!wasSynced) { const w = this.syncWaiters; this.syncWaiters = []; for (const r of w) r(); }
    for (const c of changes) {
      log.debug({ key: c.key, type: c.type }, 'drop-in change');
      this.onChange(c);
    }
  }

  /** uid, creationTimestamp and generation (bumped when the spec changes). */
  private stamp(key: string, obj: GrootObject): GrootObject {
    const h = specHash(obj.spec);
    let m = this.meta.get(key);
    if (!m) m = { uid: randomUUID(), creationTimestamp: toSeconds(new Date().toISOString()), generation: 1, specHash: h };
    else if (m.specHash === undefined) m = { ...m, specHash: h };
    else if (m.specHash !== h) m = { ...m, generation: m.generation + 1, specHash: h };
    this.meta.set(key, m);
    const seeded = this.seededStatus.get(key);
    this.seededStatus.delete(key);
    return {
      ...obj,
      metadata: { ...obj.metadata, uid: m.uid, creationTimestamp: m.creationTimestamp, generation: m.generation },
      ...(seeded ? { status: seeded } : {}),
    } as GrootObject;
  }

  /**
   * stat() of a file that has not changed for settleMs. Writers truncate and then write
   * (`cat >`, most tools): read in between, a file that lost its second document would
   * delete that object and its root filesystem. ctime, not mtime: the kernel sets it, to
   * now, on every write, where mtime can be set to anything (cp -p, tar). A file that keeps
   * changing is taken as it is after ten times as long.
   */
  private async settledStat(f: string): Promise<Awaited<ReturnType<typeof stat>>> {
    const settle = this.opts.settleMs ?? 200;
    const deadline = Date.now() + settle * 10;
    for (;;) {
      const st = await stat(f);
      const quiet = Date.now() - st.ctimeMs;
      if (quiet >= settle || Date.now() >= deadline || this.stopped) return st;
      await new Promise((r) => setTimeout(r, Math.min(settle - quiet, deadline - Date.now()) + 1));
    }
  }

  private async parseFile(f: string, sig: string, prev: FileState | undefined): Promise<FileState> {
    let text: string;
    try { text = await readFile(f, 'utf8'); } catch (e) {
      return this.unreadable(f, sig, prev, e);
    }
    const docs = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
    const problems: SourceProblem[] = [];
    docs.forEach((doc, i) => {
      for (const err of doc.errors) {
        const pos = err.linePos?.[0] ? `, line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
        const what = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        problems.push({ where: f, message: `not valid YAML (document ${i + 1}${pos}): ${what}` });
      }
    });
    if (problems.length) {
      log.warn({ file: f, problems: problems.map((p) => p.message) }, 'drop-in file is not valid YAML: keeping the objects it held before');
      return { sig, objects: this.previousObjects(f, prev), problems: [...problems, ...this.keptProblems(f, prev)] };
    }
    const objects: GrootObject[] = [];
    let incomplete = false;
    docs.forEach((doc, i) => {
      const value = doc.toJS() as unknown;
      if (value === null || value === undefined) return; // empty document
      const { ref, errors } = identify(value);
      if (!ref) {
        incomplete = true;
        problems.push({ where: `${f} (document ${i + 1})`, field: errors[0]?.field, message: formatErrors(undefined, errors, f) });
        return;
      }
      const raw = value as GrootObject;
      const nodeLabel = raw.metadata.labels?.[NODE_LABEL];
      if (nodeLabel !== undefined && nodeLabel !== this.opts.node) {
        log.debug({ file: f, object: describeRef(ref), node: nodeLabel }, 'object is for another node: ignored');
        return;
      }
      objects.push(normalize(raw, ref, f));
    });
    if (incomplete) {
      const have = new Set(objects.map(objectKey));
      for (const o of this.previousObjects(f, prev)) if (!have.has(objectKey(o))) objects.push(o);
      for (const p of this.keptProblems(f, prev, have)) problems.push(p);
    }
    for (const p of problems) log.warn({ file: p.where, field: p.field }, p.message);
    return { sig, objects, problems };
  }

  /** A file that cannot be stat'ed or read: it keeps its objects, warned once per cause. */
  private unreadable(f: string, sig: string, prev: FileState | undefined, e: unknown): FileState {
    const message = `cannot read: ${messageOf(e)}`;
    if (prev?.problems[0]?.message !== message) log.warn({ file: f, err: messageOf(e) }, 'drop-in file cannot be read: keeping the objects it held before');
    return { sig, objects: this.previousObjects(f, prev), problems: [{ where: f, message }, ...this.keptProblems(f, prev)] };
  }

  /**
   * What a file that cannot be read or parsed keeps: what it held at the last good read, or,
   * before the first complete scan (at start, nothing read yet), the objects whose status
   * files name it as their source.
   */
  private previousObjects(f: string, prev: FileState | undefined): GrootObject[] {
    if (prev) return prev.objects;
    if (this.firstScanDone) return [];
    return this.lastKnownByFile.get(resolvePath(f)) ?? [];
  }

  /** At start: a problem naming each object a broken file keeps from its status file. */
  private keptProblems(f: string, prev: FileState | undefined, except = new Set<string>()): SourceProblem[] {
    if (prev || this.firstScanDone) return [];
    return (this.lastKnownByFile.get(resolvePath(f)) ?? []).filter((o) => !except.has(objectKey(o))).map((o) => {
      const object = describeRef({ kind: o.kind, namespace: o.metadata.namespace ?? DEFAULT_NAMESPACE, name: o.metadata.name });
      log.warn({ file: f, object }, `${object}: its drop-in file cannot be used at start: kept as last known (uid ${o.metadata.uid}, from its status file); nothing is removed until the file parses again`);
      return { where: f, object, message: `${object} kept as last known (uid ${o.metadata.uid}, from its status file) because the file cannot be used; nothing is removed until the file parses again or is deleted` };
    });
  }

  private async setProblems(problems: SourceProblem[]): Promise<void> {
    const stamp = JSON.stringify(problems);
    this.problemList = problems;
    if (stamp === this.problemsStamp) return;
    this.problemsStamp = stamp;
    try { await this.files.writeProblems(`dropins:${this.opts.dir}`, problems); } catch (e) {
      log.warn({ err: messageOf(e) }, 'cannot write the problems file');
    }
  }

  private openWatcher(): void {
    const w = watch(this.opts.dir, { ignoreInitial: true, depth: 0, persistent: false });
    w.on('all', () => this.schedule());
    w.on('error', (e) => { log.warn({ err: messageOf(e) }, 'drop-in watcher error'); this.schedule(); });
    this.watcher = w;
  }

  private async closeWatcher(): Promise<void> {
    const w = this.watcher;
    this.watcher = undefined;
    if (!w) return;
    const closed = w.close();
    // chokidar may still emit an error from a stat that was in flight (a symlink loop),
    // after close() removed every listener: unheard, it would crash the process.
    w.on('error', () => {});
    await closed.catch(() => undefined);
  }
}

function fingerprint(o: GrootObject): string {
  const { labels, annotations, generation, uid } = o.metadata;
  return JSON.stringify([labels ?? {}, annotations ?? {}, generation, uid, o.spec]);
}

/** Defaults namespace, notes the file, and resolves relative paths against the file's directory. */
function normalize(raw: GrootObject, ref: ObjectRef, file: string): GrootObject {
  const dir = dirname(file);
  const metadata = {
    ...raw.metadata,
    namespace: ref.namespace,
    annotations: { ...(raw.metadata.annotations ?? {}), [SOURCE_FILE_ANNOTATION]: file },
  };
  // Fields only the source may set are dropped from files.
  delete (metadata as Record<string, unknown>).uid;
  delete (metadata as Record<string, unknown>).generation;
  delete (metadata as Record<string, unknown>).creationTimestamp;
  delete (metadata as Record<string, unknown>).deletionTimestamp;
  delete (metadata as Record<string, unknown>).resourceVersion;
  delete (metadata as Record<string, unknown>).finalizers;
  const spec = raw.spec && typeof raw.spec === 'object' ? { ...raw.spec } as Record<string, unknown> : raw.spec;
  if (spec && typeof spec === 'object') {
    const field = ref.kind === 'Image' ? 'source' : 'image';
    if (typeof spec[field] === 'string') spec[field] = resolveRelativeSource(spec[field] as string, dir);
    const cred = (spec.credentialsSecretRef as { name?: unknown } | undefined)?.name;
    if (ref.kind === 'Image' && typeof cred === 'string' && cred !== '' && !cred.startsWith('/')) {
      spec.credentialsSecretRef = { ...(spec.credentialsSecretRef as object), name: join(dir, cred) };
    }
  }
  return { apiVersion: raw.apiVersion, kind: raw.kind, metadata, spec } as unknown as GrootObject;
}

/** `oci:REL[:TAG]`, `./x.tar`, `../x.tar` -> absolute, against the drop-in file's directory. */
export function resolveRelativeSource(s: string, dir: string): string {
  const relOci = /^oci:(?!\/)/.test(s);
  const relPath = s.startsWith('./') || s.startsWith('../');
  if (!relOci && !relPath) return s;
  try { return formatSource(parseSource(s, dir)); } catch { return s; }
}


// What the controller made, kept next to the engine's metadata:
//   <store>/meta/controller/rootfs/<id>.json   a RootFS's root filesystem: ours to remove
//   <store>/meta/controller/images/<pin>.json  an Image's pull + pin: ours to unpin
// A record is written BEFORE the engine call that makes the thing, so after a crash every
// root filesystem the controller may have made has a record (start-up repair relies on it),
// and nothing without a record (e.g. made by Garden through the CLI) is ever touched.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { writeJsonAtomic } from '../sys/index.js';
import { DEFAULT_NAMESPACE, type ImageSpec, type ObjectRef, type RootFSSpec } from '../api/index.js';

export interface RootfsRecord {
  id: string;
  namespace: string;
  name: string;
  uid?: string;
  /** The spec (defaults filled) the root filesystem was made from: immutable afterwards. */
  spec: RootFSSpec;
  /** The source string handed to the engine. */
  source?: string;
  createdAt: string;
}

export interface ImageRecord {
  namespace: string;
  name: string;
  uid?: string;
  pin: string;
  /** Hash of the spec (defaults filled) that was pulled. */
  specHash: string;
  source: string;
  digest: string;
  layers: number;
  compressedBytes: number;
  unpackedBytes: number;
  pulledAt: string;
}

/**
 * Engine id of a RootFS: its name in the default namespace (so the path is
 * <store>/images/<name>/rootfs), "<namespace>_<name>" elsewhere. '_' cannot occur in
 * Kubernetes names, so the two forms never collide.
 */
export function rootfsId(ref: Pick<ObjectRef, 'namespace' | 'name'>): string {
  return ref.namespace === DEFAULT_NAMESPACE ? ref.name : `${ref.namespace}_${ref.name}`;
}

/** Pin name of an Image: the same scheme, prefixed so pins read as the controller's. */
export function pinName(ref: Pick<ObjectRef, 'namespace' | 'name'>): string {
  return `controller_${ref.namespace}_${ref.name}`;
}

export function specHash(spec: ImageSpec | RootFSSpec): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]));
    return v;
  };
  return createHash('sha256').update(JSON.stringify(sorted(spec))).digest('hex').slice(0, 16);
}

async function readAll<T>(dir: string): Promise<T[]> {
  let names: string[];
  try { names = await readdir(dir); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []; throw e; }
  const out: T[] = [];
  for (const n of names.filter((x) => x.endsWith('.json') && !x.startsWith('.')).sort()) {
    try { out.push(JSON.parse(await readFile(join(dir, n), 'utf8')) as T); } catch { /* unreadable record: skip, repair keeps it */ }
  }
  return out;
}

async function readOne<T>(path: string): Promise<T | undefined> {
  try { return JSON.parse(await readFile(path, 'utf8')) as T; } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export class Records {
  readonly root: string;
  constructor(storePath: string) { this.root = join(storePath, 'meta', 'controller'); }

  private rootfsPath(id: string): string { return join(this.root, 'rootfs', `${id}.json`); }
  private imagePath(pin: string): string { return join(this.root, 'images', `${pin}.json`); }

  getRootfs(id: string): Promise<RootfsRecord | undefined> { return readOne(this.rootfsPath(id)); }
  putRootfs(r: RootfsRecord): Promise<void> { return writeJsonAtomic(this.rootfsPath(r.id), r); }
  async removeRootfs(id: string): Promise<void> { await rm(this.rootfsPath(id), { force: true }); }
  listRootfs(): Promise<RootfsRecord[]> { return readAll(join(this.root, 'rootfs')); }

  getImage(pin: string): Promise<ImageRecord | undefined> { return readOne(this.imagePath(pin)); }
  putImage(r: ImageRecord): Promise<void> { return writeJsonAtomic(this.imagePath(r.pin), r); }
  async removeImage(pin: string): Promise<void> { await rm(this.imagePath(pin), { force: true }); }
  listImages(): Promise<ImageRecord[]> { return readAll(join(this.root, 'images')); }
}

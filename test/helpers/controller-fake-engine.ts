// An in-memory Engine (our own interface) for controller unit tests: records calls, can be
// told to fail or to block, simulates mounts going away.
import { RootfsExistsError, RootfsNotFoundError, ImageNotFoundError } from '../../src/errors/index.js';
import type { CleanResult, CreateOptions, Engine, ImageInfo, PullOptions, RootfsInfo, RuntimeSpec, Stats } from '../../src/rootfs/types.js';
import { idMapOf, readNamespace } from '../../src/store/namespace.js';

export interface FakeImage { digest: string; layers: number; size: number }

export class FakeEngine implements Engine {
  readonly calls: { op: string; arg: string }[] = [];
  readonly images = new Map<string, FakeImage>();
  readonly rootfs = new Map<string, RootfsInfo>();
  readonly pins = new Map<string, string>();
  readonly creates: CreateOptions[] = [];
  readonly pulls: (PullOptions & { pin?: string })[] = [];
  /** op -> error to throw once per call while set. */
  readonly failures = new Map<string, Error>();
  /** op -> promise the op waits for (to hold it in flight). */
  readonly gates = new Map<string, Promise<void>>();
  usage = 1000;
  cleaned = 0;

  constructor(readonly storePath: string) {}

  /** From the store's namespace.json, as a real store reads it (tests write one). */
  get idMap() { return idMapOf(readNamespace(this.storePath)); }

  private async enter(op: string, arg: string, signal?: AbortSignal): Promise<void> {
    this.calls.push({ op, arg });
    const gate = this.gates.get(op);
    if (gate) {
      await new Promise<void>((resolve, reject) => {
        gate.then(resolve, reject);
        signal?.addEventListener('abort', () => reject(new Error(`${op} aborted`)), { once: true });
      });
    }
    const f = this.failures.get(op);
    if (f) throw f;
  }

  count(op: string): number { return this.calls.filter((c) => c.op === op).length; }

  private info(source: string): ImageInfo {
    // A source pinned by digest finds the image with that digest.
    const pinned = /@(sha256:[0-9a-f]{64})$/.exec(source)?.[1];
    const img = this.images.get(source) ?? (pinned ? [...this.images.values()].find((i) => i.digest === pinned) : undefined);
    if (!img) throw new ImageNotFoundError(`${source}: no such image`);
    return {
      source, digest: img.digest, config: { env: ['PATH=/bin'], user: '', workingDir: '', raw: {} },
      chainIDs: Array.from({ length: img.layers }, (_, i) => `sha256:${String(i).repeat(64).slice(0, 64)}`),
      compressedSize: Math.floor(img.size / 2), unpackedSize: img.size,
    };
  }

  async pull(source: string, opts: PullOptions & { pin?: string } = {}): Promise<ImageInfo> {
    await this.enter('pull', source, opts.signal);
    this.pulls.push(opts);
    const info = this.info(source);
    opts.onProgress?.({ bytesDone: 0, bytesTotal: info.compressedSize, layers: [] });
    opts.onProgress?.({ bytesDone: info.compressedSize, bytesTotal: info.compressedSize, layers: [] });
    if (opts.pin) this.pins.set(opts.pin, info.digest);
    return info;
  }

  async unpin(name: string): Promise<void> {
    await this.enter('unpin', name);
    this.pins.delete(name);
  }

  async create(o: CreateOptions): Promise<{ spec: RuntimeSpec; rootfs: RootfsInfo }> {
    await this.enter('create', o.id, o.signal);
    this.creates.push(o);
    if (this.rootfs.has(o.id)) throw new RootfsExistsError(`image for id \`${o.id}\` already exists`);
    const info = this.info(o.source);
    const path = `${this.storePath}/images/${o.id}/rootfs`;
    const mount = { destination: '/', type: 'overlay', source: 'overlay', options: [`lowerdir=x,upperdir=${this.storePath}/images/${o.id}/diff,workdir=w`] };
    const r: RootfsInfo = {
      id: o.id, path, source: o.source, imageDigest: info.digest, chainIDs: info.chainIDs, mount, mounted: o.mount !== false,
      wantsMount: o.mount !== false, diskLimitBytes: o.diskLimitBytes ?? 0, excludeImageFromQuota: o.excludeImageFromQuota ?? false, createdAt: new Date().toISOString(),
    };
    this.rootfs.set(o.id, r);
    return { spec: { ociVersion: '', process: { user: { uid: 0, gid: 0 }, env: [], cwd: '' }, root: { path }, ...(r.wantsMount ? {} : { mounts: [mount] }) }, rootfs: r };
  }

  async get(id: string): Promise<RootfsInfo | undefined> { return this.rootfs.get(id); }
  async list(): Promise<RootfsInfo[]> { return [...this.rootfs.values()]; }

  async remount(id: string): Promise<void> {
    await this.enter('remount', id);
    const r = this.rootfs.get(id);
    if (!r) throw new RootfsNotFoundError(`image \`${id}\` not found`);
    if (r.wantsMount) r.mounted = true;
  }

  async delete(id: string): Promise<boolean> {
    await this.enter('delete', id);
    return this.rootfs.delete(id);
  }

  async stats(id: string): Promise<Stats> {
    const r = this.rootfs.get(id);
    if (!r) throw new RootfsNotFoundError(`image \`${id}\` not found`);
    return { totalBytesUsed: this.usage, exclusiveBytesUsed: 10, quotaSizeBytes: r.diskLimitBytes, committedSpaceBytes: 0 };
  }

  async clean(opts: { thresholdBytes?: number } = {}): Promise<CleanResult> {
    await this.enter('clean', String(opts.thresholdBytes ?? 0));
    this.cleaned++;
    return { skipped: false, removedVolumes: [], removedImages: [], freedBytes: 5 };
  }

  async capacity(): Promise<number> { return 1 << 30; }
  async close(): Promise<void> {}
}

// Pull: resolve a source, make sure every layer has its volume (unpacking the missing ones
// in parallel: overlay layers are independent), then record the image. The caller holds
// the store lock (shared) throughout.
import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import { applyLayer, createBudget, gzipImpl, SPAWN_MIN_BYTES, type UnpackPool, type PoolApplyOptions } from '../layer/index.js';
import { openImageSource, chainIDs } from '../image/index.js';
import { parseSource } from '../image/source-ref.js';
import type { ImageSource, LayerRef, ResolvedImage, SourceOptions } from '../image/types.js';
import type { LayerExpectation } from '../layer/types.js';
import type { ImageInfo, LayerProgress, PullOptions } from '../rootfs/types.js';
import { AbortedError, InvalidImageError, QuotaExceededError, isGrootError } from '../errors/index.js';
import { logger } from '../log/index.js';
import type { Store } from './store.js';
import type { VolumeMeta } from './volumes.js';
import { inheritImplicitDirs } from './inherit.js';
import { readPlainHttpHosts, rememberSchemes } from './scheme-memo.js';

const log = logger('store.pull');

/** Compressed bytes between two background writebacks while layers unpack. */
const WRITEBACK_EVERY = 32 << 20;

/**
 * Layers unpacked at once when the caller does not say. More than the cores: a layer spends
 * part of its time waiting for the registry (distribution answers a blob GET in 3-4 ms of
 * its own CPU, one after another), so more in flight keep the lanes fed (measured, 40-layer
 * image on 2 cores, pull + create medians of 10: 4 -> 604 ms, 6 -> 591, 8 -> 595; 3 worse).
 */
export const DEFAULT_UNPACK_CONCURRENCY = 6;

export interface PullDeps {
  openSource?: (source: string, opts: SourceOptions) => ImageSource;
  /** Unpack on this thread with this function (tests); wins over `pool`. */
  applyLayer?: typeof applyLayer;
  /** Unpack in these worker threads; without it (and without applyLayer), on this thread. */
  pool?: UnpackPool;
}

export interface PullOutcome { info: ImageInfo; volumes: VolumeMeta[] }

/**
 * Pull `source` into the store. Chain IDs of volumes this call unpacked are pushed onto
 * `created` as they appear, so a caller can discard them when the whole operation fails.
 */
export async function pullImage(store: Store, source: string, opts: PullOptions, created: string[] = [], deps: PullDeps = {}): Promise<PullOutcome> {
  const open = deps.openSource ?? openImageSource;
  const apply = deps.applyLayer ?? applyLayer;
  const pool = deps.applyLayer ? undefined : deps.pool;
  // The store's own copy of the image, when it has all of it: a pinned digest with
  // preferCached needs no source at all; otherwise the source may skip fetching the config.
  let stored: StoredImage | undefined;
  const lookUp = async (digest: string) => (stored = await storedImage(store, source, digest))?.resolved;
  const pinned = opts.preferCached ? pinnedDigest(source) : undefined;
  const fromStore = pinned ? await lookUp(pinned) : undefined;
  // Registry sources only: an OCI layout or tarball create reads no memo.
  const plainBefore = !fromStore && isRegistrySource(source) ? readPlainHttpHosts(store.layout.metaDir) : [];
  const src = fromStore ? undefined : open(source, plainBefore.length > 0 ? { ...opts, plainHttpHosts: plainBefore } : opts);
  if (opts.eagerWorkers && src) pool?.prepare(SPAWN_MIN_BYTES, src.portable?.());
  // The gzip inflater loads its library and tests it (~3 ms) while the manifest is on its way.
  if (src) setImmediate(gzipImpl);
  try {
    const resolved = fromStore ?? await src!.resolve(opts.signal, { cached: lookUp });
    const found = src?.schemesFound?.();
    if (found) await rememberSchemes(store.layout.metaDir, plainBefore, found);
    const known = stored?.resolved === resolved ? stored : undefined;
    const layers = resolved.layers;
    checkChains(source, layers);

    // Volumes already there cost nothing; the rest are unpacked.
    const metas: (VolumeMeta | undefined)[] = known ? [...known.volumes] : await Promise.all(layers.map((l) => store.volumes.get(l.chainID)));
    const progress: LayerProgress[] = layers.map((l, i) => ({
      digest: l.digest, bytesDone: metas[i] ? Math.max(l.size, 0) : 0, bytesTotal: Math.max(l.size, 0), state: metas[i] ? 'cached' : 'waiting',
    }));
    const report = () => opts.onProgress?.({
      bytesDone: progress.reduce((s, p) => s + p.bytesDone, 0),
      bytesTotal: progress.reduce((s, p) => s + p.bytesTotal, 0),
      layers: progress,
    });
    report();

    const cachedBytes = metas.reduce((s, m) => s + (m?.size ?? 0), 0);
    const cap = opts.maxUnpackedBytes && opts.maxUnpackedBytes > 0 ? opts.maxUnpackedBytes : 0;
    if (cap && cachedBytes > cap) throw tooBig(source, cachedBytes, cap);
    // GrootFS's early check: what must be downloaded already exceeds the limit.
    if (cap && resolved.compressedSize > cap) {
      throw new QuotaExceededError(`layers exceed disk quota: ${source} has ${resolved.compressedSize} bytes of compressed layers, more than the disk limit of ${cap} bytes`);
    }
    // Layers unpack side by side, so the limit is one budget they all draw from.
    const budget = cap ? createBudget(cap - cachedBytes, cap) : undefined;

    const abort = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, abort.signal]) : abort.signal;
    setMaxListeners(0, signal); // every layer in flight listens to it, several times over
    const missing = layers.map((_, i) => i).filter((i) => !metas[i]);
    const errors: unknown[] = [];

    // Every WRITEBACK_EVERY compressed bytes, the disk starts on what was unpacked so far.
    let sinceWriteback = 0;
    const wrote = (n: number) => {
      sinceWriteback += n;
      if (sinceWriteback < WRITEBACK_EVERY) return;
      sinceWriteback = 0;
      store.volumes.startWriteback();
    };
    const unpackOne = async (i: number): Promise<void> => {
      const layer = layers[i]!;
      const label = `layer ${i + 1}/${layers.length} ${layer.digest} of ${source}`;
      const validate = layer.verifiable && !opts.skipLayerValidation;
      const expect: LayerExpectation = { label, mediaType: layer.mediaType, ...(layer.size >= 0 ? { size: layer.size } : {}) };
      if (validate) { expect.digest = layer.digest; expect.diffID = layer.diffID; }
      const unpackInto = async (dir: string) => {
        progress[i]!.state = 'fetching';
        report();
        // src is missing only for an image whole in the store (under the store lock): nothing to open then.
        const open = (): Promise<Readable> => src!.openLayer(layer, { signal });
        const applyOpts: PoolApplyOptions = {
          signal,
          ...(budget ? { budget } : {}),
          ...(store.idMap ? { idMap: store.idMap } : {}),
          ...(portable ? { remote: { from: portable, layer } } : {}),
          onBytes: (n) => { progress[i]!.bytesDone += n; report(); wrote(n); },
        };
        // This thread or a worker, whichever has least to do (layer/pool.ts).
        if (pool) return pool.unpack(open, dir, expect, applyOpts, layer.size);
        const blob = await open();
        try {
          return await apply(blob, dir, expect, applyOpts);
        } finally {
          blob.destroy();
        }
      };
      // The turn is taken now, so layers download in layer order; only the download+unpack
      // holds it: committing (the shared syncfs) does not, so the next layer starts while
      // this one waits for the disk. (release is idempotent: an existing volume never used it.)
      const release = await slots.acquire(signal);
      let meta: VolumeMeta;
      let made: boolean;
      try {
        ({ meta, created: made } = await store.volumes.ensure(
          { chainID: layer.chainID, diffID: layer.diffID, digest: layer.digest, source, verified: validate },
          async (dir) => {
            try {
              return await unpackInto(dir);
            } finally {
              release();
            }
          },
          signal,
        ));
      } finally {
        release();
      }
      metas[i] = meta;
      if (made) created.push(layer.chainID);
      progress[i]!.state = made ? 'done' : 'cached';
      progress[i]!.bytesDone = progress[i]!.bytesTotal;
      report();
    };

    // A bounded pool; the first failure stops the others (their incomplete dirs are removed
    // by ensure) and is the one reported.
    // `concurrency` layers download and unpack at once; any number may be committing
    // (waiting for a syncfs costs nothing), so a slow disk never holds up the next download.
    const concurrency = Math.max(1, opts.concurrency ?? DEFAULT_UNPACK_CONCURRENCY);
    const slots = new Slots(concurrency);
    const width = missing.length;
    // A worker fetches its layers itself when the source can be opened there.
    const portable = pool && missing.length > 0 ? src?.portable?.() : undefined;
    pool?.prepare(missing.reduce((s, i) => s + Math.max(layers[i]!.size, 0), 0), portable);
    let next = 0;
    await Promise.all(Array.from({ length: width }, async () => {
      while (next < missing.length && !abort.signal.aborted && !opts.signal?.aborted) {
        const i = missing[next++]!;
        try {
          await unpackOne(i);
        } catch (e) {
          errors.push(e);
          abort.abort(e);
        }
      }
    }));
    if (errors.length > 0) {
      const e = firstRealError(errors);
      // Stopped from outside (Ctrl-C, SIGTERM, shutdown): say so, naming the source, whatever
      // step of which layer noticed first.
      if (opts.signal?.aborted && isAbort(e)) throw new AbortedError(`pull of ${source} aborted`, { cause: e });
      throw e;
    }
    if (opts.signal?.aborted) throw new AbortedError(`pull of ${source} aborted`);
    // The new volumes' renames reach the disk before anything refers to them.
    if (missing.length > 0) await store.volumes.flush();

    const volumes = await inheritImplicitDirs(store, metas as VolumeMeta[], opts.signal);
    const unpackedSize = volumes.reduce((s, m) => s + m.size, 0);
    if (cap && unpackedSize > cap) throw tooBig(source, unpackedSize, cap);
    const info: ImageInfo = {
      source,
      digest: resolved.digest,
      config: resolved.config,
      chainIDs: layers.map((l) => l.chainID),
      compressedSize: resolved.compressedSize,
      unpackedSize,
    };
    // An image taken from the store's record is recorded already; otherwise write the record
    // unless it is there as it would be written (saves two fsyncs on a warm create).
    if (!known) {
      const recorded = await store.images.get(info.digest);
      if (!recorded || !sameImage(recorded, info)) await store.images.put(info);
    }
    log.debug({ source, digest: info.digest, layers: layers.length, unpacked: created.length }, 'pulled');
    return { info, volumes };
  } finally {
    await src?.close();
  }
}

interface StoredImage { resolved: ResolvedImage; volumes: VolumeMeta[] }

/**
 * The store's image for a manifest digest, when its record and every volume are there
 * (nothing will be fetched, so layer sizes are not needed: 0).
 */
async function storedImage(store: Store, source: string, digest: string): Promise<StoredImage | undefined> {
  const record = await store.images.get(digest).catch(() => undefined);
  if (!record) return undefined;
  const metas = await Promise.all(record.chainIDs.map((c) => store.volumes.get(c).catch(() => undefined)));
  if (metas.some((m) => !m)) return undefined;
  const volumes = metas as VolumeMeta[];
  const layers = volumes.map((m) => ({ digest: m.digest, diffID: m.diffID, size: 0, mediaType: '', chainID: m.chainID, verifiable: true }));
  return { resolved: { source, digest: record.digest, config: record.config, layers, compressedSize: record.compressedSize }, volumes };
}

/** The manifest digest a docker:// or oci: source pins, if it does. */
function pinnedDigest(source: string): string | undefined {
  try {
    const ref = parseSource(source);
    return ref.kind === 'tarball' ? undefined : ref.digest;
  } catch {
    return undefined; // the normal path reports a bad source
  }
}

function isRegistrySource(source: string): boolean {
  try {
    return parseSource(source).kind === 'docker';
  } catch {
    return false; // the normal path reports a bad source
  }
}

/** A counting semaphore whose waiters leave when the signal aborts. */
class Slots {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async acquire(signal: AbortSignal): Promise<() => void> {
    if (this.free > 0) this.free--;
    else {
      await new Promise<void>((resolve, reject) => {
        const wake = () => { signal.removeEventListener('abort', onAbort); resolve(); };
        const onAbort = () => {
          const i = this.waiting.indexOf(wake);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(new AbortedError('pull aborted', { cause: signal.reason }));
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(wake);
      });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

/** Volume keys must follow from the diffIDs, or two images could share a wrong volume. */
function checkChains(source: string, layers: LayerRef[]): void {
  if (!layers.every((l) => l.verifiable)) return;
  const want = chainIDs(layers.map((l) => l.diffID));
  layers.forEach((l, i) => {
    if (l.chainID !== want[i]) throw new InvalidImageError(`${source}: layer ${i + 1} has chain ID ${l.chainID}, but its diffIDs give ${want[i]}`);
  });
}

function tooBig(source: string, size: number, cap: number): QuotaExceededError {
  return new QuotaExceededError(`disk limit is smaller than volume size: ${source} unpacks to ${size} bytes, more than the limit of ${cap} bytes`);
}

const isAbort = (e: unknown) => isGrootError(e, 'GROOT_ABORTED') || (e instanceof Error && e.name === 'AbortError');

/** The failure that caused the abort, not the aborts it caused in sibling unpacks. */
function firstRealError(errors: unknown[]): unknown {
  return errors.find((e) => !isAbort(e)) ?? errors[0];
}

function sameImage(a: ImageInfo, b: ImageInfo): boolean {
  return a.source === b.source && a.unpackedSize === b.unpackedSize && a.compressedSize === b.compressedSize
    && JSON.stringify(a.chainIDs) === JSON.stringify(b.chainIDs) && JSON.stringify(a.config) === JSON.stringify(b.config);
}

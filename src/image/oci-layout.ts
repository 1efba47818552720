// OCI image layouts on disk (image-spec "image-layout"): oci-layout, index.json, blobs/<alg>/<hex>.
// Manifests, indexes and configs are verified against their digests and sizes as they are
// read; layer bytes are handed out raw (the layer unpacker verifies them while unpacking).
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DigestMismatchError, ImageNotFoundError, InvalidArgumentError, InvalidImageError } from '../errors/index.js';
import { logger } from '../log/index.js';
import { parseDigest, verifyBytes } from './digest.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, isManifestDescriptor, parseJsonObject, parseManifest, type Descriptor, type ImageIndex } from './manifest.js';
import { MT } from './media-types.js';
import { hostPlatform, selectPlatform } from './platform.js';
import { buildResolvedImage } from './resolved.js';
import { parseSource, type OciSourceRef } from './source-ref.js';
import { throwIfAborted, withLayerOptions } from './stream.js';
import { portableSource } from './portable.js';
import type { ImageSource, LayerRef, OpenLayerOptions, PortableSource, ResolvedImage, SourceOptions } from './types.js';

const log = logger('image');

export const REF_NAME = 'org.opencontainers.image.ref.name';
// containerd (ctr export, BuildKit) also records the full image name here.
const CONTAINERD_NAME = 'io.containerd.image.name';
// Nested indexes deeper than this are refused rather than followed forever.
const MAX_INDEX_DEPTH = 4;
// index.json lists every tag in the layout; allow it more room than one manifest.
const MAX_INDEX_JSON_BYTES = 64 << 20;

function isErrno(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException)?.code === code;
}

/** The names a layout's index.json entry is known by. */
function namesOf(d: Descriptor): string[] {
  return [d.annotations?.[REF_NAME], d.annotations?.[CONTAINERD_NAME]].filter((n): n is string => !!n);
}

/** "docker.io/library/x:1.2" -> "1.2"; a plain tag has none. */
function tagPart(name: string): string | undefined {
  const colon = name.indexOf(':', name.lastIndexOf('/') + 1);
  return colon > 0 ? name.slice(colon + 1) : undefined;
}

export class OciLayoutSource implements ImageSource {
  readonly ref: OciSourceRef;

  constructor(readonly source: string, private readonly opts: SourceOptions = {}) {
    const ref = parseSource(source);
    if (ref.kind !== 'oci') throw new InvalidArgumentError(`${source}: not an OCI layout source (want oci:///PATH[:TAG])`);
    this.ref = ref;
  }

  async resolve(signal?: AbortSignal): Promise<ResolvedImage> {
    throwIfAborted(signal, this.source);
    await this.checkLayout();
    const top = await this.pickFromIndexJson();
    let desc = top;
    for (let depth = 0; ; depth++) {
      throwIfAborted(signal, this.source);
      const bytes = await this.readJsonBlob(desc, 'manifest', MAX_MANIFEST_BYTES);
      const parsed = parseManifest(bytes, desc.mediaType || undefined, `${this.source}: manifest ${desc.digest}`);
      if (parsed.kind === 'manifest') {
        const config = await this.readJsonBlob(parsed.config, 'config', MAX_CONFIG_BYTES);
        const image = buildResolvedImage(this.source, desc.digest, parsed, config);
        log.debug({ source: this.source, digest: desc.digest, layers: image.layers.length }, 'resolved OCI layout image');
        return image;
      }
      if (depth >= MAX_INDEX_DEPTH) throw new InvalidImageError(`${this.source}: image indexes nest deeper than ${MAX_INDEX_DEPTH} levels`);
      desc = selectPlatform(parsed, this.opts.platform, this.source);
    }
  }

  async openLayer(layer: LayerRef, opts?: OpenLayerOptions): Promise<Readable> {
    throwIfAborted(opts?.signal, this.source);
    const file = this.blobPath(layer.digest, 'layer');
    let fh;
    try {
      fh = await open(file, 'r');
    } catch (e) {
      throw this.blobError(e, layer.digest, 'layer');
    }
    return withLayerOptions(fh.createReadStream(), opts);
  }

  portable(): PortableSource {
    return portableSource(this.source, this.opts);
  }

  async close(): Promise<void> {}

  /** Path of a blob; the digest is validated first, so it cannot name anything outside blobs/. */
  blobPath(digest: string, what: string): string {
    const { algorithm, hex } = parseDigest(digest, `${this.source}: ${what}`);
    return join(this.ref.path, 'blobs', algorithm, hex);
  }

  private blobError(e: unknown, digest: string, what: string): Error {
    if (isErrno(e, 'ENOENT')) return new InvalidImageError(`${this.source}: ${what} blob ${digest} is missing from ${join(this.ref.path, 'blobs')}`, { cause: e });
    return new ImageNotFoundError(`${this.source}: cannot read ${what} blob ${digest}: ${(e as Error).message}`, { cause: e });
  }

  private async checkLayout(): Promise<void> {
    const dir = this.ref.path;
    try {
      const st = await stat(dir);
      if (!st.isDirectory()) throw new ImageNotFoundError(`${this.source}: ${dir} is not a directory, so not an OCI image layout`);
    } catch (e) {
      if (e instanceof ImageNotFoundError) throw e;
      if (isErrno(e, 'ENOENT')) throw new ImageNotFoundError(`${this.source}: path ${dir} does not exist`, { cause: e });
      throw new ImageNotFoundError(`${this.source}: cannot read ${dir}: ${(e as Error).message}`, { cause: e });
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, 'oci-layout'));
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new ImageNotFoundError(`${this.source}: ${dir} is not an OCI image layout (no oci-layout file)`, { cause: e });
      throw new ImageNotFoundError(`${this.source}: cannot read ${join(dir, 'oci-layout')}: ${(e as Error).message}`, { cause: e });
    }
    const layout = parseJsonObject(bytes, this.source, 'oci-layout file');
    const version = layout.imageLayoutVersion;
    if (typeof version !== 'string' || !/^1\.\d+\.\d+$/.test(version)) {
      throw new InvalidImageError(`${this.source}: unsupported imageLayoutVersion ${JSON.stringify(version)} in ${join(dir, 'oci-layout')} (want 1.x.y)`);
    }
  }

  private async readIndexJson(): Promise<ImageIndex> {
    const file = join(this.ref.path, 'index.json');
    let bytes: Buffer;
    try {
      const st = await stat(file);
      if (st.size > MAX_INDEX_JSON_BYTES) throw new InvalidImageError(`${this.source}: ${file} is ${st.size} bytes, over the ${MAX_INDEX_JSON_BYTES}-byte limit`);
      bytes = await readFile(file);
    } catch (e) {
      if (e instanceof InvalidImageError) throw e;
      if (isErrno(e, 'ENOENT')) throw new InvalidImageError(`${this.source}: OCI layout has no index.json`, { cause: e });
      throw new ImageNotFoundError(`${this.source}: cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
    return parseManifest(bytes, MT.ociIndex, `${this.source}: index.json`, { maxBytes: MAX_INDEX_JSON_BYTES }) as ImageIndex;
  }

  /** The index.json entry the source names: by digest, by tag, or the only one. */
  private async pickFromIndexJson(): Promise<Descriptor> {
    const index = await this.readIndexJson();
    const { tag, digest } = this.ref;
    if (digest) {
      const entry = index.manifests.find((d) => d.digest === digest);
      if (entry) return entry;
      // A manifest referenced only from a nested index: take the blob, size from disk.
      try {
        const st = await stat(this.blobPath(digest, 'manifest'));
        return { mediaType: '', digest, size: st.size };
      } catch (e) {
        if (isErrno(e, 'ENOENT')) throw new ImageNotFoundError(`${this.source}: no manifest with digest ${digest} in OCI layout ${this.ref.path}`, { cause: e });
        throw this.blobError(e, digest, 'manifest');
      }
    }
    const images = index.manifests.filter(isManifestDescriptor);
    const tags = [...new Set(images.flatMap((d) => namesOf(d)))].sort();
    const available = tags.length ? `available tags: ${tags.join(', ')}` : 'the layout has no tagged images';
    let candidates: Descriptor[];
    if (tag !== undefined) {
      candidates = images.filter((d) => namesOf(d).includes(tag));
      if (candidates.length === 0) candidates = images.filter((d) => namesOf(d).some((n) => tagPart(n) === tag));
      if (candidates.length === 0) throw new ImageNotFoundError(`${this.source}: tag "${tag}" not found in OCI layout ${this.ref.path} (${available})`);
    } else {
      candidates = images;
      if (candidates.length === 0) throw new ImageNotFoundError(`${this.source}: OCI layout ${this.ref.path} holds no images`);
    }
    const distinct = [...new Map(candidates.map((d) => [d.digest, d])).values()];
    if (distinct.length === 1) return distinct[0]!;
    // Several per-platform manifests under one name (podman-style): choose by platform.
    if (distinct.every((d) => d.platform)) {
      return selectPlatform({ kind: 'index', mediaType: MT.ociIndex, manifests: distinct }, this.opts.platform ?? hostPlatform(), this.source);
    }
    if (tag === undefined) {
      throw new InvalidArgumentError(`${this.source}: OCI layout ${this.ref.path} holds ${distinct.length} images; name one with :TAG (${available})`);
    }
    throw new InvalidImageError(`${this.source}: tag "${tag}" names ${distinct.length} different manifests (${distinct.map((d) => d.digest).join(', ')})`);
  }

  /** Read a manifest/index/config blob whole and verify it against its descriptor. */
  private async readJsonBlob(desc: Descriptor, what: string, max: number): Promise<Buffer> {
    if (desc.size > max) throw new InvalidImageError(`${this.source}: ${what} ${desc.digest} is ${desc.size} bytes, over the ${max}-byte limit`);
    const file = this.blobPath(desc.digest, what);
    let fh;
    try {
      fh = await open(file, 'r');
    } catch (e) {
      throw this.blobError(e, desc.digest, what);
    }
    let bytes: Buffer;
    try {
      // Size first, so a blob far bigger than its descriptor says is never read into memory.
      const { size } = await fh.stat();
      if (size !== desc.size) throw new DigestMismatchError(`${this.source}: ${what} blob ${desc.digest}: size mismatch: expected ${desc.size} bytes, file has ${size}`);
      bytes = await fh.readFile();
    } finally {
      await fh.close();
    }
    verifyBytes(bytes, desc, `${this.source}: ${what} blob ${desc.digest}`);
    return bytes;
  }
}

// A plain root filesystem tarball (a Cloud Foundry stack such as rootfs.tar, maybe gzipped):
// one layer, no config. It carries no digests, so, as GrootFS keys local tarballs by path
// and mtime, its layer id is synthetic:
//   sha256( realpath + "\n" + size + "\n" + mtimeNs )      (decimal numbers, UTF-8)
// used as digest, diffID and chain ID alike, with verifiable: false. Replacing or touching
// the file gives a new id, hence a fresh volume; an unchanged file reuses its volume.
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import type { Readable } from 'node:stream';
import { ImageNotFoundError, InvalidArgumentError } from '../errors/index.js';
import { digestOf } from './digest.js';
import { MT } from './media-types.js';
import { parseSource, type TarballSourceRef } from './source-ref.js';
import { throwIfAborted, withLayerOptions } from './stream.js';
import type { ImageSource, LayerRef, OpenLayerOptions, ResolvedImage } from './types.js';

export function tarballLayerID(realPath: string, size: bigint | number, mtimeNs: bigint): string {
  return digestOf(`${realPath}\n${size}\n${mtimeNs}`);
}

function mediaTypeOf(magic: Buffer): string {
  if (magic.length >= 2 && magic[0] === 0x1f && magic[1] === 0x8b) return MT.ociLayerGzip;
  if (magic.length >= 4 && magic.readUInt32LE(0) === 0xfd2fb528) return MT.ociLayerZstd;
  return MT.ociLayer;
}

export class TarballSource implements ImageSource {
  readonly ref: TarballSourceRef;

  constructor(readonly source: string) {
    const ref = parseSource(source);
    if (ref.kind !== 'tarball') throw new InvalidArgumentError(`${source}: not a tarball path`);
    this.ref = ref;
  }

  /** Open the tarball and check it is a readable regular file; returns its real path and stats. */
  private async openChecked(): Promise<{ fh: FileHandle; real: string; st: BigIntStats }> {
    const path = this.ref.path;
    const unreadable = (e: unknown): ImageNotFoundError => {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read: ${(e as Error).message}`;
      return new ImageNotFoundError(`${this.source}: rootfs tarball ${path} ${why}`, { cause: e });
    };
    const notFile = (st: BigIntStats): ImageNotFoundError | undefined => {
      if (st.isDirectory()) return new ImageNotFoundError(`${this.source}: ${path} is a directory, not a rootfs tarball (an OCI layout is written oci://${path})`);
      if (!st.isFile()) return new ImageNotFoundError(`${this.source}: ${path} is not a regular file, so not a rootfs tarball`);
      return undefined;
    };
    let real: string;
    let fh: FileHandle;
    try {
      real = await realpath(path);
      // stat before open: opening a FIFO would block until someone writes to it.
      const problem = notFile(await stat(real, { bigint: true }));
      if (problem) throw problem;
      fh = await open(real, 'r');
    } catch (e) {
      throw e instanceof ImageNotFoundError ? e : unreadable(e);
    }
    try {
      const st = await fh.stat({ bigint: true });
      const problem = notFile(st);
      if (problem) throw problem;
      return { fh, real, st };
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async resolve(signal?: AbortSignal): Promise<ResolvedImage> {
    throwIfAborted(signal, this.source);
    const { fh, real, st } = await this.openChecked();
    let magic: Buffer;
    try {
      const buf = Buffer.alloc(4);
      const { bytesRead } = await fh.read(buf, 0, 4, 0);
      magic = buf.subarray(0, bytesRead);
    } catch (e) {
      throw new ImageNotFoundError(`${this.source}: rootfs tarball ${this.ref.path} cannot be read: ${(e as Error).message}`, { cause: e });
    } finally {
      await fh.close();
    }
    const id = tarballLayerID(real, st.size, st.mtimeNs);
    const size = Number(st.size);
    const layer: LayerRef = { digest: id, diffID: id, chainID: id, size, mediaType: mediaTypeOf(magic), verifiable: false };
    return { source: this.source, digest: id, config: { env: [], user: '', workingDir: '', raw: {} }, layers: [layer], compressedSize: size };
  }

  async openLayer(layer: LayerRef, opts?: OpenLayerOptions): Promise<Readable> {
    throwIfAborted(opts?.signal, this.source);
    const { fh, real, st } = await this.openChecked();
    // The id promises these exact bytes; a file replaced or touched since resolve() would
    // otherwise be cached under the old file's id.
    if (tarballLayerID(real, st.size, st.mtimeNs) !== layer.digest) {
      await fh.close();
      throw new ImageNotFoundError(`${this.source}: rootfs tarball ${this.ref.path} changed since it was resolved (size or mtime differ); resolve it again`);
    }
    return withLayerOptions(fh.createReadStream(), opts);
  }

  async close(): Promise<void> {}
}

// Build OCI image layouts on disk for tests and benchmarks, with real digests.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { tar, type TarEntry } from './tar.js';

export type Compression = 'gzip' | 'zstd' | 'none';

export interface Descriptor { mediaType: string; digest: string; size: number; annotations?: Record<string, string>; platform?: Record<string, string> }

export interface LayerSpec { entries: TarEntry[]; compression?: Compression }

export interface ImageSpec {
  tag?: string;
  layers: (LayerSpec | TarEntry[] | Buffer)[]; // Buffer = an uncompressed tar made elsewhere
  compression?: Compression; // default gzip
  env?: string[];
  user?: string;
  workingDir?: string;
  os?: string;
  architecture?: string;
  variant?: string;
}

export interface BuiltImage { manifest: Descriptor; config: Descriptor; layers: (Descriptor & { diffID: string })[]; manifestBytes: Buffer }

export function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

export function compress(raw: Buffer, c: Compression): Buffer {
  if (c === 'gzip') return gzipSync(raw, { level: 1 });
  if (c === 'zstd') return execFileSync('zstd', ['-q', '-c', '-3'], { input: raw, maxBuffer: 1 << 30 });
  return raw;
}

const LAYER_MT: Record<Compression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

export class OciLayoutBuilder {
  readonly index: Descriptor[] = [];
  constructor(readonly dir: string) {}

  async blob(data: Buffer, mediaType: string): Promise<Descriptor> {
    const digest = sha256(data);
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(this.dir, 'blobs', 'sha256', digest.slice(7)), data);
    return { mediaType, digest, size: data.length };
  }

  /** Write an image (manifest + config + layers); adds it to index.json when it has a tag. */
  async image(spec: ImageSpec): Promise<BuiltImage> {
    const layers: (Descriptor & { diffID: string })[] = [];
    for (const l of spec.layers) {
      const ls: LayerSpec = Buffer.isBuffer(l) ? { entries: [] } : Array.isArray(l) ? { entries: l } : l;
      const raw = Buffer.isBuffer(l) ? l : tar(ls.entries);
      const c = ls.compression ?? spec.compression ?? 'gzip';
      const d = await this.blob(compress(raw, c), LAYER_MT[c]);
      layers.push({ ...d, diffID: sha256(raw) });
    }
    const config = {
      created: '2024-01-01T00:00:00Z',
      architecture: spec.architecture ?? 'amd64',
      os: spec.os ?? 'linux',
      ...(spec.variant ? { variant: spec.variant } : {}),
      config: { Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], User: spec.user ?? '', WorkingDir: spec.workingDir ?? '' },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
      history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'groot test' })),
    };
    const cfg = await this.blob(Buffer.from(JSON.stringify(config)), 'application/vnd.oci.image.config.v1+json');
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: cfg,
      layers: layers.map(({ diffID: _d, ...d }) => d),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const m = await this.blob(manifestBytes, 'application/vnd.oci.image.manifest.v1+json');
    const desc: Descriptor = { ...m, platform: { architecture: config.architecture, os: config.os, ...(spec.variant ? { variant: spec.variant } : {}) } };
    if (spec.tag) this.index.push({ ...m, annotations: { 'org.opencontainers.image.ref.name': spec.tag } });
    return { manifest: desc, config: cfg, layers, manifestBytes };
  }

  /** Write an image index over several manifests (multi-platform) under a tag. */
  async imageIndex(tag: string, manifests: Descriptor[]): Promise<Descriptor> {
    const idx = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
    const d = await this.blob(Buffer.from(JSON.stringify(idx)), 'application/vnd.oci.image.index.v1+json');
    this.index.push({ ...d, annotations: { 'org.opencontainers.image.ref.name': tag } });
    return d;
  }

  /** Write oci-layout and index.json. Call after adding images. */
  async finish(): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    await writeFile(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: this.index }));
    return this.dir;
  }
}

/** One-call layout with a single tagged image. */
export async function buildImage(dir: string, spec: ImageSpec & { tag: string }): Promise<BuiltImage> {
  const b = new OciLayoutBuilder(dir);
  const img = await b.image(spec);
  await b.finish();
  return img;
}

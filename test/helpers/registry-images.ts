// Standard fixture images for registry tests, built as OCI layouts and pushed with skopeo.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OciLayoutBuilder, sha256, type BuiltImage } from './oci.js';
import { pushImage, type PushOptions } from './registry.js';

const execFileP = promisify(execFile);

export interface PushedImage extends BuiltImage {
  /** Reference without scheme: host:port/repo:tag. */
  ref: string;
  /** Raw layer blobs (compressed), by digest. */
  blobs: Map<string, Buffer>;
  /** Manifest digest as the registry has it. */
  registryDigest: string;
}

async function blobsOf(layout: string, img: BuiltImage): Promise<Map<string, Buffer>> {
  const m = new Map<string, Buffer>();
  for (const l of img.layers) m.set(l.digest, await readFile(join(layout, 'blobs', 'sha256', l.digest.slice(7))));
  return m;
}

/** The manifest digest the registry serves for ref (skopeo inspect --raw, hashed). */
export async function registryDigest(ref: string, creds?: { username: string; password: string }): Promise<string> {
  const args = ['inspect', '--raw', '--tls-verify=false'];
  if (creds) args.push('--creds', `${creds.username}:${creds.password}`);
  const { stdout } = await execFileP('skopeo', [...args, `docker://${ref}`], { encoding: 'buffer', maxBuffer: 16 << 20 });
  return sha256(stdout as unknown as Buffer);
}

/** A random (incompressible) file of n bytes, so layer sizes are predictable. */
export function noise(n: number, seed = 0): Buffer {
  const b = randomBytes(n);
  b[0] = seed & 0xff;
  return b;
}

/**
 * Push one image built from `layers` (each a list of files) to host/repo:tag.
 * Returns what was built plus the raw blobs, for byte-exact assertions.
 */
export async function pushFixture(
  dir: string, host: string, repo: string, tag: string,
  layers: { name: string; content: Buffer | string }[][],
  opts: PushOptions & { architecture?: string } = {},
): Promise<PushedImage> {
  const layout = join(dir, `${repo.replace(/\//g, '_')}-${tag}-${opts.format ?? 'oci'}`);
  const b = new OciLayoutBuilder(layout);
  const img = await b.image({ tag, layers, architecture: opts.architecture ?? 'amd64' });
  await b.finish();
  const ref = `${host}/${repo}:${tag}`;
  await pushImage(layout, tag, ref, opts);
  return { ...img, ref, blobs: await blobsOf(layout, img), registryDigest: await registryDigest(ref, opts.creds) };
}

export interface PushedIndex {
  ref: string;
  amd64: BuiltImage;
  arm64: BuiltImage;
  indexDigest: string;
}

/** A two-platform index (linux/amd64 and linux/arm64/v8), each with its own marker file. */
export async function pushIndexFixture(dir: string, host: string, repo: string, tag: string, creds?: PushOptions['creds']): Promise<PushedIndex> {
  const layout = join(dir, `${repo.replace(/\//g, '_')}-${tag}-index`);
  const b = new OciLayoutBuilder(layout);
  const amd64 = await b.image({ layers: [[{ name: 'arch', content: 'amd64\n' }]], architecture: 'amd64' });
  const arm64 = await b.image({ layers: [[{ name: 'arch', content: 'arm64\n' }]], architecture: 'arm64', variant: 'v8' });
  await b.imageIndex(tag, [amd64.manifest, arm64.manifest]);
  await b.finish();
  const ref = `${host}/${repo}:${tag}`;
  await pushImage(layout, tag, ref, { all: true, creds });
  return { ref, amd64, arm64, indexDigest: await registryDigest(ref, creds) };
}

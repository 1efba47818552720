// OCI layouts built by test/helpers/oci.ts, resolved and read back through OciLayoutSource.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, unlinkSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { DigestMismatchError, ImageNotFoundError, InvalidArgumentError, InvalidImageError } from '../../src/errors/index.js';
import { MT, OciLayoutSource, chainIDs, hostPlatform, openImageSource, type ResolvedImage } from '../../src/image/index.js';
import { OciLayoutBuilder, buildImage, sha256, type BuiltImage } from '../helpers/oci.js';

let tmp: string;
beforeEach(() => { tmp = mkdtempSync(join(tmpdir(), 'groot-image-oci-')); });
afterEach(() => { rmSync(tmp, { recursive: true, force: true }); });

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try { await p; } catch (e) { return e as Error; }
  throw new Error('expected a rejection');
}

function blobFile(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.slice(7));
}

const BASE = [{ name: 'etc/', type: 'dir' as const }, { name: 'etc/os-release', content: 'ID=groot\n' }];
const APP = [{ name: 'app/', type: 'dir' as const }, { name: 'app/run.sh', content: '#!/bin/sh\necho hi\n', mode: 0o755 }];

function expectMatchesBuilt(img: ResolvedImage, built: BuiltImage): void {
  expect(img.digest).toBe(built.manifest.digest);
  expect(img.layers.map((l) => l.digest)).toEqual(built.layers.map((l) => l.digest));
  expect(img.layers.map((l) => l.diffID)).toEqual(built.layers.map((l) => l.diffID));
  expect(img.layers.map((l) => l.size)).toEqual(built.layers.map((l) => l.size));
  expect(img.layers.map((l) => l.chainID)).toEqual(chainIDs(built.layers.map((l) => l.diffID)));
  expect(img.layers.every((l) => l.verifiable)).toBe(true);
  expect(img.compressedSize).toBe(built.layers.reduce((n, l) => n + l.size, 0));
}

test('resolves a tagged image and streams its layers byte for byte', async () => {
  const dir = join(tmp, 'layout');
  const built = await buildImage(dir, {
    tag: 'v1', layers: [BASE, { entries: APP, compression: 'zstd' }, { entries: [{ name: 'x', content: 'x' }], compression: 'none' }],
    env: ['PATH=/bin', 'LANG=C.UTF-8'], user: 'vcap', workingDir: '/home/vcap',
  });
  const src = openImageSource(`oci://${dir}:v1`);
  expect(src).toBeInstanceOf(OciLayoutSource);
  const img = await src.resolve();
  expect(img.source).toBe(`oci://${dir}:v1`);
  expectMatchesBuilt(img, built);
  expect(img.layers.map((l) => l.mediaType)).toEqual([MT.ociLayerGzip, MT.ociLayerZstd, MT.ociLayer]);
  expect(img.config.env).toEqual(['PATH=/bin', 'LANG=C.UTF-8']);
  expect(img.config.user).toBe('vcap');
  expect(img.config.workingDir).toBe('/home/vcap');
  expect((img.config.raw.rootfs as { diff_ids: string[] }).diff_ids).toHaveLength(3);

  let progress = 0;
  const first = await readAll(await src.openLayer(img.layers[0]!, { onBytes: (n) => { progress += n; } }));
  expect(sha256(first)).toBe(img.layers[0]!.digest);
  expect(sha256(gunzipSync(first))).toBe(img.layers[0]!.diffID);
  expect(progress).toBe(img.layers[0]!.size);
  const last = await readAll(await src.openLayer(img.layers[2]!));
  expect(sha256(last)).toBe(img.layers[2]!.diffID);
  await src.close();
});

test('oci:RELATIVE resolves against the working directory; a layout with one image needs no tag', async () => {
  const dir = join(tmp, 'rel');
  const built = await buildImage(dir, { tag: 'only', layers: [BASE] });
  const cwd = process.cwd();
  process.chdir(tmp);
  try {
    expect((await new OciLayoutSource('oci:rel').resolve()).digest).toBe(built.manifest.digest);
    expect((await new OciLayoutSource('oci:rel:only').resolve()).digest).toBe(built.manifest.digest);
  } finally {
    process.chdir(cwd);
  }
  expect(relative(tmp, dir)).toBe('rel');
});

test('several tags: picks by tag, by digest, and asks for a tag when none is given', async () => {
  const dir = join(tmp, 'multi');
  const b = new OciLayoutBuilder(dir);
  const one = await b.image({ tag: 'one', layers: [BASE] });
  const two = await b.image({ tag: 'two', layers: [BASE, APP] });
  await b.finish();
  expectMatchesBuilt(await new OciLayoutSource(`oci://${dir}:one`).resolve(), one);
  const img2 = await new OciLayoutSource(`oci://${dir}:two`).resolve();
  expectMatchesBuilt(img2, two);
  // the shared base layer gets the same chain ID in both images: one volume in the store
  expect(img2.layers[0]!.chainID).toBe((await new OciLayoutSource(`oci://${dir}:one`).resolve()).layers[0]!.chainID);
  expectMatchesBuilt(await new OciLayoutSource(`oci://${dir}@${two.manifest.digest}`).resolve(), two);

  const e = await errorOf(new OciLayoutSource(`oci://${dir}`).resolve());
  expect(e).toBeInstanceOf(InvalidArgumentError);
  expect(e.message).toBe(`oci://${dir}: OCI layout ${dir} holds 2 images; name one with :TAG (available tags: one, two)`);

  const nf = await errorOf(new OciLayoutSource(`oci://${dir}:three`).resolve());
  expect(nf).toBeInstanceOf(ImageNotFoundError);
  expect(nf.message).toBe(`oci://${dir}:three: tag "three" not found in OCI layout ${dir} (available tags: one, two)`);

  const dig = 'sha256:' + '0'.repeat(64);
  const nd = await errorOf(new OciLayoutSource(`oci://${dir}@${dig}`).resolve());
  expect(nd).toBeInstanceOf(ImageNotFoundError);
  expect(nd.message).toBe(`oci://${dir}@${dig}: no manifest with digest ${dig} in OCI layout ${dir}`);
});

test('tags written as containerd/BuildKit full names are found by tag and by full name', async () => {
  const dir = join(tmp, 'ctr');
  const b = new OciLayoutBuilder(dir);
  const img = await b.image({ layers: [BASE] });
  b.index.push({ ...img.manifest, platform: undefined, annotations: { 'io.containerd.image.name': 'docker.io/library/base:1.0' } });
  await b.finish();
  expect((await new OciLayoutSource(`oci://${dir}:1.0`).resolve()).digest).toBe(img.manifest.digest);
  expect((await new OciLayoutSource(`oci://${dir}:docker.io/library/base:1.0`).resolve()).digest).toBe(img.manifest.digest);
});

describe('multi-platform index', () => {
  let dir: string;
  let amd: BuiltImage;
  let arm: BuiltImage;
  let armv7: BuiltImage;
  beforeEach(async () => {
    dir = join(tmp, 'mp');
    const b = new OciLayoutBuilder(dir);
    amd = await b.image({ layers: [[{ name: 'arch', content: 'amd64' }]], architecture: 'amd64' });
    arm = await b.image({ layers: [[{ name: 'arch', content: 'arm64' }]], architecture: 'arm64', variant: 'v8' });
    armv7 = await b.image({ layers: [[{ name: 'arch', content: 'armv7' }]], architecture: 'arm', variant: 'v7' });
    await b.imageIndex('multi', [amd.manifest, arm.manifest, armv7.manifest]);
    await b.finish();
  });

  test('picks the entry for the requested platform, default this node', async () => {
    const src = `oci://${dir}:multi`;
    expectMatchesBuilt(await new OciLayoutSource(src, { platform: { os: 'linux', architecture: 'amd64' } }).resolve(), amd);
    expectMatchesBuilt(await new OciLayoutSource(src, { platform: { os: 'linux', architecture: 'arm64' } }).resolve(), arm);
    expectMatchesBuilt(await new OciLayoutSource(src, { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } }).resolve(), armv7);
    const host = hostPlatform().architecture;
    const mine = await openImageSource(src).resolve();
    const want = { amd64: amd, arm64: arm, arm: armv7 }[host];
    if (want) expectMatchesBuilt(mine, want);
    // the layer the platform manifest names is the one streamed
    const s = new OciLayoutSource(src, { platform: { os: 'linux', architecture: 'arm64' } });
    const bytes = await readAll(await s.openLayer((await s.resolve()).layers[0]!));
    expect(gunzipSync(bytes).toString()).toContain('arm64');
  });

  test('an unavailable platform is an error listing what the index has', async () => {
    const e = await errorOf(new OciLayoutSource(`oci://${dir}:multi`, { platform: { os: 'linux', architecture: 's390x' } }).resolve());
    expect(e).toBeInstanceOf(ImageNotFoundError);
    expect(e.message).toBe(`oci://${dir}:multi: no image for platform linux/s390x; available: linux/amd64, linux/arm64/v8, linux/arm/v7`);
  });

  test('a platform manifest can be pinned by digest even though only the nested index names it', async () => {
    expectMatchesBuilt(await new OciLayoutSource(`oci://${dir}@${arm.manifest.digest}`).resolve(), arm);
  });
});

describe('errors name the source and the cause', () => {
  test('path does not exist', async () => {
    const src = `oci://${tmp}/nope:v1`;
    const e = await errorOf(new OciLayoutSource(src).resolve());
    expect(e).toBeInstanceOf(ImageNotFoundError);
    expect(e.message).toBe(`${src}: path ${tmp}/nope does not exist`);
  });

  test('a file, or a directory that is not a layout', async () => {
    writeFileSync(join(tmp, 'file'), 'x');
    const e1 = await errorOf(new OciLayoutSource(`oci://${tmp}/file`).resolve());
    expect(e1).toBeInstanceOf(ImageNotFoundError);
    expect(e1.message).toBe(`oci://${tmp}/file: ${tmp}/file is not a directory, so not an OCI image layout`);
    const e2 = await errorOf(new OciLayoutSource(`oci://${tmp}:x`).resolve());
    expect(e2).toBeInstanceOf(ImageNotFoundError);
    expect(e2.message).toBe(`oci://${tmp}:x: ${tmp} is not an OCI image layout (no oci-layout file)`);
  });

  test('unsupported layout version, broken oci-layout, missing index.json', async () => {
    const dir = join(tmp, 'l');
    await buildImage(dir, { tag: 'v1', layers: [BASE] });
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '2.0.0' }));
    expect((await errorOf(new OciLayoutSource(`oci://${dir}:v1`).resolve())).message).toBe(`oci://${dir}:v1: unsupported imageLayoutVersion "2.0.0" in ${dir}/oci-layout (want 1.x.y)`);
    writeFileSync(join(dir, 'oci-layout'), 'garbage');
    expect((await errorOf(new OciLayoutSource(`oci://${dir}:v1`).resolve())).message).toMatch(new RegExp(`^oci://${dir}:v1: oci-layout file is not valid JSON`));
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    unlinkSync(join(dir, 'index.json'));
    const e = await errorOf(new OciLayoutSource(`oci://${dir}:v1`).resolve());
    expect(e).toBeInstanceOf(InvalidImageError);
    expect(e.message).toBe(`oci://${dir}:v1: OCI layout has no index.json`);
  });

  test('index.json and manifests that are not JSON', async () => {
    const dir = join(tmp, 'l');
    const b = new OciLayoutBuilder(dir);
    const junk = await b.blob(Buffer.from('this is not json'), MT.ociManifest);
    b.index.push({ ...junk, annotations: { 'org.opencontainers.image.ref.name': 'junk' } });
    await b.finish();
    const e = await errorOf(new OciLayoutSource(`oci://${dir}:junk`).resolve());
    expect(e).toBeInstanceOf(InvalidImageError);
    expect(e.message).toMatch(new RegExp(`^oci://${dir}:junk: manifest ${junk.digest}: manifest is not valid JSON`));
    writeFileSync(join(dir, 'index.json'), '{"schemaVersion": 2, "manifests": [');
    expect((await errorOf(new OciLayoutSource(`oci://${dir}:junk`).resolve())).message).toMatch(new RegExp(`^oci://${dir}:junk: index.json: manifest is not valid JSON`));
  });

  test('missing manifest, config and layer blobs', async () => {
    const dir = join(tmp, 'l');
    const built = await buildImage(dir, { tag: 'v1', layers: [BASE] });
    const src = new OciLayoutSource(`oci://${dir}:v1`);
    const img = await src.resolve();

    unlinkSync(blobFile(dir, built.layers[0]!.digest));
    const el = await errorOf(src.openLayer(img.layers[0]!));
    expect(el).toBeInstanceOf(InvalidImageError);
    expect(el.message).toBe(`oci://${dir}:v1: layer blob ${built.layers[0]!.digest} is missing from ${dir}/blobs`);

    unlinkSync(blobFile(dir, built.config.digest));
    expect((await errorOf(src.resolve())).message).toBe(`oci://${dir}:v1: config blob ${built.config.digest} is missing from ${dir}/blobs`);

    unlinkSync(blobFile(dir, built.manifest.digest));
    expect((await errorOf(src.resolve())).message).toBe(`oci://${dir}:v1: manifest blob ${built.manifest.digest} is missing from ${dir}/blobs`);
  });

  test('tampered manifest and config blobs fail verification', async () => {
    const dir = join(tmp, 'l');
    const built = await buildImage(dir, { tag: 'v1', layers: [BASE], env: ['A=1'] });
    const cfgFile = blobFile(dir, built.config.digest);
    const cfg = readFileSync(cfgFile, 'utf8');
    writeFileSync(cfgFile, cfg.replace('A=1', 'A=2')); // same size, other bytes
    const e = await errorOf(new OciLayoutSource(`oci://${dir}:v1`).resolve());
    expect(e).toBeInstanceOf(DigestMismatchError);
    expect(e.message).toMatch(new RegExp(`^oci://${dir}:v1: config blob ${built.config.digest}: digest mismatch: expected ${built.config.digest}, got sha256:[0-9a-f]{64}$`));

    writeFileSync(blobFile(dir, built.manifest.digest), built.manifestBytes.toString() + ' ');
    const m = await errorOf(new OciLayoutSource(`oci://${dir}:v1`).resolve());
    expect(m).toBeInstanceOf(DigestMismatchError);
    expect(m.message).toBe(`oci://${dir}:v1: manifest blob ${built.manifest.digest}: size mismatch: expected ${built.manifestBytes.length} bytes, file has ${built.manifestBytes.length + 1}`);
  });

  test('a manifest whose config disagrees on the layer count', async () => {
    const dir = join(tmp, 'l');
    const b = new OciLayoutBuilder(dir);
    const good = await b.image({ layers: [BASE, APP] });
    const manifest = JSON.parse(good.manifestBytes.toString());
    manifest.layers.pop();
    const m = await b.blob(Buffer.from(JSON.stringify(manifest)), MT.ociManifest);
    b.index.push({ ...m, annotations: { 'org.opencontainers.image.ref.name': 'short' } });
    await b.finish();
    expect((await errorOf(new OciLayoutSource(`oci://${dir}:short`).resolve())).message).toBe(`oci://${dir}:short: manifest lists 1 layers but its config has 2 rootfs.diff_ids`);
  });

  test('an empty layout and an index entry with a bad digest', async () => {
    const dir = join(tmp, 'l');
    await new OciLayoutBuilder(dir).finish();
    expect((await errorOf(new OciLayoutSource(`oci://${dir}`).resolve())).message).toBe(`oci://${dir}: OCI layout ${dir} holds no images`);
    expect((await errorOf(new OciLayoutSource(`oci://${dir}:x`).resolve())).message).toBe(`oci://${dir}:x: tag "x" not found in OCI layout ${dir} (the layout has no tagged images)`);
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MT.ociManifest, digest: 'sha256:../../../etc/passwd', size: 1 }] }));
    const e = await errorOf(new OciLayoutSource(`oci://${dir}`).resolve());
    expect(e).toBeInstanceOf(InvalidImageError);
    expect(e.message).toBe(`oci://${dir}: index.json: index entry 0 digest "sha256:../../../etc/passwd" is not sha256:<64 lowercase hex digits>`);
  });

  test('a layer stream aborted by its signal errors out', async () => {
    const dir = join(tmp, 'l');
    mkdirSync(dir);
    const big = Buffer.alloc(8 << 20, 7);
    await buildImage(dir, { tag: 'v1', layers: [big], compression: 'none' });
    const src = new OciLayoutSource(`oci://${dir}:v1`);
    const img = await src.resolve();
    const ac = new AbortController();
    const stream = await src.openLayer(img.layers[0]!, { signal: ac.signal, onBytes: () => ac.abort() });
    await expect(readAll(stream)).rejects.toThrow(/abort/i);
    ac.abort();
    await expect(src.openLayer(img.layers[0]!, { signal: ac.signal })).rejects.toThrow(/aborted/);
  });
});

test('a layout is readable by skopeo exactly as groot resolved it (cross-check)', async () => {
  const dir = join(tmp, 'x');
  await buildImage(dir, { tag: 'v1', layers: [BASE, APP] });
  const img = await new OciLayoutSource(`oci://${dir}:v1`).resolve();
  const raw = execFileSync('skopeo', ['inspect', '--raw', `oci:${dir}:v1`]);
  expect('sha256:' + createHash('sha256').update(raw).digest('hex')).toBe(img.digest);
  const cfg = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${dir}:v1`]).toString());
  expect(cfg.rootfs.diff_ids).toEqual(img.layers.map((l) => l.diffID));
});

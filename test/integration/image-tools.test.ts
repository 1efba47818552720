// Layouts written by real tools (skopeo, umoci), resolved and read back by groot.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { MT, OciLayoutSource, chainIDs, digestOf, type ResolvedImage } from '../../src/image/index.js';
import { OciLayoutBuilder, buildImage, sha256 } from '../helpers/oci.js';

let tmp: string;
beforeEach(() => { tmp = mkdtempSync(join(tmpdir(), 'groot-image-tools-')); });
afterEach(() => { rmSync(tmp, { recursive: true, force: true }); });

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Every layer's bytes match its digest, and its uncompressed bytes its diffID. */
async function expectLayersVerify(src: OciLayoutSource, img: ResolvedImage): Promise<Buffer[]> {
  const tars: Buffer[] = [];
  for (const l of img.layers) {
    const bytes = await readAll(await src.openLayer(l));
    expect(bytes.length).toBe(l.size);
    expect(sha256(bytes)).toBe(l.digest);
    const tar = l.mediaType.endsWith('gzip') ? gunzipSync(bytes) : bytes;
    expect(sha256(tar)).toBe(l.diffID);
    tars.push(tar);
  }
  return tars;
}

/** What skopeo reports for an image in a layout: manifest digest and diff IDs. */
function skopeoView(ref: string): { digest: string; diffIDs: string[] } {
  const raw = execFileSync('skopeo', ['inspect', '--raw', ref]);
  const cfg = JSON.parse(run('skopeo', ['inspect', '--config', ref]));
  return { digest: digestOf(raw), diffIDs: cfg.rootfs.diff_ids };
}

test('skopeo copy re-encodes uncompressed layers; groot resolves the copy with the same diff and chain IDs', async () => {
  const a = join(tmp, 'a');
  const b = join(tmp, 'b');
  const built = await buildImage(a, {
    tag: 'v1', compression: 'none', env: ['PATH=/bin', 'X=1'], workingDir: '/w',
    layers: [[{ name: 'etc/', type: 'dir' }, { name: 'etc/issue', content: 'groot\n' }], [{ name: 'bin/', type: 'dir' }, { name: 'bin/tool', content: 'x'.repeat(5000), mode: 0o755 }]],
  });
  run('skopeo', ['copy', '--quiet', `oci:${a}:v1`, `oci:${b}:v2`]);

  const src = new OciLayoutSource(`oci://${b}:v2`);
  const img = await src.resolve();
  // skopeo gzipped the layers: new blob digests and media types, same uncompressed content
  expect(img.layers.map((l) => l.mediaType)).toEqual([MT.ociLayerGzip, MT.ociLayerGzip]);
  expect(img.layers.map((l) => l.digest)).not.toEqual(built.layers.map((l) => l.digest));
  expect(img.layers.map((l) => l.diffID)).toEqual(built.layers.map((l) => l.diffID));
  expect(img.layers.map((l) => l.chainID)).toEqual(chainIDs(built.layers.map((l) => l.diffID)));
  expect(img.digest).not.toBe(built.manifest.digest);
  expect(img.config.env).toEqual(['PATH=/bin', 'X=1']);
  expect(img.config.workingDir).toBe('/w');

  const view = skopeoView(`oci:${b}:v2`);
  expect(img.digest).toBe(view.digest);
  expect(img.layers.map((l) => l.diffID)).toEqual(view.diffIDs);
  await expectLayersVerify(src, img);
  // the original is still resolvable and still uncompressed
  expect((await new OciLayoutSource(`oci://${a}:v1`).resolve()).layers.map((l) => l.mediaType)).toEqual([MT.ociLayer, MT.ociLayer]);
});

test('skopeo --format v2s2 writes a Docker schema 2 manifest into the layout; groot reads it', async () => {
  const a = join(tmp, 'a');
  const d = join(tmp, 'd');
  const built = await buildImage(a, { tag: 'v1', layers: [[{ name: 'f', content: 'docker' }]] });
  run('skopeo', ['copy', '--quiet', '--format', 'v2s2', `oci:${a}:v1`, `oci:${d}:dk`]);
  const index = JSON.parse(readFileSync(join(d, 'index.json'), 'utf8'));
  expect(index.manifests[0].mediaType).toBe(MT.dockerManifest);

  const src = new OciLayoutSource(`oci://${d}:dk`);
  const img = await src.resolve();
  expect(img.layers.map((l) => l.mediaType)).toEqual([MT.dockerLayerGzip]);
  expect(img.layers[0]!.diffID).toBe(built.layers[0]!.diffID);
  expect(img.digest).toBe(index.manifests[0].digest);
  const [tar] = await expectLayersVerify(src, img);
  expect(tar!.toString()).toContain('docker');
});

test('skopeo copy --all keeps a two-platform index; groot picks each platform from the copy', async () => {
  const m = join(tmp, 'm');
  const n = join(tmp, 'n');
  const b = new OciLayoutBuilder(m);
  const amd = await b.image({ layers: [[{ name: 'arch', content: 'amd64' }]], architecture: 'amd64' });
  const arm = await b.image({ layers: [[{ name: 'arch', content: 'arm64' }]], architecture: 'arm64', variant: 'v8' });
  await b.imageIndex('multi', [amd.manifest, arm.manifest]);
  await b.finish();
  run('skopeo', ['copy', '--quiet', '--all', `oci:${m}:multi`, `oci:${n}:copied`]);

  for (const [arch, built] of [['amd64', amd], ['arm64', arm]] as const) {
    const src = new OciLayoutSource(`oci://${n}:copied`, { platform: { os: 'linux', architecture: arch } });
    const img = await src.resolve();
    expect(img.digest).toBe(built.manifest.digest);
    expect(img.layers[0]!.diffID).toBe(built.layers[0]!.diffID);
    const [tar] = await expectLayersVerify(src, img);
    expect(tar!.toString()).toContain(arch);
  }
  // what skopeo itself picks for an arch from the same index is what groot picks
  const pick = JSON.parse(execFileSync('skopeo', ['--override-arch', 'arm64', 'inspect', '--config', `oci:${n}:copied`]).toString());
  expect(pick.rootfs.diff_ids).toEqual([arm.layers[0]!.diffID]);
});

test('umoci init/new/insert/config/unpack/repack: groot resolves each tag and reads its layers', async () => {
  const l = join(tmp, 'umoci');
  run('umoci', ['init', '--layout', l]);
  run('umoci', ['new', '--image', `${l}:empty`]);
  const empty = await new OciLayoutSource(`oci://${l}:empty`).resolve();
  expect(empty.layers).toEqual([]);
  expect(empty.config.env).toEqual([]);

  const files = join(tmp, 'files');
  mkdirSync(join(files, 'etc'), { recursive: true });
  writeFileSync(join(files, 'etc', 'motd'), 'hello from umoci\n');
  run('umoci', ['insert', '--image', `${l}:empty`, '--tag', 'inserted', join(files, 'etc', 'motd'), '/etc/motd']);
  run('umoci', ['config', '--image', `${l}:inserted`, '--tag', 'configured', '--config.env', 'GREETING=hi', '--config.user', '1000:1000', '--config.workingdir', '/home']);

  const bundle = join(tmp, 'bundle');
  run('umoci', ['unpack', '--rootless', '--image', `${l}:configured`, bundle]);
  writeFileSync(join(bundle, 'rootfs', 'etc', 'added'), 'repacked\n');
  run('umoci', ['repack', '--image', `${l}:repacked`, bundle]);

  const src = new OciLayoutSource(`oci://${l}:repacked`);
  const img = await src.resolve();
  expect(img.layers).toHaveLength(2);
  expect(img.config.env).toContain('GREETING=hi');
  expect(img.config.user).toBe('1000:1000');
  expect(img.config.workingDir).toBe('/home');
  const view = skopeoView(`oci:${l}:repacked`);
  expect(img.digest).toBe(view.digest);
  expect(img.layers.map((x) => x.diffID)).toEqual(view.diffIDs);
  expect(img.layers.map((x) => x.chainID)).toEqual(chainIDs(view.diffIDs));
  const tars = await expectLayersVerify(src, img);
  expect(tars[0]!.toString()).toContain('hello from umoci');
  expect(tars[1]!.toString()).toContain('repacked');

  // the inserted image's first layer is the repacked image's base: same chain ID
  const inserted = await new OciLayoutSource(`oci://${l}:inserted`).resolve();
  expect(inserted.layers[0]!.chainID).toBe(img.layers[0]!.chainID);
  // four tags now; no tag is ambiguous and says which exist
  await expect(new OciLayoutSource(`oci://${l}`).resolve()).rejects.toThrow('available tags: configured, empty, inserted, repacked');
});

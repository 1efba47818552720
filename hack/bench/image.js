// Build a benchmark OCI image layout: several gzip layers of many files with a realistic
// size mix (mostly small files, some medium, a few large; half text-like, half binary),
// made from a seeded PRNG so every run builds the same bytes. Plain JS over node: and tar.
// Shared by the benchmarks in this folder (a registry benchmark can push the layout with
// `skopeo copy oci:DIR:TAG docker://...`).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** xorshift32: fast, seeded, good enough for filler bytes. */
function prng(seed) {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
}

const WORDS = 'the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet config value true false import export function return const let var if else for while'.split(' ');

function fileBytes(rand, size, binary) {
  const b = Buffer.alloc(size);
  if (binary) {
    for (let i = 0; i + 4 <= size; i += 4) b.writeUInt32LE((rand() * 4294967296) >>> 0, i);
    for (let i = size - (size % 4); i < size; i++) b[i] = (rand() * 256) | 0;
  } else {
    let o = 0;
    while (o < size) o += b.write(WORDS[(rand() * WORDS.length) | 0] + (rand() < 0.1 ? '\n' : ' '), o);
  }
  return b;
}

/**
 * Write the layout to `dir` (created). Returns what was built.
 * @param {{ dir: string, tag?: string, layers?: number, filesPerLayer?: number, seed?: number }} o
 */
export function buildBenchImage(o) {
  const tag = o.tag ?? 'bench';
  const nLayers = o.layers ?? 5;
  const perLayer = o.filesPerLayer ?? 1000;
  const rand = prng(o.seed ?? 42);
  const blobs = join(o.dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (data, mediaType) => {
    const hex = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobs, hex), data);
    return { mediaType, digest: `sha256:${hex}`, size: data.length };
  };
  let files = 0;
  let bytes = 0;
  const layers = [];
  for (let l = 0; l < nLayers; l++) {
    const root = join(o.dir, `.layer${l}`);
    for (let i = 0; i < perLayer; i++) {
      const r = rand();
      // ~83% small (0.5-8 KiB), ~15% medium (16-128 KiB), ~1.5% large (256 KiB-1 MiB).
      const size = r < 0.835 ? 512 + ((rand() * 7680) | 0)
        : r < 0.985 ? 16384 + ((rand() * 114688) | 0)
          : 262144 + ((rand() * 786432) | 0);
      const sub = join(root, `usr/lib/pkg${l}-${i % 40}`, `d${i % 7}`);
      mkdirSync(sub, { recursive: true });
      writeFileSync(join(sub, `f${i}.${rand() < 0.5 ? 'so' : 'txt'}`), fileBytes(rand, size, rand() < 0.5));
      files++;
      bytes += size;
      if (i % 50 === 0) symlinkSync(`f${i}.so`, join(sub, `link${i}`));
    }
    const raw = execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@946684800', '-C', root, '-cf', '-', '.'], { maxBuffer: 1 << 30 });
    rmSync(root, { recursive: true, force: true });
    const diffID = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    layers.push({ ...blob(gzipSync(raw), 'application/vnd.oci.image.layer.v1.tar+gzip'), diffID });
  }
  const config = blob(Buffer.from(JSON.stringify({
    created: '2000-01-01T00:00:00Z', architecture: 'amd64', os: 'linux',
    config: { Env: ['PATH=/usr/bin:/bin'] },
    rootfs: { type: 'layers', diff_ids: layers.map((x) => x.diffID) },
  })), 'application/vnd.oci.image.config.v1+json');
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config,
    layers: layers.map(({ diffID: _d, ...d }) => d),
  })), 'application/vnd.oci.image.manifest.v1+json');
  writeFileSync(join(o.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(o.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
  return { dir: o.dir, tag, layers: nLayers, files, bytes, compressedBytes: layers.reduce((s, x) => s + x.size, 0) };
}
